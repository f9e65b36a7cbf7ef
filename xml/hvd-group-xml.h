/*
 * hvd-group-xml.h: the VM group a checkpoint or snapshot belongs to, in
 * the project's own namespace inside <domain><metadata>, the one place
 * libvirt's schemas take foreign content:
 *
 *   <domain ...><metadata>
 *     <vg:group xmlns:vg="urn:virthypervd:group:1" name="G" id="GUID"
 *               point="GUID"/>
 *   </metadata></domain>
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define HVD_GROUP_NS "urn:virthypervd:group:1"

typedef struct _HvdGroupRef {
    char *name;  /* the group's name (ElementName) */
    char *id;    /* its CollectionID; NULL when asked for by name */
    char *point; /* the group checkpoint or reference point; NULL: none */
} HvdGroupRef;

void hvd_group_ref_clear(HvdGroupRef *ref);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(HvdGroupRef, hvd_group_ref_clear)

/* The group a <domain> element names, if any: FALSE when none (or the
 * document is not a domain); an element without a name or id is an
 * error. */
gboolean hvd_group_ref_get(const char *domain_xml, HvdGroupRef *ref,
                           GError **error);
/* ref's element under a <metadata> element */
typedef struct _xmlNode xmlNode;
void hvd_group_ref_add(xmlNode *metadata, const HvdGroupRef *ref);
/* domain_xml with its group element replaced by ref's */
char *hvd_group_ref_set(const char *domain_xml, const HvdGroupRef *ref);

G_END_DECLS
