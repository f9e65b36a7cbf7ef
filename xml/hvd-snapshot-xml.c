/*
 * hvd-snapshot-xml.c: libvirt's domainsnapshot XML, parsed into a
 * definition and formatted from one
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <libxml/parser.h>
#include <string.h>

#include "hvd-snapshot-xml.h"

static void
disk_free(gpointer p)
{
    HvdSnapshotDiskDef *d = p;
    g_free(d->name);
    g_free(d->snapshot);
    g_free(d);
}

HvdSnapshotDef *
hvd_snapshot_def_new(void)
{
    HvdSnapshotDef *def = g_new0(HvdSnapshotDef, 1);
    def->disks = g_ptr_array_new_with_free_func(disk_free);
    return def;
}

void
hvd_snapshot_def_free(HvdSnapshotDef *def)
{
    if (!def)
        return;
    g_free(def->name);
    g_free(def->description);
    g_free(def->parent);
    g_ptr_array_unref(def->disks);
    hvd_domain_def_free(def->domain);
    g_free(def->domain_xml);
    g_free(def);
}

void
hvd_snapshot_def_add_disk(HvdSnapshotDef *def, const char *name,
                          const char *snapshot)
{
    HvdSnapshotDiskDef *d = g_new0(HvdSnapshotDiskDef, 1);
    d->name = g_strdup(name);
    d->snapshot = g_strdup(snapshot);
    g_ptr_array_add(def->disks, d);
}

/* by HvdSnapshotState and HvdSnapshotMemory, NONE first */
static const char *const states[] = {
    NULL,       "nostate", "running", "blocked",     "paused",
    "shutdown", "shutoff", "crashed", "pmsuspended", "disk-snapshot",
};
static const char *const memory_kinds[] = { NULL, "no", "internal",
                                            "external" };

/* The index of v in set, from 1 (0 is NONE); -1 when it is not there */
static int
index_of(const char *v, const char *const *set, gsize n)
{
    for (gsize i = 1; v && i < n; i++)
        if (g_str_equal(v, set[i]))
            return i;
    return -1;
}
static const char *const disk_kinds[] = { "no", "internal", "external",
                                          "manual" };

static gboolean
one_of(const char *v, const char *const *set, gsize n)
{
    for (gsize i = 0; i < n; i++)
        if (g_strcmp0(v, set[i]) == 0)
            return TRUE;
    return FALSE;
}

static gboolean
parse_root(xmlNode *root, HvdSnapshotDef *def, GError **error)
{
    xmlNode *n;
    g_autofree char *state = NULL;

    def->name = hvd_xml_text(hvd_xml_child(root, "name"));
    if (def->name && !*def->name)
        return hvd_xml_invalid(error, _("the snapshot name is empty"));
    def->description = hvd_xml_text(hvd_xml_child(root, "description"));
    state = hvd_xml_text(hvd_xml_child(root, "state"));
    if (state) {
        int i = index_of(state, states, G_N_ELEMENTS(states));
        if (i < 0)
            return hvd_xml_invalid(error, _("unknown snapshot state '%s'"),
                                   state);
        def->state = i;
    }
    if (!hvd_xml_creation_time(root, &def->creation_time, error))
        return FALSE;
    def->parent =
        hvd_xml_text(hvd_xml_child(hvd_xml_child(root, "parent"), "name"));
    if ((n = hvd_xml_child(root, "memory"))) {
        g_autofree char *mode = hvd_xml_prop(n, "snapshot");
        int i = index_of(mode, memory_kinds, G_N_ELEMENTS(memory_kinds));
        if (i < 0)
            return hvd_xml_invalid(error,
                                   _("unknown memory snapshot mode '%s'"),
                                   mode ? mode : "");
        def->memory = i;
    }
    for (n = hvd_xml_child(root, "disks")
                 ? hvd_xml_child(root, "disks")->children
                 : NULL;
         n; n = n->next) {
        g_autofree char *name = NULL, *kind = NULL;
        if (!hvd_xml_is(n, "disk"))
            continue;
        name = hvd_xml_prop(n, "name");
        kind = hvd_xml_prop(n, "snapshot");
        if (!name || !*name)
            return hvd_xml_invalid(error, _("a snapshot disk has no name"));
        if (kind && !one_of(kind, disk_kinds, G_N_ELEMENTS(disk_kinds)))
            return hvd_xml_invalid(
                error, _("unknown snapshot mode '%s' for disk %s"), kind, name);
        hvd_snapshot_def_add_disk(def, name, kind);
    }
    if ((n = hvd_xml_child(root, "domain"))) {
        g_autofree char *uuid = hvd_xml_text(hvd_xml_child(n, "uuid"));
        def->domain = hvd_domain_def_new();
        def->domain_is_reference = TRUE;
        def->domain_xml = hvd_xml_node_to_string(n);
        def->domain->name = hvd_xml_text(hvd_xml_child(n, "name"));
        if (uuid) {
            if (!hvd_uuid_parse(g_strstrip(uuid), def->domain->uuid))
                return hvd_xml_invalid(
                    error, _("the domain UUID '%s' is not valid"), uuid);
            def->has_domain_uuid = TRUE;
        }
    }
    return TRUE;
}

HvdSnapshotDef *
hvd_snapshot_def_parse(const char *xml, GError **error)
{
    g_autoptr(HvdSnapshotDef) def = NULL;
    xmlDoc *doc =
        hvd_xml_read(xml, "domainsnapshot", _("the snapshot XML"), error);
    gboolean ok;

    if (!doc)
        return NULL;
    def = hvd_snapshot_def_new();
    ok = parse_root(xmlDocGetRootElement(doc), def, error);
    xmlFreeDoc(doc);
    return ok ? g_steal_pointer(&def) : NULL;
}

char *
hvd_snapshot_def_format(const HvdSnapshotDef *def)
{
    xmlDoc *doc = xmlNewDoc((const xmlChar *) "1.0");
    xmlNode *root = xmlNewNode(NULL, (const xmlChar *) "domainsnapshot");
    g_autofree char *created = NULL;
    char *out;

    xmlDocSetRootElement(doc, root);
    if (def->name)
        hvd_xml_add(root, "name", def->name);
    if (def->description && *def->description)
        hvd_xml_add(root, "description", def->description);
    hvd_xml_add(root, "state",
                states[def->state ? def->state : HVD_SNAPSHOT_STATE_SHUTOFF]);
    if (def->parent)
        hvd_xml_add(hvd_xml_add(root, "parent", NULL), "name", def->parent);
    created = g_strdup_printf("%" G_GINT64_FORMAT, def->creation_time);
    hvd_xml_add(root, "creationTime", created);
    if (def->memory)
        hvd_xml_attr(hvd_xml_add(root, "memory", NULL), "snapshot",
                     memory_kinds[def->memory]);
    if (def->disks->len) {
        xmlNode *disks = hvd_xml_add(root, "disks", NULL);
        for (guint i = 0; i < def->disks->len; i++) {
            HvdSnapshotDiskDef *d = def->disks->pdata[i];
            xmlNode *n = hvd_xml_add(disks, "disk", NULL);
            hvd_xml_attr(n, "name", d->name);
            if (d->snapshot)
                hvd_xml_attr(n, "snapshot", d->snapshot);
        }
    }
    if (def->domain && def->domain_is_reference) {
        char uuid[37];
        hvd_uuid_format(def->domain->uuid, uuid);
        if (def->has_domain_uuid)
            hvd_xml_add(hvd_xml_add(root, "domain", NULL), "uuid", uuid);
    } else if (def->domain) {
        hvd_domain_def_format_node(def->domain, root);
    }
    out = hvd_xml_node_to_string(root);
    xmlFreeDoc(doc);
    return out;
}
