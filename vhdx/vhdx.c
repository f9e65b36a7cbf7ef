/*
 * vhdx.c: opening, reading, writing and creating VHDX files ([MS-VHDX])
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "vhdx-private.h"

/* Bytes of a payload block moved per read or write in bulk copies. */
#define VHDX_IO_CHUNK (4 * MiB)

const char *
vhdx_disk_type_name(VhdxDiskType type)
{
    switch (type) {
    case VHDX_DISK_FIXED:
        return "fixed";
    case VHDX_DISK_DYNAMIC:
        return "dynamic";
    case VHDX_DISK_DIFFERENCING:
        return "differencing";
    }
    return "unknown";
}

void
vhdx_problem_free(VhdxProblem *p)
{
    if (!p)
        return;
    g_free(p->path);
    g_free(p->message);
    g_free(p);
}

static void
sector_bitmap_free(VhdxSectorBitmap *sb)
{
    g_free(sb->bits);
    g_free(sb);
}

void
vhdx_free(VhdxImage *img)
{
    if (!img)
        return;
    if (img->parent)
        vhdx_free(img->parent);
    if (img->fd >= 0)
        close(img->fd);
    g_free(img->path);
    g_free(img->creator);
    g_free(img->meta);
    g_free(img->meta_dirty);
    g_clear_pointer(&img->meta_items, g_ptr_array_unref);
    g_clear_pointer(&img->locator, g_hash_table_unref);
    g_free(img->bat);
    g_free(img->bat_dirty);
    g_clear_pointer(&img->bitmaps, g_hash_table_unref);
    g_clear_pointer(&img->overlay, g_hash_table_unref);
    g_free(img);
}

const VhdxInfo *
vhdx_get_info(VhdxImage *img)
{
    img->info.path = img->path;
    img->info.creator = img->creator;
    img->info.sequence_number = img->header.sequence_number;
    img->info.file_write_guid = img->header.file_write_guid;
    img->info.data_write_guid = img->header.data_write_guid;
    img->info.log_guid = img->header.log_guid;
    img->info.log_offset = img->header.log_offset;
    img->info.log_length = img->header.log_length;
    img->info.file_size = img->effective_size;
    return &img->info;
}

VhdxImage *
vhdx_get_parent(VhdxImage *img)
{
    return img->parent;
}

guint64
vhdx_payload_index(VhdxImage *img, guint64 block)
{
    return block + block / img->info.chunk_ratio;
}

guint64
vhdx_bitmap_index(VhdxImage *img, guint64 chunk)
{
    return chunk * (img->info.chunk_ratio + 1) + img->info.chunk_ratio;
}

VhdxBlockState
vhdx_get_block_state(VhdxImage *img, guint64 block)
{
    g_return_val_if_fail(block < img->info.payload_blocks,
                         VHDX_BLOCK_NOT_PRESENT);
    return vhdx_bat_state(img->bat[vhdx_payload_index(img, block)]);
}

/* 2.2.1: file type identifier */
static gboolean
parse_file_identifier(VhdxImage *img, GError **error)
{
    guint8 buf[8 + VHDX_CREATOR_SIZE];
    gunichar2 units[VHDX_CREATOR_SIZE / 2];
    glong n = 0;

    if (!vhdx_io_pread(img, buf, sizeof(buf), VHDX_FILE_ID_OFFSET, error))
        return FALSE;
    if (memcmp(buf, "vhdxfile", 8) != 0)
        return vhdx_fault(img, error, FALSE,
                          _("not a VHDX file: the \"vhdxfile\" signature is "
                            "missing"));
    while (n < (glong) G_N_ELEMENTS(units) &&
           (units[n] = vhdx_get_le16(buf + 8 + 2 * n)) != 0)
        n++;
    img->creator = g_utf16_to_utf8(units, n, NULL, NULL, NULL);
    if (!img->creator)
        img->creator = g_strdup("");
    return TRUE;
}

/* 2.2.2: both headers; the valid one with the higher sequence number wins */
static gboolean
header_valid(VhdxImage *img, const guint8 *raw, const VhdxHeader *h, int slot,
             GError **error)
{
    const char *why = NULL;

    if (h->signature != VHDX_HEADER_SIGNATURE)
        why = _("bad signature");
    else if (vhdx_crc32c(raw, VHDX_HEADER_SIZE, 4) != h->checksum)
        why = _("checksum mismatch");
    if (!why)
        return TRUE;
    if (img->problems)
        vhdx_fault(img, error, TRUE, _("header %d: %s"), slot + 1, why);
    return FALSE;
}

static gboolean
parse_headers(VhdxImage *img, GError **error)
{
    guint8 raw[2][VHDX_HEADER_SIZE];
    VhdxHeader h[2];
    gboolean ok[2];
    int cur;
    VhdxHeader *c;

    for (int i = 0; i < 2; i++) {
        if (!vhdx_io_pread(img, raw[i], VHDX_HEADER_SIZE,
                           i ? VHDX_HEADER2_OFFSET : VHDX_HEADER1_OFFSET,
                           error))
            return FALSE;
        vhdx_header_decode(&h[i], raw[i]);
        ok[i] = header_valid(img, raw[i], &h[i], i, error);
    }
    if (!ok[0] && !ok[1])
        return vhdx_fault(img, error, FALSE, _("no valid header"));
    if (ok[0] && ok[1] && h[0].sequence_number == h[1].sequence_number &&
        memcmp(raw[0], raw[1], VHDX_HEADER_SIZE) != 0)
        return vhdx_fault(img, error, FALSE,
                          _("the two headers differ but have the same "
                            "sequence number"));
    cur = !ok[1] ? 0 : !ok[0] ? 1 : h[1].sequence_number > h[0].sequence_number;
    img->header = h[cur];
    img->header_slot = cur;
    c = &img->header;

    if (c->version != 1 || c->log_version != 0) {
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_UNSUPPORTED,
                    _("%s: unsupported VHDX version %u (log version %u)"),
                    img->path, c->version, c->log_version);
        if (img->problems)
            vhdx_fault(img, NULL, TRUE, "%s", (*error)->message);
        return FALSE;
    }
    if (c->log_offset < VHDX_HEADER_SECTION_SIZE || c->log_offset % MiB ||
        c->log_length < MiB || c->log_length % MiB ||
        c->log_length > VHDX_MAX_LOG_LENGTH)
        return vhdx_fault(img, error, FALSE,
                          _("header: log at offset %" PRIu64
                            " with length %u is not 1 MiB aligned or too "
                            "large"),
                          c->log_offset, c->log_length);
    if (c->log_offset + c->log_length > img->effective_size)
        return vhdx_fault(img, error, FALSE,
                          _("header: the log (offset %" PRIu64
                            ", length %u) lies beyond the end of the file "
                            "(%" PRIu64 " bytes): truncated?"),
                          c->log_offset, c->log_length, img->effective_size);
    return TRUE;
}

/* 2.2.3: region table */
static gboolean
parse_region_table(VhdxImage *img, GError **error)
{
    g_autofree guint8 *rt = g_malloc(VHDX_REGION_TABLE_SIZE);
    VhdxGuid bat_id = vhdx_guid_const(VHDX_GUID_BAT_REGION);
    VhdxGuid meta_id = vhdx_guid_const(VHDX_GUID_METADATA_REGION);
    guint count;

    if (!vhdx_io_pread(img, rt, VHDX_REGION_TABLE_SIZE,
                       VHDX_REGION_TABLE_OFFSET, error))
        return FALSE;
    if (vhdx_get_le32(rt) != VHDX_REGION_SIGNATURE)
        return vhdx_fault(img, error, FALSE, _("region table: bad signature"));
    if (vhdx_crc32c(rt, VHDX_REGION_TABLE_SIZE, 4) != vhdx_get_le32(rt + 4))
        return vhdx_fault(img, error, FALSE,
                          _("region table: checksum mismatch"));
    count = vhdx_get_le32(rt + 8);
    if (count > VHDX_MAX_REGIONS)
        return vhdx_fault(img, error, FALSE,
                          _("region table: %u entries, more than the %u "
                            "allowed"),
                          count, VHDX_MAX_REGIONS);

    for (guint i = 0; i < count; i++) {
        VhdxRegionEntry e;
        vhdx_region_entry_decode(&e, rt + VHDX_REGION_HEADER_SIZE +
                                         i * VHDX_REGION_ENTRY_SIZE);
        if (e.file_offset < VHDX_HEADER_SECTION_SIZE || e.file_offset % MiB ||
            e.length == 0 || e.length % MiB ||
            e.file_offset + e.length > img->effective_size) {
            g_autofree char *id = vhdx_guid_to_string(&e.guid);
            return vhdx_fault(img, error, FALSE,
                              _("region table: region {%s} (offset %" PRIu64
                                ", length %u) is misaligned or beyond the end "
                                "of the file"),
                              id, e.file_offset, e.length);
        }
        if (vhdx_guid_equal(&e.guid, &bat_id)) {
            img->bat_offset = e.file_offset;
            img->bat_length = e.length;
        } else if (vhdx_guid_equal(&e.guid, &meta_id)) {
            img->meta_offset = e.file_offset;
            img->meta_length = e.length;
        } else if (e.required & 1) {
            g_autofree char *id = vhdx_guid_to_string(&e.guid);
            g_set_error(error, VHDX_ERROR, VHDX_ERROR_UNSUPPORTED,
                        _("%s: region {%s} is required but not supported"),
                        img->path, id);
            if (img->problems)
                vhdx_fault(img, NULL, TRUE, "%s", (*error)->message);
            return FALSE;
        }
    }
    if (!img->bat_length || !img->meta_length)
        return vhdx_fault(img, error, FALSE,
                          _("region table: the BAT or metadata region is "
                            "missing"));
    if (img->meta_length > VHDX_MAX_META_LENGTH ||
        img->bat_length > VHDX_MAX_BAT_LENGTH)
        return vhdx_fault(img, error, FALSE,
                          _("region table: the metadata region (%u bytes) or "
                            "the BAT (%u bytes) is larger than supported"),
                          img->meta_length, img->bat_length);

    if (img->problems) {
        g_autofree guint8 *copy = g_malloc(VHDX_REGION_TABLE_SIZE);
        if (!vhdx_io_pread(img, copy, VHDX_REGION_TABLE_SIZE,
                           VHDX_REGION_TABLE2_OFFSET, error))
            return FALSE;
        if (memcmp(copy, rt, VHDX_REGION_TABLE_SIZE) != 0)
            vhdx_fault(img, error, TRUE,
                       _("region table: the second copy differs from the "
                         "first"));
    }
    return TRUE;
}

typedef struct {
    guint64 start;
    guint64 end;
    const char *what;
    guint64 index;
} Extent;

static gint
compare_extents(gconstpointer a, gconstpointer b)
{
    const Extent *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static gboolean
block_state_valid(VhdxImage *img, guint state)
{
    switch (state) {
    case VHDX_BLOCK_NOT_PRESENT:
    case VHDX_BLOCK_UNDEFINED:
    case VHDX_BLOCK_ZERO:
    case VHDX_BLOCK_UNMAPPED:
    case VHDX_BLOCK_UNMAPPED_V095:
    case VHDX_BLOCK_FULLY_PRESENT:
        return TRUE;
    case VHDX_BLOCK_PARTIALLY_PRESENT:
        return img->info.type == VHDX_DISK_DIFFERENCING;
    default:
        return FALSE;
    }
}

/* 2.5: BAT entries a file of this shape needs */
guint64
vhdx_bat_entries_for(VhdxDiskType type, guint64 blocks, guint32 chunk_ratio)
{
    if (type == VHDX_DISK_DIFFERENCING)
        return ((blocks + chunk_ratio - 1) / chunk_ratio) * (chunk_ratio + 1);
    return blocks + (blocks - 1) / chunk_ratio;
}

/* 2.5: read the BAT and check every entry: state, position, overlaps */
static gboolean
parse_bat(VhdxImage *img, GError **error)
{
    VhdxInfo *info = &img->info;
    guint64 n = img->bat_length / 8;
    g_autofree guint8 *raw = NULL;
    guint64 used;
    g_autoptr(GArray) extents = g_array_new(FALSE, FALSE, sizeof(Extent));
    guint64 chunks;
    Extent fixed_extents[] = {
        { 0, VHDX_HEADER_SECTION_SIZE, N_("the header section"), 0 },
        { img->header.log_offset,
          img->header.log_offset + img->header.log_length, N_("the log"), 0 },
        { img->meta_offset, img->meta_offset + img->meta_length,
          N_("the metadata region"), 0 },
        { img->bat_offset, img->bat_offset + img->bat_length, N_("the BAT"),
          0 },
    };

    info->bat_entries = vhdx_bat_entries_for(info->type, info->payload_blocks,
                                             info->chunk_ratio);
    if (info->bat_entries > n)
        return vhdx_fault(img, error, FALSE,
                          _("BAT: %" PRIu64 " entries are needed "
                            "but the region holds only %" PRIu64),
                          info->bat_entries, n);
    /* the region is sized in MiB; only the sectors that hold the entries
     * the disk needs are read (the rest stays zero, as the spec has it,
     * and is written back only with a sector it shares) */
    used = MIN(img->bat_length,
               VHDX_ROUND_UP(info->bat_entries * 8, VHDX_SECTOR_SIZE));
    raw = g_malloc(MAX(used, 1));
    if (!vhdx_io_pread(img, raw, used, img->bat_offset, error))
        return FALSE;
    img->bat = g_new0(guint64, n);
    for (guint64 i = 0; i < used / 8; i++)
        img->bat[i] = vhdx_get_le64(raw + 8 * i);
    img->bat_dirty = g_malloc0(img->bat_length / VHDX_SECTOR_SIZE);

    g_array_append_vals(extents, fixed_extents, G_N_ELEMENTS(fixed_extents));
    for (guint64 b = 0; b < info->payload_blocks; b++) {
        guint64 idx = vhdx_payload_index(img, b);
        guint64 e = img->bat[idx];
        guint state = vhdx_bat_state(e);
        guint64 off = vhdx_bat_offset(e);

        if (!block_state_valid(img, state)) {
            if (!vhdx_fault(img, error, TRUE,
                            _("BAT entry %" PRIu64 " (payload block "
                              "%" PRIu64 ") has state %u, invalid "
                              "in a %s file"),
                            idx, b, state, vhdx_disk_type_name(info->type)))
                return FALSE;
            img->bat[idx] = VHDX_BLOCK_NOT_PRESENT;
            continue;
        }
        info->block_count[state]++;
        if (state != VHDX_BLOCK_FULLY_PRESENT &&
            state != VHDX_BLOCK_PARTIALLY_PRESENT)
            continue;
        if (off < VHDX_HEADER_SECTION_SIZE ||
            off + info->block_size > img->effective_size) {
            if (!vhdx_fault(img, error, TRUE,
                            _("BAT entry %" PRIu64 " (payload block "
                              "%" PRIu64 ") at offset "
                              "%" PRIu64 " lies outside the file "
                              "(%" PRIu64 " bytes): truncated?"),
                            idx, b, off, img->effective_size))
                return FALSE;
            img->bat[idx] = VHDX_BLOCK_NOT_PRESENT;
            continue;
        }
        g_array_append_val(extents, ((Extent){ off, off + info->block_size,
                                               N_("payload block"), b }));
    }

    chunks = (info->payload_blocks + info->chunk_ratio - 1) / info->chunk_ratio;
    for (guint64 c = 0; c < chunks; c++) {
        guint64 idx = vhdx_bitmap_index(img, c);
        guint64 e = idx < n ? img->bat[idx] : 0;
        guint state = vhdx_bat_state(e);
        guint64 off = vhdx_bat_offset(e);

        if (state == VHDX_SB_NOT_PRESENT)
            continue;
        if (state != VHDX_SB_PRESENT || info->type != VHDX_DISK_DIFFERENCING ||
            off < VHDX_HEADER_SECTION_SIZE ||
            off + VHDX_SB_BLOCK_SIZE > img->effective_size) {
            if (!vhdx_fault(img, error, TRUE,
                            _("BAT entry %" PRIu64 " (sector bitmap "
                              "of chunk %" PRIu64 ") has state %u "
                              "at offset %" PRIu64 ", invalid here"),
                            idx, c, state, off))
                return FALSE;
            img->bat[idx] = 0;
            continue;
        }
        g_array_append_val(extents,
                           ((Extent){ off, off + VHDX_SB_BLOCK_SIZE,
                                      N_("sector bitmap of chunk"), c }));
    }

    /* partially present blocks need their chunk's sector bitmap */
    for (guint64 b = 0; b < info->payload_blocks; b++) {
        guint64 idx = vhdx_payload_index(img, b);
        guint64 sbi = vhdx_bitmap_index(img, b / info->chunk_ratio);
        if (vhdx_bat_state(img->bat[idx]) == VHDX_BLOCK_PARTIALLY_PRESENT &&
            vhdx_bat_state(img->bat[sbi]) != VHDX_SB_PRESENT) {
            if (!vhdx_fault(img, error, TRUE,
                            _("payload block %" PRIu64 " is "
                              "partially present but its chunk has no sector "
                              "bitmap"),
                            b))
                return FALSE;
            img->bat[idx] = VHDX_BLOCK_NOT_PRESENT;
        }
    }

    g_array_sort(extents, compare_extents);
    img->alloc_end = VHDX_ROUND_UP(img->effective_size, MiB);
    for (guint i = 0; i < extents->len; i++) {
        Extent *x = &g_array_index(extents, Extent, i);
        img->alloc_end = MAX(img->alloc_end, VHDX_ROUND_UP(x->end, MiB));
        if (i == 0)
            continue;
        Extent *p = &g_array_index(extents, Extent, i - 1);
        if (p->end > x->start &&
            !vhdx_fault(img, error, TRUE,
                        _("%s %" PRIu64 " (offset %" PRIu64
                          ") overlaps %s %" PRIu64 " (offset %" PRIu64 ")"),
                        _(x->what), x->index, x->start, _(p->what), p->index,
                        p->start))
            return FALSE;
    }
    return TRUE;
}

VhdxImage *
vhdx_open_internal(const char *path, VhdxOpenFlags flags, GPtrArray *problems,
                   guint depth, GError **error)
{
    g_autoptr(VhdxImage) img = g_new0(VhdxImage, 1);
    gboolean rw = (flags & VHDX_OPEN_READ_WRITE) != 0;
    guint64 size, table, used;

    img->path = g_strdup(path);
    img->flags = flags;
    img->writable = rw;
    img->problems = problems;
    img->meta_items =
        g_ptr_array_new_with_free_func((GDestroyNotify) vhdx_meta_item_free);
    img->locator =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    img->bitmaps = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
                                         (GDestroyNotify) sector_bitmap_free);
    img->fd = open(path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (img->fd < 0) {
        int err = errno;
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_IO, _("%s: cannot open: %s"),
                    path, g_strerror(err));
        if (problems)
            vhdx_fault(img, NULL, TRUE, _("cannot open: %s"), g_strerror(err));
        return NULL;
    }
    if (flock(img->fd, (rw ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0) {
        int err = errno;
        /* a writer waits for every other open, a reader for writers */
        g_set_error(error, VHDX_ERROR,
                    err == EWOULDBLOCK ? VHDX_ERROR_BUSY : VHDX_ERROR_IO,
                    err != EWOULDBLOCK ? _("%s: cannot lock: %s")
                    : rw ? _("%s: the file is open elsewhere, and writing "
                             "needs it alone")
                         : _("%s: the file is in use by another open that "
                             "writes it"),
                    path, g_strerror(err));
        return NULL;
    }
    size = vhdx_io_file_size(img, error);
    if (size == G_MAXUINT64)
        return NULL;
    img->effective_size = size;
    if (size < VHDX_HEADER_SECTION_SIZE) {
        vhdx_fault(img, error, FALSE,
                   _("the file is %" PRIu64 " bytes, too short for "
                     "a VHDX header section"),
                   size);
        return NULL;
    }

    if (!parse_file_identifier(img, error) || !parse_headers(img, error) ||
        !parse_region_table(img, error) || !vhdx_log_replay(img, error))
        return NULL;

    /* the region is sized in MiB, its table and items take a few KiB:
     * the table first, then up to the end of the last item (the rest reads
     * as zero, as written) */
    img->meta_dirty = g_malloc0(img->meta_length / VHDX_SECTOR_SIZE);
    table = MIN(img->meta_length, VHDX_METADATA_TABLE_SIZE);
    img->meta = g_malloc0(table);
    img->meta_held = table;
    if (!vhdx_io_pread(img, img->meta, table, img->meta_offset, error))
        return NULL;
    used = vhdx_metadata_used_length(img->meta, img->meta_length);
    if (used > table) {
        img->meta = g_realloc(img->meta, used);
        img->meta_held = used;
    }
    if ((used > table && !vhdx_io_pread(img, img->meta + table, used - table,
                                        img->meta_offset + table, error)) ||
        !vhdx_metadata_parse(img, error) || !parse_bat(img, error))
        return NULL;

    if ((flags & VHDX_OPEN_CHAIN) && img->info.type == VHDX_DISK_DIFFERENCING &&
        !vhdx_chain_open_parent(img, flags, depth, error))
        return NULL;
    img->problems = NULL;
    return g_steal_pointer(&img);
}

VhdxImage *
vhdx_open(const char *path, VhdxOpenFlags flags, GError **error)
{
    return vhdx_open_internal(path, flags, NULL, 0, error);
}

/* 2.2.2.1: write the non-current slot, flush, then the other one too */
gboolean
vhdx_header_update(VhdxImage *img, GError **error)
{
    guint8 raw[VHDX_HEADER_SIZE];

    for (int pass = 0; pass < 2; pass++) {
        int slot = 1 - img->header_slot;
        img->header.sequence_number++;
        vhdx_header_encode(&img->header, raw);
        if (!vhdx_io_pwrite(img, raw, sizeof(raw),
                            slot ? VHDX_HEADER2_OFFSET : VHDX_HEADER1_OFFSET,
                            error) ||
            !vhdx_io_sync(img, error))
            return FALSE;
        img->header_slot = slot;
    }
    return TRUE;
}

gboolean
vhdx_begin_change(VhdxImage *img, gboolean user_visible, GError **error)
{
    gboolean changed = FALSE;

    if (!img->writable) {
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_READ_ONLY,
                    _("%s: the image is open read-only"), img->path);
        return FALSE;
    }
    if (!img->file_guid_renewed) {
        vhdx_guid_generate(&img->header.file_write_guid);
        img->file_guid_renewed = changed = TRUE;
    }
    if (user_visible && !img->data_guid_renewed) {
        vhdx_guid_generate(&img->header.data_write_guid);
        img->data_guid_renewed = changed = TRUE;
    }
    return !changed || vhdx_header_update(img, error);
}

gboolean
vhdx_sector_bitmap_get(VhdxImage *img, guint64 chunk, VhdxSectorBitmap **out,
                       GError **error)
{
    VhdxSectorBitmap *sb = g_hash_table_lookup(img->bitmaps, &chunk);
    guint64 e, blocks, used;

    if (!sb) {
        e = img->bat[vhdx_bitmap_index(img, chunk)];
        if (vhdx_bat_state(e) != VHDX_SB_PRESENT) {
            *out = NULL;
            return TRUE;
        }
        sb = g_new0(VhdxSectorBitmap, 1);
        sb->file_offset = vhdx_bat_offset(e);
        /* the bits of the chunk's blocks the disk has: the last chunk of a
         * disk smaller than a chunk uses a part (the rest is zero) */
        blocks =
            chunk * img->info.chunk_ratio < img->info.payload_blocks
                ? MIN(img->info.chunk_ratio,
                      img->info.payload_blocks - chunk * img->info.chunk_ratio)
                : img->info.chunk_ratio;
        used = MIN(
            VHDX_SB_BLOCK_SIZE,
            VHDX_ROUND_UP(blocks * (VHDX_SB_BLOCK_SIZE / img->info.chunk_ratio),
                          VHDX_SECTOR_SIZE));
        sb->bits = g_malloc0(VHDX_SB_BLOCK_SIZE);
        if (!vhdx_io_pread(img, sb->bits, used, sb->file_offset, error)) {
            sector_bitmap_free(sb);
            return FALSE;
        }
        g_hash_table_insert(img->bitmaps, g_memdup2(&chunk, sizeof(chunk)), sb);
    }
    *out = sb;
    return TRUE;
}

static gboolean read_range(VhdxImage *img, guint8 *buf, gsize len, guint64 off,
                           GError **error);

static gboolean
read_parent(VhdxImage *img, guint8 *buf, gsize len, guint64 off, GError **error)
{
    guint64 psize;
    gsize n;

    if (img->info.type != VHDX_DISK_DIFFERENCING) {
        memset(buf, 0, len);
        return TRUE;
    }
    if (!img->parent) {
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_PARENT,
                    _("%s: a differencing image read without its parent"),
                    img->path);
        return FALSE;
    }
    psize = img->parent->info.virtual_size;
    n = off >= psize ? 0 : MIN(len, psize - off);
    if (n && !read_range(img->parent, buf, n, off, error))
        return FALSE;
    memset(buf + n, 0, len - n);
    return TRUE;
}

static inline gboolean
bitmap_bit(const guint8 *bits, guint64 k)
{
    return (bits[k >> 3] >> (k & 7)) & 1;
}

/* A partially present block (2.5.1.1): per sector, this file or parent. */
static gboolean
read_partial(VhdxImage *img, guint8 *buf, gsize len, guint64 off,
             guint64 block_file_off, GError **error)
{
    guint32 lss = img->info.logical_sector_size;
    guint64 block_start = (off / img->info.block_size) * img->info.block_size;
    guint64 end = off + len;
    guint64 pos = off;
    VhdxSectorBitmap *sb;

    if (!vhdx_sector_bitmap_get(
            img, pos / img->info.block_size / img->info.chunk_ratio, &sb,
            error))
        return FALSE;
    g_assert(sb);
    while (pos < end) {
        guint64 k = (pos / lss) % VHDX_SECTORS_PER_CHUNK;
        gboolean present = bitmap_bit(sb->bits, k);
        guint64 run_end = (pos / lss + 1) * lss;

        while (run_end < end) {
            guint64 nk = (run_end / lss) % VHDX_SECTORS_PER_CHUNK;
            guint8 byte = sb->bits[nk >> 3];
            if ((nk & 7) == 0 && byte == (present ? 0xff : 0x00))
                run_end += 8 * (guint64) lss;
            else if (bitmap_bit(sb->bits, nk) == present)
                run_end += lss;
            else
                break;
        }
        run_end = MIN(run_end, end);
        if (present) {
            if (!vhdx_io_pread(img, buf + (pos - off), run_end - pos,
                               block_file_off + (pos - block_start), error))
                return FALSE;
        } else if (!read_parent(img, buf + (pos - off), run_end - pos, pos,
                                error)) {
            return FALSE;
        }
        pos = run_end;
    }
    return TRUE;
}

/* 2.1 of the reference notes: read resolution through the chain */
static gboolean
read_range(VhdxImage *img, guint8 *buf, gsize len, guint64 off, GError **error)
{
    guint32 bs = img->info.block_size;

    while (len > 0) {
        guint64 block = off / bs;
        guint64 in_block = off % bs;
        gsize n = MIN(len, bs - in_block);
        guint64 e = img->bat[vhdx_payload_index(img, block)];
        gboolean ok;

        switch (vhdx_bat_state(e)) {
        case VHDX_BLOCK_FULLY_PRESENT:
            ok = vhdx_io_pread(img, buf, n, vhdx_bat_offset(e) + in_block,
                               error);
            break;
        case VHDX_BLOCK_PARTIALLY_PRESENT:
            ok = read_partial(img, buf, n, off, vhdx_bat_offset(e), error);
            break;
        case VHDX_BLOCK_NOT_PRESENT:
            ok = read_parent(img, buf, n, off, error);
            break;
        default:
            /* ZERO, UNMAPPED, UNDEFINED read as zeros, even in a child */
            memset(buf, 0, n);
            ok = TRUE;
            break;
        }
        if (!ok)
            return FALSE;
        buf += n;
        off += n;
        len -= n;
    }
    return TRUE;
}

static gboolean
check_range(VhdxImage *img, gsize len, guint64 offset, GError **error)
{
    if (offset > img->info.virtual_size ||
        len > img->info.virtual_size - offset) {
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_INVALID,
                    _("%s: %zu bytes at offset %" PRIu64 " are "
                      "beyond the virtual disk size %" PRIu64),
                    img->path, len, offset, img->info.virtual_size);
        return FALSE;
    }
    return TRUE;
}

gboolean
vhdx_read(VhdxImage *img, void *buf, gsize len, guint64 offset, GError **error)
{
    return check_range(img, len, offset, error) &&
           read_range(img, buf, len, offset, error);
}

guint64
vhdx_local_offset(VhdxImage *img, guint64 offset)
{
    guint64 e =
        img->bat[vhdx_payload_index(img, offset / img->info.block_size)];
    return vhdx_bat_offset(e) + offset % img->info.block_size;
}

static gboolean
allocate(VhdxImage *img, guint64 size, guint64 *out, GError **error)
{
    guint64 at = img->alloc_end;

    if (!vhdx_io_allocate(img, at, size, error))
        return FALSE;
    img->alloc_end = at + size;
    *out = at;
    return TRUE;
}

static void
bat_set(VhdxImage *img, guint64 idx, guint64 entry)
{
    img->bat[idx] = entry;
    img->bat_dirty[idx * 8 / VHDX_SECTOR_SIZE] = 1;
}

static gboolean
set_bitmap_bits(VhdxImage *img, guint64 off, gsize len, GError **error)
{
    guint32 lss = img->info.logical_sector_size;
    guint64 chunk = off / img->info.block_size / img->info.chunk_ratio;
    VhdxSectorBitmap *sb;

    if (!vhdx_sector_bitmap_get(img, chunk, &sb, error))
        return FALSE;
    if (!sb) {
        guint64 at;
        if (!allocate(img, VHDX_SB_BLOCK_SIZE, &at, error))
            return FALSE;
        sb = g_new0(VhdxSectorBitmap, 1);
        sb->file_offset = at;
        sb->bits = g_malloc0(VHDX_SB_BLOCK_SIZE);
        g_hash_table_insert(img->bitmaps, g_memdup2(&chunk, sizeof(chunk)), sb);
        bat_set(img, vhdx_bitmap_index(img, chunk),
                vhdx_bat_entry(VHDX_SB_PRESENT, at));
    }
    for (guint64 s = off / lss; s < (off + len) / lss; s++) {
        guint64 k = s % VHDX_SECTORS_PER_CHUNK;
        sb->bits[k >> 3] |= 1 << (k & 7);
        sb->dirty[(k >> 3) / VHDX_SECTOR_SIZE] = 1;
    }
    return TRUE;
}

/* What a write puts: bytes in memory, or a range of another image's
 * file */
typedef struct {
    const guint8 *buf;
    VhdxImage *from;
    guint64 from_offset;
} Source;

static gboolean
put(VhdxImage *img, const Source *src, gsize len, guint64 at, GError **error)
{
    return src->from
               ? vhdx_io_copy(img, src->from, src->from_offset, len, at, error)
               : vhdx_io_pwrite(img, src->buf, len, at, error);
}

/* A sector-aligned write inside one payload block of the leaf. */
static gboolean
write_in_block(VhdxImage *img, const Source *src, gsize len, guint64 off,
               GError **error)
{
    guint32 bs = img->info.block_size;
    guint64 block = off / bs;
    guint64 in_block = off % bs;
    guint64 idx = vhdx_payload_index(img, block);
    guint64 e = img->bat[idx];
    guint state = vhdx_bat_state(e);
    guint64 block_bytes =
        MIN((guint64) bs, img->info.virtual_size - block * bs);
    guint64 at;

    img->payload_unsynced = TRUE;
    if (state == VHDX_BLOCK_FULLY_PRESENT)
        return put(img, src, len, vhdx_bat_offset(e) + in_block, error);
    if (state == VHDX_BLOCK_PARTIALLY_PRESENT)
        return put(img, src, len, vhdx_bat_offset(e) + in_block, error) &&
               set_bitmap_bits(img, off, len, error);

    /* Not allocated: a new block at the end of the file, zeros elsewhere.
     * In a child, a block that was inherited becomes partially present so
     * that the sectors not written still come from the parent. */
    if (!allocate(img, bs, &at, error) ||
        !put(img, src, len, at + in_block, error))
        return FALSE;
    if (img->info.type == VHDX_DISK_DIFFERENCING &&
        state == VHDX_BLOCK_NOT_PRESENT &&
        !(in_block == 0 && len == block_bytes)) {
        if (!set_bitmap_bits(img, off, len, error))
            return FALSE;
        state = VHDX_BLOCK_PARTIALLY_PRESENT;
    } else {
        state = VHDX_BLOCK_FULLY_PRESENT;
    }
    img->info.block_count[vhdx_bat_state(e)]--;
    img->info.block_count[state]++;
    bat_set(img, idx, vhdx_bat_entry(state, at));
    return TRUE;
}

static gboolean
write_source(VhdxImage *img, Source src, gsize len, guint64 off, GError **error)
{
    guint32 bs = img->info.block_size;

    while (len > 0) {
        gsize n = MIN(len, bs - off % bs);
        if (!write_in_block(img, &src, n, off, error))
            return FALSE;
        if (src.buf)
            src.buf += n;
        src.from_offset += n;
        off += n;
        len -= n;
    }
    return TRUE;
}

static gboolean
write_aligned(VhdxImage *img, const guint8 *buf, gsize len, guint64 off,
              GError **error)
{
    Source src = { buf, NULL, 0 };
    return write_source(img, src, len, off, error);
}

gboolean
vhdx_write_from(VhdxImage *img, VhdxImage *from, guint64 from_offset, gsize len,
                guint64 offset, GError **error)
{
    Source src = { NULL, from, from_offset };
    guint32 lss = img->info.logical_sector_size;

    if (offset % lss || len % lss) {
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_INVALID,
                    _("%s: a copy of %zu bytes at %" PRIu64 " is not "
                      "sector-aligned"),
                    img->path, len, offset);
        return FALSE;
    }
    return check_range(img, len, offset, error) &&
           vhdx_begin_change(img, TRUE, error) &&
           write_source(img, src, len, offset, error);
}

gboolean
vhdx_write(VhdxImage *img, const void *buf, gsize len, guint64 offset,
           GError **error)
{
    guint32 lss = img->info.logical_sector_size;
    const guint8 *p = buf;
    g_autofree guint8 *sector = NULL;

    if (!check_range(img, len, offset, error) ||
        !vhdx_begin_change(img, TRUE, error))
        return FALSE;

    /* a partial sector at either end: read it through the chain, patch */
    while (len > 0 && (offset % lss || len < lss)) {
        guint64 start = offset - offset % lss;
        gsize n = MIN(len, lss - offset % lss);
        if (!sector)
            sector = g_malloc(lss);
        if (!vhdx_read(img, sector, lss, start, error))
            return FALSE;
        memcpy(sector + offset % lss, p, n);
        if (!write_aligned(img, sector, lss, start, error))
            return FALSE;
        p += n;
        offset += n;
        len -= n;
    }
    if (len >= lss) {
        gsize n = len - len % lss;
        if (!write_aligned(img, p, n, offset, error))
            return FALSE;
        p += n;
        offset += n;
        len -= n;
    }
    return len == 0 || vhdx_write(img, p, len, offset, error);
}

/* Payload first, then the BAT, bitmap and metadata sectors through the log. */
gboolean
vhdx_commit(VhdxImage *img, GError **error)
{
    g_autoptr(GArray) offsets = g_array_new(FALSE, FALSE, sizeof(guint64));
    g_autoptr(GPtrArray) data = g_ptr_array_new_with_free_func(g_free);
    GHashTableIter it;
    gpointer value;

    if (!img->writable || img->broken)
        return !img->broken;

    for (guint64 s = 0; s < img->bat_length / VHDX_SECTOR_SIZE; s++) {
        guint8 *sector;
        guint64 at;
        if (!img->bat_dirty[s])
            continue;
        sector = g_malloc(VHDX_SECTOR_SIZE);
        for (guint i = 0; i < VHDX_SECTOR_SIZE / 8; i++)
            vhdx_put_le64(sector + 8 * i,
                          img->bat[s * (VHDX_SECTOR_SIZE / 8) + i]);
        at = img->bat_offset + s * VHDX_SECTOR_SIZE;
        g_array_append_val(offsets, at);
        g_ptr_array_add(data, sector);
    }
    g_hash_table_iter_init(&it, img->bitmaps);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        VhdxSectorBitmap *sb = value;
        for (guint s = 0; s < G_N_ELEMENTS(sb->dirty); s++) {
            guint64 at = sb->file_offset + (guint64) s * VHDX_SECTOR_SIZE;
            if (!sb->dirty[s])
                continue;
            g_array_append_val(offsets, at);
            g_ptr_array_add(data,
                            g_memdup2(sb->bits + (gsize) s * VHDX_SECTOR_SIZE,
                                      VHDX_SECTOR_SIZE));
        }
    }
    for (guint32 s = 0; s < img->meta_length / VHDX_SECTOR_SIZE; s++) {
        guint64 at = img->meta_offset + (guint64) s * VHDX_SECTOR_SIZE;
        if (!img->meta_dirty[s])
            continue;
        g_array_append_val(offsets, at);
        g_ptr_array_add(data,
                        g_memdup2(img->meta + (gsize) s * VHDX_SECTOR_SIZE,
                                  VHDX_SECTOR_SIZE));
    }

    if (img->payload_unsynced || offsets->len) {
        if (!vhdx_io_sync(img, error))
            return FALSE;
        img->payload_unsynced = FALSE;
    }
    if (!vhdx_log_commit(img, (guint64 *) offsets->data,
                         (const guint8 *const *) data->pdata, offsets->len,
                         error))
        return FALSE;

    memset(img->bat_dirty, 0, img->bat_length / VHDX_SECTOR_SIZE);
    memset(img->meta_dirty, 0, img->meta_length / VHDX_SECTOR_SIZE);
    g_hash_table_iter_init(&it, img->bitmaps);
    while (g_hash_table_iter_next(&it, NULL, &value))
        memset(((VhdxSectorBitmap *) value)->dirty, 0,
               sizeof(((VhdxSectorBitmap *) value)->dirty));
    return TRUE;
}

gboolean
vhdx_flush(VhdxImage *img, GError **error)
{
    return vhdx_commit(img, error);
}

gboolean
vhdx_close(VhdxImage *img, GError **error)
{
    gboolean ok = TRUE;
    GError *local = NULL;

    if (img->writable && !img->broken)
        ok = vhdx_commit(img, &local) && vhdx_log_close(img, &local);
    if (img->parent) {
        VhdxImage *parent = g_steal_pointer(&img->parent);
        if (!vhdx_close(parent, ok ? &local : NULL))
            ok = FALSE;
    }
    if (!ok && local)
        g_propagate_error(error, local);
    else if (!ok)
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_IO,
                    _("%s: closed after a failed write; changes since the "
                      "last flush may be lost"),
                    img->path);
    vhdx_free(img);
    return ok;
}

/* Creation */

typedef struct {
    guint64 virtual_size;
    guint32 block_size;
    guint32 logical_sector_size;
    gboolean fixed;
    gboolean differencing;
    const char *creator;
    GPtrArray *items;
} CreateLayout;

/* Writes the 4 KiB pages of buf that hold anything but zeros: the rest of
 * a new file is a hole that reads as zeros, and costs no I/O to flush. */
static gboolean
write_nonzero(int fd, const char *path, const guint8 *buf, gsize len,
              guint64 off, GError **error)
{
    static const guint8 zero[VHDX_SECTOR_SIZE];
    gsize at = 0;

    while (at < len) {
        gsize start, end;
        while (at < len &&
               memcmp(buf + at, zero, MIN(VHDX_SECTOR_SIZE, len - at)) == 0)
            at += VHDX_SECTOR_SIZE;
        start = at;
        while (at < len &&
               memcmp(buf + at, zero, MIN(VHDX_SECTOR_SIZE, len - at)) != 0)
            at += VHDX_SECTOR_SIZE;
        end = MIN(at, len);
        while (start < end) {
            ssize_t n = pwrite(fd, buf + start, end - start, off + start);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                g_set_error(error, VHDX_ERROR, VHDX_ERROR_IO,
                            _("%s: cannot write: %s"), path, g_strerror(errno));
                return FALSE;
            }
            start += n;
        }
    }
    return TRUE;
}

static gboolean
create_file(const char *path, const CreateLayout *l, GError **error)
{
    const guint64 log_offset = 1 * MiB, log_length = 1 * MiB;
    const guint64 meta_offset = 2 * MiB, meta_length = 1 * MiB;
    const guint64 bat_offset = 3 * MiB;
    guint32 chunk_ratio =
        (guint32) ((VHDX_SECTORS_PER_CHUNK * l->logical_sector_size) /
                   l->block_size);
    guint64 blocks = (l->virtual_size + l->block_size - 1) / l->block_size;
    guint64 entries = vhdx_bat_entries_for(
        l->differencing ? VHDX_DISK_DIFFERENCING : VHDX_DISK_DYNAMIC, blocks,
        chunk_ratio);
    guint64 bat_length = VHDX_ROUND_UP(entries * 8, MiB);
    guint64 end = bat_offset + bat_length;
    g_autofree guint8 *head = g_malloc0(VHDX_HEADER_SECTION_SIZE);
    g_autofree guint8 *bat = g_malloc0(bat_length);
    g_autofree guint8 *meta = NULL;
    g_autofree gunichar2 *creator = NULL;
    VhdxHeader h = { 0 };
    glong ncreator = 0;
    int fd;
    gboolean ok;

    meta = vhdx_metadata_build(l->items, meta_length, error);
    if (!meta)
        return FALSE;
    if (bat_length > VHDX_MAX_BAT_LENGTH) {
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_INVALID,
                    _("%s: %" PRIu64 " blocks need a BAT larger "
                      "than supported; use a larger block size"),
                    path, blocks);
        return FALSE;
    }

    /* 2.2.1 */
    memcpy(head, "vhdxfile", 8);
    creator = g_utf8_to_utf16(l->creator, -1, NULL, &ncreator, NULL);
    for (glong i = 0; creator && i < MIN(ncreator, VHDX_CREATOR_SIZE / 2 - 1);
         i++)
        vhdx_put_le16(head + 8 + 2 * i, creator[i]);

    /* 2.2.2: both slots, the second one current */
    vhdx_guid_generate(&h.file_write_guid);
    vhdx_guid_generate(&h.data_write_guid);
    h.version = 1;
    h.log_length = log_length;
    h.log_offset = log_offset;
    h.sequence_number = 1;
    vhdx_header_encode(&h, head + VHDX_HEADER1_OFFSET);
    h.sequence_number = 2;
    vhdx_header_encode(&h, head + VHDX_HEADER2_OFFSET);

    /* 2.2.3: BAT and metadata, both required, twice */
    {
        guint8 *rt = head + VHDX_REGION_TABLE_OFFSET;
        VhdxRegionEntry regions[2] = {
            { vhdx_guid_const(VHDX_GUID_BAT_REGION), bat_offset,
              (guint32) bat_length, 1 },
            { vhdx_guid_const(VHDX_GUID_METADATA_REGION), meta_offset,
              (guint32) meta_length, 1 },
        };
        vhdx_put_le32(rt, VHDX_REGION_SIGNATURE);
        vhdx_put_le32(rt + 8, G_N_ELEMENTS(regions));
        for (guint i = 0; i < G_N_ELEMENTS(regions); i++)
            vhdx_region_entry_encode(&regions[i],
                                     rt + VHDX_REGION_HEADER_SIZE +
                                         i * VHDX_REGION_ENTRY_SIZE);
        vhdx_put_le32(rt + 4, vhdx_crc32c(rt, VHDX_REGION_TABLE_SIZE, 4));
        memcpy(head + VHDX_REGION_TABLE2_OFFSET, rt, VHDX_REGION_TABLE_SIZE);
    }

    /* 2.5: a fixed disk has every block allocated, in order */
    if (l->fixed) {
        for (guint64 b = 0; b < blocks; b++) {
            guint64 idx = b + b / chunk_ratio;
            vhdx_put_le64(bat + 8 * idx,
                          vhdx_bat_entry(VHDX_BLOCK_FULLY_PRESENT, end));
            end += l->block_size;
        }
    }

    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_IO,
                    _("%s: cannot create: %s"), path, g_strerror(errno));
        return FALSE;
    }
    ok = write_nonzero(fd, path, head, VHDX_HEADER_SECTION_SIZE, 0, error) &&
         write_nonzero(fd, path, meta, meta_length, meta_offset, error) &&
         write_nonzero(fd, path, bat, bat_length, bat_offset, error);
    if (ok && ftruncate(fd, (off_t) end) < 0) {
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_IO,
                    _("%s: cannot resize: %s"), path, g_strerror(errno));
        ok = FALSE;
    }
    if (ok && fsync(fd) < 0) {
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_IO,
                    _("%s: cannot flush to disk: %s"), path, g_strerror(errno));
        ok = FALSE;
    }
    close(fd);
    if (!ok)
        unlink(path);
    return ok;
}

static gboolean
valid_block_size(guint32 bs)
{
    return bs >= VHDX_MIN_BLOCK_SIZE && bs <= VHDX_MAX_BLOCK_SIZE &&
           (bs & (bs - 1)) == 0;
}

static VhdxMetaItem *
file_params_item(guint32 block_size, guint32 flags)
{
    guint8 p[8];
    vhdx_put_le32(p, block_size);
    vhdx_put_le32(p + 4, flags);
    return vhdx_meta_item_new(VHDX_GUID_FILE_PARAMETERS,
                              VHDX_META_FLAG_IS_REQUIRED, p, sizeof(p));
}

static const char *
default_creator(const char *creator)
{
    return creator ? creator : PACKAGE_NAME " " PACKAGE_VERSION;
}

gboolean
vhdx_create(const char *path, const VhdxCreateOptions *opts, GError **error)
{
    guint32 bs = opts->block_size ? opts->block_size : 32 * MiB;
    guint32 lss = opts->logical_sector_size ? opts->logical_sector_size : 512;
    guint32 pss =
        opts->physical_sector_size ? opts->physical_sector_size : 4096;
    g_autoptr(GPtrArray) items =
        g_ptr_array_new_with_free_func((GDestroyNotify) vhdx_meta_item_free);
    const guint32 vd = VHDX_META_FLAG_IS_VDISK | VHDX_META_FLAG_IS_REQUIRED;
    VhdxGuid disk_id;
    guint8 u64[8], u32a[4], u32b[4];
    CreateLayout l = { 0 };

    if (!valid_block_size(bs)) {
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_INVALID,
                    _("block size %u is not a power of two between 1 MiB "
                      "and 256 MiB"),
                    bs);
        return FALSE;
    }
    if ((lss != 512 && lss != 4096) || (pss != 512 && pss != 4096)) {
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_INVALID,
                    _("sector sizes must be 512 or 4096"));
        return FALSE;
    }
    if (opts->virtual_size == 0 || opts->virtual_size > VHDX_MAX_VIRTUAL_SIZE ||
        opts->virtual_size % lss) {
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_INVALID,
                    _("size %" PRIu64 " is not a multiple of %u "
                      "bytes between %u bytes and 64 TiB"),
                    opts->virtual_size, lss, lss);
        return FALSE;
    }

    vhdx_guid_generate(&disk_id);
    vhdx_put_le64(u64, opts->virtual_size);
    vhdx_put_le32(u32a, lss);
    vhdx_put_le32(u32b, pss);
    g_ptr_array_add(
        items, file_params_item(
                   bs, opts->fixed ? VHDX_PARAMS_LEAVE_BLOCKS_ALLOCATED : 0));
    g_ptr_array_add(items,
                    vhdx_meta_item_new(VHDX_GUID_VIRTUAL_SIZE, vd, u64, 8));
    g_ptr_array_add(
        items, vhdx_meta_item_new(VHDX_GUID_VIRTUAL_DISK_ID, vd, &disk_id, 16));
    g_ptr_array_add(items,
                    vhdx_meta_item_new(VHDX_GUID_LOGICAL_SECTOR, vd, u32a, 4));
    g_ptr_array_add(items,
                    vhdx_meta_item_new(VHDX_GUID_PHYSICAL_SECTOR, vd, u32b, 4));

    l.virtual_size = opts->virtual_size;
    l.block_size = bs;
    l.logical_sector_size = lss;
    l.fixed = opts->fixed;
    l.creator = default_creator(opts->creator);
    l.items = items;
    return create_file(path, &l, error);
}

gboolean
vhdx_create_differencing(const char *path, const char *parent_path,
                         guint32 block_size, GError **error)
{
    g_autoptr(VhdxImage) parent = NULL;
    g_autoptr(GPtrArray) items =
        g_ptr_array_new_with_free_func((GDestroyNotify) vhdx_meta_item_free);
    g_autoptr(GHashTable) locator = NULL;
    g_autoptr(GBytes) loc = NULL;
    guint32 bs = block_size ? block_size : 2 * MiB;
    CreateLayout l = { 0 };

    if (!valid_block_size(bs)) {
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_INVALID,
                    _("block size %u is not a power of two between 1 MiB "
                      "and 256 MiB"),
                    bs);
        return FALSE;
    }
    parent = vhdx_open(parent_path, VHDX_OPEN_READ_ONLY, error);
    if (!parent)
        return FALSE;
    /* 2.6.1.2: a fork copies every IsVirtualDisk item of the parent */
    g_ptr_array_add(items, file_params_item(bs, VHDX_PARAMS_HAS_PARENT));
    vhdx_meta_items_copy_vdisk(parent->meta_items, items);
    locator = vhdx_locator_for_parent(path, parent_path,
                                      &parent->header.data_write_guid, error);
    if (!locator)
        return FALSE;
    loc = vhdx_locator_build(locator);
    g_ptr_array_add(items, vhdx_meta_item_new(VHDX_GUID_PARENT_LOCATOR,
                                              VHDX_META_FLAG_IS_REQUIRED,
                                              g_bytes_get_data(loc, NULL),
                                              g_bytes_get_size(loc)));

    l.virtual_size = parent->info.virtual_size;
    l.block_size = bs;
    l.logical_sector_size = parent->info.logical_sector_size;
    l.differencing = TRUE;
    l.creator = default_creator(NULL);
    l.items = items;
    return create_file(path, &l, error);
}

gboolean
vhdx_set_parent(VhdxImage *img, const char *parent_path, GError **error)
{
    g_autoptr(VhdxImage) parent = NULL;
    g_autoptr(GHashTable) locator = NULL;
    g_autoptr(GBytes) loc = NULL;
    VhdxMetaItem *item;

    if (img->info.type != VHDX_DISK_DIFFERENCING) {
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_INVALID,
                    _("%s: not a differencing image"), img->path);
        return FALSE;
    }
    parent =
        vhdx_open(parent_path, VHDX_OPEN_READ_ONLY | VHDX_OPEN_CHAIN, error);
    if (!parent)
        return FALSE;
    if (parent->info.virtual_size > img->info.virtual_size ||
        parent->info.logical_sector_size != img->info.logical_sector_size) {
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_PARENT,
                    _("%s cannot be the parent of %s: its size or sector "
                      "size does not fit"),
                    parent_path, img->path);
        return FALSE;
    }
    locator = vhdx_locator_for_parent(img->path, parent_path,
                                      &parent->header.data_write_guid, error);
    if (!locator)
        return FALSE;
    loc = vhdx_locator_build(locator);
    item = vhdx_meta_item_find(img->meta_items, VHDX_GUID_PARENT_LOCATOR);
    g_bytes_unref(item->data);
    item->data = g_steal_pointer(&loc);
    if (!vhdx_metadata_rebuild(img, error) || !vhdx_commit(img, error))
        return FALSE;
    if (img->parent)
        vhdx_free(img->parent);
    img->parent = g_steal_pointer(&parent);
    return TRUE;
}
