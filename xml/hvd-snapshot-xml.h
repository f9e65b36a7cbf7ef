/*
 * hvd-snapshot-xml.h: libvirt's domainsnapshot XML
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "hvd-domain-xml.h"

G_BEGIN_DECLS

#define HVD_XML_ERROR (hvd_xml_error_quark())
GQuark hvd_xml_error_quark(void);

typedef enum {
    HVD_XML_ERROR_PARSE,   /* not well-formed */
    HVD_XML_ERROR_INVALID, /* well-formed, but not a valid definition */
    HVD_XML_ERROR_TOO_LARGE,
} HvdXmlError;

/* the largest document accepted: libvirt's largest RPC string */
#define HVD_XML_MAX_SIZE (4 * 1024 * 1024)

typedef struct {
    char *name;     /* a target (sda) or a file */
    char *snapshot; /* no, internal, external, manual */
} HvdSnapshotDiskDef;

typedef struct {
    char *name;
    char *description;
    char *state;          /* running, paused, shutoff, disk-snapshot ... */
    gint64 creation_time; /* seconds since 1970; 0: not given */
    char *parent;
    char *memory;     /* no, internal, external; NULL: not given */
    GPtrArray *disks; /* HvdSnapshotDiskDef */
    /* the domain as it was: formatted from a full definition; a parsed
     * document gives its name and UUID only (domain_is_reference), and is
     * formatted back as <domain><uuid/></domain> */
    HvdDomainDef *domain;
    gboolean domain_is_reference;
    gboolean has_domain_uuid;
} HvdSnapshotDef;

HvdSnapshotDef *hvd_snapshot_def_new(void);
void hvd_snapshot_def_free(HvdSnapshotDef *def);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvdSnapshotDef, hvd_snapshot_def_free)

void hvd_snapshot_def_add_disk(HvdSnapshotDef *def, const char *name,
                               const char *snapshot);

HvdSnapshotDef *hvd_snapshot_def_parse(const char *xml, GError **error);
char *hvd_snapshot_def_format(const HvdSnapshotDef *def);

G_END_DECLS
