/*
 * vhdx-log.c: the VHDX log ([MS-VHDX] 2.3): replay and writing
 *
 * Every change this library makes to the BAT, a sector bitmap or the
 * metadata region is written as a log entry, flushed, applied in place and
 * flushed again. Each entry is a sequence of its own (its Tail points at
 * itself), so replaying the newest valid entry is always enough and always
 * harmless.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vhdx-private.h"

/* Bound on the bytes a replay may touch through zero descriptors. */
#define VHDX_MAX_ZERO_LENGTH (64 * MiB)

typedef struct {
    guint32 pos;
    guint32 length;
    guint32 tail;
    guint64 seq;
    guint64 flushed_file_offset;
    guint64 last_file_offset;
    gboolean valid;
} LogEntryInfo;

static guint
descriptor_sectors(guint count)
{
    return (VHDX_LOG_HEADER_SIZE + count * VHDX_LOG_DESCRIPTOR_SIZE +
            VHDX_SECTOR_SIZE - 1) /
           VHDX_SECTOR_SIZE;
}

/* Copies len bytes of the circular log starting at pos. */
static void
log_copy(const guint8 *log, guint32 log_len, guint32 pos, guint8 *out,
         guint32 len)
{
    guint32 first = MIN(len, log_len - pos);
    memcpy(out, log + pos, first);
    if (first < len)
        memcpy(out + first, log, len - first);
}

/* Validates the entry at pos (2.3.1); returns its bytes when valid. */
static guint8 *
log_entry_load(VhdxImage *img, const guint8 *log, guint32 log_len, guint32 pos,
               LogEntryInfo *info)
{
    VhdxLogEntryHeader h;
    g_autofree guint8 *entry = NULL;
    guint ndata = 0;
    guint dsec;

    memset(info, 0, sizeof(*info));
    vhdx_log_header_decode(&h, log + pos);
    if (h.signature != VHDX_LOG_ENTRY_SIGNATURE ||
        !vhdx_guid_equal(&h.log_guid, &img->header.log_guid) ||
        h.entry_length == 0 || h.entry_length % VHDX_SECTOR_SIZE ||
        h.entry_length > log_len || h.tail % VHDX_SECTOR_SIZE ||
        h.tail >= log_len || h.sequence_number == 0 ||
        h.descriptor_count > (log_len / VHDX_SECTOR_SIZE) * 128)
        return NULL;

    dsec = descriptor_sectors(h.descriptor_count);
    if ((guint64) dsec * VHDX_SECTOR_SIZE > h.entry_length)
        return NULL;

    entry = g_malloc(h.entry_length);
    log_copy(log, log_len, pos, entry, h.entry_length);
    if (vhdx_crc32c(entry, h.entry_length, 4) != h.checksum)
        return NULL;

    for (guint i = 0; i < h.descriptor_count; i++) {
        VhdxLogDescriptor d;
        vhdx_log_descriptor_decode(&d, entry + VHDX_LOG_HEADER_SIZE +
                                           i * VHDX_LOG_DESCRIPTOR_SIZE);
        if (d.sequence_number != h.sequence_number ||
            d.file_offset % VHDX_SECTOR_SIZE)
            return NULL;
        if (d.signature == VHDX_LOG_DESC_SIGNATURE) {
            guint64 at = (guint64) (dsec + ndata) * VHDX_SECTOR_SIZE;
            const guint8 *ds = entry + at;
            guint64 seq;

            if (at + VHDX_SECTOR_SIZE > h.entry_length)
                return NULL;
            seq = ((guint64) vhdx_get_le32(ds + 4) << 32) |
                  vhdx_get_le32(ds + VHDX_SECTOR_SIZE - 4);
            if (vhdx_get_le32(ds) != VHDX_LOG_DATA_SIGNATURE ||
                seq != h.sequence_number)
                return NULL;
            ndata++;
        } else if (d.signature == VHDX_LOG_ZERO_SIGNATURE) {
            if (d.leading_bytes % VHDX_SECTOR_SIZE ||
                d.leading_bytes > VHDX_MAX_ZERO_LENGTH)
                return NULL;
        } else {
            return NULL;
        }
    }

    info->pos = pos;
    info->length = h.entry_length;
    info->tail = h.tail;
    info->seq = h.sequence_number;
    info->flushed_file_offset = h.flushed_file_offset;
    info->last_file_offset = h.last_file_offset;
    info->valid = TRUE;
    return g_steal_pointer(&entry);
}

static gboolean
replay_write(VhdxImage *img, guint64 offset, const guint8 *sector,
             GError **error)
{
    if (img->writable)
        return vhdx_io_pwrite(img, sector, VHDX_SECTOR_SIZE, offset, error);
    g_hash_table_replace(img->overlay, g_memdup2(&offset, sizeof(offset)),
                         g_memdup2(sector, VHDX_SECTOR_SIZE));
    return TRUE;
}

static gboolean
log_entry_apply(VhdxImage *img, const guint8 *entry, GError **error)
{
    VhdxLogEntryHeader h;
    guint ndata = 0;
    guint dsec;
    guint8 sector[VHDX_SECTOR_SIZE];

    vhdx_log_header_decode(&h, entry);
    dsec = descriptor_sectors(h.descriptor_count);
    for (guint i = 0; i < h.descriptor_count; i++) {
        VhdxLogDescriptor d;
        vhdx_log_descriptor_decode(&d, entry + VHDX_LOG_HEADER_SIZE +
                                           i * VHDX_LOG_DESCRIPTOR_SIZE);
        if (d.signature == VHDX_LOG_DESC_SIGNATURE) {
            const guint8 *ds =
                entry + (guint64) (dsec + ndata++) * VHDX_SECTOR_SIZE;
            vhdx_put_le64(sector, d.leading_bytes);
            memcpy(sector + 8, ds + 8, VHDX_SECTOR_SIZE - 12);
            vhdx_put_le32(sector + VHDX_SECTOR_SIZE - 4, d.trailing_bytes);
            if (!replay_write(img, d.file_offset, sector, error))
                return FALSE;
        } else {
            memset(sector, 0, sizeof(sector));
            for (guint64 z = 0; z < d.leading_bytes; z += VHDX_SECTOR_SIZE)
                if (!replay_write(img, d.file_offset + z, sector, error))
                    return FALSE;
        }
    }
    return TRUE;
}

gboolean
vhdx_log_replay(VhdxImage *img, GError **error)
{
    guint32 log_len = img->header.log_length;
    guint32 nsect = log_len / VHDX_SECTOR_SIZE;
    g_autofree guint8 *log = NULL;
    g_autofree LogEntryInfo *entries = NULL;
    g_autoptr(GPtrArray) loaded = NULL;
    g_autoptr(GPtrArray) sequence = NULL;
    LogEntryInfo *head = NULL;
    guint64 real_size, last_offset;
    guint32 pos;

    if (vhdx_guid_is_zero(&img->header.log_guid))
        return TRUE;

    log = g_malloc(log_len);
    if (!vhdx_io_pread(img, log, log_len, img->header.log_offset, error))
        return FALSE;

    entries = g_new0(LogEntryInfo, nsect);
    loaded = g_ptr_array_new_full(nsect, g_free);
    g_ptr_array_set_size(loaded, nsect);
    for (guint32 s = 0; s < nsect; s++) {
        guint8 *e = log_entry_load(img, log, log_len, s * VHDX_SECTOR_SIZE,
                                   &entries[s]);
        loaded->pdata[s] = e;
        if (e && (!head || entries[s].seq > head->seq))
            head = &entries[s];
    }
    if (!head)
        /* A LogGuid with no entry of its own: the log was being started. */
        return TRUE;

    /* The active sequence runs from the head's Tail to the head. */
    sequence = g_ptr_array_new();
    pos = head->tail;
    for (guint n = 0;; n++) {
        LogEntryInfo *e = &entries[pos / VHDX_SECTOR_SIZE];
        LogEntryInfo *prev =
            sequence->len ? sequence->pdata[sequence->len - 1] : NULL;

        if (n >= nsect || !e->valid || (prev && e->seq != prev->seq + 1))
            return vhdx_fault(img, error, FALSE,
                              _("log: the active sequence (entries up to "
                                "sequence number %" PRIu64
                                ") is broken at log offset %u"),
                              head->seq, pos);
        g_ptr_array_add(sequence, e);
        if (e == head)
            break;
        pos = (pos + e->length) % log_len;
    }

    real_size = vhdx_io_file_size(img, error);
    if (real_size == G_MAXUINT64)
        return FALSE;
    if (real_size < head->flushed_file_offset)
        return vhdx_fault(img, error, FALSE,
                          _("log: the file is %" PRIu64
                            " bytes but the log says %" PRIu64
                            " bytes were on disk: the file was truncated"),
                          real_size, head->flushed_file_offset);

    if (img->writable) {
        if (!vhdx_begin_change(img, FALSE, error))
            return FALSE;
    } else {
        img->overlay =
            g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    }
    for (guint i = 0; i < sequence->len; i++) {
        LogEntryInfo *e = sequence->pdata[i];
        if (!log_entry_apply(img, loaded->pdata[e->pos / VHDX_SECTOR_SIZE],
                             error))
            return FALSE;
    }

    last_offset = VHDX_ROUND_UP(head->last_file_offset, MiB);
    if (img->writable) {
        if (last_offset > real_size &&
            !vhdx_io_truncate(img, last_offset, error))
            return FALSE;
        if (!vhdx_io_sync(img, error))
            return FALSE;
        memset(&img->header.log_guid, 0, sizeof(VhdxGuid));
        if (!vhdx_header_update(img, error))
            return FALSE;
    }
    img->effective_size = MAX(img->effective_size, last_offset);
    img->info.log_replayed = TRUE;
    return TRUE;
}

gboolean
vhdx_log_commit(VhdxImage *img, const guint64 *offsets,
                const guint8 *const *data, guint count, GError **error)
{
    guint32 log_len = img->header.log_length;
    guint log_sectors = log_len / VHDX_SECTOR_SIZE;
    guint done = 0;

    if (count == 0)
        return TRUE;
    if (!vhdx_begin_change(img, FALSE, error))
        return FALSE;
    if (vhdx_guid_is_zero(&img->header.log_guid)) {
        /* 2.2.2: a new LogGuid before overwriting space in the log */
        vhdx_guid_generate(&img->header.log_guid);
        img->log_pos = 0;
        img->log_seq = 1;
        if (!vhdx_header_update(img, error))
            return FALSE;
    }

    while (done < count) {
        guint n = MIN(count - done, log_sectors - 1);
        guint dsec;
        guint32 entry_len;
        g_autofree guint8 *entry = NULL;
        VhdxLogEntryHeader h = { 0 };
        guint64 file_size;

        while (n > 1 && descriptor_sectors(n) + n > log_sectors)
            n--;
        dsec = descriptor_sectors(n);
        if (dsec + n > log_sectors) {
            g_set_error(error, VHDX_ERROR, VHDX_ERROR_UNSUPPORTED,
                        _("%s: the log (%u bytes) is too small for an update"),
                        img->path, log_len);
            return FALSE;
        }
        entry_len = (dsec + n) * VHDX_SECTOR_SIZE;
        if (img->log_pos + entry_len > log_len)
            img->log_pos = 0;

        file_size = vhdx_io_file_size(img, error);
        if (file_size == G_MAXUINT64)
            return FALSE;

        entry = g_malloc0(entry_len);
        h.entry_length = entry_len;
        h.tail = img->log_pos;
        h.sequence_number = img->log_seq;
        h.descriptor_count = n;
        h.log_guid = img->header.log_guid;
        h.flushed_file_offset = file_size;
        h.last_file_offset = MAX(file_size, img->alloc_end);
        vhdx_log_header_encode(&h, entry);

        for (guint i = 0; i < n; i++) {
            const guint8 *src = data[done + i];
            guint8 *ds = entry + (guint64) (dsec + i) * VHDX_SECTOR_SIZE;
            VhdxLogDescriptor d = {
                .signature = VHDX_LOG_DESC_SIGNATURE,
                .trailing_bytes = vhdx_get_le32(src + VHDX_SECTOR_SIZE - 4),
                .leading_bytes = vhdx_get_le64(src),
                .file_offset = offsets[done + i],
                .sequence_number = img->log_seq,
            };
            vhdx_log_descriptor_encode(&d, entry + VHDX_LOG_HEADER_SIZE +
                                               i * VHDX_LOG_DESCRIPTOR_SIZE);
            vhdx_put_le32(ds, VHDX_LOG_DATA_SIGNATURE);
            vhdx_put_le32(ds + 4, img->log_seq >> 32);
            memcpy(ds + 8, src + 8, VHDX_SECTOR_SIZE - 12);
            vhdx_put_le32(ds + VHDX_SECTOR_SIZE - 4, img->log_seq & 0xffffffff);
        }
        vhdx_put_le32(entry + 4, vhdx_crc32c(entry, entry_len, 4));

        if (!vhdx_io_pwrite(img, entry, entry_len,
                            img->header.log_offset + img->log_pos, error) ||
            !vhdx_io_sync(img, error))
            return FALSE;
        for (guint i = 0; i < n; i++)
            if (!vhdx_io_pwrite(img, data[done + i], VHDX_SECTOR_SIZE,
                                offsets[done + i], error))
                return FALSE;
        if (!vhdx_io_sync(img, error))
            return FALSE;

        img->log_pos += entry_len;
        img->log_seq++;
        done += n;
    }
    return TRUE;
}

gboolean
vhdx_log_close(VhdxImage *img, GError **error)
{
    if (vhdx_guid_is_zero(&img->header.log_guid))
        return TRUE;
    memset(&img->header.log_guid, 0, sizeof(VhdxGuid));
    return vhdx_header_update(img, error);
}
