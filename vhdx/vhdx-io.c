/*
 * vhdx-io.c: file I/O of the VHDX library, and the fault reporting of its
 * parsers
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#define _GNU_SOURCE 1 /* copy_file_range */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vhdx-private.h"

static gint64 fail_after = -1;
static gint64 write_count;

gint64
vhdx_io_fail_writes_after(gint64 n)
{
    fail_after = n < 0 ? -1 : write_count + n;
    return write_count;
}

gint64
vhdx_io_write_count(void)
{
    return write_count;
}

static gboolean
write_allowed(VhdxImage *img, GError **error)
{
    if (img->broken || (fail_after >= 0 && write_count >= fail_after)) {
        img->broken = TRUE;
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_IO,
                    _("%s: write refused: the file was left unfinished by an "
                      "earlier failed write"),
                    img->path);
        return FALSE;
    }
    if (!img->writable) {
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_READ_ONLY,
                    _("%s: the image is open read-only"), img->path);
        return FALSE;
    }
    write_count++;
    return TRUE;
}

gboolean
vhdx_fault(VhdxImage *img, GError **error, gboolean can_continue,
           const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);

    if (img->problems) {
        VhdxProblem *p = g_new0(VhdxProblem, 1);
        p->path = g_strdup(img->path);
        p->message = g_strdup(msg);
        g_ptr_array_add(img->problems, p);
        if (can_continue)
            return TRUE;
    }
    g_set_error(error, VHDX_ERROR, VHDX_ERROR_CORRUPT, "%s: %s", img->path,
                msg);
    return FALSE;
}

/* Patches bytes of a log replayed in memory over what the file holds. */
static void
apply_overlay(VhdxImage *img, guint8 *buf, gsize len, guint64 offset)
{
    guint64 first = offset & ~(guint64) (VHDX_SECTOR_SIZE - 1);

    for (guint64 s = first; s < offset + len; s += VHDX_SECTOR_SIZE) {
        const guint8 *sector = g_hash_table_lookup(img->overlay, &s);
        guint64 from, to;

        if (!sector)
            continue;
        from = MAX(s, offset);
        to = MIN(s + VHDX_SECTOR_SIZE, offset + len);
        memcpy(buf + (from - offset), sector + (from - s), to - from);
    }
}

gboolean
vhdx_io_pread(VhdxImage *img, void *buf, gsize len, guint64 offset,
              GError **error)
{
    guint8 *p = buf;
    gsize done = 0;

    while (done < len) {
        ssize_t n = pread(img->fd, p + done, len - done, offset + done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            g_set_error(
                error, VHDX_ERROR, VHDX_ERROR_IO,
                _("%s: cannot read %zu bytes at offset %" PRIu64 ": %s"),
                img->path, len, offset, g_strerror(errno));
            return FALSE;
        }
        if (n == 0) {
            /* Past the end: a hole, or space a replayed log extends to. */
            memset(p + done, 0, len - done);
            break;
        }
        done += n;
    }
    if (img->overlay && g_hash_table_size(img->overlay) > 0)
        apply_overlay(img, buf, len, offset);
    return TRUE;
}

gboolean
vhdx_io_pwrite(VhdxImage *img, const void *buf, gsize len, guint64 offset,
               GError **error)
{
    const guint8 *p = buf;
    gsize done = 0;

    if (!write_allowed(img, error))
        return FALSE;
    while (done < len) {
        ssize_t n = pwrite(img->fd, p + done, len - done, offset + done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            img->broken = TRUE;
            g_set_error(
                error, VHDX_ERROR, VHDX_ERROR_IO,
                _("%s: cannot write %zu bytes at offset %" PRIu64 ": %s"),
                img->path, len, offset, g_strerror(errno));
            return FALSE;
        }
        done += n;
    }
    if (offset + len > img->effective_size)
        img->effective_size = offset + len;
    return TRUE;
}

gboolean
vhdx_io_copy(VhdxImage *img, VhdxImage *src, guint64 src_offset, gsize len,
             guint64 offset, GError **error)
{
    gsize done = 0;
    g_autofree guint8 *buf = NULL;

    if (!write_allowed(img, error))
        return FALSE;
    /* what the log of src would change is read through it */
    while (done < len && !(src->overlay && g_hash_table_size(src->overlay))) {
        off_t from = (off_t) (src_offset + done), to = (off_t) (offset + done);
        ssize_t n =
            copy_file_range(src->fd, &from, img->fd, &to, len - done, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* not here (another file system, a hole past the end):
                      the rest through a buffer */
        done += n;
    }
    while (done < len) {
        gsize n = MIN(len - done, 1 * MiB);
        if (!buf)
            buf = g_malloc(1 * MiB);
        if (!vhdx_io_pread(src, buf, n, src_offset + done, error) ||
            !vhdx_io_pwrite(img, buf, n, offset + done, error))
            return FALSE;
        done += n;
    }
    if (offset + len > img->effective_size)
        img->effective_size = offset + len;
    return TRUE;
}

gboolean
vhdx_io_sync(VhdxImage *img, GError **error)
{
    if (img->broken) {
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_IO,
                    _("%s: not flushed: an earlier write failed"), img->path);
        return FALSE;
    }
    if (fdatasync(img->fd) < 0) {
        img->broken = TRUE;
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_IO,
                    _("%s: cannot flush to disk: %s"), img->path,
                    g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

gboolean
vhdx_io_truncate(VhdxImage *img, guint64 size, GError **error)
{
    if (!write_allowed(img, error))
        return FALSE;
    if (ftruncate(img->fd, (off_t) size) < 0) {
        img->broken = TRUE;
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_IO,
                    _("%s: cannot resize to %" PRIu64 " bytes: %s"), img->path,
                    size, g_strerror(errno));
        return FALSE;
    }
    if (size > img->effective_size)
        img->effective_size = size;
    return TRUE;
}

gboolean
vhdx_io_allocate(VhdxImage *img, guint64 offset, guint64 len, GError **error)
{
    int err;

    if (!write_allowed(img, error))
        return FALSE;
    /* Reserve the space now, as a host file system does for a VHDX block:
     * later writes into it find it allocated and contiguous. */
    err = posix_fallocate(img->fd, (off_t) offset, (off_t) len);
    if (err == EOPNOTSUPP || err == EINVAL) {
        err = ftruncate(img->fd, (off_t) (offset + len)) < 0 ? errno : 0;
    }
    if (err) {
        img->broken = TRUE;
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_IO,
                    _("%s: cannot allocate %" PRIu64 " bytes at offset "
                      "%" PRIu64 ": %s"),
                    img->path, len, offset, g_strerror(err));
        return FALSE;
    }
    if (offset + len > img->effective_size)
        img->effective_size = offset + len;
    return TRUE;
}

guint64
vhdx_io_file_size(VhdxImage *img, GError **error)
{
    struct stat st;

    if (fstat(img->fd, &st) < 0) {
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_IO, _("%s: cannot stat: %s"),
                    img->path, g_strerror(errno));
        return G_MAXUINT64;
    }
    return (guint64) st.st_size;
}
