/*
 * virt-vhdx: inspect, check, create, read, write and merge VHDX chains
 *
 * Exit status: 0 success, 1 a problem was found, 2 bad usage.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <stdio.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "vhdx.h"

#define EXIT_PROBLEM 1
#define EXIT_USAGE   2
#define IO_CHUNK     (4u << 20)

typedef int (*CommandFunc)(int argc, char **argv);

static int usage_error(GOptionContext *ctx, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

static int
usage_error(GOptionContext *ctx, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;
    g_autofree char *help = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_printerr("virt-vhdx: %s\n", msg);
    if (ctx) {
        help = g_option_context_get_help(ctx, TRUE, NULL);
        g_printerr("%s", help);
    }
    return EXIT_USAGE;
}

static int
fail(GError *error)
{
    g_printerr("virt-vhdx: %s\n", error->message);
    g_error_free(error);
    return EXIT_PROBLEM;
}

/* "512", "64K", "10M", "2G", "1T", with an optional "iB" or "B". */
static gboolean
parse_size(const char *s, guint64 *out)
{
    char *end = NULL;
    guint64 v, mult = 1;

    if (!s || !g_ascii_isdigit(*s))
        return FALSE;
    errno = 0;
    v = g_ascii_strtoull(s, &end, 10);
    if (errno)
        return FALSE;
    switch (g_ascii_toupper(*end)) {
    case 'K':
        mult = 1ULL << 10;
        end++;
        break;
    case 'M':
        mult = 1ULL << 20;
        end++;
        break;
    case 'G':
        mult = 1ULL << 30;
        end++;
        break;
    case 'T':
        mult = 1ULL << 40;
        end++;
        break;
    default:
        break;
    }
    if (mult > 1 && (g_ascii_strcasecmp(end, "iB") == 0 ||
                     g_ascii_strcasecmp(end, "B") == 0))
        end += strlen(end);
    if (*end || v > G_MAXUINT64 / mult)
        return FALSE;
    *out = v * mult;
    return TRUE;
}

static GOptionContext *
command_context(const char *synopsis, const char *summary,
                const GOptionEntry *entries)
{
    GOptionContext *ctx = g_option_context_new(synopsis);
    g_option_context_set_summary(ctx, summary);
    if (entries)
        g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
    g_option_context_set_translation_domain(ctx, GETTEXT_PACKAGE);
    return ctx;
}

static gboolean
parse_args(GOptionContext *ctx, int *argc, char ***argv, int want, int *rc)
{
    g_autoptr(GError) err = NULL;

    if (!g_option_context_parse(ctx, argc, argv, &err)) {
        *rc = usage_error(ctx, "%s", err->message);
        return FALSE;
    }
    if (*argc != want + 2) {
        *rc = usage_error(ctx, _("expected %d file argument(s), got %d"), want,
                          *argc - 2);
        return FALSE;
    }
    return TRUE;
}

static char *
guid_braced(const VhdxGuid *g)
{
    g_autofree char *s = vhdx_guid_to_string(g);
    return g_strdup_printf("{%s}", s);
}

static const char *const state_names[8] = {
    "not_present", "undefined", "zero",          "unmapped",
    NULL,          "unmapped",  "fully_present", "partially_present",
};

static void
print_info_text(const VhdxInfo *info)
{
    g_autofree char *vsize =
        g_format_size_full(info->virtual_size, G_FORMAT_SIZE_IEC_UNITS);
    g_autofree char *disk_id = guid_braced(&info->virtual_disk_id);
    g_autofree char *dwg = guid_braced(&info->data_write_guid);
    g_autofree char *fwg = guid_braced(&info->file_write_guid);

    g_print(_("file:                 %s\n"), info->path);
    g_print(_("creator:              %s\n"), info->creator);
    g_print(_("type:                 %s\n"), vhdx_disk_type_name(info->type));
    g_print(_("virtual size:         %" PRIu64 " (%s)\n"), info->virtual_size,
            vsize);
    g_print(_("file size:            %" PRIu64 "\n"), info->file_size);
    g_print(_("block size:           %u\n"), info->block_size);
    g_print(_("logical sector size:  %u\n"), info->logical_sector_size);
    g_print(_("physical sector size: %u\n"), info->physical_sector_size);
    g_print(_("virtual disk id:      %s\n"), disk_id);
    g_print(_("data write guid:      %s\n"), dwg);
    g_print(_("file write guid:      %s\n"), fwg);
    g_print(_("sequence number:      %" PRIu64 "\n"), info->sequence_number);
    g_print(_("log:                  %u bytes at %" PRIu64 "%s\n"),
            info->log_length, info->log_offset,
            info->log_replayed ? _(", not empty (replayed in memory)") : "");
    g_print(_("payload blocks:       %" PRIu64 "\n"), info->payload_blocks);
    for (gsize s = 0; s < G_N_ELEMENTS(state_names); s++)
        if (state_names[s] && info->block_count[s])
            g_print("  %-20s%" PRIu64 "\n", state_names[s],
                    info->block_count[s]);
    if (info->type == VHDX_DISK_DIFFERENCING) {
        g_print(_("parent_linkage:       %s\n"), info->parent_linkage);
        if (info->parent_linkage2)
            g_print(_("parent_linkage2:      %s\n"), info->parent_linkage2);
        if (info->parent_relative_path)
            g_print(_("relative_path:        %s\n"),
                    info->parent_relative_path);
        if (info->parent_volume_path)
            g_print(_("volume_path:          %s\n"), info->parent_volume_path);
        if (info->parent_absolute_win32_path)
            g_print(_("absolute_win32_path:  %s\n"),
                    info->parent_absolute_win32_path);
    }
}

static void
print_info_json(const VhdxInfo *info)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *out = NULL;
    g_autofree char *disk_id = vhdx_guid_to_string(&info->virtual_disk_id);
    g_autofree char *dwg = vhdx_guid_to_string(&info->data_write_guid);
    g_autofree char *fwg = vhdx_guid_to_string(&info->file_write_guid);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "file");
    json_builder_add_string_value(b, info->path);
    json_builder_set_member_name(b, "creator");
    json_builder_add_string_value(b, info->creator);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, vhdx_disk_type_name(info->type));
    json_builder_set_member_name(b, "virtual-size");
    json_builder_add_int_value(b, (gint64) info->virtual_size);
    json_builder_set_member_name(b, "file-size");
    json_builder_add_int_value(b, (gint64) info->file_size);
    json_builder_set_member_name(b, "block-size");
    json_builder_add_int_value(b, info->block_size);
    json_builder_set_member_name(b, "logical-sector-size");
    json_builder_add_int_value(b, info->logical_sector_size);
    json_builder_set_member_name(b, "physical-sector-size");
    json_builder_add_int_value(b, info->physical_sector_size);
    json_builder_set_member_name(b, "virtual-disk-id");
    json_builder_add_string_value(b, disk_id);
    json_builder_set_member_name(b, "data-write-guid");
    json_builder_add_string_value(b, dwg);
    json_builder_set_member_name(b, "file-write-guid");
    json_builder_add_string_value(b, fwg);
    json_builder_set_member_name(b, "sequence-number");
    json_builder_add_int_value(b, (gint64) info->sequence_number);
    json_builder_set_member_name(b, "log-replayed");
    json_builder_add_boolean_value(b, info->log_replayed);
    json_builder_set_member_name(b, "payload-blocks");
    json_builder_add_int_value(b, (gint64) info->payload_blocks);
    json_builder_set_member_name(b, "blocks");
    json_builder_begin_object(b);
    for (gsize s = 0; s < G_N_ELEMENTS(state_names); s++) {
        if (!state_names[s] || (s == 3 && info->block_count[5]))
            continue;
        json_builder_set_member_name(b, state_names[s]);
        json_builder_add_int_value(
            b, (gint64) (info->block_count[s] +
                         (s == 3 ? info->block_count[5] : 0)));
    }
    json_builder_end_object(b);
    if (info->type == VHDX_DISK_DIFFERENCING) {
        const char *keys[] = { "parent_linkage", "parent_linkage2",
                               "relative_path", "volume_path",
                               "absolute_win32_path" };
        const char *values[] = { info->parent_linkage, info->parent_linkage2,
                                 info->parent_relative_path,
                                 info->parent_volume_path,
                                 info->parent_absolute_win32_path };
        json_builder_set_member_name(b, "parent-locator");
        json_builder_begin_object(b);
        for (gsize i = 0; i < G_N_ELEMENTS(keys); i++) {
            if (!values[i])
                continue;
            json_builder_set_member_name(b, keys[i]);
            json_builder_add_string_value(b, values[i]);
        }
        json_builder_end_object(b);
    }
    json_builder_end_object(b);

    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    out = json_generator_to_data(gen, NULL);
    g_print("%s\n", out);
}

static int
cmd_info(int argc, char **argv)
{
    gboolean json = FALSE;
    const GOptionEntry entries[] = {
        { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = command_context(
        _("info FILE"), _("Show what a VHDX file holds."), entries);
    g_autoptr(VhdxImage) img = NULL;
    GError *err = NULL;
    int rc;

    if (!parse_args(ctx, &argc, &argv, 1, &rc))
        return rc;
    img = vhdx_open(argv[2], VHDX_OPEN_READ_ONLY, &err);
    if (!img)
        return fail(err);
    if (json)
        print_info_json(vhdx_get_info(img));
    else
        print_info_text(vhdx_get_info(img));
    return 0;
}

static int
cmd_check(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = command_context(
        _("check FILE"),
        _("Check the structure of a VHDX file and of its parents."), NULL);
    g_autoptr(GPtrArray) problems = NULL;
    int rc;

    if (!parse_args(ctx, &argc, &argv, 1, &rc))
        return rc;
    problems = vhdx_check(argv[2], VHDX_OPEN_CHAIN);
    for (guint i = 0; i < problems->len; i++) {
        VhdxProblem *p = problems->pdata[i];
        if (p->path)
            g_printerr("%s: %s\n", p->path, p->message);
        else
            g_printerr("%s\n", p->message);
    }
    if (problems->len) {
        g_printerr(g_dngettext(GETTEXT_PACKAGE, "%u problem found\n",
                               "%u problems found\n", problems->len),
                   problems->len);
        return EXIT_PROBLEM;
    }
    g_print(_("%s: no problems found\n"), argv[2]);
    return 0;
}

static int
cmd_create(int argc, char **argv)
{
    char *size_s = NULL, *bs_s = NULL, *parent = NULL;
    gboolean fixed = FALSE;
    const GOptionEntry entries[] = {
        { "size", 0, 0, G_OPTION_ARG_STRING, &size_s,
          N_("Virtual disk size (K, M, G, T suffixes)"), N_("SIZE") },
        { "block-size", 0, 0, G_OPTION_ARG_STRING, &bs_s,
          N_("Block size, 1M to 256M"), N_("SIZE") },
        { "fixed", 0, 0, G_OPTION_ARG_NONE, &fixed,
          N_("Allocate every block now"), NULL },
        { "parent", 0, 0, G_OPTION_ARG_FILENAME, &parent,
          N_("Create a differencing child of PARENT"), N_("PARENT") },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = command_context(
        _("create FILE"),
        _("Create a dynamic, fixed or differencing VHDX file."), entries);
    guint64 size = 0, bs = 0;
    GError *err = NULL;
    int rc;
    gboolean ok;

    if (!parse_args(ctx, &argc, &argv, 1, &rc))
        goto out;
    rc = EXIT_USAGE;
    if (bs_s && (!parse_size(bs_s, &bs) || bs > G_MAXUINT32)) {
        rc = usage_error(ctx, _("invalid block size '%s'"), bs_s);
        goto out;
    }
    if (parent) {
        if (size_s || fixed) {
            rc = usage_error(ctx, _("--parent takes its size from the parent "
                                    "and cannot be fixed"));
            goto out;
        }
        ok = vhdx_create_differencing(argv[2], parent, (guint32) bs, &err);
    } else {
        VhdxCreateOptions opts = { 0 };
        if (!size_s || !parse_size(size_s, &size)) {
            rc = usage_error(ctx,
                             size_s ? _("invalid size '%s'")
                                    : _("--size or --parent is required"),
                             size_s);
            goto out;
        }
        opts.virtual_size = size;
        opts.block_size = (guint32) bs;
        opts.fixed = fixed;
        ok = vhdx_create(argv[2], &opts, &err);
    }
    rc = ok ? 0 : fail(err);
out:
    g_free(size_s);
    g_free(bs_s);
    g_free(parent);
    return rc;
}

static int
cmd_chain(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = command_context(
        _("chain FILE"),
        _("List each file of a differencing chain with its type and linkage."),
        NULL);
    g_autoptr(VhdxImage) img = NULL;
    GError *err = NULL;
    int rc;
    guint depth = 0;

    if (!parse_args(ctx, &argc, &argv, 1, &rc))
        return rc;
    img = vhdx_open(argv[2], VHDX_OPEN_READ_ONLY | VHDX_OPEN_CHAIN, &err);
    if (!img)
        return fail(err);
    for (VhdxImage *i = img; i; i = vhdx_get_parent(i), depth++) {
        const VhdxInfo *info = vhdx_get_info(i);
        g_autofree char *dwg = guid_braced(&info->data_write_guid);
        g_print("%u\t%s\t%s\t%" PRIu64 "\t%s", depth, info->path,
                vhdx_disk_type_name(info->type), info->virtual_size, dwg);
        if (info->type == VHDX_DISK_DIFFERENCING)
            g_print(_("\tparent_linkage %s: matches\n"), info->parent_linkage);
        else
            g_print("\n");
    }
    return 0;
}

static gboolean
write_out(int fd, const guint8 *buf, gsize len, GError **error)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                        _("cannot write to standard output: %s"),
                        g_strerror(errno));
            return FALSE;
        }
        buf += n;
        len -= n;
    }
    return TRUE;
}

static int
cmd_cat(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = command_context(
        _("cat FILE"),
        _("Write the virtual disk's bytes, read through the whole chain, to "
          "standard output."),
        NULL);
    g_autoptr(VhdxImage) img = NULL;
    g_autofree guint8 *buf = NULL;
    GError *err = NULL;
    guint64 size;
    int rc;

    if (!parse_args(ctx, &argc, &argv, 1, &rc))
        return rc;
    img = vhdx_open(argv[2], VHDX_OPEN_READ_ONLY | VHDX_OPEN_CHAIN, &err);
    if (!img)
        return fail(err);
    size = vhdx_get_info(img)->virtual_size;
    buf = g_malloc(IO_CHUNK);
    for (guint64 off = 0; off < size; off += IO_CHUNK) {
        gsize n = MIN(IO_CHUNK, size - off);
        if (!vhdx_read(img, buf, n, off, &err) ||
            !write_out(STDOUT_FILENO, buf, n, &err))
            return fail(err);
    }
    return 0;
}

static int
cmd_write(int argc, char **argv)
{
    char *offset_s = NULL;
    const GOptionEntry entries[] = {
        { "offset", 0, 0, G_OPTION_ARG_STRING, &offset_s,
          N_("Virtual disk offset to write at (default 0)"), N_("N") },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = command_context(
        _("write FILE"),
        _("Write standard input into the virtual disk at an offset."), entries);
    g_autofree guint8 *buf = NULL;
    VhdxImage *img;
    GError *err = NULL;
    guint64 offset = 0;
    int rc;

    if (!parse_args(ctx, &argc, &argv, 1, &rc))
        goto out;
    if (offset_s && !parse_size(offset_s, &offset)) {
        rc = usage_error(ctx, _("invalid offset '%s'"), offset_s);
        goto out;
    }
    img = vhdx_open(argv[2], VHDX_OPEN_READ_WRITE | VHDX_OPEN_CHAIN, &err);
    if (!img) {
        rc = fail(err);
        goto out;
    }
    buf = g_malloc(IO_CHUNK);
    for (;;) {
        gsize got = 0;
        while (got < IO_CHUNK) {
            ssize_t n = read(STDIN_FILENO, buf + got, IO_CHUNK - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                g_printerr(_("virt-vhdx: cannot read standard input: %s\n"),
                           g_strerror(errno));
                vhdx_free(img);
                rc = EXIT_PROBLEM;
                goto out;
            }
            if (n == 0)
                break;
            got += n;
        }
        if (got && !vhdx_write(img, buf, got, offset, &err)) {
            vhdx_free(img);
            rc = fail(err);
            goto out;
        }
        offset += got;
        if (got < IO_CHUNK)
            break;
    }
    rc = vhdx_close(img, &err) ? 0 : fail(err);
out:
    g_free(offset_s);
    return rc;
}

static void
merge_progress(guint64 done, guint64 total, gpointer data)
{
    g_printerr("\r%3u%%", total ? (guint) (done * 100 / total) : 100);
}

static int
cmd_merge(int argc, char **argv)
{
    gboolean keep = FALSE, progress = FALSE;
    const GOptionEntry entries[] = {
        { "keep", 0, 0, G_OPTION_ARG_NONE, &keep,
          N_("Keep the child file after merging"), NULL },
        { "progress", 0, 0, G_OPTION_ARG_NONE, &progress,
          N_("Show progress on standard error"), NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = command_context(
        _("merge CHILD"),
        _("Merge a differencing file into its parent and remove it, as "
          "Hyper-V does when a checkpoint is deleted."),
        entries);
    GError *err = NULL;
    int rc;

    if (!parse_args(ctx, &argc, &argv, 1, &rc))
        return rc;
    if (!vhdx_merge(argv[2], progress ? merge_progress : NULL, NULL, NULL,
                    &err))
        return fail(err);
    if (progress)
        g_printerr("\n");
    if (!keep && unlink(argv[2]) < 0) {
        g_printerr(_("virt-vhdx: merged, but cannot remove %s: %s\n"), argv[2],
                   g_strerror(errno));
        return EXIT_PROBLEM;
    }
    return 0;
}

static const struct {
    const char *name;
    CommandFunc func;
    const char *help;
} commands[] = {
    { "info", cmd_info, N_("show what a VHDX file holds") },
    { "check", cmd_check, N_("check a file and its parents") },
    { "create", cmd_create,
      N_("create a dynamic, fixed or differencing file") },
    { "chain", cmd_chain, N_("list the files of a differencing chain") },
    { "cat", cmd_cat, N_("write the virtual disk's bytes to standard output") },
    { "write", cmd_write, N_("write standard input into the virtual disk") },
    { "merge", cmd_merge, N_("merge a child into its parent") },
};

static int
global_usage(void)
{
    g_printerr(_("Usage: virt-vhdx COMMAND [OPTION...] FILE\n\nCommands:\n"));
    for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
        g_printerr("  %-8s %s\n", commands[i].name, _(commands[i].help));
    g_printerr(_("\nRun 'virt-vhdx COMMAND --help' for the options of a "
                 "command.\n"));
    return EXIT_USAGE;
}

int
main(int argc, char **argv)
{
    const char *localedir = g_getenv("VIRTHYPERVD_LOCALEDIR");

    setlocale(LC_ALL, "");
    bindtextdomain(GETTEXT_PACKAGE, localedir ? localedir : LOCALEDIR);
    bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
    textdomain(GETTEXT_PACKAGE);

    if (argc < 2)
        return global_usage();
    if (g_str_equal(argv[1], "--help") || g_str_equal(argv[1], "-h")) {
        global_usage();
        return 0;
    }
    if (g_str_equal(argv[1], "--version")) {
        g_print("virt-vhdx %s\n", PACKAGE_VERSION);
        return 0;
    }
    for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
        if (g_str_equal(argv[1], commands[i].name))
            return commands[i].func(argc, argv);
    g_printerr(_("virt-vhdx: unknown command '%s'\n"), argv[1]);
    return global_usage();
}
