/*
 * hvd-group-xml.c: the VM group element inside <domain><metadata>
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <libxml/parser.h>
#include <string.h>

#include "hvd-domain-xml.h"
#include "hvd-group-xml.h"
#include "hvd-xml.h"

void
hvd_group_ref_clear(HvdGroupRef *ref)
{
    g_clear_pointer(&ref->name, g_free);
    g_clear_pointer(&ref->id, g_free);
    g_clear_pointer(&ref->point, g_free);
}

static xmlDoc *
read_domain(const char *domain_xml)
{
    return domain_xml
               ? xmlReadMemory(domain_xml, strlen(domain_xml), "domain.xml",
                               NULL,
                               XML_PARSE_NONET | XML_PARSE_NOERROR |
                                   XML_PARSE_NOWARNING | XML_PARSE_NOBLANKS)
               : NULL;
}

/* The group element under <metadata>, or NULL */
static xmlNode *
find_group(xmlNode *domain)
{
    xmlNode *meta = hvd_xml_child(domain, "metadata");

    for (xmlNode *n = meta ? meta->children : NULL; n; n = n->next)
        if (hvd_xml_is(n, "group") && n->ns &&
            g_strcmp0((const char *) n->ns->href, HVD_GROUP_NS) == 0)
            return n;
    return NULL;
}

gboolean
hvd_group_ref_get(const char *domain_xml, HvdGroupRef *ref, GError **error)
{
    xmlDoc *doc = read_domain(domain_xml);
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    xmlNode *n = root && hvd_xml_is(root, "domain") ? find_group(root) : NULL;
    gboolean found = n != NULL;

    if (n) {
        ref->name = hvd_xml_prop(n, "name");
        ref->id = hvd_xml_prop(n, "id");
        ref->point = hvd_xml_prop(n, "point");
        if (!ref->name && !ref->id) {
            hvd_xml_invalid(error,
                            _("the group element (%s) names no group: give "
                              "name= or id="),
                            HVD_GROUP_NS);
            hvd_group_ref_clear(ref);
            found = FALSE;
        }
    }
    xmlFreeDoc(doc);
    return found;
}

void
hvd_group_ref_add(xmlNode *metadata, const HvdGroupRef *ref)
{
    xmlNode *n = xmlNewChild(metadata, NULL, (const xmlChar *) "group", NULL);
    xmlNs *ns =
        xmlNewNs(n, (const xmlChar *) HVD_GROUP_NS, (const xmlChar *) "vg");

    xmlSetNs(n, ns);
    if (ref->name)
        hvd_xml_attr(n, "name", ref->name);
    if (ref->id)
        hvd_xml_attr(n, "id", ref->id);
    if (ref->point)
        hvd_xml_attr(n, "point", ref->point);
}

char *
hvd_group_ref_set(const char *domain_xml, const HvdGroupRef *ref)
{
    xmlDoc *doc = read_domain(domain_xml);
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    xmlNode *meta, *old;
    char *out;

    if (!root) {
        xmlFreeDoc(doc);
        return g_strdup(domain_xml);
    }
    if ((old = find_group(root))) {
        xmlUnlinkNode(old);
        xmlFreeNode(old);
    }
    meta = hvd_xml_child(root, "metadata");
    if (!meta)
        meta = hvd_xml_add(root, "metadata", NULL);
    hvd_group_ref_add(meta, ref);
    out = hvd_xml_node_to_string(root);
    xmlFreeDoc(doc);
    return out;
}
