/*
 * fuzz-soap.c: the SOAP reply parser, instances, typed objects, CIM-XML
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "wsman.h"

static void
exercise_instance(xmlNode *node)
{
    WmiObject *obj = wsman_parse_instance(node);
    const WmiClassDef *klass = wmi_class_lookup(obj->class_name);

    for (guint i = 0; i < obj->names->len; i++) {
        const char *text = wmi_object_text(obj, obj->names->pdata[i]);
        GTimeSpan span;
        GDateTime *dt;
        if (!text)
            continue;
        dt = wmi_parse_datetime(text);
        if (dt)
            g_date_time_unref(dt);
        wmi_parse_interval(text, &span);
        if (strstr(text, "INSTANCE")) {
            WmiObject *inner = wmi_object_from_cimxml(text, NULL);
            if (inner) {
                char *again = wmi_object_to_cimxml(inner);
                g_free(again);
                wmi_object_free(inner);
            }
        }
    }
    if (klass)
        wmi_typed_free(wmi_typed_new(klass, obj, NULL));
    else
        wmi_object_free(obj);
}

static void
walk(xmlNode *node, int depth)
{
    for (xmlNode *n = node->children; n && depth < 6; n = n->next) {
        WmiEpr *epr = NULL;
        if (n->type != XML_ELEMENT_NODE)
            continue;
        exercise_instance(n);
        if (wsman_parse_epr(n, &epr))
            wmi_epr_free(epr);
        walk(n, depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xmlDoc *doc = wsman_parse_envelope((const char *) data, size, "fuzz", NULL);

    if (doc) {
        walk(wsman_body(doc), 0);
        xmlFreeDoc(doc);
    }
    return 0;
}

#ifndef FUZZING_ENGINE
#include "fuzz-main.h"
#endif
