/*
 * test-snapshot-xml.c: domainsnapshot, domaincheckpoint and domainbackup
 * XML, data-driven: every NAME.in.xml of tests/data/snapshot-xml,
 * checkpoint-xml and backup-xml is parsed; NAME.out.xml is what formatting the
 * definition gives, NAME.err a part of the error it must give. Every
 * document formatted validates against the installed libvirt's schema.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <libxml/relaxng.h>
#include <string.h>

#include "hvd-backup-xml.h"
#include "hvd-checkpoint-xml.h"
#include "hvd-group-xml.h"
#include "hvd-snapshot-xml.h"

#define SCHEMAS "/usr/share/libvirt/schemas/"

/* One kind of document: where its cases are, its schema, its parser */
typedef struct {
    const char *name;
    const char *dir;
    const char *schema_path;
    gpointer (*parse)(const char *xml, GError **error);
    char *(*format)(gconstpointer def);
    GDestroyNotify free;
    xmlRelaxNGPtr schema;
} Kind;

static char *
format_snapshot(gconstpointer def)
{
    return hvd_snapshot_def_format(def);
}

static char *
format_checkpoint(gconstpointer def)
{
    return hvd_checkpoint_def_format(def, FALSE);
}

static char *
format_backup(gconstpointer def)
{
    return hvd_backup_def_format(def);
}

static Kind kinds[] = {
    { "snapshot-xml", SNAPSHOT_XML_DIR, SCHEMAS "domainsnapshot.rng",
      (gpointer) hvd_snapshot_def_parse, format_snapshot,
      (GDestroyNotify) hvd_snapshot_def_free, NULL },
    { "checkpoint-xml", CHECKPOINT_XML_DIR, SCHEMAS "domaincheckpoint.rng",
      (gpointer) hvd_checkpoint_def_parse, format_checkpoint,
      (GDestroyNotify) hvd_checkpoint_def_free, NULL },
    { "backup-xml", BACKUP_XML_DIR, SCHEMAS "domainbackup.rng",
      (gpointer) hvd_backup_def_parse, format_backup,
      (GDestroyNotify) hvd_backup_def_free, NULL },
};

static void
assert_valid(const Kind *kind, const char *xml)
{
    xmlDoc *doc = xmlReadMemory(xml, strlen(xml), "out.xml", NULL, 0);
    xmlRelaxNGValidCtxtPtr v = xmlRelaxNGNewValidCtxt(kind->schema);
    int rc;

    g_assert_nonnull(doc);
    rc = xmlRelaxNGValidateDoc(v, doc);
    if (rc != 0)
        g_test_message("invalid against %s:\n%s", kind->schema_path, xml);
    g_assert_cmpint(rc, ==, 0);
    xmlRelaxNGFreeValidCtxt(v);
    xmlFreeDoc(doc);
}

typedef struct {
    const Kind *kind;
    char *path;
} Case;

static void
case_free(gpointer p)
{
    Case *c = p;
    g_free(c->path);
    g_free(c);
}

static void
test_case(gconstpointer data)
{
    const Case *c = data;
    const Kind *kind = c->kind;
    const char *in_path = c->path;
    g_autofree char *base = g_strndup(in_path, strlen(in_path) - 7);
    g_autofree char *out_path = g_strconcat(base, ".out.xml", NULL);
    g_autofree char *err_path = g_strconcat(base, ".err", NULL);
    g_autofree char *in = NULL, *want = NULL, *got = NULL;
    gpointer def = NULL;
    g_autoptr(GError) err = NULL;

    g_assert_true(g_file_get_contents(in_path, &in, NULL, NULL));
    def = kind->parse(in, &err);
    if (g_file_get_contents(err_path, &want, NULL, NULL)) {
        g_assert_null(def);
        g_assert_nonnull(err);
        g_test_message("%s", err->message);
        g_assert_nonnull(strstr(err->message, g_strstrip(want)));
        return;
    }
    g_assert_no_error(err);
    got = kind->format(def);
    g_assert_true(g_file_get_contents(out_path, &want, NULL, NULL));
    g_assert_cmpstr(got, ==, want);
    /* a snapshot or checkpoint without a name is only ever a request */
    if (strstr(got, "<name>") || strstr(got, "<domainbackup"))
        assert_valid(kind, got);
    /* what was formatted parses back to the same document */
    {
        gpointer again = kind->parse(got, &err);
        g_autofree char *twice = NULL;
        g_assert_no_error(err);
        twice = kind->format(again);
        g_assert_cmpstr(twice, ==, got);
        kind->free(again);
    }
    kind->free(def);
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
    assert_valid(&kinds[0], xml);
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

static gint
by_name(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* a checkpoint as the driver formats it: RCT ids, sizes, the domain */
static void
test_checkpoint_full(void)
{
    g_autoptr(HvdCheckpointDef) def = hvd_checkpoint_def_new();
    g_autoptr(HvdDomainDef) domain = hvd_domain_def_new();
    g_autofree char *xml = NULL, *bare = NULL;
    HvdCheckpointDiskDef *d;

    def->name = g_strdup("nightly.2");
    def->parent = g_strdup("nightly.1");
    def->creation_time = 1795000000;
    d = hvd_checkpoint_def_add_disk(def, "sda", "rctX:5B8E:00000001");
    d->has_size = TRUE;
    d->size = 1048576;
    domain->name = g_strdup("web1");
    domain->memory_kib = 1048576;
    domain->vcpus = 1;
    hvd_disk_def_add_layer(hvd_domain_def_add_disk(domain, "sda", "scsi"),
                           "C:\\VMs\\web1.vhdx", "vhdx");
    def->domain_xml = hvd_domain_def_format(domain);
    xml = hvd_checkpoint_def_format(def, FALSE);
    g_test_message("%s", xml);
    assert_valid(&kinds[1], xml);
    g_assert_nonnull(strstr(xml, "bitmap=\"rctX:5B8E:00000001\" "
                                 "size=\"1048576\""));
    g_assert_nonnull(strstr(xml, "<domain type=\"hyperv\">"));
    bare = hvd_checkpoint_def_format(def, TRUE);
    g_assert_null(strstr(bare, "<domain type"));
    assert_valid(&kinds[1], bare);
}

/* the group element in <domain><metadata>: set, read back, replaced, and
 * valid in a checkpoint */
static void
test_checkpoint_group(void)
{
    g_autoptr(HvdCheckpointDef) def = hvd_checkpoint_def_new();
    g_autoptr(HvdDomainDef) domain = hvd_domain_def_new();
    g_auto(HvdGroupRef) ref = { g_strdup("web"), g_strdup("A1B2"), NULL };
    g_auto(HvdGroupRef) got = { NULL };
    g_auto(HvdGroupRef) none = { NULL };
    g_autoptr(GError) err = NULL;
    g_autofree char *plain = NULL, *with = NULL, *again = NULL;
    g_autofree char *xml = NULL;

    domain->name = g_strdup("web1");
    domain->memory_kib = 1048576;
    domain->vcpus = 1;
    plain = hvd_domain_def_format(domain);
    g_assert_false(hvd_group_ref_get(plain, &none, &err));
    g_assert_no_error(err);
    with = hvd_group_ref_set(plain, &ref);
    g_assert_true(hvd_group_ref_get(with, &got, &err));
    g_assert_cmpstr(got.name, ==, "web");
    g_assert_cmpstr(got.id, ==, "A1B2");
    g_assert_null(got.point);
    /* a second set replaces the element */
    g_free(ref.point);
    ref.point = g_strdup("C3D4");
    again = hvd_group_ref_set(with, &ref);
    g_assert_nonnull(strstr(again, "point=\"C3D4\""));
    g_assert_null(strstr(strstr(again, "vg:group") + 1, "vg:group "));
    def->name = g_strdup("g1");
    def->domain_xml = g_steal_pointer(&again);
    xml = hvd_checkpoint_def_format(def, FALSE);
    g_test_message("%s", xml);
    assert_valid(&kinds[1], xml);
    g_assert_false(hvd_group_ref_get(
        "<domain><metadata><group xmlns='urn:virthypervd:group:1'/>"
        "</metadata></domain>",
        &none, &err));
    g_assert_error(err, HVD_XML_ERROR, HVD_XML_ERROR_INVALID);
}

static void
test_checkpoint_names(void)
{
    g_assert_true(hvd_checkpoint_name_valid("nightly-2026.12.02_1"));
    g_assert_false(hvd_checkpoint_name_valid(".hidden"));
    g_assert_false(hvd_checkpoint_name_valid("a/b"));
    g_assert_false(hvd_checkpoint_name_valid("two words"));
    g_assert_false(hvd_checkpoint_name_valid(""));
}

int
main(int argc, char **argv)
{
    const char *only = NULL;
    int rc;

    g_test_init(&argc, &argv, NULL);
    /* --kind NAME: only that kind's cases */
    for (int i = 1; i + 1 < argc; i++)
        if (g_str_equal(argv[i], "--kind"))
            only = argv[i + 1];
    for (guint k = 0; k < G_N_ELEMENTS(kinds); k++) {
        Kind *kind = &kinds[k];
        g_autoptr(GDir) dir = g_dir_open(kind->dir, 0, NULL);
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        xmlRelaxNGParserCtxtPtr p = xmlRelaxNGNewParserCtxt(kind->schema_path);
        const char *name;

        if (only && !g_str_equal(only, kind->name)) {
            xmlRelaxNGFreeParserCtxt(p);
            continue;
        }
        kind->schema = xmlRelaxNGParse(p);
        xmlRelaxNGFreeParserCtxt(p);
        g_assert_nonnull(kind->schema);
        g_assert_nonnull(dir);
        while ((name = g_dir_read_name(dir)))
            if (g_str_has_suffix(name, ".in.xml"))
                g_ptr_array_add(names, g_strdup(name));
        g_ptr_array_sort(names, by_name);
        for (guint i = 0; i < names->len; i++) {
            const char *n = names->pdata[i];
            Case *c = g_new0(Case, 1);
            g_autofree char *test = g_strdup_printf("/%s/data/%.*s", kind->name,
                                                    (int) strlen(n) - 7, n);
            c->kind = kind;
            c->path = g_build_filename(kind->dir, n, NULL);
            g_test_add_data_func_full(test, c, test_case, case_free);
        }
    }
    if (!only || g_str_equal(only, "snapshot-xml")) {
        g_test_add_func("/snapshot-xml/full", test_full);
        g_test_add_func("/snapshot-xml/too-large", test_too_large);
    }
    if (!only || g_str_equal(only, "checkpoint-xml")) {
        g_test_add_func("/checkpoint-xml/full", test_checkpoint_full);
        g_test_add_func("/checkpoint-xml/names", test_checkpoint_names);
        g_test_add_func("/checkpoint-xml/group", test_checkpoint_group);
    }
    rc = g_test_run();
    for (guint k = 0; k < G_N_ELEMENTS(kinds); k++)
        if (kinds[k].schema)
            xmlRelaxNGFree(kinds[k].schema);
    return rc;
}
