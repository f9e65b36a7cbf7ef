/*
 * test-vhdx.c: the VHDX library, against real files and an in-memory model
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <fcntl.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "vhdx.h"
#include "vhdx-private.h"

#define MB (1024 * 1024)

static const char *fixtures_dir;

/* A scratch directory per test, removed afterwards. */
typedef struct {
    char *dir;
} Scratch;

static void
scratch_setup(Scratch *s, gconstpointer data)
{
    GError *err = NULL;
    s->dir = g_dir_make_tmp("vhdx-test-XXXXXX", &err);
    g_assert_no_error(err);
}

static void
scratch_teardown(Scratch *s, gconstpointer data)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", s->dir);
    g_assert_cmpint(system(cmd), ==, 0);
    g_free(s->dir);
    vhdx_io_fail_writes_after(-1);
}

static char *
path_in(Scratch *s, const char *name)
{
    return g_build_filename(s->dir, name, NULL);
}

static void
run(const char *cmd)
{
    int status = 0;
    GError *err = NULL;
    g_spawn_command_line_sync(cmd, NULL, NULL, &status, &err);
    g_assert_no_error(err);
    g_assert_true(g_spawn_check_wait_status(status, NULL));
}

/* Decompresses a fixture into the scratch directory, keeping it sparse. */
static char *
fixture(Scratch *s, const char *rel)
{
    g_autofree char *src = g_build_filename(fixtures_dir, rel, NULL);
    g_autofree char *base = g_path_get_basename(rel);
    char *dst;
    g_autofree char *cmd = NULL;

    g_assert_true(g_str_has_suffix(base, ".bz2"));
    base[strlen(base) - 4] = '\0';
    dst = path_in(s, base);
    g_assert_true(g_file_test(src, G_FILE_TEST_EXISTS));
    cmd = g_strdup_printf("sh -c \"bzcat '%s' | cp --sparse=always "
                          "/dev/stdin '%s'\"",
                          src, dst);
    run(cmd);
    return dst;
}

static char *
sha256_of_file(const char *path)
{
    g_autofree char *data = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (guint8 *) data, len);
}

static char *
sha256_of_disk(VhdxImage *img)
{
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree guint8 *buf = g_malloc(8 * MB);
    guint64 size = vhdx_get_info(img)->virtual_size;
    GError *err = NULL;

    for (guint64 off = 0; off < size; off += 8 * MB) {
        gsize n = MIN(8 * MB, size - off);
        g_assert_true(vhdx_read(img, buf, n, off, &err));
        g_assert_no_error(err);
        g_checksum_update(sum, buf, n);
    }
    return g_strdup(g_checksum_get_string(sum));
}

static char *
sha256_of_path(const char *path)
{
    GError *err = NULL;
    g_autoptr(VhdxImage) img =
        vhdx_open(path, VHDX_OPEN_READ_ONLY | VHDX_OPEN_CHAIN, &err);
    g_assert_no_error(err);
    return sha256_of_disk(img);
}

static void
assert_clean(const char *path)
{
    g_autoptr(GPtrArray) problems = vhdx_check(path, VHDX_OPEN_CHAIN);
    for (guint i = 0; i < problems->len; i++) {
        VhdxProblem *p = problems->pdata[i];
        g_test_message("%s: %s", p->path ? p->path : "", p->message);
    }
    g_assert_cmpuint(problems->len, ==, 0);
}

/* The fixtures of shared/fixtures/vhdx read back to their README's hashes. */

static void
test_fixture_windows_dynamic(Scratch *s, gconstpointer data)
{
    g_autofree char *path = fixture(s, "iotest-dynamic-1G.vhdx.bz2");
    g_autofree char *sum = NULL;
    GError *err = NULL;
    g_autoptr(VhdxImage) img = vhdx_open(path, VHDX_OPEN_READ_ONLY, &err);
    const VhdxInfo *info;

    g_assert_no_error(err);
    info = vhdx_get_info(img);
    g_assert_cmpstr(info->creator, ==, "Microsoft Windows 6.2.9200.16384");
    g_assert_cmpint(info->type, ==, VHDX_DISK_DYNAMIC);
    g_assert_cmpuint(info->virtual_size, ==, 1024ULL * MB);
    g_assert_cmpuint(info->block_size, ==, 32 * MB);
    g_assert_cmpuint(info->logical_sector_size, ==, 512);
    g_assert_cmpuint(info->physical_sector_size, ==, 4096);
    g_assert_cmpuint(info->chunk_ratio, ==, 128);
    g_assert_cmpuint(info->block_count[VHDX_BLOCK_FULLY_PRESENT], ==, 3);
    g_assert_cmpuint(info->block_count[VHDX_BLOCK_ZERO], ==, 29);
    g_assert_cmpuint(info->sequence_number, ==, 15);
    sum = sha256_of_disk(img);
    g_assert_cmpstr(
        sum, ==,
        "d3d112d8dab7fd360609f7d5a7b769904b7a2a7d7b6b8c535f65a23293c05478");
    assert_clean(path);
}

static void
test_fixture_twin_headers(Scratch *s, gconstpointer data)
{
    g_autofree char *path = fixture(s, "test-disk2vhd.vhdx.bz2");
    g_autofree char *sum = NULL;
    GError *err = NULL;
    g_autoptr(VhdxImage) img = vhdx_open(path, VHDX_OPEN_READ_ONLY, &err);

    g_assert_no_error(err);
    g_assert_cmpstr(vhdx_get_info(img)->creator, ==, "d2v");
    g_assert_cmpuint(vhdx_get_info(img)->sequence_number, ==, 1);
    g_assert_cmpuint(vhdx_get_info(img)->block_count[VHDX_BLOCK_FULLY_PRESENT],
                     ==, 128);
    sum = sha256_of_disk(img);
    g_assert_cmpstr(
        sum, ==,
        "96d964042be9b58dda1725567abfb0cf9fd8380e2118754afa979c2ad445938a");
    assert_clean(path);
}

#define DIRTY_REPLAYED                                                         \
    "179cefe8b0587f123393eedf2aa7aa8d25798591178e6bc3950a09762f38f96f"
#define DIRTY_FILE                                                             \
    "511daba998dba208ffc57a7814194d5dd3afb7c314731b904ff1682e3fb4951a"

static void
test_fixture_dirty_log_read_only(Scratch *s, gconstpointer data)
{
    g_autofree char *path = fixture(s, "iotest-dirtylog-10G-4M.vhdx.bz2");
    g_autofree char *sum = NULL, *file_after = NULL;
    GError *err = NULL;
    VhdxImage *img = vhdx_open(path, VHDX_OPEN_READ_ONLY, &err);
    guint8 buf[512];

    g_assert_no_error(err);
    g_assert_true(vhdx_get_info(img)->log_replayed);
    g_assert_cmpuint(vhdx_get_info(img)->block_count[VHDX_BLOCK_FULLY_PRESENT],
                     ==, 18);
    g_assert_true(vhdx_read(img, buf, sizeof(buf), 18 * MB - 512, &err));
    g_assert_cmpuint(buf[0], ==, 0xa5);
    g_assert_cmpuint(buf[511], ==, 0xa5);
    sum = sha256_of_disk(img);
    g_assert_cmpstr(sum, ==, DIRTY_REPLAYED);
    vhdx_free(img);
    /* the replay happened in memory only */
    file_after = sha256_of_file(path);
    g_assert_cmpstr(file_after, ==, DIRTY_FILE);
}

static void
test_fixture_dirty_log_read_write(Scratch *s, gconstpointer data)
{
    g_autofree char *path = fixture(s, "iotest-dirtylog-10G-4M.vhdx.bz2");
    g_autofree char *file_after = NULL;
    g_autofree guint8 *replayed = g_malloc(32 * MB);
    g_autofree guint8 *buf = g_malloc(32 * MB);
    GError *err = NULL;
    VhdxImage *img = vhdx_open(path, VHDX_OPEN_READ_ONLY, &err);
    VhdxGuid dwg;

    /* what a read-only open sees (its hash is checked above) */
    g_assert_no_error(err);
    g_assert_true(vhdx_read(img, replayed, 32 * MB, 0, &err));
    vhdx_free(img);

    img = vhdx_open(path, VHDX_OPEN_READ_WRITE, &err);
    g_assert_no_error(err);
    g_assert_true(vhdx_get_info(img)->log_replayed);
    dwg = vhdx_get_info(img)->data_write_guid;
    g_assert_true(vhdx_close(img, &err));
    g_assert_no_error(err);

    file_after = sha256_of_file(path);
    g_assert_cmpstr(file_after, !=, DIRTY_FILE);
    img = vhdx_open(path, VHDX_OPEN_READ_ONLY, &err);
    g_assert_no_error(err);
    g_assert_false(vhdx_get_info(img)->log_replayed);
    g_assert_true(vhdx_guid_is_zero(&vhdx_get_info(img)->log_guid));
    g_assert_cmpuint(vhdx_get_info(img)->block_count[VHDX_BLOCK_FULLY_PRESENT],
                     ==, 18);
    /* a replay is not a user-visible change */
    g_assert_true(vhdx_guid_equal(&dwg, &vhdx_get_info(img)->data_write_guid));
    g_assert_true(vhdx_read(img, buf, 32 * MB, 0, &err));
    g_assert_cmpmem(buf, 32 * MB, replayed, 32 * MB);
    g_assert_cmpuint(buf[18 * MB - 1], ==, 0xa5);
    g_assert_cmpuint(buf[18 * MB], ==, 0);
    vhdx_free(img);
    assert_clean(path);
}

static void
test_fixture_differencing_pair(Scratch *s, gconstpointer data)
{
    g_autofree char *base = fixture(s, "handmade-diff/base.vhdx.bz2");
    g_autofree char *child = fixture(s, "handmade-diff/child.avhdx.bz2");
    g_autofree char *sum = NULL, *base_sum = NULL;
    GError *err = NULL;
    g_autoptr(VhdxImage) img =
        vhdx_open(child, VHDX_OPEN_READ_ONLY | VHDX_OPEN_CHAIN, &err);
    const VhdxInfo *info;

    g_assert_no_error(err);
    info = vhdx_get_info(img);
    g_assert_cmpint(info->type, ==, VHDX_DISK_DIFFERENCING);
    g_assert_cmpuint(info->block_size, ==, 2 * MB);
    g_assert_cmpuint(info->chunk_ratio, ==, 2048);
    g_assert_cmpstr(info->parent_linkage, ==,
                    "{7ce1f935-34ac-b843-9200-7da995f3f2d9}");
    g_assert_cmpstr(info->parent_relative_path, ==, ".\\base.vhdx");
    g_assert_cmpint(vhdx_get_block_state(img, 0), ==,
                    VHDX_BLOCK_PARTIALLY_PRESENT);
    g_assert_cmpint(vhdx_get_block_state(img, 2), ==, VHDX_BLOCK_NOT_PRESENT);
    g_assert_nonnull(vhdx_get_parent(img));
    g_assert_cmpuint(vhdx_get_info(vhdx_get_parent(img))->block_size, ==, MB);
    sum = sha256_of_disk(img);
    g_assert_cmpstr(
        sum, ==,
        "b2c35878af15cd87395d0685b0176b3bd8e205c34ef3032b991e0ce6ed0536b6");
    base_sum = sha256_of_path(base);
    g_assert_cmpstr(
        base_sum, ==,
        "0ff93b14914fbb1e32069a40f6abd7e1a24f0d3469e7de00a2647e7fc30c05df");
    assert_clean(child);
}

static void
test_fixture_differencing_missing_parent(Scratch *s, gconstpointer data)
{
    g_autofree char *child = fixture(s, "handmade-diff/child.avhdx.bz2");
    GError *err = NULL;
    VhdxImage *img =
        vhdx_open(child, VHDX_OPEN_READ_ONLY | VHDX_OPEN_CHAIN, &err);

    g_assert_null(img);
    g_assert_error(err, VHDX_ERROR, VHDX_ERROR_PARENT);
    g_assert_nonnull(strstr(err->message, "parent not found"));
    g_assert_nonnull(strstr(err->message, "base.vhdx"));
    g_error_free(err);
}

static void
test_fixture_differencing_wrong_parent(Scratch *s, gconstpointer data)
{
    g_autofree char *child = fixture(s, "handmade-diff/child.avhdx.bz2");
    g_autofree char *base = path_in(s, "base.vhdx");
    VhdxCreateOptions opts = { .virtual_size = 8 * MB };
    GError *err = NULL;
    VhdxImage *img;

    g_assert_true(vhdx_create(base, &opts, &err));
    img = vhdx_open(child, VHDX_OPEN_READ_ONLY | VHDX_OPEN_CHAIN, &err);
    g_assert_null(img);
    g_assert_error(err, VHDX_ERROR, VHDX_ERROR_PARENT);
    /* both files are named */
    g_assert_nonnull(strstr(err->message, "child.avhdx"));
    g_assert_nonnull(strstr(err->message, "base.vhdx"));
    g_assert_nonnull(strstr(err->message, "does not match"));
    g_error_free(err);
}

/* A model of the virtual disk, kept next to the image under test. */
typedef struct {
    guint8 *bytes;
    gsize size;
} Model;

static void
model_write(Model *m, VhdxImage *img, const guint8 *buf, gsize len, guint64 off)
{
    GError *err = NULL;
    g_assert_true(vhdx_write(img, buf, len, off, &err));
    g_assert_no_error(err);
    memcpy(m->bytes + off, buf, len);
}

static void
model_assert(Model *m, VhdxImage *img)
{
    g_autofree guint8 *buf = g_malloc(m->size);
    GError *err = NULL;
    g_assert_true(vhdx_read(img, buf, m->size, 0, &err));
    g_assert_no_error(err);
    for (gsize i = 0; i < m->size; i++)
        if (buf[i] != m->bytes[i])
            g_error("byte %zu: read 0x%02x, expected 0x%02x", i, buf[i],
                    m->bytes[i]);
}

static void
fill_pattern(guint8 *buf, gsize len, guint32 seed)
{
    GRand *r = g_rand_new_with_seed(seed);
    for (gsize i = 0; i < len; i++)
        buf[i] = g_rand_int(r) & 0xff;
    g_rand_free(r);
}

static void
random_writes(Model *m, VhdxImage *img, guint32 seed, guint count,
              gsize max_len)
{
    GRand *r = g_rand_new_with_seed(seed);
    g_autofree guint8 *buf = g_malloc(max_len);

    for (guint i = 0; i < count; i++) {
        gsize len = g_rand_int_range(r, 1, max_len);
        guint64 off = g_rand_int_range(r, 0, m->size - len);
        fill_pattern(buf, len, g_rand_int(r));
        model_write(m, img, buf, len, off);
    }
    g_rand_free(r);
}

static void
test_create_dynamic(Scratch *s, gconstpointer data)
{
    const VhdxCreateOptions *opts = data;
    g_autofree char *path = path_in(s, "disk.vhdx");
    Model m = { g_malloc0(opts->virtual_size), opts->virtual_size };
    GError *err = NULL;
    VhdxImage *img;

    g_assert_true(vhdx_create(path, opts, &err));
    g_assert_no_error(err);
    assert_clean(path);

    img = vhdx_open(path, VHDX_OPEN_READ_WRITE, &err);
    g_assert_no_error(err);
    g_assert_cmpint(vhdx_get_info(img)->type, ==,
                    opts->fixed ? VHDX_DISK_FIXED : VHDX_DISK_DYNAMIC);
    model_assert(&m, img);
    random_writes(&m, img, 42, 40, 3 * MB);
    model_assert(&m, img);
    g_assert_true(vhdx_close(img, &err));
    g_assert_no_error(err);

    assert_clean(path);
    img = vhdx_open(path, VHDX_OPEN_READ_ONLY, &err);
    g_assert_no_error(err);
    g_assert_true(vhdx_guid_is_zero(&vhdx_get_info(img)->log_guid));
    model_assert(&m, img);
    vhdx_free(img);
    g_free(m.bytes);
}

static void
test_create_refuses_existing(Scratch *s, gconstpointer data)
{
    g_autofree char *path = path_in(s, "disk.vhdx");
    VhdxCreateOptions opts = { .virtual_size = 4 * MB };
    GError *err = NULL;

    g_assert_true(vhdx_create(path, &opts, &err));
    g_assert_false(vhdx_create(path, &opts, &err));
    g_assert_error(err, VHDX_ERROR, VHDX_ERROR_IO);
    g_clear_error(&err);
    opts.block_size = 3 * MB;
    g_assert_false(vhdx_create(path, &opts, &err));
    g_assert_error(err, VHDX_ERROR, VHDX_ERROR_INVALID);
    g_clear_error(&err);
    opts.block_size = 0;
    opts.virtual_size = 1000;
    g_assert_false(vhdx_create(path, &opts, &err));
    g_assert_error(err, VHDX_ERROR, VHDX_ERROR_INVALID);
    g_clear_error(&err);
}

/* parent (1 MiB blocks) <- child (2 MiB) <- grandchild (32 MiB) */
static void
make_chain(Scratch *s, Model *m, guint64 size)
{
    g_autofree char *base = path_in(s, "base.vhdx");
    g_autofree char *child = path_in(s, "child.avhdx");
    g_autofree char *grand = path_in(s, "grand.avhdx");
    VhdxCreateOptions opts = { .virtual_size = size, .block_size = MB };
    GError *err = NULL;
    VhdxImage *img;

    m->size = size;
    m->bytes = g_malloc0(size);
    g_assert_true(vhdx_create(base, &opts, &err));
    img = vhdx_open(base, VHDX_OPEN_READ_WRITE, &err);
    g_assert_no_error(err);
    random_writes(m, img, 1, 20, 2 * MB);
    g_assert_true(vhdx_close(img, &err));

    g_assert_true(vhdx_create_differencing(child, base, 0, &err));
    g_assert_no_error(err);
    img = vhdx_open(child, VHDX_OPEN_READ_WRITE | VHDX_OPEN_CHAIN, &err);
    g_assert_no_error(err);
    model_assert(m, img);
    random_writes(m, img, 2, 30, 100000);
    g_assert_true(vhdx_close(img, &err));

    g_assert_true(vhdx_create_differencing(grand, child, 32 * MB, &err));
    g_assert_no_error(err);
    img = vhdx_open(grand, VHDX_OPEN_READ_WRITE | VHDX_OPEN_CHAIN, &err);
    g_assert_no_error(err);
    random_writes(m, img, 3, 30, 5000);
    model_assert(m, img);
    g_assert_true(vhdx_close(img, &err));
    g_assert_no_error(err);
}

static void
test_chain_copy_on_write(Scratch *s, gconstpointer data)
{
    Model m;
    g_autofree char *grand = NULL, *child = NULL;
    GError *err = NULL;
    VhdxImage *img;

    make_chain(s, &m, 40 * MB);
    grand = path_in(s, "grand.avhdx");
    child = path_in(s, "child.avhdx");
    assert_clean(grand);
    img = vhdx_open(grand, VHDX_OPEN_READ_ONLY | VHDX_OPEN_CHAIN, &err);
    g_assert_no_error(err);
    model_assert(&m, img);
    /* small writes left the inherited blocks partially present */
    g_assert_cmpuint(
        vhdx_get_info(img)->block_count[VHDX_BLOCK_PARTIALLY_PRESENT], >, 0);
    vhdx_free(img);

    /* writing to the child changes its DataWriteGuid: the grandchild no
     * longer matches, and says so */
    img = vhdx_open(child, VHDX_OPEN_READ_WRITE | VHDX_OPEN_CHAIN, &err);
    g_assert_no_error(err);
    g_assert_true(vhdx_write(img, "x", 1, 0, &err));
    g_assert_true(vhdx_close(img, &err));
    img = vhdx_open(grand, VHDX_OPEN_READ_ONLY | VHDX_OPEN_CHAIN, &err);
    g_assert_null(img);
    g_assert_error(err, VHDX_ERROR, VHDX_ERROR_PARENT);
    g_clear_error(&err);
    g_free(m.bytes);
}

static void
test_chain_read_only_refuses_write(Scratch *s, gconstpointer data)
{
    g_autofree char *path = path_in(s, "disk.vhdx");
    VhdxCreateOptions opts = { .virtual_size = 4 * MB };
    GError *err = NULL;
    g_autoptr(VhdxImage) img = NULL;

    g_assert_true(vhdx_create(path, &opts, &err));
    img = vhdx_open(path, VHDX_OPEN_READ_ONLY, &err);
    g_assert_false(vhdx_write(img, "x", 1, 0, &err));
    g_assert_error(err, VHDX_ERROR, VHDX_ERROR_READ_ONLY);
    g_clear_error(&err);
    g_assert_false(vhdx_write(img, "x", 1, 4 * MB, &err));
    g_assert_error(err, VHDX_ERROR, VHDX_ERROR_INVALID);
    g_clear_error(&err);
}

static void
test_lock_one_writer(Scratch *s, gconstpointer data)
{
    g_autofree char *base = path_in(s, "base.vhdx");
    g_autofree char *child = path_in(s, "child.avhdx");
    VhdxCreateOptions opts = { .virtual_size = 4 * MB };
    GError *err = NULL;
    VhdxImage *writer, *reader, *other;

    g_assert_true(vhdx_create(base, &opts, &err));
    g_assert_true(vhdx_create_differencing(child, base, 0, &err));
    reader = vhdx_open(child, VHDX_OPEN_READ_ONLY | VHDX_OPEN_CHAIN, &err);
    g_assert_no_error(err);
    other = vhdx_open(base, VHDX_OPEN_READ_ONLY, &err);
    g_assert_no_error(err);
    /* the parent is being read: it cannot be written, nor merged into */
    g_assert_null(vhdx_open(base, VHDX_OPEN_READ_WRITE, &err));
    g_assert_error(err, VHDX_ERROR, VHDX_ERROR_BUSY);
    g_assert_nonnull(strstr(err->message, "base.vhdx"));
    g_clear_error(&err);
    g_assert_false(vhdx_merge(child, NULL, NULL, NULL, &err));
    g_assert_error(err, VHDX_ERROR, VHDX_ERROR_BUSY);
    g_clear_error(&err);
    vhdx_free(reader);
    vhdx_free(other);

    writer = vhdx_open(child, VHDX_OPEN_READ_WRITE | VHDX_OPEN_CHAIN, &err);
    g_assert_no_error(err);
    g_assert_null(vhdx_open(child, VHDX_OPEN_READ_ONLY, &err));
    g_assert_error(err, VHDX_ERROR, VHDX_ERROR_BUSY);
    g_clear_error(&err);
    /* the writer's parent is only read: other readers are welcome */
    other = vhdx_open(base, VHDX_OPEN_READ_ONLY, &err);
    g_assert_no_error(err);
    vhdx_free(other);
    g_assert_true(vhdx_close(writer, &err));
}

static void
test_merge_leaf(Scratch *s, gconstpointer data)
{
    Model m;
    g_autofree char *grand = path_in(s, "grand.avhdx");
    g_autofree char *child = path_in(s, "child.avhdx");
    g_autofree char *sibling = path_in(s, "sibling.avhdx");
    GError *err = NULL;
    VhdxImage *img;

    make_chain(s, &m, 40 * MB);
    /* a second child of the same parent: the merge must invalidate it */
    g_assert_true(vhdx_create_differencing(sibling, child, 0, &err));
    g_assert_true(vhdx_merge(grand, NULL, NULL, NULL, &err));
    g_assert_no_error(err);

    img = vhdx_open(child, VHDX_OPEN_READ_ONLY | VHDX_OPEN_CHAIN, &err);
    g_assert_no_error(err);
    model_assert(&m, img);
    vhdx_free(img);
    assert_clean(child);

    img = vhdx_open(sibling, VHDX_OPEN_READ_ONLY | VHDX_OPEN_CHAIN, &err);
    g_assert_null(img);
    g_assert_error(err, VHDX_ERROR, VHDX_ERROR_PARENT);
    g_clear_error(&err);
    g_free(m.bytes);
}

static void
test_merge_middle_and_reparent(Scratch *s, gconstpointer data)
{
    Model m;
    g_autofree char *base = path_in(s, "base.vhdx");
    g_autofree char *child = path_in(s, "child.avhdx");
    g_autofree char *grand = path_in(s, "grand.avhdx");
    GError *err = NULL;
    VhdxImage *img;
    const VhdxInfo *info;

    make_chain(s, &m, 40 * MB);
    g_assert_true(vhdx_merge(child, NULL, NULL, NULL, &err));
    g_assert_no_error(err);
    g_assert_cmpint(g_unlink(child), ==, 0);

    /* the grandchild is reconnected to the base, as Hyper-V does */
    img = vhdx_open(grand, VHDX_OPEN_READ_WRITE, &err);
    g_assert_no_error(err);
    g_assert_true(vhdx_set_parent(img, base, &err));
    g_assert_no_error(err);
    info = vhdx_get_info(img);
    g_assert_cmpstr(info->parent_relative_path, ==, ".\\base.vhdx");
    model_assert(&m, img);
    g_assert_true(vhdx_close(img, &err));
    g_assert_no_error(err);
    assert_clean(grand);
    img = vhdx_open(grand, VHDX_OPEN_READ_ONLY | VHDX_OPEN_CHAIN, &err);
    g_assert_no_error(err);
    model_assert(&m, img);
    vhdx_free(img);
    g_free(m.bytes);
}

static void
test_merge_refuses_base(Scratch *s, gconstpointer data)
{
    g_autofree char *path = path_in(s, "disk.vhdx");
    VhdxCreateOptions opts = { .virtual_size = 4 * MB };
    GError *err = NULL;

    g_assert_true(vhdx_create(path, &opts, &err));
    g_assert_false(vhdx_merge(path, NULL, NULL, NULL, &err));
    g_assert_error(err, VHDX_ERROR, VHDX_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "no parent"));
    g_clear_error(&err);
}

/* Crash safety: the operation is cut off after n writes, for every n. */

static void
copy_file(const char *from, const char *to)
{
    g_autofree char *cmd =
        g_strdup_printf("cp --sparse=always '%s' '%s'", from, to);
    run(cmd);
}

static void
test_crash_write(Scratch *s, gconstpointer data)
{
    g_autofree char *pristine = path_in(s, "pristine.vhdx");
    g_autofree char *path = path_in(s, "disk.vhdx");
    VhdxCreateOptions opts = { .virtual_size = 16 * MB, .block_size = MB };
    g_autofree guint8 *old = NULL, *new = NULL, *buf = g_malloc(3 * MB);
    GError *err = NULL;
    VhdxImage *img;
    gint64 total = -1;
    const guint64 off = MB - 700;
    const gsize len = 2 * MB + 1400;
    guint runs = 0;

    g_assert_true(vhdx_create(pristine, &opts, &err));
    img = vhdx_open(pristine, VHDX_OPEN_READ_WRITE, &err);
    fill_pattern(buf, MB, 7);
    g_assert_true(vhdx_write(img, buf, MB, 0, &err));
    g_assert_true(vhdx_close(img, &err));
    g_assert_no_error(err);
    old = g_malloc(len);
    img = vhdx_open(pristine, VHDX_OPEN_READ_ONLY, &err);
    g_assert_true(vhdx_read(img, old, len, off, &err));
    vhdx_free(img);
    new = g_malloc(len);
    fill_pattern(new, len, 8);

    for (gint64 n = 0; total < 0 || n <= total; n++) {
        gint64 before;
        gboolean ok;

        copy_file(pristine, path);
        img = vhdx_open(path, VHDX_OPEN_READ_WRITE, &err);
        g_assert_no_error(err);
        before = vhdx_io_fail_writes_after(n);
        ok = vhdx_write(img, new, len, off, NULL);
        if (ok)
            ok = vhdx_close(img, NULL); /* frees img, whatever happens */
        else
            vhdx_free(img);
        vhdx_io_fail_writes_after(-1);
        if (ok) {
            total = vhdx_io_write_count() - before;
            g_assert_cmpint(n, >=, total);
        }

        /* the file opens read-only (log replayed in memory) and
         * read-write (replayed for good), and holds old or new bytes */
        img = vhdx_open(path, VHDX_OPEN_READ_ONLY, &err);
        g_assert_no_error(err);
        g_assert_true(vhdx_read(img, buf, len, off, &err));
        vhdx_free(img);
        img = vhdx_open(path, VHDX_OPEN_READ_WRITE, &err);
        g_assert_no_error(err);
        g_assert_true(vhdx_close(img, &err));
        assert_clean(path);
        if (ok) {
            g_assert_cmpmem(buf, len, new, len);
        } else {
            /* each sector holds either its old or its new bytes */
            for (gsize i = 0, k; i < len; i += k) {
                k = MIN(512 - (off + i) % 512, len - i);
                g_assert_true(memcmp(buf + i, old + i, k) == 0 ||
                              memcmp(buf + i, new + i, k) == 0);
            }
        }
        runs++;
    }
    g_test_message("write cut off at each of %u points", runs);
    g_assert_cmpuint(runs, >, 5);
}

static void
test_crash_merge(Scratch *s, gconstpointer data)
{
    Model m;
    g_autofree char *child = path_in(s, "child.avhdx");
    g_autofree char *grand = path_in(s, "grand.avhdx");
    g_autofree char *child0 = path_in(s, "child0");
    g_autofree char *grand0 = path_in(s, "grand0");
    GError *err = NULL;
    VhdxImage *img;
    gint64 total = -1;
    guint runs = 0;

    make_chain(s, &m, 12 * MB);
    copy_file(child, child0);
    copy_file(grand, grand0);

    for (gint64 n = 0; total < 0 || n <= total; n++) {
        gint64 before;
        gboolean ok;

        copy_file(child0, child);
        copy_file(grand0, grand);
        before = vhdx_io_fail_writes_after(n);
        ok = vhdx_merge(grand, NULL, NULL, NULL, NULL);
        vhdx_io_fail_writes_after(-1);
        if (ok)
            total = vhdx_io_write_count() - before;

        /* the chain reads as before the merge, whatever point it reached */
        img = vhdx_open(grand, VHDX_OPEN_READ_ONLY | VHDX_OPEN_CHAIN, &err);
        g_assert_no_error(err);
        model_assert(&m, img);
        vhdx_free(img);
        /* and merging again finishes the job */
        if (!ok) {
            g_assert_true(vhdx_merge(grand, NULL, NULL, NULL, &err));
            g_assert_no_error(err);
        }
        img = vhdx_open(child, VHDX_OPEN_READ_ONLY | VHDX_OPEN_CHAIN, &err);
        g_assert_no_error(err);
        model_assert(&m, img);
        vhdx_free(img);
        assert_clean(child);
        runs++;
    }
    g_test_message("merge cut off at each of %u points", runs);
    g_assert_cmpuint(runs, >, 10);
    g_free(m.bytes);
}

/* Corruption: each case damages a fresh file and names what check and
 * open must say. */
typedef struct {
    const char *name;
    guint64 offset; /* G_MAXUINT64: truncate to length instead */
    guint length;
    guint8 value;
    gboolean opens;
    const char *message;
} Damage;

/* The layout vhdx_create writes: log @1 MiB, metadata @2 MiB, BAT @3 MiB,
 * and (after one write) block 0 at 4 MiB. */
static const Damage damages[] = {
    { "signature", 0, 4, 0x00, FALSE, "vhdxfile" },
    { "header1-crc", 64 * 1024 + 100, 1, 0x5a, TRUE, "header 1: checksum" },
    { "both-headers", 64 * 1024 + 100, 64 * 1024 + 1, 0x5a, FALSE,
      "no valid header" },
    { "region-table", 192 * 1024 + 40, 1, 0x77, FALSE,
      "region table: checksum" },
    { "metadata-signature", 2 * MB, 8, 0x00, FALSE, "metadata table" },
    { "block-size", 2 * MB + 64 * 1024, 4, 0x13, FALSE, "block size" },
    { "bat-state", 3 * MB, 1, 0x04 | 0x40, FALSE, "state 4" },
    { "bat-beyond-eof", 3 * MB + 4, 4, 0x7f, FALSE, "outside the file" },
    { "bat-overlap", 3 * MB + 2, 1, 0x30, FALSE, "overlaps" },
    { "truncated", G_MAXUINT64, 4 * MB + 1000, 0, FALSE, "outside the file" },
    { "truncated-header", G_MAXUINT64, 100000, 0, FALSE, "too short" },
};

static void
test_damage(Scratch *s, gconstpointer data)
{
    const Damage *d = data;
    g_autofree char *path = path_in(s, "disk.vhdx");
    VhdxCreateOptions opts = { .virtual_size = 8 * MB, .block_size = MB };
    g_autoptr(GPtrArray) problems = NULL;
    g_autofree guint8 *patch = NULL;
    GError *err = NULL;
    VhdxImage *img;
    int fd;
    gboolean found = FALSE;

    g_assert_true(vhdx_create(path, &opts, &err));
    img = vhdx_open(path, VHDX_OPEN_READ_WRITE, &err);
    g_assert_true(vhdx_write(img, "data", 4, 0, &err));
    g_assert_true(vhdx_close(img, &err));

    fd = open(path, O_RDWR);
    g_assert_cmpint(fd, >=, 0);
    if (d->offset == G_MAXUINT64) {
        g_assert_cmpint(ftruncate(fd, d->length), ==, 0);
    } else {
        patch = g_malloc(d->length);
        memset(patch, d->value, d->length);
        g_assert_cmpint(pwrite(fd, patch, d->length, d->offset), ==, d->length);
    }
    close(fd);

    img = vhdx_open(path, VHDX_OPEN_READ_ONLY, &err);
    if (d->opens) {
        g_assert_no_error(err);
        vhdx_free(img);
    } else {
        g_assert_null(img);
        g_assert_nonnull(err);
        g_test_message("open: %s", err->message);
        g_assert_nonnull(strstr(err->message, "disk.vhdx"));
        g_assert_nonnull(strstr(err->message, d->message));
        g_clear_error(&err);
    }
    problems = vhdx_check(path, VHDX_OPEN_CHAIN);
    g_assert_cmpuint(problems->len, >, 0);
    for (guint i = 0; i < problems->len; i++) {
        VhdxProblem *p = problems->pdata[i];
        g_test_message("check: %s", p->message);
        found |= strstr(p->message, d->message) != NULL;
    }
    g_assert_true(found);
}

/* Every truncation of a small child: an error, never a crash. */
static void
test_truncated_everywhere(Scratch *s, gconstpointer data)
{
    g_autofree char *base = fixture(s, "handmade-diff/base.vhdx.bz2");
    g_autofree char *child = fixture(s, "handmade-diff/child.avhdx.bz2");
    g_autofree char *full = NULL;
    gsize len;
    guint8 buf[4096];

    g_assert_true(g_file_test(base, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_get_contents(child, &full, &len, NULL));
    for (gsize cut = 0; cut < len; cut += len / 97 + 1) {
        GError *err = NULL;
        VhdxImage *img;
        g_autoptr(GPtrArray) problems = NULL;

        g_assert_true(g_file_set_contents(child, full, cut, NULL));
        img = vhdx_open(child, VHDX_OPEN_READ_ONLY | VHDX_OPEN_CHAIN, &err);
        if (img) {
            /* a read may fail on what is missing; it must not crash */
            (void) vhdx_read(img, buf, sizeof(buf), 0, NULL);
            vhdx_free(img);
        } else {
            g_assert_nonnull(err);
            g_assert_nonnull(strstr(err->message, "child.avhdx"));
            g_clear_error(&err);
        }
        problems = vhdx_check(child, VHDX_OPEN_CHAIN);
        g_assert_cmpuint(problems->len, >, 0);
    }
}

static VhdxCreateOptions opts_dynamic = { .virtual_size = 70 * MB,
                                          .block_size = 2 * MB };
static VhdxCreateOptions opts_fixed = { .virtual_size = 10 * MB,
                                        .block_size = MB,
                                        .fixed = TRUE };
static VhdxCreateOptions opts_4k = { .virtual_size = 9 * MB,
                                     .block_size = MB,
                                     .logical_sector_size = 4096 };
static VhdxCreateOptions opts_odd = { .virtual_size = 5 * MB + 512 * 3,
                                      .block_size = 4 * MB };

#define ADD(path, fn, data)                                                    \
    g_test_add(path, Scratch, data, scratch_setup, fn, scratch_teardown)

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    fixtures_dir = g_getenv("VHDX_FIXTURES");
    if (!fixtures_dir)
        fixtures_dir = FIXTURES_DIR;

    ADD("/vhdx/fixture/windows-dynamic", test_fixture_windows_dynamic, NULL);
    ADD("/vhdx/fixture/twin-headers", test_fixture_twin_headers, NULL);
    ADD("/vhdx/fixture/dirty-log/read-only", test_fixture_dirty_log_read_only,
        NULL);
    ADD("/vhdx/fixture/dirty-log/read-write", test_fixture_dirty_log_read_write,
        NULL);
    ADD("/vhdx/fixture/differencing/read-through-parent",
        test_fixture_differencing_pair, NULL);
    ADD("/vhdx/fixture/differencing/missing-parent",
        test_fixture_differencing_missing_parent, NULL);
    ADD("/vhdx/fixture/differencing/wrong-parent",
        test_fixture_differencing_wrong_parent, NULL);
    ADD("/vhdx/create/dynamic", test_create_dynamic, &opts_dynamic);
    ADD("/vhdx/create/fixed", test_create_dynamic, &opts_fixed);
    ADD("/vhdx/create/4k-sectors", test_create_dynamic, &opts_4k);
    ADD("/vhdx/create/partial-last-block", test_create_dynamic, &opts_odd);
    ADD("/vhdx/create/bad-arguments", test_create_refuses_existing, NULL);
    ADD("/vhdx/chain/copy-on-write", test_chain_copy_on_write, NULL);
    ADD("/vhdx/chain/read-only", test_chain_read_only_refuses_write, NULL);
    ADD("/vhdx/chain/one-writer", test_lock_one_writer, NULL);
    ADD("/vhdx/merge/leaf", test_merge_leaf, NULL);
    ADD("/vhdx/merge/middle-then-reparent", test_merge_middle_and_reparent,
        NULL);
    ADD("/vhdx/merge/refuses-base", test_merge_refuses_base, NULL);
    ADD("/vhdx/crash/write", test_crash_write, NULL);
    ADD("/vhdx/crash/merge", test_crash_merge, NULL);
    for (gsize i = 0; i < G_N_ELEMENTS(damages); i++) {
        g_autofree char *p =
            g_strdup_printf("/vhdx/damage/%s", damages[i].name);
        ADD(p, test_damage, &damages[i]);
    }
    ADD("/vhdx/damage/truncated-everywhere", test_truncated_everywhere, NULL);
    return g_test_run();
}
