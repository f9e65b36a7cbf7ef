/*
 * fuzz-vhdx.c: open, read, check and write damaged VHDX chains
 *
 * The input patches real files rather than being one: byte 0 picks the
 * file (bit 0: child or parent) and the template (bit 1: a child whose log
 * was left non-empty by a cut-off write), bytes 1-4 an optional truncation,
 * then records of { u32 offset, u8 length, bytes } overwrite the file.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "vhdx.h"
#include "vhdx-private.h"

#define MB (1024 * 1024)

static char *dir;
static char *parent_path, *child_path;
static GBytes *parent_clean, *child_clean, *child_dirty;
/* what each file holds now: a template, or NULL once a run changed it */
static GBytes *parent_now, *child_now;
/* allocated once: large allocations made anew each run cost a page
 * fault per page, which made runs slow */
static guint8 *buf;  /* a read buffer */
static guint8 *file; /* the patched copy of a template */

static void
cleanup(void)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
    if (system(cmd) != 0)
        g_printerr("cannot remove %s\n", dir);
}

static GBytes *
slurp(const char *path)
{
    char *data;
    gsize len;
    if (!g_file_get_contents(path, &data, &len, NULL))
        g_error("cannot read %s", path);
    return g_bytes_new_take(data, len);
}

static void
must(gboolean ok, GError *err)
{
    if (!ok)
        g_error("template: %s", err ? err->message : "failed");
}

static void
make_templates(void)
{
    /* small: every run writes a file back and reads the disk through */
    VhdxCreateOptions opts = { .virtual_size = 3 * MB, .block_size = MB };
    g_autofree guint8 *data = g_malloc(3 * MB);
    GError *err = NULL;
    VhdxImage *img;

    if (g_file_test("/dev/shm", G_FILE_TEST_IS_DIR))
        dir = g_mkdtemp(g_strdup("/dev/shm/fuzz-vhdx-XXXXXX"));
    else
        dir = g_dir_make_tmp("fuzz-vhdx-XXXXXX", NULL);
    atexit(cleanup);
    parent_path = g_build_filename(dir, "base.vhdx", NULL);
    child_path = g_build_filename(dir, "child.avhdx", NULL);
    memset(data, 0x5a, 3 * MB);

    must(vhdx_create(parent_path, &opts, &err), err);
    img = vhdx_open(parent_path, VHDX_OPEN_READ_WRITE, &err);
    must(img && vhdx_write(img, data, MB + 512, 0, &err), err);
    must(vhdx_close(img, &err), err);
    parent_clean = slurp(parent_path);

    must(vhdx_create_differencing(child_path, parent_path, 0, &err), err);
    img = vhdx_open(child_path, VHDX_OPEN_READ_WRITE | VHDX_OPEN_CHAIN, &err);
    must(img && vhdx_write(img, data, 4096, 1000, &err) &&
             vhdx_write(img, data, MB, 2 * MB, &err),
         err);
    must(vhdx_close(img, &err), err);
    child_clean = slurp(child_path);

    /* the same writes, cut off once the log entry is down but before it is
     * applied: the log must be replayed */
    for (gint64 n = 1; n < 64 && !child_dirty; n++) {
        g_unlink(child_path);
        must(vhdx_create_differencing(child_path, parent_path, 0, &err), err);
        img =
            vhdx_open(child_path, VHDX_OPEN_READ_WRITE | VHDX_OPEN_CHAIN, &err);
        vhdx_io_fail_writes_after(n);
        if (vhdx_write(img, data, 4096, 1000, NULL) &&
            vhdx_write(img, data, MB, 2 * MB, NULL))
            vhdx_close(img, NULL);
        else
            vhdx_free(img);
        vhdx_io_fail_writes_after(-1);
        img = vhdx_open(child_path, VHDX_OPEN_READ_ONLY, NULL);
        if (img && vhdx_get_info(img)->log_replayed)
            child_dirty = slurp(child_path);
        vhdx_free(img);
    }
    if (!child_dirty)
        g_error("template: no cut-off point left a non-empty log");
}

/* Plain writes: no fsync, no temporary file, the files stay in place. */
static void
put_data(const char *path, const void *data, gsize len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, data, len) != (ssize_t) len)
        g_error("cannot write %s", path);
    close(fd);
}

/* Puts a template in place unless the file holds it already. */
static void
put(const char *path, GBytes *bytes, GBytes **now)
{
    if (*now == bytes)
        return;
    put_data(path, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
    *now = bytes;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    GBytes *tmpl;
    const char *target;
    gsize len;
    VhdxImage *img;
    GPtrArray *problems;
    size_t at = 5;
    guint32 cut;

    if (!dir) {
        make_templates();
        buf = g_malloc(MB);
        file = g_malloc(MAX(
            g_bytes_get_size(parent_clean),
            MAX(g_bytes_get_size(child_clean), g_bytes_get_size(child_dirty))));
    }
    if (size < 5)
        return 0;

    put(parent_path, parent_clean, &parent_now);
    put(child_path, data[0] & 2 ? child_dirty : child_clean, &child_now);
    target = data[0] & 1 ? parent_path : child_path;
    tmpl =
        data[0] & 1 ? parent_clean : (data[0] & 2 ? child_dirty : child_clean);
    memcpy(file, g_bytes_get_data(tmpl, &len), g_bytes_get_size(tmpl));

    while (at + 5 <= size) {
        guint32 off = vhdx_get_le32(data + at) % len;
        guint n = data[at + 4];
        at += 5;
        n = MIN(n, MIN(size - at, len - off));
        memcpy(file + off, data + at, n);
        at += n;
    }
    cut = vhdx_get_le32(data + 1);
    if (cut && cut < len)
        len = cut;
    put_data(target, file, len);
    /* the target is patched now, and written to below */
    if (data[0] & 1)
        parent_now = NULL;
    else
        child_now = NULL;

    img = vhdx_open(child_path, VHDX_OPEN_READ_ONLY | VHDX_OPEN_CHAIN, NULL);
    if (img) {
        guint64 vsize = vhdx_get_info(img)->virtual_size;
        for (guint64 o = 0; o < vsize && o < 64 * MB; o += MB)
            if (!vhdx_read(img, buf, MIN(MB, vsize - o), o, NULL))
                break;
        vhdx_free(img);
    }
    problems = vhdx_check(child_path, VHDX_OPEN_CHAIN);
    g_ptr_array_unref(problems);

    /* a read-write open replays the log for good; then a write */
    img = vhdx_open(target, VHDX_OPEN_READ_WRITE, NULL);
    if (img) {
        memset(buf, 0xc3, 8192);
        if (vhdx_write(img, buf, 8192, 512 * 3, NULL))
            vhdx_close(img, NULL);
        else
            vhdx_free(img);
    }
    return 0;
}

#ifndef FUZZING_ENGINE
#include "fuzz-main.h"
#endif
