/*
 * vhdx-merge.c: merging a differencing image into its parent, and the
 * structural check
 *
 * The merge keeps the chain child -> parent valid at every write, so a
 * crash anywhere leaves a chain that reads as before and a merge that can
 * simply be run again:
 *   1. the child's locator gets parent_linkage2 = G', a new GUID;
 *   2. the parent's DataWriteGuid becomes G' (2.2.2: a user-visible change
 *      is coming), so the child still matches it through parent_linkage2
 *      while every other child of the parent stops matching, as the spec
 *      requires;
 *   3. the child's present sectors are written into the parent; they are
 *      exactly the sectors the child hides, so the chain view never moves;
 *   4. the child's IsVirtualDisk metadata replaces the parent's (2.6.1.2).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vhdx-private.h"

#define MERGE_CHUNK (4 * MiB)

typedef struct {
    VhdxImage *child;
    VhdxImage *parent;
    guint8 *buf;
    guint64 done;
    guint64 total;
    VhdxProgressFunc progress;
    gpointer progress_data;
    GCancellable *cancellable;
} Merge;

static gboolean
copy_range(Merge *m, guint64 off, guint64 len, gboolean zeros, GError **error)
{
    while (len > 0) {
        gsize n = MIN(len, MERGE_CHUNK);
        /* stopping between chunks leaves what a crash there would */
        if (g_cancellable_set_error_if_cancelled(m->cancellable, error))
            return FALSE;
        if (zeros) {
            memset(m->buf, 0, n);
            if (!vhdx_write(m->parent, m->buf, n, off, error))
                return FALSE;
        } else if (!vhdx_write_from(m->parent, m->child,
                                    vhdx_local_offset(m->child, off), n, off,
                                    error)) {
            return FALSE;
        }
        off += n;
        len -= n;
        m->done += n;
        if (m->progress)
            m->progress(m->done, m->total, m->progress_data);
    }
    return TRUE;
}

/* The runs of sectors a partially present block holds itself. */
static gboolean
copy_partial(Merge *m, guint64 start, guint64 len, GError **error)
{
    guint32 lss = m->child->info.logical_sector_size;
    guint64 first = start / lss, count = len / lss;
    VhdxSectorBitmap *sb;
    guint64 s = 0;

    if (!vhdx_sector_bitmap_get(m->child, first / VHDX_SECTORS_PER_CHUNK, &sb,
                                error))
        return FALSE;
    while (s < count) {
        guint64 k = (first + s) % VHDX_SECTORS_PER_CHUNK;
        guint64 run = 0;
        if (!((sb->bits[k >> 3] >> (k & 7)) & 1)) {
            s++;
            continue;
        }
        while (s + run < count) {
            guint64 kk = (first + s + run) % VHDX_SECTORS_PER_CHUNK;
            if (!((sb->bits[kk >> 3] >> (kk & 7)) & 1))
                break;
            run++;
        }
        if (!copy_range(m, (first + s) * lss, run * lss, FALSE, error))
            return FALSE;
        s += run;
    }
    return TRUE;
}

static gboolean
items_equal(VhdxMetaItem *a, VhdxMetaItem *b)
{
    return vhdx_guid_equal(&a->item_id, &b->item_id) && a->flags == b->flags &&
           g_bytes_equal(a->data, b->data);
}

/* The IsVirtualDisk items of a list, borrowed. */
static GPtrArray *
vdisk_items(GPtrArray *items)
{
    GPtrArray *out = g_ptr_array_new();
    for (guint i = 0; i < items->len; i++)
        if (((VhdxMetaItem *) items->pdata[i])->flags & VHDX_META_FLAG_IS_VDISK)
            g_ptr_array_add(out, items->pdata[i]);
    return out;
}

/* 2.6.1.2: the parent's IsVirtualDisk items give way to the child's. */
static gboolean
take_virtual_disk_items(VhdxImage *parent, VhdxImage *child, GError **error)
{
    g_autoptr(GPtrArray) mine = vdisk_items(parent->meta_items);
    g_autoptr(GPtrArray) theirs = vdisk_items(child->meta_items);
    gboolean same = mine->len == theirs->len;

    for (guint i = 0; same && i < mine->len; i++)
        same = items_equal(mine->pdata[i], theirs->pdata[i]);
    if (same)
        return TRUE;

    for (guint i = parent->meta_items->len; i > 0; i--) {
        VhdxMetaItem *it = parent->meta_items->pdata[i - 1];
        if (it->flags & VHDX_META_FLAG_IS_VDISK)
            g_ptr_array_remove_index(parent->meta_items, i - 1);
    }
    vhdx_meta_items_copy_vdisk(child->meta_items, parent->meta_items);
    return vhdx_metadata_rebuild(parent, error);
}

static gboolean
merge_into_parent(Merge *m, GError **error)
{
    VhdxImage *child = m->child, *parent = m->parent;
    guint32 bs = child->info.block_size;
    guint64 vsize = child->info.virtual_size;
    guint64 needed_blocks =
        (vsize + parent->info.block_size - 1) / parent->info.block_size;
    guint64 needed = vhdx_bat_entries_for(parent->info.type, needed_blocks,
                                          parent->info.chunk_ratio);
    VhdxGuid merged_guid;
    g_autofree char *guid = NULL;
    g_autoptr(GBytes) loc = NULL;
    VhdxMetaItem *item;

    if (needed > parent->bat_length / 8) {
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_UNSUPPORTED,
                    _("%s: the child is %" PRIu64 " bytes, more "
                      "than the BAT of parent %s can address"),
                    child->path, vsize, parent->path);
        return FALSE;
    }

    /* 1. */
    vhdx_guid_generate(&merged_guid);
    guid = vhdx_guid_to_string(&merged_guid);
    g_hash_table_replace(child->locator, g_strdup("parent_linkage2"),
                         g_strdup_printf("{%s}", guid));
    loc = vhdx_locator_build(child->locator);
    item = vhdx_meta_item_find(child->meta_items, VHDX_GUID_PARENT_LOCATOR);
    g_bytes_unref(item->data);
    item->data = g_steal_pointer(&loc);
    if (!vhdx_metadata_rebuild(child, error) || !vhdx_commit(child, error))
        return FALSE;

    /* 2. */
    if (!parent->file_guid_renewed)
        vhdx_guid_generate(&parent->header.file_write_guid);
    parent->header.data_write_guid = merged_guid;
    parent->file_guid_renewed = parent->data_guid_renewed = TRUE;
    if (!vhdx_header_update(parent, error))
        return FALSE;

    /* 4 comes before 3 when the child is larger, so that its data fits. */
    if (vsize > parent->info.virtual_size &&
        !take_virtual_disk_items(parent, child, error))
        return FALSE;

    /* 3. */
    for (guint64 b = 0; b < child->info.payload_blocks; b++) {
        guint state = vhdx_get_block_state(child, b);
        guint64 start = b * bs;
        guint64 len = MIN((guint64) bs, vsize - start);
        if (state == VHDX_BLOCK_FULLY_PRESENT ||
            state == VHDX_BLOCK_PARTIALLY_PRESENT)
            m->total += len;
    }
    for (guint64 b = 0; b < child->info.payload_blocks; b++) {
        guint state = vhdx_get_block_state(child, b);
        guint64 start = b * bs;
        guint64 len = MIN((guint64) bs, vsize - start);
        gboolean ok = TRUE;

        switch (state) {
        case VHDX_BLOCK_FULLY_PRESENT:
            ok = copy_range(m, start, len, FALSE, error);
            break;
        case VHDX_BLOCK_PARTIALLY_PRESENT:
            ok = copy_partial(m, start, len, error);
            break;
        case VHDX_BLOCK_NOT_PRESENT:
            break;
        default:
            /* ZERO, UNMAPPED, UNDEFINED: the child reads zeros there */
            ok = copy_range(m, start, len, TRUE, error);
            break;
        }
        if (!ok)
            return FALSE;
    }

    /* 4. */
    return take_virtual_disk_items(parent, child, error) &&
           vhdx_commit(parent, error);
}

gboolean
vhdx_merge(const char *child_path, VhdxProgressFunc progress,
           gpointer progress_data, GCancellable *cancellable, GError **error)
{
    g_autoptr(VhdxImage) child = NULL;
    g_autofree guint8 *buf = NULL;
    Merge m = { 0 };
    gboolean ok;

    child = vhdx_open(child_path,
                      VHDX_OPEN_READ_WRITE | VHDX_OPEN_CHAIN |
                          VHDX_OPEN_PARENTS_WRITABLE,
                      error);
    if (!child)
        return FALSE;
    if (child->info.type != VHDX_DISK_DIFFERENCING) {
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_INVALID,
                    _("%s: a %s image has no parent to merge into"), child_path,
                    vhdx_disk_type_name(child->info.type));
        return FALSE;
    }
    buf = g_malloc(MERGE_CHUNK);
    m.child = child;
    m.parent = child->parent;
    m.buf = buf;
    m.progress = progress;
    m.progress_data = progress_data;
    m.cancellable = cancellable;

    ok = merge_into_parent(&m, error);
    if (!ok)
        return FALSE;
    return vhdx_close(g_steal_pointer(&child), error);
}

GPtrArray *
vhdx_check(const char *path, VhdxOpenFlags flags)
{
    GPtrArray *problems =
        g_ptr_array_new_with_free_func((GDestroyNotify) vhdx_problem_free);
    g_autoptr(GError) err = NULL;
    VhdxImage *img;

    img = vhdx_open_internal(path, flags & VHDX_OPEN_CHAIN, problems, 0, &err);
    if (img) {
        vhdx_free(img);
    } else if (err) {
        VhdxProblem *last =
            problems->len ? problems->pdata[problems->len - 1] : NULL;
        if (!last || !g_str_has_suffix(err->message, last->message)) {
            VhdxProblem *p = g_new0(VhdxProblem, 1);
            p->message = g_strdup(err->message);
            g_ptr_array_add(problems, p);
        }
    }
    return problems;
}
