/*
 * hvd-xml.h: what the XML documents of libvirt's APIs (domainsnapshot,
 * domaincheckpoint, domainbackup) share when they are read
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>
#include <libxml/tree.h>

G_BEGIN_DECLS

#define HVD_XML_ERROR (hvd_xml_error_quark())
GQuark hvd_xml_error_quark(void);

typedef enum {
    HVD_XML_ERROR_PARSE,   /* not well-formed */
    HVD_XML_ERROR_INVALID, /* well-formed, but not a valid definition */
    HVD_XML_ERROR_TOO_LARGE,
} HvdXmlError;

/* the largest document accepted: libvirt's largest RPC string */
#define HVD_XML_MAX_SIZE (4 * 1024 * 1024)

/* The document of xml, whose root must be root ("the snapshot XML": what
 * names it in errors); free with xmlFreeDoc */
xmlDoc *hvd_xml_read(const char *xml, const char *root, const char *what,
                     GError **error);

gboolean hvd_xml_is(xmlNode *n, const char *name);
/* The first child element called name, or NULL */
xmlNode *hvd_xml_child(xmlNode *parent, const char *name);
/* Text content and attributes, NULL when n (or the attribute) is absent */
char *hvd_xml_text(xmlNode *n);
char *hvd_xml_prop(xmlNode *n, const char *name);
/* <creationTime>: seconds since 1970, into *out (unchanged when absent) */
gboolean hvd_xml_creation_time(xmlNode *root, gint64 *out, GError **error);

/* Sets error (HVD_XML_ERROR_INVALID); returns FALSE */
gboolean hvd_xml_invalid(GError **error, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

G_END_DECLS
