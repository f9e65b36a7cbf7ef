/*
 * hvd-xml.c: what the XML documents of libvirt's APIs share when read
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <libxml/parser.h>
#include <string.h>

#include "hvd-xml.h"

G_DEFINE_QUARK(hvd - xml - error - quark, hvd_xml_error)

gboolean
hvd_xml_invalid(GError **error, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, HVD_XML_ERROR, HVD_XML_ERROR_INVALID, msg);
    return FALSE;
}

xmlDoc *
hvd_xml_read(const char *xml, const char *root, const char *what,
             GError **error)
{
    gsize len = xml ? strlen(xml) : 0;
    g_autofree char *file = g_strconcat(root, ".xml", NULL);
    xmlDoc *doc;

    if (len > HVD_XML_MAX_SIZE) {
        g_set_error(error, HVD_XML_ERROR, HVD_XML_ERROR_TOO_LARGE,
                    _("%s is %zu bytes, more than %d"), what, len,
                    HVD_XML_MAX_SIZE);
        return NULL;
    }
    doc = xmlReadMemory(xml ? xml : "", len, file, NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR |
                            XML_PARSE_NOWARNING);
    if (!doc || !xmlDocGetRootElement(doc)) {
        const xmlError *e = xmlGetLastError();
        g_autofree char *why = g_strdup(e && e->message ? e->message : "?");
        g_set_error(error, HVD_XML_ERROR, HVD_XML_ERROR_PARSE,
                    _("%s is not well-formed: line %d: %s"), what,
                    e ? e->line : 0, g_strstrip(why));
        xmlFreeDoc(doc);
        return NULL;
    }
    if (!hvd_xml_is(xmlDocGetRootElement(doc), root)) {
        hvd_xml_invalid(error, _("the root element is <%s>, not <%s>"),
                        xmlDocGetRootElement(doc)->name, root);
        xmlFreeDoc(doc);
        return NULL;
    }
    return doc;
}

gboolean
hvd_xml_is(xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE &&
           g_strcmp0((const char *) n->name, name) == 0;
}

xmlNode *
hvd_xml_child(xmlNode *parent, const char *name)
{
    for (xmlNode *n = parent ? parent->children : NULL; n; n = n->next)
        if (hvd_xml_is(n, name))
            return n;
    return NULL;
}

char *
hvd_xml_text(xmlNode *n)
{
    xmlChar *t;
    char *out;

    if (!n)
        return NULL;
    t = xmlNodeGetContent(n);
    out = g_strdup((const char *) t);
    xmlFree(t);
    return out;
}

char *
hvd_xml_prop(xmlNode *n, const char *name)
{
    xmlChar *v = n ? xmlGetProp(n, (const xmlChar *) name) : NULL;
    char *out = g_strdup((const char *) v);
    xmlFree(v);
    return out;
}

gboolean
hvd_xml_creation_time(xmlNode *root, gint64 *out, GError **error)
{
    g_autofree char *created =
        hvd_xml_text(hvd_xml_child(root, "creationTime"));
    guint64 v;

    if (!created)
        return TRUE;
    if (!g_ascii_string_to_unsigned(created, 10, 0, G_MAXINT64, &v, NULL))
        return hvd_xml_invalid(error,
                               _("creationTime '%s' is not a number of "
                                 "seconds"),
                               created);
    *out = v;
    return TRUE;
}
