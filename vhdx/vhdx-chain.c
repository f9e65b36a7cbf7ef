/*
 * vhdx-chain.c: finding and checking the parent of a differencing image
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vhdx-private.h"

static char *
to_posix(const char *win)
{
    char *s = g_strdup(win);
    g_strdelimit(s, "\\", '/');
    return s;
}

/* Where the parent may be, in the order of 2.6.2.6.3: relative_path,
 * then absolute_win32_path (drive C: standing for this host's root, as
 * vhdx_create_differencing writes it), then the file of that name beside
 * the child, as libvhdi looks for it. */
static GPtrArray *
candidate_paths(VhdxImage *img)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *self = g_canonicalize_filename(img->path, NULL);
    g_autofree char *dir = g_path_get_dirname(self);
    const char *rel = img->info.parent_relative_path;
    const char *abs = img->info.parent_absolute_win32_path;

    if (rel) {
        g_autofree char *r = to_posix(rel);
        g_ptr_array_add(out, g_canonicalize_filename(r, dir));
    }
    if (abs) {
        g_autofree char *a =
            to_posix(g_str_has_prefix(abs, "\\\\?\\") ? abs + 4 : abs);
        g_autofree char *base = g_path_get_basename(a);
        if (g_ascii_isalpha(a[0]) && a[1] == ':' && a[2] == '/')
            g_ptr_array_add(out, g_canonicalize_filename(a + 2, NULL));
        g_ptr_array_add(out, g_build_filename(dir, base, NULL));
    }
    return out;
}

gboolean
vhdx_parent_matches(VhdxImage *child, VhdxImage *parent)
{
    const char *keys[] = { child->info.parent_linkage,
                           child->info.parent_linkage2 };

    for (gsize i = 0; i < G_N_ELEMENTS(keys); i++) {
        VhdxGuid g;
        if (keys[i] && vhdx_guid_parse(keys[i], &g) && !vhdx_guid_is_zero(&g) &&
            vhdx_guid_equal(&g, &parent->header.data_write_guid))
            return TRUE;
    }
    return FALSE;
}

gboolean
vhdx_chain_open_parent(VhdxImage *img, VhdxOpenFlags flags, guint depth,
                       GError **error)
{
    g_autoptr(GPtrArray) paths = candidate_paths(img);
    g_autofree char *self = g_canonicalize_filename(img->path, NULL);
    VhdxOpenFlags pflags = VHDX_OPEN_CHAIN;
    VhdxImage *parent;
    const char *found = NULL;

    if (depth + 1 >= VHDX_MAX_CHAIN_DEPTH) {
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_PARENT,
                    _("%s: the chain is deeper than %u files"), img->path,
                    VHDX_MAX_CHAIN_DEPTH);
        return FALSE;
    }
    for (guint i = 0; i < paths->len && !found; i++)
        if (g_file_test(paths->pdata[i], G_FILE_TEST_IS_REGULAR))
            found = paths->pdata[i];
    if (!found) {
        g_autofree char *tried = NULL;
        g_ptr_array_add(paths, NULL);
        tried = g_strjoinv(", ", (char **) paths->pdata);
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_PARENT,
                    _("%s: parent not found (looked for %s)"), img->path,
                    tried);
        return FALSE;
    }
    if (g_str_equal(found, self)) {
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_PARENT,
                    _("%s: the parent locator points at the file itself"),
                    img->path);
        return FALSE;
    }

    if ((flags & VHDX_OPEN_PARENTS_WRITABLE) && depth == 0)
        pflags |= VHDX_OPEN_READ_WRITE;
    parent = vhdx_open_internal(found, pflags, img->problems, depth + 1, error);
    if (!parent)
        return FALSE;
    if (!vhdx_parent_matches(img, parent)) {
        g_autofree char *have =
            vhdx_guid_to_string(&parent->header.data_write_guid);
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_PARENT,
                    _("%s: parent %s does not match: its DataWriteGuid is "
                      "{%s} but the child's parent_linkage is %s"),
                    img->path, found, have, img->info.parent_linkage);
        vhdx_free(parent);
        return FALSE;
    }
    if (parent->info.logical_sector_size != img->info.logical_sector_size) {
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_PARENT,
                    _("%s: parent %s has %u-byte sectors, the child %u"),
                    img->path, found, parent->info.logical_sector_size,
                    img->info.logical_sector_size);
        vhdx_free(parent);
        return FALSE;
    }
    img->parent = parent;
    return TRUE;
}
