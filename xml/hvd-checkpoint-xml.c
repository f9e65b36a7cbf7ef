/*
 * hvd-checkpoint-xml.c: libvirt's domaincheckpoint XML, parsed into a
 * definition and formatted from one
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <libxml/parser.h>
#include <string.h>

#include "hvd-checkpoint-xml.h"

static void
disk_free(gpointer p)
{
    HvdCheckpointDiskDef *d = p;
    g_free(d->name);
    g_free(d->bitmap);
    g_free(d);
}

HvdCheckpointDef *
hvd_checkpoint_def_new(void)
{
    HvdCheckpointDef *def = g_new0(HvdCheckpointDef, 1);
    def->disks = g_ptr_array_new_with_free_func(disk_free);
    return def;
}

void
hvd_checkpoint_def_free(HvdCheckpointDef *def)
{
    if (!def)
        return;
    g_free(def->name);
    g_free(def->description);
    g_free(def->parent);
    g_ptr_array_unref(def->disks);
    g_free(def->domain_xml);
    g_free(def);
}

HvdCheckpointDiskDef *
hvd_checkpoint_def_add_disk(HvdCheckpointDef *def, const char *name,
                            const char *bitmap)
{
    HvdCheckpointDiskDef *d = g_new0(HvdCheckpointDiskDef, 1);
    d->name = g_strdup(name);
    d->bitmap = g_strdup(bitmap);
    g_ptr_array_add(def->disks, d);
    return d;
}

gboolean
hvd_checkpoint_name_valid(const char *name)
{
    if (!name || !*name || name[0] == '.')
        return FALSE;
    for (const char *p = name; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '_' && *p != '-' && *p != '.')
            return FALSE;
    return TRUE;
}

static gboolean
parse_name(xmlNode *n, const char *what, char **out, GError **error)
{
    *out = hvd_xml_text(n);
    if (*out && !hvd_checkpoint_name_valid(*out))
        return hvd_xml_invalid(error,
                               _("%s '%s' is not a valid checkpoint name: it "
                                 "takes letters, digits, '_', '-' and '.', "
                                 "not first"),
                               what, *out);
    return TRUE;
}

static gboolean
parse_disks(xmlNode *root, HvdCheckpointDef *def, GError **error)
{
    xmlNode *disks = hvd_xml_child(root, "disks");

    for (xmlNode *n = disks ? disks->children : NULL; n; n = n->next) {
        g_autofree char *name = NULL, *kind = NULL, *bitmap = NULL;
        g_autofree char *size = NULL;
        HvdCheckpointDiskDef *d;

        if (!hvd_xml_is(n, "disk"))
            continue;
        name = hvd_xml_prop(n, "name");
        kind = hvd_xml_prop(n, "checkpoint");
        bitmap = hvd_xml_prop(n, "bitmap");
        size = hvd_xml_prop(n, "size");
        if (!name || !*name)
            return hvd_xml_invalid(error, _("a checkpoint disk has no name"));
        if (kind && !g_str_equal(kind, "bitmap") && !g_str_equal(kind, "no"))
            return hvd_xml_invalid(error,
                                   _("unknown checkpoint mode '%s' for disk "
                                     "%s: bitmap or no"),
                                   kind, name);
        d = hvd_checkpoint_def_add_disk(def, name, bitmap);
        d->skipped = kind && g_str_equal(kind, "no");
        if (d->skipped && bitmap)
            return hvd_xml_invalid(error,
                                   _("disk %s has checkpoint='no' and a "
                                     "bitmap"),
                                   name);
        if (size && !g_ascii_string_to_unsigned(size, 10, 0, G_MAXUINT64,
                                                &d->size, NULL))
            return hvd_xml_invalid(error,
                                   _("the size '%s' of disk %s is not a "
                                     "number of bytes"),
                                   size, name);
        d->has_size = size != NULL;
    }
    return TRUE;
}

static gboolean
parse_root(xmlNode *root, HvdCheckpointDef *def, GError **error)
{
    xmlNode *n;

    if (!parse_name(hvd_xml_child(root, "name"), _("the name"), &def->name,
                    error) ||
        !parse_name(hvd_xml_child(hvd_xml_child(root, "parent"), "name"),
                    _("the parent"), &def->parent, error))
        return FALSE;
    def->description = hvd_xml_text(hvd_xml_child(root, "description"));
    if (!hvd_xml_creation_time(root, &def->creation_time, error) ||
        !parse_disks(root, def, error))
        return FALSE;
    if ((n = hvd_xml_child(root, "domain"))) {
        g_autofree char *uuid = hvd_xml_text(hvd_xml_child(n, "uuid"));
        if (uuid) {
            if (!hvd_uuid_parse(g_strstrip(uuid), def->domain_uuid))
                return hvd_xml_invalid(
                    error, _("the domain UUID '%s' is not valid"), uuid);
            def->has_domain_uuid = TRUE;
        }
        def->domain_xml = hvd_xml_node_to_string(n);
    }
    return TRUE;
}

HvdCheckpointDef *
hvd_checkpoint_def_parse(const char *xml, GError **error)
{
    g_autoptr(HvdCheckpointDef) def = NULL;
    xmlDoc *doc =
        hvd_xml_read(xml, "domaincheckpoint", _("the checkpoint XML"), error);
    gboolean ok;

    if (!doc)
        return NULL;
    def = hvd_checkpoint_def_new();
    ok = parse_root(xmlDocGetRootElement(doc), def, error);
    xmlFreeDoc(doc);
    return ok ? g_steal_pointer(&def) : NULL;
}

/* The kept <domain> element, copied under root */
static void
add_domain(xmlNode *root, const char *domain_xml)
{
    xmlDoc *doc =
        xmlReadMemory(domain_xml, strlen(domain_xml), "domain.xml", NULL,
                      XML_PARSE_NONET | XML_PARSE_NOERROR |
                          XML_PARSE_NOWARNING | XML_PARSE_NOBLANKS);

    if (doc && xmlDocGetRootElement(doc))
        xmlAddChild(root,
                    xmlDocCopyNode(xmlDocGetRootElement(doc), root->doc, 1));
    xmlFreeDoc(doc);
}

char *
hvd_checkpoint_def_format(const HvdCheckpointDef *def, gboolean without_domain)
{
    xmlDoc *doc = xmlNewDoc((const xmlChar *) "1.0");
    xmlNode *root = xmlNewNode(NULL, (const xmlChar *) "domaincheckpoint");
    g_autofree char *created = NULL;
    char *out;

    xmlDocSetRootElement(doc, root);
    if (def->name)
        hvd_xml_add(root, "name", def->name);
    if (def->description && *def->description)
        hvd_xml_add(root, "description", def->description);
    if (def->parent)
        hvd_xml_add(hvd_xml_add(root, "parent", NULL), "name", def->parent);
    created = g_strdup_printf("%" G_GINT64_FORMAT, def->creation_time);
    hvd_xml_add(root, "creationTime", created);
    if (def->disks->len) {
        xmlNode *disks = hvd_xml_add(root, "disks", NULL);
        for (guint i = 0; i < def->disks->len; i++) {
            HvdCheckpointDiskDef *d = def->disks->pdata[i];
            xmlNode *n = hvd_xml_add(disks, "disk", NULL);
            hvd_xml_attr(n, "name", d->name);
            hvd_xml_attr(n, "checkpoint", d->skipped ? "no" : "bitmap");
            if (d->bitmap)
                hvd_xml_attr(n, "bitmap", d->bitmap);
            if (d->has_size) {
                g_autofree char *size =
                    g_strdup_printf("%" G_GUINT64_FORMAT, d->size);
                hvd_xml_attr(n, "size", size);
            }
        }
    }
    if (def->domain_xml && !without_domain)
        add_domain(root, def->domain_xml);
    out = hvd_xml_node_to_string(root);
    xmlFreeDoc(doc);
    return out;
}
