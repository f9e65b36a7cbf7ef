/*
 * hvd-domain-xml.c: libvirt domain XML for a Hyper-V virtual machine
 *
 * libvirt's schema has no word for VHDX: its storage formats know VHD,
 * Microsoft's virtual hard disk family, and that is the format the
 * backing chain names (the schema wants one there); the file names tell
 * the versions apart. Disks carry no <driver type>.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "hvd-domain-xml.h"
#include "hvd-group-xml.h"

static void
layer_free(gpointer p)
{
    HvdDiskLayer *l = p;
    g_free(l->path);
    g_free(l->format);
    g_free(l);
}

static void
disk_free(gpointer p)
{
    HvdDiskDef *d = p;
    g_free(d->target);
    g_free(d->bus);
    g_ptr_array_unref(d->chain);
    g_free(d);
}

static void
nic_free(gpointer p)
{
    HvdNicDef *n = p;
    g_free(n->mac);
    g_free(n->switch_name);
    g_free(n);
}

HvdDomainDef *
hvd_domain_def_new(void)
{
    HvdDomainDef *def = g_new0(HvdDomainDef, 1);
    def->id = -1;
    def->disks = g_ptr_array_new_with_free_func(disk_free);
    def->nics = g_ptr_array_new_with_free_func(nic_free);
    return def;
}

void
hvd_domain_def_free(HvdDomainDef *def)
{
    if (!def)
        return;
    g_free(def->name);
    g_free(def->description);
    g_ptr_array_unref(def->disks);
    g_ptr_array_unref(def->nics);
    g_free(def);
}

HvdDiskDef *
hvd_domain_def_add_disk(HvdDomainDef *def, const char *target, const char *bus)
{
    HvdDiskDef *d = g_new0(HvdDiskDef, 1);
    d->target = g_strdup(target);
    d->bus = g_strdup(bus);
    d->chain = g_ptr_array_new_with_free_func(layer_free);
    g_ptr_array_add(def->disks, d);
    return d;
}

void
hvd_disk_def_add_layer(HvdDiskDef *disk, const char *path, const char *format)
{
    HvdDiskLayer *l = g_new0(HvdDiskLayer, 1);
    l->path = g_strdup(path);
    l->format = g_strdup(format);
    g_ptr_array_add(disk->chain, l);
}

void
hvd_domain_def_add_nic(HvdDomainDef *def, const char *mac,
                       const char *switch_name)
{
    HvdNicDef *n = g_new0(HvdNicDef, 1);
    n->mac = g_strdup(mac);
    n->switch_name = g_strdup(switch_name);
    g_ptr_array_add(def->nics, n);
}

void
hvd_uuid_format(const guchar uuid[16], char buf[37])
{
    static const char hex[] = "0123456789abcdef";
    char *p = buf;

    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[uuid[i] >> 4];
        *p++ = hex[uuid[i] & 15];
    }
    *p = '\0';
}

gboolean
hvd_uuid_parse(const char *text, guchar uuid[16])
{
    int n = 0;

    if (!text || !g_uuid_string_is_valid(text))
        return FALSE;
    for (const char *p = text; *p && n < 32; p++) {
        if (*p == '-')
            continue;
        if (n % 2 == 0)
            uuid[n / 2] = g_ascii_xdigit_value(*p) << 4;
        else
            uuid[n / 2] |= g_ascii_xdigit_value(*p);
        n++;
    }
    return n == 32;
}

xmlNode *
hvd_xml_add(xmlNode *parent, const char *name, const char *text)
{
    return xmlNewTextChild(parent, NULL, (const xmlChar *) name,
                           (const xmlChar *) text);
}

void
hvd_xml_attr(xmlNode *node, const char *name, const char *value)
{
    xmlNewProp(node, (const xmlChar *) name, (const xmlChar *) value);
}

static void attrf(xmlNode *node, const char *name, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static void
attrf(xmlNode *node, const char *name, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *v = NULL;

    va_start(ap, fmt);
    v = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    hvd_xml_attr(node, name, v);
}

static xmlNode *addf(xmlNode *parent, const char *name, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static xmlNode *
addf(xmlNode *parent, const char *name, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *v = NULL;

    va_start(ap, fmt);
    v = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return hvd_xml_add(parent, name, v);
}

/* <source file=.../> followed by the backing chain below it */
static void
format_layers(xmlNode *disk, GPtrArray *chain, guint from)
{
    xmlNode *node = disk, *store;

    if (from >= chain->len)
        return;
    hvd_xml_attr(hvd_xml_add(disk, "source", NULL), "file",
                 ((HvdDiskLayer *) chain->pdata[from])->path);
    for (guint i = from + 1; i < chain->len; i++) {
        HvdDiskLayer *l = chain->pdata[i];
        store = hvd_xml_add(node, "backingStore", NULL);
        hvd_xml_attr(store, "type", "file");
        hvd_xml_attr(hvd_xml_add(store, "format", NULL), "type", "vhd");
        hvd_xml_attr(hvd_xml_add(store, "source", NULL), "file", l->path);
        node = store;
    }
    hvd_xml_add(node, "backingStore", NULL); /* the end of the chain */
}

static void
format_disk(xmlNode *devices, const HvdDiskDef *d)
{
    xmlNode *disk = hvd_xml_add(devices, "disk", NULL);

    hvd_xml_attr(disk, "type", "file");
    hvd_xml_attr(disk, "device", "disk");
    format_layers(disk, d->chain, 0);
    {
        xmlNode *t = hvd_xml_add(disk, "target", NULL);
        hvd_xml_attr(t, "dev", d->target);
        hvd_xml_attr(t, "bus", d->bus);
    }
}

static void
format_nic(xmlNode *devices, const HvdNicDef *n)
{
    xmlNode *nic = hvd_xml_add(devices, "interface", NULL);

    if (n->switch_name) {
        hvd_xml_attr(nic, "type", "bridge");
        hvd_xml_attr(hvd_xml_add(nic, "mac", NULL), "address", n->mac);
        hvd_xml_attr(hvd_xml_add(nic, "source", NULL), "bridge",
                     n->switch_name);
    } else {
        hvd_xml_attr(nic, "type", "ethernet");
        hvd_xml_attr(hvd_xml_add(nic, "mac", NULL), "address", n->mac);
    }
}

xmlNode *
hvd_domain_def_format_node(const HvdDomainDef *def, xmlNode *parent)
{
    xmlNode *dom, *n, *devices;
    char uuid[37];

    dom = xmlNewNode(NULL, (const xmlChar *) "domain");
    if (parent)
        xmlAddChild(parent, dom);
    hvd_xml_attr(dom, "type", "hyperv");
    if (def->id >= 0)
        attrf(dom, "id", "%d", def->id);
    hvd_xml_add(dom, "name", def->name);
    hvd_uuid_format(def->uuid, uuid);
    hvd_xml_add(dom, "uuid", uuid);
    if (def->description && *def->description)
        hvd_xml_add(dom, "description", def->description);
    n = addf(dom, "memory", "%" G_GUINT64_FORMAT, def->memory_kib);
    hvd_xml_attr(n, "unit", "KiB");
    n = addf(dom, "currentMemory", "%" G_GUINT64_FORMAT,
             def->current_memory_kib ? def->current_memory_kib
                                     : def->memory_kib);
    hvd_xml_attr(n, "unit", "KiB");
    n = addf(dom, "vcpu", "%u", def->vcpus);
    hvd_xml_attr(n, "placement", "static");
    n = hvd_xml_add(dom, "os", NULL);
    n = hvd_xml_add(n, "type", "hvm");
    hvd_xml_attr(n, "arch", "x86_64");
    devices = hvd_xml_add(dom, "devices", NULL);
    for (guint i = 0; i < def->disks->len; i++)
        format_disk(devices, def->disks->pdata[i]);
    for (guint i = 0; i < def->nics->len; i++)
        format_nic(devices, def->nics->pdata[i]);
    if (def->group)
        hvd_group_ref_add(hvd_xml_add(dom, "metadata", NULL), def->group);
    return dom;
}

char *
hvd_xml_node_to_string(xmlNode *node)
{
    xmlBuffer *buf = xmlBufferCreate();
    char *out;

    xmlNodeDump(buf, node->doc, node, 0, 1);
    xmlBufferAdd(buf, (const xmlChar *) "\n", 1);
    out = g_strdup((const char *) xmlBufferContent(buf));
    xmlBufferFree(buf);
    return out;
}

char *
hvd_domain_def_format(const HvdDomainDef *def)
{
    xmlDoc *doc = xmlNewDoc((const xmlChar *) "1.0");
    xmlNode *root = hvd_domain_def_format_node(def, NULL);
    char *out;

    xmlDocSetRootElement(doc, root);
    out = hvd_xml_node_to_string(root);
    xmlFreeDoc(doc);
    return out;
}

/* Hyper-V runs x86-64 guests of type hvm; the guest's domain type is
 * "hyperv", as libvirt's own Hyper-V driver says it (virt-manager looks
 * the domain's type up there) */
char *
hvd_capabilities_format(const guchar host_uuid[16])
{
    xmlDoc *doc = xmlNewDoc((const xmlChar *) "1.0");
    xmlNode *root = xmlNewNode(NULL, (const xmlChar *) "capabilities");
    xmlNode *host, *guest, *arch;
    char uuid[37];
    char *out;

    xmlDocSetRootElement(doc, root);
    host = hvd_xml_add(root, "host", NULL);
    hvd_uuid_format(host_uuid, uuid);
    hvd_xml_add(host, "uuid", uuid);
    hvd_xml_add(hvd_xml_add(host, "cpu", NULL), "arch", "x86_64");
    guest = hvd_xml_add(root, "guest", NULL);
    hvd_xml_add(guest, "os_type", "hvm");
    arch = hvd_xml_add(guest, "arch", NULL);
    hvd_xml_attr(arch, "name", "x86_64");
    hvd_xml_add(arch, "wordsize", "64");
    hvd_xml_attr(hvd_xml_add(arch, "domain", NULL), "type", "hyperv");
    out = hvd_xml_node_to_string(root);
    xmlFreeDoc(doc);
    return out;
}
