/*
 * hvd-backup-xml.h: libvirt's domainbackup XML
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "hvd-xml.h"

G_BEGIN_DECLS

typedef struct {
    char *name;        /* the disk's target (sda) */
    gboolean skipped;  /* backup='no' */
    char *type;        /* file, block; NULL: not given */
    char *target;      /* <target file=> or <target dev=> */
    char *driver;      /* <driver type=>, NULL: not given */
    char *backup_mode; /* full, incremental; NULL: not given */
    char *incremental; /* the disk's own incremental= */
} HvdBackupDiskDef;

typedef struct {
    gboolean pull;     /* mode='pull' */
    char *incremental; /* the checkpoint the backup is taken since */
    GPtrArray *disks;  /* HvdBackupDiskDef */
} HvdBackupDef;

HvdBackupDef *hvd_backup_def_new(void);
void hvd_backup_def_free(HvdBackupDef *def);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvdBackupDef, hvd_backup_def_free)

HvdBackupDiskDef *hvd_backup_def_add_disk(HvdBackupDef *def, const char *name);

HvdBackupDef *hvd_backup_def_parse(const char *xml, GError **error);
char *hvd_backup_def_format(const HvdBackupDef *def);

G_END_DECLS
