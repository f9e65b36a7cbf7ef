/*
 * fuzz-checkpoint-xml.c: the domaincheckpoint and domainbackup parsers,
 * each given every input; what parses must format and parse again to the
 * same document
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdint.h>
#include <string.h>

#include "hvd-backup-xml.h"
#include "hvd-checkpoint-xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *text = g_strndup((const char *) data, size);
    g_autoptr(HvdCheckpointDef) def = hvd_checkpoint_def_parse(text, NULL);
    g_autoptr(HvdBackupDef) backup = hvd_backup_def_parse(text, NULL);

    if (def) {
        g_autofree char *xml = hvd_checkpoint_def_format(def, FALSE);
        g_autoptr(HvdCheckpointDef) again = hvd_checkpoint_def_parse(xml, NULL);
        g_autofree char *twice = NULL;
        g_assert(again);
        twice = hvd_checkpoint_def_format(again, FALSE);
        g_assert(g_str_equal(xml, twice));
    }
    if (backup) {
        g_autofree char *xml = hvd_backup_def_format(backup);
        g_autoptr(HvdBackupDef) again = hvd_backup_def_parse(xml, NULL);
        g_autofree char *twice = NULL;
        g_assert(again);
        twice = hvd_backup_def_format(again);
        g_assert(g_str_equal(xml, twice));
    }
    return 0;
}

#ifndef FUZZING_ENGINE
#include "fuzz-main.h"
#endif
