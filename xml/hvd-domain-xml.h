/*
 * hvd-domain-xml.h: libvirt domain XML for a Hyper-V virtual machine
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>
#include <libxml/tree.h>

G_BEGIN_DECLS

/* One file of a disk's chain, as the host names it (C:\...\x.avhdx). */
typedef struct {
    char *path;
    char *format; /* "vhdx", "vhd" */
} HvdDiskLayer;

typedef struct {
    char *target;     /* sda, sdb ... */
    char *bus;        /* scsi, ide */
    GPtrArray *chain; /* HvdDiskLayer: the active file, then its parents */
} HvdDiskDef;

typedef struct {
    char *mac;
    char *switch_name; /* NULL: not connected */
} HvdNicDef;

typedef struct {
    char *name;
    guchar uuid[16];
    int id; /* -1 when off */
    char *description;
    guint64 memory_kib;
    guint64 current_memory_kib;
    guint vcpus;
    GPtrArray *disks; /* HvdDiskDef */
    GPtrArray *nics;  /* HvdNicDef */
    /* the VM group it is part of, put in <metadata>; not owned, NULL: none */
    const struct _HvdGroupRef *group;
} HvdDomainDef;

HvdDomainDef *hvd_domain_def_new(void);
void hvd_domain_def_free(HvdDomainDef *def);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvdDomainDef, hvd_domain_def_free)

HvdDiskDef *hvd_domain_def_add_disk(HvdDomainDef *def, const char *target,
                                    const char *bus);
void hvd_disk_def_add_layer(HvdDiskDef *disk, const char *path,
                            const char *format);
void hvd_domain_def_add_nic(HvdDomainDef *def, const char *mac,
                            const char *switch_name);

/* The <domain> element under parent (NULL: a new document's root). */
xmlNode *hvd_domain_def_format_node(const HvdDomainDef *def, xmlNode *parent);
char *hvd_domain_def_format(const HvdDomainDef *def);

/* The host's capabilities document */
char *hvd_capabilities_format(const guchar host_uuid[16]);

/* A child element of parent, with text when not NULL */
xmlNode *hvd_xml_add(xmlNode *parent, const char *name, const char *text);
void hvd_xml_attr(xmlNode *node, const char *name, const char *value);

/* A node and its children as indented text, without an XML declaration. */
char *hvd_xml_node_to_string(xmlNode *node);

/* uuid as 8-4-4-4-12 lower-case hex; buf has 37 bytes. */
void hvd_uuid_format(const guchar uuid[16], char buf[37]);
gboolean hvd_uuid_parse(const char *text, guchar uuid[16]);

G_END_DECLS
