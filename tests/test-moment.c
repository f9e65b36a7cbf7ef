/*
 * test-moment.c: the moment tree, data-driven. Each NAME.moments of
 * tests/data/moments describes one enumeration and what the tree built
 * from it must answer:
 *
 *   moment ID PARENT|- CREATED NAME   a moment as the host lists it
 *   hidden LABEL                      hidden from clients
 *   no-metadata LABEL                 without the daemon's metadata
 *   list FLAGS [FROM] = LABEL...      a list: FLAGS is none or a comma
 *                                     list of roots, descendants, children,
 *                                     leaves, no-leaves, metadata,
 *                                     no-metadata, topological
 *   parent LABEL PARENT|-             the parent's label
 *   find NAME LABEL|-                 what a client's name finds
 *   sharing NAME = LABEL...           the moments a name is shared by
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "hvd-moment.h"

static void
moment_free(gpointer p)
{
    hvd_moment_clear(p);
    g_free(p);
}

static guint
parse_flags(const char *word, gboolean *children)
{
    static const struct {
        const char *name;
        guint flag;
    } names[] = {
        { "roots", HVD_MOMENT_LIST_ROOTS },
        { "descendants", HVD_MOMENT_LIST_DESCENDANTS },
        { "children", 0 },
        { "leaves", HVD_MOMENT_LIST_LEAVES },
        { "no-leaves", HVD_MOMENT_LIST_NO_LEAVES },
        { "metadata", HVD_MOMENT_LIST_METADATA },
        { "no-metadata", HVD_MOMENT_LIST_NO_METADATA },
        { "topological", HVD_MOMENT_LIST_TOPOLOGICAL },
        { "none", 0 },
    };
    g_auto(GStrv) parts = g_strsplit(word, ",", -1);
    guint flags = 0;

    *children = FALSE;
    for (guint i = 0; parts[i]; i++) {
        gboolean known = FALSE;
        for (guint j = 0; j < G_N_ELEMENTS(names); j++) {
            if (g_str_equal(parts[i], names[j].name)) {
                flags |= names[j].flag;
                known = TRUE;
            }
        }
        if (g_str_equal(parts[i], "children") ||
            g_str_equal(parts[i], "descendants"))
            *children = TRUE;
        if (!known)
            g_error("unknown list flag '%s'", parts[i]);
    }
    return flags;
}

static char *
labels_of(GPtrArray *moments)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; moments && i < moments->len; i++)
        g_string_append_printf(s, "%s%s", i ? " " : "",
                               ((HvdMoment *) moments->pdata[i])->label);
    return g_string_free(s, FALSE);
}

static HvdMoment *
must_find(HvdMomentTree *t, const char *label)
{
    GPtrArray *all = hvd_moment_tree_all(t);

    for (guint i = 0; i < all->len; i++) {
        HvdMoment *m = all->pdata[i];
        if (g_str_equal(m->label, label))
            return m;
    }
    g_error("no moment labelled '%s'", label);
    return NULL;
}

/* Everything after '=' in line, space separated */
static char *
expected(const char *line)
{
    const char *eq = strchr(line, '=');
    g_assert_nonnull(eq);
    return g_strstrip(g_strdup(eq + 1));
}

static void
check_line(HvdMomentTree *t, const char *line)
{
    g_auto(GStrv) w = g_strsplit_set(line, " ", -1);
    guint n = g_strv_length(w);

    g_test_message("%s", line);
    if (g_str_equal(w[0], "hidden") && n == 2) {
        must_find(t, w[1])->hidden = TRUE;
    } else if (g_str_equal(w[0], "no-metadata") && n == 2) {
        must_find(t, w[1])->has_metadata = FALSE;
    } else if (g_str_equal(w[0], "list") && n >= 3) {
        gboolean children;
        guint flags = parse_flags(w[1], &children);
        HvdMoment *from = NULL;
        g_autoptr(GPtrArray) got = NULL;
        g_autofree char *want = expected(line);
        g_autofree char *have = NULL;

        if (children) {
            g_assert_cmpstr(w[3], ==, "=");
            from = must_find(t, w[2]);
        } else {
            g_assert_cmpstr(w[2], ==, "=");
        }
        got = hvd_moment_tree_list(t, from, flags, NULL, NULL);
        have = labels_of(got);
        g_assert_cmpstr(have, ==, want);
    } else if (g_str_equal(w[0], "parent") && n == 3) {
        HvdMoment *m = must_find(t, w[1]);
        g_assert_cmpstr(m->parent ? m->parent->label : "-", ==, w[2]);
        g_assert_true(!m->parent == !m->parent_id);
    } else if (g_str_equal(w[0], "find") && n == 3) {
        HvdMoment *m = hvd_moment_tree_find_name(t, w[1]);
        g_assert_cmpstr(m ? m->label : "-", ==, w[2]);
    } else if (g_str_equal(w[0], "sharing") && n >= 3) {
        g_autoptr(GPtrArray) same = hvd_moment_tree_sharing(t, w[1]);
        g_autofree char *want = expected(line);
        g_autofree char *have = labels_of(same);
        g_assert_cmpstr(have, ==, want);
    } else {
        g_error("cannot read '%s'", line);
    }
}

static void
test_file(gconstpointer data)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    GPtrArray *moments = g_ptr_array_new_with_free_func(moment_free);
    g_autoptr(HvdMomentTree) t = NULL;

    g_assert_true(g_file_get_contents(data, &text, NULL, NULL));
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i]; i++) {
        g_auto(GStrv) w = NULL;
        HvdMoment *m;

        if (!g_str_has_prefix(lines[i], "moment "))
            continue;
        w = g_strsplit(lines[i], " ", 5);
        g_assert_cmpuint(g_strv_length(w), ==, 5);
        m = g_new0(HvdMoment, 1);
        m->id = g_strdup(w[1]);
        m->parent_id = g_str_equal(w[2], "-") ? NULL : g_strdup(w[2]);
        m->created = g_ascii_strtoll(w[3], NULL, 10);
        m->created_us = m->created * G_USEC_PER_SEC;
        m->name = g_strdup(w[4]);
        m->has_metadata = TRUE;
        g_ptr_array_add(moments, m);
    }
    t = hvd_moment_tree_new(moments);
    for (guint i = 0; lines[i]; i++) {
        g_strstrip(lines[i]);
        if (!lines[i][0] || lines[i][0] == '#' ||
            g_str_has_prefix(lines[i], "moment "))
            continue;
        check_line(t, lines[i]);
    }
}

/* Long chains and wide levels: built and walked without recursion, every
 * moment once. */
static void
test_large(void)
{
    const guint n = 200000;
    GPtrArray *moments = g_ptr_array_new_with_free_func(moment_free);
    g_autoptr(HvdMomentTree) t = NULL;
    g_autoptr(GPtrArray) all = NULL, leaves = NULL, below = NULL;
    HvdMoment *root;

    /* a chain of n/2 under the first, then n/2 children of the first */
    for (guint i = n; i-- > 0;) { /* children first */
        HvdMoment *m = g_new0(HvdMoment, 1);
        m->id =
            g_strdup_printf("Microsoft:%08X-0000-0000-0000-000000000000", i);
        m->name = g_strdup_printf("m%u", i);
        if (i > 0 && i < n / 2)
            m->parent_id = g_strdup_printf(
                "Microsoft:%08X-0000-0000-0000-000000000000", i - 1);
        else if (i >= n / 2)
            m->parent_id =
                g_strdup("Microsoft:00000000-0000-0000-0000-000000000000");
        m->created_us = i;
        m->has_metadata = TRUE;
        g_ptr_array_add(moments, m);
    }
    t = hvd_moment_tree_new(moments);
    root = hvd_moment_tree_find_name(t, "m0");
    g_assert_nonnull(root);
    g_assert_cmpuint(root->nchildren, ==, n / 2 + 1);
    all = hvd_moment_tree_list(t, NULL, 0, NULL, NULL);
    g_assert_cmpuint(all->len, ==, n);
    g_assert_true(all->pdata[0] == root);
    leaves = hvd_moment_tree_list(t, NULL, HVD_MOMENT_LIST_LEAVES, NULL, NULL);
    g_assert_cmpuint(leaves->len, ==, n / 2 + 1);
    below =
        hvd_moment_tree_list(t, root, HVD_MOMENT_LIST_DESCENDANTS, NULL, NULL);
    g_assert_cmpuint(below->len, ==, n - 1);
    g_assert_cmpstr(hvd_moment_tree_find_name(t, "m99999")->parent->label, ==,
                    "m99998");
}

/* The kind's filter sees each moment the shared flags kept */
static gboolean
even_only(const HvdMoment *m, gpointer data)
{
    guint *seen = data;
    (*seen)++;
    return (m->created % 2) == 0;
}

static void
test_filter(void)
{
    GPtrArray *moments = g_ptr_array_new_with_free_func(moment_free);
    g_autoptr(HvdMomentTree) t = NULL;
    g_autoptr(GPtrArray) got = NULL;
    g_autofree char *have = NULL;
    guint seen = 0;

    for (guint i = 0; i < 6; i++) {
        HvdMoment *m = g_new0(HvdMoment, 1);
        m->id = g_strdup_printf("Microsoft:%u", i);
        m->name = g_strdup_printf("n%u", i);
        m->parent_id = i ? g_strdup_printf("Microsoft:%u", i - 1) : NULL;
        m->created = i;
        m->created_us = i;
        g_ptr_array_add(moments, m);
    }
    t = hvd_moment_tree_new(moments);
    got = hvd_moment_tree_list(t, NULL, HVD_MOMENT_LIST_NO_LEAVES, even_only,
                               &seen);
    have = labels_of(got);
    g_assert_cmpstr(have, ==, "n0 n2 n4");
    g_assert_cmpuint(seen, ==, 5);
}

static gint
by_name(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

int
main(int argc, char **argv)
{
    g_autoptr(GDir) dir = NULL;
    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
    const char *name;

    g_test_init(&argc, &argv, NULL);
    dir = g_dir_open(MOMENTS_DIR, 0, NULL);
    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir)))
        if (g_str_has_suffix(name, ".moments"))
            g_ptr_array_add(files, g_strdup(name));
    g_ptr_array_sort(files, by_name);
    g_assert_cmpuint(files->len, >, 0);
    for (guint i = 0; i < files->len; i++) {
        g_autofree char *test =
            g_strdup_printf("/moment/%s", (char *) files->pdata[i]);
        g_test_add_data_func_full(
            test, g_build_filename(MOMENTS_DIR, files->pdata[i], NULL),
            test_file, g_free);
    }
    g_test_add_func("/moment/large", test_large);
    g_test_add_func("/moment/filter", test_filter);
    return g_test_run();
}
