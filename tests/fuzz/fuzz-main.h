/*
 * fuzz-main.h: without libFuzzer, a main() that runs every file of the
 * directories (or the files) named on the command line once, as TAP
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <stdio.h>
#include <string.h>

#include <glib.h>

static void
collect(const char *path, GPtrArray *out)
{
    GDir *d = g_dir_open(path, 0, NULL);
    const char *name;

    if (!d) {
        g_ptr_array_add(out, g_strdup(path));
        return;
    }
    while ((name = g_dir_read_name(d)))
        g_ptr_array_add(out, g_build_filename(path, name, NULL));
    g_dir_close(d);
}

static gint
compare_paths(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

int
main(int argc, char **argv)
{
    g_autoptr(GPtrArray) inputs = g_ptr_array_new_with_free_func(g_free);

    for (int i = 1; i < argc; i++)
        collect(argv[i], inputs);
    g_ptr_array_sort(inputs, compare_paths);
    printf("1..%u\n", inputs->len);
    for (guint i = 0; i < inputs->len; i++) {
        const char *path = inputs->pdata[i];
        char *input;
        gsize n;
        if (!g_file_get_contents(path, &input, &n, NULL)) {
            printf("not ok %u %s: cannot read\n", i + 1, path);
            return 1;
        }
        LLVMFuzzerTestOneInput((const uint8_t *) input, n);
        g_free(input);
        printf("ok %u %s\n", i + 1, path);
    }
    return 0;
}
