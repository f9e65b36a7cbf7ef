/*
 * fuzz-snapshot-xml.c: the domainsnapshot parser; what parses must format
 * and parse again
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdint.h>
#include <string.h>

#include "hvd-snapshot-xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *text = g_strndup((const char *) data, size);
    HvdSnapshotDef *def = hvd_snapshot_def_parse(text, NULL);

    if (def) {
        g_autofree char *xml = hvd_snapshot_def_format(def);
        HvdSnapshotDef *again = hvd_snapshot_def_parse(xml, NULL);
        g_assert(again);
        hvd_snapshot_def_free(again);
        hvd_snapshot_def_free(def);
    }
    return 0;
}

#ifndef FUZZING_ENGINE
#include "fuzz-main.h"
#endif
