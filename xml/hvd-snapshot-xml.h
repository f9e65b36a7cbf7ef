/*
 * hvd-snapshot-xml.h: libvirt's domainsnapshot XML
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "hvd-domain-xml.h"
#include "hvd-xml.h"

G_BEGIN_DECLS

/* <state>, as libvirt's domainsnapshot schema names them */
typedef enum {
    HVD_SNAPSHOT_STATE_NONE, /* not given */
    HVD_SNAPSHOT_STATE_NOSTATE,
    HVD_SNAPSHOT_STATE_RUNNING,
    HVD_SNAPSHOT_STATE_BLOCKED,
    HVD_SNAPSHOT_STATE_PAUSED,
    HVD_SNAPSHOT_STATE_SHUTDOWN,
    HVD_SNAPSHOT_STATE_SHUTOFF,
    HVD_SNAPSHOT_STATE_CRASHED,
    HVD_SNAPSHOT_STATE_PMSUSPENDED,
    HVD_SNAPSHOT_STATE_DISK_SNAPSHOT,
} HvdSnapshotState;

/* <memory snapshot=...> */
typedef enum {
    HVD_SNAPSHOT_MEMORY_NONE, /* not given */
    HVD_SNAPSHOT_MEMORY_NO,
    HVD_SNAPSHOT_MEMORY_INTERNAL,
    HVD_SNAPSHOT_MEMORY_EXTERNAL,
} HvdSnapshotMemory;

typedef struct {
    char *name;     /* a target (sda) or a file */
    char *snapshot; /* no, internal, external, manual */
} HvdSnapshotDiskDef;

typedef struct {
    char *name;
    char *description;
    HvdSnapshotState state; /* NONE is formatted as shutoff */
    gint64 creation_time;   /* seconds since 1970; 0: not given */
    char *parent;
    HvdSnapshotMemory memory;
    GPtrArray *disks; /* HvdSnapshotDiskDef */
    /* the domain as it was: formatted from a full definition; a parsed
     * document gives its name and UUID only (domain_is_reference), and is
     * formatted back as <domain><uuid/></domain> */
    HvdDomainDef *domain;
    gboolean domain_is_reference;
    gboolean has_domain_uuid;
    char *domain_xml; /* a parsed document's <domain>, as it was given */
} HvdSnapshotDef;

HvdSnapshotDef *hvd_snapshot_def_new(void);
void hvd_snapshot_def_free(HvdSnapshotDef *def);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvdSnapshotDef, hvd_snapshot_def_free)

void hvd_snapshot_def_add_disk(HvdSnapshotDef *def, const char *name,
                               const char *snapshot);

HvdSnapshotDef *hvd_snapshot_def_parse(const char *xml, GError **error);
char *hvd_snapshot_def_format(const HvdSnapshotDef *def);

G_END_DECLS
