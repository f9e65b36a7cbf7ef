/*
 * test-snapshot-xml.c: domainsnapshot XML, data-driven: every NAME.in.xml
 * of tests/data/snapshot-xml is parsed; NAME.out.xml is what formatting
 * the definition gives, NAME.err a part of the error it must give. Every
 * document formatted validates against the installed libvirt's schema.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <libxml/relaxng.h>
#include <string.h>

#include "hvd-snapshot-xml.h"

#define SCHEMA "/usr/share/libvirt/schemas/domainsnapshot.rng"

static xmlRelaxNGPtr schema;

static void
assert_valid(const char *xml)
{
    xmlDoc *doc = xmlReadMemory(xml, strlen(xml), "out.xml", NULL, 0);
    xmlRelaxNGValidCtxtPtr v = xmlRelaxNGNewValidCtxt(schema);
    int rc;

    g_assert_nonnull(doc);
    rc = xmlRelaxNGValidateDoc(v, doc);
    if (rc != 0)
        g_test_message("invalid against %s:\n%s", SCHEMA, xml);
    g_assert_cmpint(rc, ==, 0);
    xmlRelaxNGFreeValidCtxt(v);
    xmlFreeDoc(doc);
}

static void
test_case(gconstpointer data)
{
    const char *in_path = data;
    g_autofree char *base = g_strndup(in_path, strlen(in_path) - 7);
    g_autofree char *out_path = g_strconcat(base, ".out.xml", NULL);
    g_autofree char *err_path = g_strconcat(base, ".err", NULL);
    g_autofree char *in = NULL, *want = NULL, *got = NULL;
    g_autoptr(HvdSnapshotDef) def = NULL;
    g_autoptr(GError) err = NULL;

    g_assert_true(g_file_get_contents(in_path, &in, NULL, NULL));
    def = hvd_snapshot_def_parse(in, &err);
    if (g_file_get_contents(err_path, &want, NULL, NULL)) {
        g_assert_null(def);
        g_assert_nonnull(err);
        g_test_message("%s", err->message);
        g_assert_nonnull(strstr(err->message, g_strstrip(want)));
        return;
    }
    g_assert_no_error(err);
    got = hvd_snapshot_def_format(def);
    g_assert_true(g_file_get_contents(out_path, &want, NULL, NULL));
    g_assert_cmpstr(got, ==, want);
    if (def->name)
        assert_valid(got);
    /* what was formatted parses back to the same document */
    {
        g_autoptr(HvdSnapshotDef) again = hvd_snapshot_def_parse(got, &err);
        g_autofree char *twice = NULL;
        g_assert_no_error(err);
        twice = hvd_snapshot_def_format(again);
        g_assert_cmpstr(twice, ==, got);
    }
}

/* a snapshot as the driver formats it: the domain with disk chains */
static void
test_full(void)
{
    g_autoptr(HvdSnapshotDef) def = hvd_snapshot_def_new();
    g_autofree char *xml = NULL;
    HvdDiskDef *disk;

    def->name = g_strdup("before-upgrade");
    def->state = HVD_SNAPSHOT_STATE_RUNNING;
    def->creation_time = 1795000000;
    def->parent = g_strdup("base");
    def->memory = HVD_SNAPSHOT_MEMORY_INTERNAL;
    hvd_snapshot_def_add_disk(def, "sda", "internal");
    def->domain = hvd_domain_def_new();
    def->domain->name = g_strdup("web1");
    g_assert_true(hvd_uuid_parse("7ceaf9f7-ce94-4513-8805-f84bebaeedbb",
                                 def->domain->uuid));
    def->domain->memory_kib = 2097152;
    def->domain->vcpus = 2;
    disk = hvd_domain_def_add_disk(def->domain, "sda", "scsi");
    hvd_disk_def_add_layer(disk, "C:\\VMs\\web1_A.avhdx", "vhdx");
    hvd_disk_def_add_layer(disk, "C:\\VMs\\web1.vhdx", "vhdx");
    hvd_domain_def_add_nic(def->domain, "00:15:5d:01:02:03", "External");
    xml = hvd_snapshot_def_format(def);
    assert_valid(xml);
    g_assert_nonnull(strstr(xml, "<backingStore type=\"file\">"));
    g_assert_nonnull(strstr(xml, "<source bridge=\"External\"/>"));
}

static void
test_too_large(void)
{
    gsize n = HVD_XML_MAX_SIZE + 1;
    g_autofree char *big = g_malloc(n + 1);
    g_autoptr(GError) err = NULL;

    memset(big, ' ', n);
    big[n] = '\0';
    g_assert_null(hvd_snapshot_def_parse(big, &err));
    g_assert_error(err, HVD_XML_ERROR, HVD_XML_ERROR_TOO_LARGE);
}

int
main(int argc, char **argv)
{
    g_autoptr(GDir) dir = NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    xmlRelaxNGParserCtxtPtr p;
    const char *name;
    int rc;

    g_test_init(&argc, &argv, NULL);
    p = xmlRelaxNGNewParserCtxt(SCHEMA);
    schema = xmlRelaxNGParse(p);
    xmlRelaxNGFreeParserCtxt(p);
    g_assert_nonnull(schema);

    dir = g_dir_open(SNAPSHOT_XML_DIR, 0, NULL);
    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir)))
        if (g_str_has_suffix(name, ".in.xml"))
            g_ptr_array_add(names, g_strdup(name));
    g_ptr_array_sort(names, (GCompareFunc) g_strcmp0);
    for (guint i = 0; i < names->len; i++) {
        const char *n = names->pdata[i];
        g_autofree char *path = g_build_filename(SNAPSHOT_XML_DIR, n, NULL);
        g_autofree char *test =
            g_strdup_printf("/snapshot-xml/data/%.*s", (int) strlen(n) - 7, n);
        g_test_add_data_func_full(test, g_steal_pointer(&path), test_case,
                                  g_free);
    }
    g_test_add_func("/snapshot-xml/full", test_full);
    g_test_add_func("/snapshot-xml/too-large", test_too_large);
    rc = g_test_run();
    xmlRelaxNGFree(schema);
    return rc;
}
