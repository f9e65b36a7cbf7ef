/*
 * hvd-moments.c: what the driver's snapshots and checkpoints share: a
 * per-VM moment tree read from the host and kept while young, the names
 * clients give resolved in it, lookups, parents and lists
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>

#include "hvd-driver-private.h"

/* The errors of each kind, whole sentences to translate: the first format
 * is the checkpoint's, the second the snapshot's */
#define KIND_ERROR(k, error, checkpoint_fmt, snapshot_fmt, ...)                \
    ((k)->id == HVD_MOMENT_CHECKPOINT                                          \
         ? hvd_error_set(error, HVD_ERROR_CHECKPOINT,                          \
                         VIR_ERR_NO_DOMAIN_CHECKPOINT, checkpoint_fmt,         \
                         __VA_ARGS__)                                          \
         : hvd_error_set(error, HVD_ERROR_SNAPSHOT,                            \
                         VIR_ERR_NO_DOMAIN_SNAPSHOT, snapshot_fmt,             \
                         __VA_ARGS__))

void
hvd_moment_not_found(const HvdMomentKind *k, GError **error, const char *name)
{
    KIND_ERROR(k, error, _("no domain checkpoint with matching name '%s'"),
               _("no domain snapshot with matching name '%s'"), name);
}

/* a root's parent is an error with libvirt's "not found" code, as virsh
 * expects */
static void
no_parent(const HvdMomentKind *k, GError **error, const char *label)
{
    KIND_ERROR(k, error, _("checkpoint '%s' does not have a parent"),
               _("snapshot '%s' does not have a parent"), label);
}

static void
ambiguous(const HvdMomentKind *k, GError **error, const char *name,
          const char *vm, const char *labels)
{
    KIND_ERROR(k, error,
               _("checkpoint name '%s' is ambiguous: domain '%s' has "
                 "several checkpoints of that name; name one of %s"),
               _("snapshot name '%s' is ambiguous: domain '%s' has "
                 "several snapshots of that name; name one of %s"),
               name, vm, labels);
}

HvdMomentCache *
hvd_moment_cache_of(HvdDriver *d, const HvdMomentKind *k, const guchar uuid[16])
{
    return hvd_driver_per_vm(G_STRUCT_MEMBER(GHashTable *, d, k->table), uuid,
                             k->make);
}

gboolean
hvd_moment_cache_ensure(HvdDriver *d, const HvdMomentKind *k, const VmEntry *vm,
                        gboolean reread, GError **error)
{
    WsmanClient *c;
    gboolean ok;

    g_mutex_lock(&d->lock);
    if (!reread &&
        hvd_driver_is_recent(d, hvd_moment_cache_of(d, k, vm->uuid)->read_at)) {
        g_mutex_unlock(&d->lock);
        return TRUE;
    }
    g_mutex_unlock(&d->lock);
    c = hvd_driver_client_get(d, error);
    if (!c)
        return FALSE;
    ok = k->read(d, c, vm, error);
    hvd_driver_client_put(d, c);
    return ok;
}

HvdMoment *
hvd_moment_cache_resolve(HvdDriver *d, const HvdMomentKind *k,
                         const VmEntry *vm, const char *name,
                         HvdMomentCache **cache, GError **error)
{
    for (int pass = 0; pass < 2; pass++) {
        g_autoptr(GPtrArray) same = NULL;
        HvdMoment *m;

        if (!hvd_moment_cache_ensure(d, k, vm, pass > 0, error))
            return NULL;
        g_mutex_lock(&d->lock);
        *cache = hvd_moment_cache_of(d, k, vm->uuid);
        m = hvd_moment_tree_find_name((*cache)->moments, name);
        if (m)
            return m;
        same =
            pass > 0 ? hvd_moment_tree_sharing((*cache)->moments, name) : NULL;
        if (same) {
            g_autoptr(GString) labels = g_string_new(NULL);
            for (guint i = 0; i < same->len; i++)
                g_string_append_printf(labels, "%s'%s'",
                                       labels->len ? ", " : "",
                                       ((HvdMoment *) same->pdata[i])->label);
            g_mutex_unlock(&d->lock);
            ambiguous(k, error, name, vm->name, labels->str);
            return NULL;
        }
        g_mutex_unlock(&d->lock);
    }
    hvd_moment_not_found(k, error, name);
    return NULL;
}

char *
hvd_moment_lookup(HvdDriver *d, const HvdMomentKind *k, const guchar uuid[16],
                  const char *name, gboolean parent, GError **error)
{
    g_autoptr(VmEntry) vm = hvd_driver_find_vm(d, uuid, error);
    HvdMomentCache *cache;
    HvdMoment *m;
    char *label = NULL;

    if (!vm || !(m = hvd_moment_cache_resolve(d, k, vm, name, &cache, error)))
        return NULL;
    if (!parent)
        label = g_strdup(m->label);
    else if (m->parent)
        label = g_strdup(m->parent->label);
    else
        no_parent(k, error, m->label);
    g_mutex_unlock(&d->lock);
    return label;
}

GPtrArray *
hvd_moment_list(HvdDriver *d, const HvdMomentKind *k, const guchar uuid[16],
                const char *from, guint flags, HvdMomentFilter filter,
                gpointer data, GError **error)
{
    g_autoptr(VmEntry) vm = hvd_driver_find_vm(d, uuid, error);
    g_autoptr(GPtrArray) found = NULL;
    HvdMomentCache *cache;
    HvdMoment *top = NULL;
    GPtrArray *names;

    if (!vm)
        return NULL;
    if (from) {
        if (!(top = hvd_moment_cache_resolve(d, k, vm, from, &cache, error)))
            return NULL;
    } else {
        /* a list is where host-side changes must show */
        if (!hvd_moment_cache_ensure(d, k, vm, TRUE, error))
            return NULL;
        g_mutex_lock(&d->lock);
        cache = hvd_moment_cache_of(d, k, vm->uuid);
    }
    found = hvd_moment_tree_list(cache->moments, top, flags, filter, data);
    names = g_ptr_array_new_full(found->len, g_free);
    for (guint i = 0; i < found->len; i++)
        g_ptr_array_add(names,
                        g_strdup(((HvdMoment *) found->pdata[i])->label));
    g_mutex_unlock(&d->lock);
    return names;
}
