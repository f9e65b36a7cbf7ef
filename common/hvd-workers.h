/*
 * hvd-workers.h: threads of one's own, fed through a queue and joined
 * when they go
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

typedef struct _HvdWorkers HvdWorkers;

/* n threads called name, each running run(item, data) on the items pushed,
 * one at a time */
HvdWorkers *hvd_workers_new(const char *name, guint n, GFunc run,
                            gpointer data);
/* item is not NULL */
void hvd_workers_push(HvdWorkers *w, gpointer item);
/* What was pushed is run, then each thread ends and is waited for, so
 * that what a thread leaves to its end (a library's per-thread state) is
 * done before the caller goes on. */
void hvd_workers_free(HvdWorkers *w);
