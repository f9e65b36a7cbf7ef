/*
 * hvd-backup-xml.c: libvirt's domainbackup XML, parsed into a definition
 * and formatted from one
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <libxml/parser.h>

#include "hvd-backup-xml.h"
#include "hvd-domain-xml.h"

static void
disk_free(gpointer p)
{
    HvdBackupDiskDef *d = p;
    g_free(d->name);
    g_free(d->type);
    g_free(d->target);
    g_free(d->driver);
    g_free(d->backup_mode);
    g_free(d->incremental);
    g_free(d);
}

HvdBackupDef *
hvd_backup_def_new(void)
{
    HvdBackupDef *def = g_new0(HvdBackupDef, 1);
    def->disks = g_ptr_array_new_with_free_func(disk_free);
    return def;
}

void
hvd_backup_def_free(HvdBackupDef *def)
{
    if (!def)
        return;
    g_free(def->incremental);
    g_ptr_array_unref(def->disks);
    g_free(def);
}

HvdBackupDiskDef *
hvd_backup_def_add_disk(HvdBackupDef *def, const char *name)
{
    HvdBackupDiskDef *d = g_new0(HvdBackupDiskDef, 1);
    d->name = g_strdup(name);
    g_ptr_array_add(def->disks, d);
    return d;
}

static gboolean
parse_disk(xmlNode *n, HvdBackupDef *def, GError **error)
{
    g_autofree char *name = hvd_xml_prop(n, "name");
    g_autofree char *backup = hvd_xml_prop(n, "backup");
    xmlNode *target = hvd_xml_child(n, "target");
    HvdBackupDiskDef *d;

    if (!name || !*name)
        return hvd_xml_invalid(error, _("a backup disk has no name"));
    if (backup && !g_str_equal(backup, "yes") && !g_str_equal(backup, "no"))
        return hvd_xml_invalid(error,
                               _("backup='%s' of disk %s is neither yes nor "
                                 "no"),
                               backup, name);
    d = hvd_backup_def_add_disk(def, name);
    d->skipped = backup && g_str_equal(backup, "no");
    d->type = hvd_xml_prop(n, "type");
    if (d->type && !g_str_equal(d->type, "file") &&
        !g_str_equal(d->type, "block"))
        return hvd_xml_invalid(error,
                               _("unknown type '%s' of backup disk %s: file "
                                 "or block"),
                               d->type, name);
    d->backup_mode = hvd_xml_prop(n, "backupmode");
    if (d->backup_mode && !g_str_equal(d->backup_mode, "full") &&
        !g_str_equal(d->backup_mode, "incremental"))
        return hvd_xml_invalid(error,
                               _("unknown backupmode '%s' of disk %s: full "
                                 "or incremental"),
                               d->backup_mode, name);
    d->incremental = hvd_xml_prop(n, "incremental");
    d->target = hvd_xml_prop(target, "file");
    if (!d->target)
        d->target = hvd_xml_prop(target, "dev");
    if (target && !d->target)
        return hvd_xml_invalid(
            error, _("the target of backup disk %s has no file"), name);
    d->driver = hvd_xml_prop(hvd_xml_child(n, "driver"), "type");
    return TRUE;
}

static gboolean
parse_root(xmlNode *root, HvdBackupDef *def, GError **error)
{
    g_autofree char *mode = hvd_xml_prop(root, "mode");
    xmlNode *disks = hvd_xml_child(root, "disks");

    if (mode && !g_str_equal(mode, "push") && !g_str_equal(mode, "pull"))
        return hvd_xml_invalid(
            error, _("unknown backup mode '%s': push or pull"), mode);
    def->pull = mode && g_str_equal(mode, "pull");
    def->incremental = hvd_xml_text(hvd_xml_child(root, "incremental"));
    if (def->incremental && !*def->incremental)
        return hvd_xml_invalid(error, _("<incremental> names no checkpoint"));
    for (xmlNode *n = disks ? disks->children : NULL; n; n = n->next)
        if (hvd_xml_is(n, "disk") && !parse_disk(n, def, error))
            return FALSE;
    return TRUE;
}

HvdBackupDef *
hvd_backup_def_parse(const char *xml, GError **error)
{
    g_autoptr(HvdBackupDef) def = NULL;
    xmlDoc *doc = hvd_xml_read(xml, "domainbackup", _("the backup XML"), error);
    gboolean ok;

    if (!doc)
        return NULL;
    def = hvd_backup_def_new();
    ok = parse_root(xmlDocGetRootElement(doc), def, error);
    xmlFreeDoc(doc);
    return ok ? g_steal_pointer(&def) : NULL;
}

char *
hvd_backup_def_format(const HvdBackupDef *def)
{
    xmlDoc *doc = xmlNewDoc((const xmlChar *) "1.0");
    xmlNode *root = xmlNewNode(NULL, (const xmlChar *) "domainbackup");
    char *out;

    xmlDocSetRootElement(doc, root);
    hvd_xml_attr(root, "mode", def->pull ? "pull" : "push");
    if (def->incremental)
        hvd_xml_add(root, "incremental", def->incremental);
    if (def->disks->len) {
        xmlNode *disks = hvd_xml_add(root, "disks", NULL);
        for (guint i = 0; i < def->disks->len; i++) {
            HvdBackupDiskDef *d = def->disks->pdata[i];
            xmlNode *n = hvd_xml_add(disks, "disk", NULL);
            hvd_xml_attr(n, "name", d->name);
            if (d->backup_mode)
                hvd_xml_attr(n, "backupmode", d->backup_mode);
            if (d->incremental)
                hvd_xml_attr(n, "incremental", d->incremental);
            if (d->skipped) {
                hvd_xml_attr(n, "backup", "no");
                continue;
            }
            hvd_xml_attr(n, "backup", "yes");
            hvd_xml_attr(n, "type", d->type ? d->type : "file");
            if (d->target)
                hvd_xml_attr(hvd_xml_add(n, "target", NULL),
                             g_strcmp0(d->type, "block") == 0 ? "dev" : "file",
                             d->target);
            if (d->driver)
                hvd_xml_attr(hvd_xml_add(n, "driver", NULL), "type", d->driver);
        }
    }
    out = hvd_xml_node_to_string(root);
    xmlFreeDoc(doc);
    return out;
}
