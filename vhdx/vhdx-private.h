/*
 * vhdx-private.h: what the files of the VHDX library share
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>
#include <inttypes.h>
#include <glib/gi18n-lib.h>

#include "vhdx.h"
#include "vhdx-format.h"

/* One metadata item (2.6.2), kept whole so that unknown items survive. */
typedef struct {
    VhdxGuid item_id;
    guint32 flags;
    GBytes *data;
} VhdxMetaItem;

void vhdx_meta_item_free(VhdxMetaItem *item);

/* A cached sector-bitmap block (2.5.1.2) of one chunk. */
typedef struct {
    guint64 file_offset;
    guint8 *bits; /* VHDX_SB_BLOCK_SIZE bytes */
    guint8 dirty[VHDX_SB_BLOCK_SIZE / VHDX_SECTOR_SIZE];
} VhdxSectorBitmap;

struct _VhdxImage {
    char *path;
    int fd;
    VhdxOpenFlags flags;
    gboolean writable;
    gboolean broken; /* a write failed: treat as crashed, write nothing more */
    GPtrArray *problems; /* check mode: faults are collected, not raised */

    VhdxInfo info;
    char *creator;

    /* 2.2.2: current header and the slot (0 or 1) it was read from */
    VhdxHeader header;
    int header_slot;
    gboolean file_guid_renewed;
    gboolean data_guid_renewed;

    /* 2.2.3: regions */
    guint64 bat_offset;
    guint32 bat_length;
    guint64 meta_offset;
    guint32 meta_length;
    guint32 meta_held; /* bytes of meta read (the rest of the region reads
                          as zero); meta_length once rebuilt */

    /* 2.6: metadata region bytes, and which 4 KiB sectors changed */
    guint8 *meta;
    guint8 *meta_dirty;
    GPtrArray *meta_items; /* VhdxMetaItem, in table order */
    guint32 file_params;
    GHashTable *locator; /* key -> value, UTF-8 */

    /* 2.5: BAT in host order, and which 4 KiB sectors of it changed */
    guint64 *bat;
    guint8 *bat_dirty;
    GHashTable *bitmaps; /* chunk index -> VhdxSectorBitmap */

    /* end of the allocated space, where the next block goes (1 MiB aligned) */
    guint64 alloc_end;
    /* the file size the readers see: the real size, or a replayed log's
     * LastFileOffset if larger (read-only open of a dirty file) */
    guint64 effective_size;
    gboolean payload_unsynced;

    /* 2.3: log replayed in memory for a read-only open: offset -> 4 KiB */
    GHashTable *overlay;
    /* the log writer */
    guint32 log_pos;
    guint64 log_seq;

    VhdxImage *parent;
};

/* Faults found while parsing. In check mode the fault is recorded and
 * the return value says whether parsing may go on (can_continue); in open
 * mode it is raised as VHDX_ERROR_CORRUPT and FALSE is returned. */
gboolean vhdx_fault(VhdxImage *img, GError **error, gboolean can_continue,
                    const char *fmt, ...) G_GNUC_PRINTF(4, 5);

/* I/O, all through here so that a test can cut writes off at any point. */
gboolean vhdx_io_pread(VhdxImage *img, void *buf, gsize len, guint64 offset,
                       GError **error);
/* vhdx_write of len bytes of from's own file at from_offset: what a merge
 * copies, without passing through memory where the kernel can copy;
 * offset and len sector-aligned */
gboolean vhdx_write_from(VhdxImage *img, VhdxImage *from, guint64 from_offset,
                         gsize len, guint64 offset, GError **error);
/* len bytes of src's file at src_offset written at offset of img's file,
 * copied by the kernel where it can (copy_file_range), through a buffer
 * where it cannot */
gboolean vhdx_io_copy(VhdxImage *img, VhdxImage *src, guint64 src_offset,
                      gsize len, guint64 offset, GError **error);
gboolean vhdx_io_pwrite(VhdxImage *img, const void *buf, gsize len,
                        guint64 offset, GError **error);
gboolean vhdx_io_sync(VhdxImage *img, GError **error);
gboolean vhdx_io_truncate(VhdxImage *img, guint64 size, GError **error);
/* Extends the file with len zeroed, allocated bytes at offset. */
gboolean vhdx_io_allocate(VhdxImage *img, guint64 offset, guint64 len,
                          GError **error);
guint64 vhdx_io_file_size(VhdxImage *img, GError **error);
/* Test hook: after n more writes every write fails, as if the machine had
 * stopped there; n < 0 turns it off. Returns the writes made so far. */
/* The bytes of a metadata region its table and items use (2.6.1): the
 * rest need not be read. table: the region's first 64 KiB. */
guint64 vhdx_metadata_used_length(const guint8 *table, guint64 region_length);
gint64 vhdx_io_fail_writes_after(gint64 n);
gint64 vhdx_io_write_count(void);

/* Headers (vhdx.c) */
gboolean vhdx_header_update(VhdxImage *img, GError **error);
/* Before the first change of a session: a new FileWriteGuid, and a new
 * DataWriteGuid when the change is user-visible (2.2.2). */
gboolean vhdx_begin_change(VhdxImage *img, gboolean user_visible,
                           GError **error);

/* Log (vhdx-log.c) */
gboolean vhdx_log_replay(VhdxImage *img, GError **error);
/* Writes the 4 KiB sectors at offsets[i] with data[i] through the log. */
gboolean vhdx_log_commit(VhdxImage *img, const guint64 *offsets,
                         const guint8 *const *data, guint count,
                         GError **error);
/* Marks the log empty once everything logged has been applied. */
gboolean vhdx_log_close(VhdxImage *img, GError **error);

/* Metadata (vhdx-metadata.c) */
gboolean vhdx_metadata_parse(VhdxImage *img, GError **error);
/* Lays meta_items out into a new region image; marks changed sectors. */
gboolean vhdx_metadata_rebuild(VhdxImage *img, GError **error);
guint8 *vhdx_metadata_build(GPtrArray *items, guint32 region_length,
                            GError **error);
GBytes *vhdx_locator_build(GHashTable *locator);
VhdxMetaItem *vhdx_meta_item_new(const char *guid, guint32 flags,
                                 const void *data, gsize len);
VhdxMetaItem *vhdx_meta_item_find(GPtrArray *items, const char *guid);
/* Appends a copy of every IsVirtualDisk item of from to to (2.6.1.2). */
void vhdx_meta_items_copy_vdisk(GPtrArray *from, GPtrArray *to);
/* Fills a locator for a child in child_dir pointing at parent_path. */
GHashTable *vhdx_locator_for_parent(const char *child_path,
                                    const char *parent_path,
                                    const VhdxGuid *linkage, GError **error);

/* Chain (vhdx-chain.c) */
gboolean vhdx_chain_open_parent(VhdxImage *img, VhdxOpenFlags flags,
                                guint depth, GError **error);
gboolean vhdx_parent_matches(VhdxImage *child, VhdxImage *parent);

/* vhdx.c internals used by the merge */
VhdxImage *vhdx_open_internal(const char *path, VhdxOpenFlags flags,
                              GPtrArray *problems, guint depth, GError **error);
gboolean vhdx_commit(VhdxImage *img, GError **error);
gboolean vhdx_sector_bitmap_get(VhdxImage *img, guint64 chunk,
                                VhdxSectorBitmap **out, GError **error);
guint64 vhdx_payload_index(VhdxImage *img, guint64 block);
guint64 vhdx_bat_entries_for(VhdxDiskType type, guint64 blocks,
                             guint32 chunk_ratio);
guint64 vhdx_bitmap_index(VhdxImage *img, guint64 chunk);
/* Where in its own file the image keeps a virtual offset whose block it
 * holds */
guint64 vhdx_local_offset(VhdxImage *img, guint64 offset);
