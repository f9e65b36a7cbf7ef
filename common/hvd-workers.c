/*
 * hvd-workers.c: threads of one's own, fed through a queue and joined
 * when they go (GThreadPool's threads are not joined: one may still be
 * ending as the process exits)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "hvd-workers.h"

struct _HvdWorkers {
    GAsyncQueue *items;
    GPtrArray *threads;
    GFunc run;
    gpointer data;
};

/* What tells a thread to end */
static char stop;

static gpointer
worker_main(gpointer p)
{
    HvdWorkers *w = p;

    for (;;) {
        gpointer item = g_async_queue_pop(w->items);
        if (item == &stop)
            return NULL;
        w->run(item, w->data);
    }
}

HvdWorkers *
hvd_workers_new(const char *name, guint n, GFunc run, gpointer data)
{
    HvdWorkers *w = g_new0(HvdWorkers, 1);

    w->items = g_async_queue_new();
    w->threads = g_ptr_array_new();
    w->run = run;
    w->data = data;
    for (guint i = 0; i < n; i++)
        g_ptr_array_add(w->threads, g_thread_new(name, worker_main, w));
    return w;
}

void
hvd_workers_push(HvdWorkers *w, gpointer item)
{
    g_async_queue_push(w->items, item);
}

void
hvd_workers_free(HvdWorkers *w)
{
    if (!w)
        return;
    for (guint i = 0; i < w->threads->len; i++)
        g_async_queue_push(w->items, &stop);
    for (guint i = 0; i < w->threads->len; i++)
        g_thread_join(w->threads->pdata[i]);
    g_ptr_array_unref(w->threads);
    g_async_queue_unref(w->items);
    g_free(w);
}
