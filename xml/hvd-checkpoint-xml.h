/*
 * hvd-checkpoint-xml.h: libvirt's domaincheckpoint XML
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "hvd-domain-xml.h"
#include "hvd-xml.h"

G_BEGIN_DECLS

typedef struct {
    char *name;       /* a target (sda) or a file */
    gboolean skipped; /* checkpoint='no' */
    char *bitmap;     /* the RCT identifier on Hyper-V */
    gboolean has_size;
    guint64 size; /* bytes changed since the checkpoint */
} HvdCheckpointDiskDef;

typedef struct _HvdCheckpointDef {
    char *name;
    char *description;
    char *parent;
    gint64 creation_time; /* seconds since 1970; 0: not given */
    GPtrArray *disks;     /* HvdCheckpointDiskDef */
    /* the domain as it was, as a <domain> element; formatted as it is */
    char *domain_xml;
    gboolean has_domain_uuid;
    guchar domain_uuid[16];
} HvdCheckpointDef;

HvdCheckpointDef *hvd_checkpoint_def_new(void);
void hvd_checkpoint_def_free(HvdCheckpointDef *def);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvdCheckpointDef, hvd_checkpoint_def_free)

HvdCheckpointDiskDef *hvd_checkpoint_def_add_disk(HvdCheckpointDef *def,
                                                  const char *name,
                                                  const char *bitmap);

/* Whether name is one libvirt's schema takes for a checkpoint: letters,
 * digits, '_', '-' and '.', not first */
gboolean hvd_checkpoint_name_valid(const char *name);

HvdCheckpointDef *hvd_checkpoint_def_parse(const char *xml, GError **error);
/* without_domain: leave <domain> out (NO_DOMAIN) */
char *hvd_checkpoint_def_format(const HvdCheckpointDef *def,
                                gboolean without_domain);

G_END_DECLS
