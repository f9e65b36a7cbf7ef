/*
 * sim-server.c: hypervsim's WS-Management endpoint (/wsman), as WinRM's
 * WMI plug-in answers (reference §9)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <libxml/parser.h>
#include <string.h>

#include "sim-server.h"
#include "wsman-gss.h"
#include "wsman.h"

#define MAX_REQUEST (512 * 1024)
#define SOAP_TYPE   "application/soap+xml;charset=UTF-8"
/* the security context of a connection (on its socket), and the one a
 * request came sealed in with its opened body (on the message) */
#define CONN_GSS         "hypervsim-gss"
#define MSG_GSS          "hypervsim-sealed-by"
#define MSG_BODY         "hypervsim-clear-body"
#define CONTEXT_IDLE_US  (60 * G_USEC_PER_SEC) /* EnumerationTimeoutms */
#define FAULT_NOT_FOUND  2150858752u           /* 0x80338000 */
#define FAULT_BAD_FILTER 2150858885u           /* 0x80338085 */

typedef struct {
    GPtrArray *items; /* WmiObject, still to send */
    gboolean epr_mode;
    gint64 last_used;
} EnumContext;

typedef enum {
    HTTP_FAULT_DROP,      /* close the connection without an answer */
    HTTP_FAULT_500,       /* status 500 with a body that is not SOAP */
    HTTP_FAULT_MALFORMED, /* status 200 with XML cut short */
    HTTP_FAULT_DELAY,     /* the answer, late */
} HttpFaultKind;

/* An injected fault, for the next request that matches */
typedef struct {
    HttpFaultKind kind;
    char *action;   /* Enumerate, Pull, Get, Invoke, or NULL for any */
    char *cls;      /* the resource's class, or NULL for any */
    char *method;   /* of an Invoke, or NULL for any */
    gboolean after; /* the request is carried out, its answer lost */
    guint delay_ms; /* of a delay */
} HttpFault;

static void
http_fault_free(HttpFault *f)
{
    g_free(f->action);
    g_free(f->cls);
    g_free(f->method);
    g_free(f);
}

struct _SimServer {
    SimHost *host;
    GQueue http_faults; /* HttpFault, in the order they were asked for */
    guint latency_ms;
    SoupServer *soup;
    char *basic_auth;        /* "Basic <base64>", or NULL for none */
    gboolean basic;          /* accepted on /wsman */
    gboolean negotiate;      /* NTLM and Kerberos, through GSS-API */
    gboolean require_sealed; /* AllowUnencrypted = false */
    char *keytab;            /* the host's Kerberos keys, or NULL */
    GHashTable *contexts;
    GHashTable *counters;
    guint64 requests;
};

static void
context_free(EnumContext *c)
{
    g_ptr_array_unref(c->items);
    g_free(c);
}

/* Replies */

typedef struct {
    xmlDoc *doc;
    xmlNode *header;
    xmlNode *body;
    xmlNs *s, *a, *w, *n;
} Reply;

static void
reply_init(Reply *r, const char *action, const char *relates_to)
{
    xmlNode *env;
    g_autofree char *uuid = g_uuid_string_random();
    g_autofree char *id = g_strconcat("uuid:", uuid, NULL);

    r->doc = xmlNewDoc((const xmlChar *) "1.0");
    env = xmlNewNode(NULL, (const xmlChar *) "Envelope");
    xmlDocSetRootElement(r->doc, env);
    r->s =
        xmlNewNs(env, (const xmlChar *) WSMAN_NS_SOAP, (const xmlChar *) "s");
    r->a =
        xmlNewNs(env, (const xmlChar *) WSMAN_NS_ADDR, (const xmlChar *) "a");
    r->n =
        xmlNewNs(env, (const xmlChar *) WSMAN_NS_ENUM, (const xmlChar *) "n");
    r->w =
        xmlNewNs(env, (const xmlChar *) WSMAN_NS_WSMAN, (const xmlChar *) "w");
    xmlSetNs(env, r->s);
    xmlNodeSetLang(env, (const xmlChar *) "en-US");
    r->header = wsman_add(env, r->s, "Header", NULL);
    r->body = wsman_add(env, r->s, "Body", NULL);
    /* Windows' order: Action, MessageID, To, RelatesTo */
    wsman_add(r->header, r->a, "Action", action);
    wsman_add(r->header, r->a, "MessageID", id);
    wsman_add(r->header, r->a, "To", WSMAN_ANONYMOUS);
    if (relates_to)
        wsman_add(r->header, r->a, "RelatesTo", relates_to);
}

/* The answer, sealed in the security context the request came sealed
 * in, as WinRM answers */
static void
respond(SoupServerMessage *msg, guint status, const char *data, gsize len)
{
    WsmanGss *gss = g_object_get_data(G_OBJECT(msg), MSG_GSS);
    g_autoptr(GBytes) sealed = NULL;
    g_autofree char *type = NULL;
    g_autoptr(GError) err = NULL;

    soup_server_message_set_status(msg, status, NULL);
    if (gss && !(sealed = wsman_gss_seal(gss, data, len, &type, &err))) {
        g_warning("hypervsim: %s", err->message);
        soup_server_message_set_status(msg, 500, NULL);
        return;
    }
    if (sealed)
        soup_server_message_set_response(msg, type, SOUP_MEMORY_COPY,
                                         g_bytes_get_data(sealed, NULL),
                                         g_bytes_get_size(sealed));
    else
        soup_server_message_set_response(msg, SOAP_TYPE, SOUP_MEMORY_COPY, data,
                                         len);
}

static void
reply_send(SoupServerMessage *msg, Reply *r, guint status)
{
    xmlChar *out = NULL;
    int len = 0;

    /* the envelope alone: Windows sends no <?xml?> prolog */
    {
        xmlBuffer *buf = xmlBufferCreate();
        xmlNodeDump(buf, r->doc, xmlDocGetRootElement(r->doc), 0, 0);
        len = xmlBufferLength(buf);
        out = xmlStrndup(xmlBufferContent(buf), len);
        xmlBufferFree(buf);
    }
    xmlFreeDoc(r->doc);
    respond(msg, status, (const char *) out, (gsize) len);
    xmlFree(out);
}

static xmlNode *
add_wsman_fault(SimServer *srv, xmlNode *parent, guint32 wincode)
{
    xmlNode *wf = wsman_add(parent, NULL, "WSManFault", NULL);
    xmlNs *f =
        xmlNewNs(wf, (const xmlChar *) WSMAN_NS_FAULT, (const xmlChar *) "f");
    char num[16];

    xmlSetNs(wf, f);
    g_snprintf(num, sizeof(num), "%u", wincode);
    xmlNewProp(wf, (const xmlChar *) "Code", (const xmlChar *) num);
    xmlNewProp(wf, (const xmlChar *) "Machine",
               (const xmlChar *) srv->host->name);
    return wf;
}

static void send_fault_from(SimServer *srv, SoupServerMessage *msg,
                            const char *relates_to, const char *code,
                            const char *subcode, guint32 wincode,
                            const char *text, const char *provider);

/* A fault the way Windows shapes it: Code/Subcode, Reason, WSManFault. */
static void
send_fault(SimServer *srv, SoupServerMessage *msg, const char *relates_to,
           const char *code, const char *subcode, guint32 wincode,
           const char *text)
{
    send_fault_from(srv, msg, relates_to, code, subcode, wincode, text, NULL);
}

/* An object that is not there, as Windows answers it (microsoft/omi issue
 * 254): a:DestinationUnreachable, its WSManFault holding the WMI
 * provider's own */
static void
send_not_found(SimServer *srv, SoupServerMessage *msg, const char *relates_to)
{
    send_fault_from(srv, msg, relates_to, "s:Sender",
                    "a:DestinationUnreachable", FAULT_NOT_FOUND,
                    "The WS-Management service cannot process the request. "
                    "The service cannot find the resource identified by the "
                    "resource URI and selectors. ",
                    "WMI Provider");
}

static void
send_fault_from(SimServer *srv, SoupServerMessage *msg, const char *relates_to,
                const char *code, const char *subcode, guint32 wincode,
                const char *text, const char *provider)
{
    Reply r;
    xmlNode *fault, *c, *sub, *reason, *t, *detail, *wf;

    /* an addressing fault comes with the addressing fault action */
    reply_init(&r,
               g_str_has_prefix(subcode, "a:")
                   ? "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault"
                   : "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault",
               relates_to);
    fault = wsman_add(r.body, r.s, "Fault", NULL);
    c = wsman_add(fault, r.s, "Code", NULL);
    wsman_add(c, r.s, "Value", code);
    sub = wsman_add(c, r.s, "Subcode", NULL);
    wsman_add(sub, r.s, "Value", subcode);
    reason = wsman_add(fault, r.s, "Reason", NULL);
    t = wsman_add(reason, r.s, "Text", text);
    xmlNodeSetLang(t, (const xmlChar *) "en-US");
    detail = wsman_add(fault, r.s, "Detail", NULL);
    wf = add_wsman_fault(srv, detail, wincode);
    if (provider) {
        xmlNode *m = wsman_add(wf, wf->ns, "Message", NULL);
        xmlNode *pf = wsman_add(m, wf->ns, "ProviderFault", NULL);
        xmlNode *inner;
        xmlNewProp(pf, (const xmlChar *) "provider",
                   (const xmlChar *) provider);
        xmlNewProp(pf, (const xmlChar *) "path",
                   (const xmlChar *) "%systemroot%\\system32\\WsmWmiPl.dll");
        inner = add_wsman_fault(srv, pf, wincode);
        wsman_add(inner, inner->ns, "Message", text);
    } else {
        wsman_add(wf, wf->ns, "Message", text);
    }
    reply_send(msg, &r, 500);
}

/* Instances: the class's resource URI as namespace, properties sorted,
 * nil as xsi:nil, dates in cim:Datetime, intervals in cim:Interval. */
static gint
compare_names(gconstpointer a, gconstpointer b)
{
    return g_ascii_strcasecmp(*(char *const *) a, *(char *const *) b);
}

static xmlNode *
render_object(Reply *r, xmlNode *parent, const WmiObject *obj,
              const char *element, const char *ns_uri, gboolean typed)
{
    xmlNode *node = wsman_add(parent, NULL, element, NULL);
    xmlNs *p = xmlNewNs(node, (const xmlChar *) ns_uri, (const xmlChar *) "p");
    xmlNs *cim =
        xmlNewNs(node, (const xmlChar *) WSMAN_NS_CIM, (const xmlChar *) "cim");
    xmlNs *xsi =
        xmlNewNs(node, (const xmlChar *) WSMAN_NS_XSI, (const xmlChar *) "xsi");
    g_autoptr(GPtrArray) names = g_ptr_array_sized_new(obj->names->len);

    const WmiClassDef *k = typed ? wmi_class_lookup(obj->class_name) : NULL;

    for (guint i = 0; i < obj->names->len; i++)
        g_ptr_array_add(names, obj->names->pdata[i]); /* borrowed */
    /* Windows sends every property of the class, a null one as xsi:nil */
    for (guint i = 0; k && i < k->n_props; i++)
        if (!wmi_object_values(obj, k->props[i].name))
            g_ptr_array_add(names, (gpointer) k->props[i].name);
    xmlSetNs(node, p);
    if (typed) {
        g_autofree char *type = g_strconcat("p:", element, "_Type", NULL);
        xmlNewNsProp(node, xsi, (const xmlChar *) "type",
                     (const xmlChar *) type);
    }
    g_ptr_array_sort(names, compare_names);
    for (guint i = 0; i < names->len; i++) {
        GPtrArray *values = wmi_object_values(obj, names->pdata[i]);
        if (!values) {
            xmlNewNsProp(wsman_add(node, p, names->pdata[i], NULL), xsi,
                         (const xmlChar *) "nil", (const xmlChar *) "true");
            continue;
        }
        for (guint n = 0; n < values->len; n++) {
            WmiValue *v = values->pdata[n];
            xmlNode *prop = wsman_add(node, p, names->pdata[i], NULL);
            switch (v->kind) {
            case WMI_VALUE_NIL:
                xmlNewNsProp(prop, xsi, (const xmlChar *) "nil",
                             (const xmlChar *) "true");
                break;
            case WMI_VALUE_TEXT:
                xmlNodeAddContent(prop, (const xmlChar *) v->text);
                break;
            case WMI_VALUE_DATETIME:
                wsman_add(prop, cim, "Datetime", v->text);
                break;
            case WMI_VALUE_INTERVAL:
                wsman_add(prop, cim, "Interval", v->text);
                break;
            case WMI_VALUE_EPR:
                wsman_add_epr(prop, r->a, r->w, v->epr);
                break;
            }
        }
    }
    return node;
}

static void
render_instance(Reply *r, xmlNode *parent, const WmiObject *obj)
{
    g_autofree char *uri = g_strconcat(wsman_namespace_uri(obj->class_name),
                                       obj->class_name, NULL);
    render_object(r, parent, obj, obj->class_name, uri, TRUE);
}

/* Requests */

typedef struct {
    xmlDoc *doc;
    const char *action;
    const char *resource_uri;
    char *message_id;
    WmiEpr *selectors;
    xmlNode *header;
    xmlNode *body;
} Request;

static const char *
class_of_uri(const char *uri)
{
    const char *slash = uri ? strrchr(uri, '/') : NULL;
    return slash ? slash + 1 : "";
}

static void
count(SimServer *srv, const char *what, const char *cls)
{
    g_autofree char *key = g_strdup_printf("%s %s", what, cls);
    gpointer n = g_hash_table_lookup(srv->counters, key);
    g_hash_table_replace(srv->counters, g_steal_pointer(&key),
                         GUINT_TO_POINTER(GPOINTER_TO_UINT(n) + 1));
    srv->requests++;
}

static guint
max_elements(xmlNode *node, const char *ns)
{
    g_autofree char *t = wsman_text(wsman_child(node, ns, "MaxElements"));
    guint64 v = 1;
    if (t)
        wmi_parse_unsigned(t, 32000, &v);
    return MAX(v, 1);
}

static void
take_items(SimServer *srv, Reply *r, xmlNode *items, EnumContext *ctx,
           guint max)
{
    guint n = 0;
    while (ctx->items->len && n < max) {
        WmiObject *o = ctx->items->pdata[0];
        if (ctx->epr_mode) {
            xmlNode *e = wsman_add(items, r->a, "EndpointReference", NULL);
            WmiEpr *epr = sim_host_epr_of(srv->host, o);
            wsman_add_epr(e, r->a, r->w, epr);
            wmi_epr_free(epr);
        } else {
            render_instance(r, items, o);
        }
        g_ptr_array_remove_index(ctx->items, 0);
        n++;
    }
}

static char *
register_context(SimServer *srv, EnumContext *ctx)
{
    g_autofree char *uuid = g_uuid_string_random();
    char *id = g_strconcat("uuid:", uuid, NULL);
    ctx->last_used = g_get_monotonic_time();
    g_hash_table_insert(srv->contexts, g_strdup(id), ctx);
    return id;
}

static void
expire_contexts(SimServer *srv)
{
    GHashTableIter it;
    gpointer v;
    gint64 now = g_get_monotonic_time();

    g_hash_table_iter_init(&it, srv->contexts);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (now - ((EnumContext *) v)->last_used > CONTEXT_IDLE_US)
            g_hash_table_iter_remove(&it);
}

static void
handle_enumerate(SimServer *srv, SoupServerMessage *msg, Request *q)
{
    xmlNode *en = wsman_child(q->body, WSMAN_NS_ENUM, "Enumerate");
    xmlNode *filter = wsman_child(en, WSMAN_NS_WSMAN, "Filter");
    g_autofree char *mode =
        wsman_text(wsman_child(en, WSMAN_NS_WSMAN, "EnumerationMode"));
    g_autofree char *wql = wsman_text(filter);
    g_autofree char *dialect = NULL;
    g_autoptr(WqlQuery) query = NULL;
    GError *err = NULL;
    EnumContext *ctx;
    Reply r;
    xmlNode *resp, *context;
    char *id;

    if (!filter)
        filter = wsman_child(en, WSMAN_NS_ENUM, "Filter");
    if (filter && !wql)
        wql = wsman_text(filter);
    if (filter) {
        xmlChar *d = xmlGetProp(filter, (const xmlChar *) "Dialect");
        dialect = d ? g_strdup((const char *) d) : NULL;
        xmlFree(d);
    }
    if (!wql || g_strcmp0(dialect, WSMAN_DIALECT_WQL) != 0) {
        send_fault(srv, msg, q->message_id, "s:Sender", "w:CannotProcessFilter",
                   FAULT_BAD_FILTER,
                   "The WS-Management service cannot process the request "
                   "because the filter is missing or its dialect is not "
                   "supported.");
        return;
    }
    /* WinRM's WMI plug-in takes WQL only on the namespace's wildcard URI */
    if (g_strcmp0(q->resource_uri, WSMAN_URI_V2 "*") != 0 &&
        g_strcmp0(q->resource_uri, WSMAN_URI_CIMV2 "*") != 0) {
        send_fault(srv, msg, q->message_id, "s:Sender", "w:InvalidParameter",
                   2150858770u,
                   "The WS-Management service cannot process the request. "
                   "The resource URI must not contain keys and the class "
                   "name must be * when a filter is used.");
        return;
    }
    query = wql_parse(wql, &err);
    ctx = g_new0(EnumContext, 1);
    ctx->epr_mode = g_strcmp0(mode, "EnumerateEPR") == 0;
    if (query && !query->associators &&
        !g_str_has_prefix(q->resource_uri,
                          wsman_namespace_uri(query->class_name)))
        g_set_error(&err, SIM_ERROR, SIM_ERROR_QUERY, "invalid class: %s",
                    query->class_name);
    else if (query)
        ctx->items = sim_host_query(srv->host, query, &err);
    if (!ctx->items) {
        g_free(ctx);
        send_fault(srv, msg, q->message_id, "s:Sender",
                   err->code == SIM_ERROR_NOT_FOUND ? "w:InvalidSelectors"
                                                    : "w:CannotProcessFilter",
                   err->code == SIM_ERROR_NOT_FOUND ? FAULT_NOT_FOUND
                                                    : FAULT_BAD_FILTER,
                   err->message);
        g_error_free(err);
        return;
    }
    count(srv, "Enumerate",
          query->associators ? (query->result_class ? query->result_class : "*")
                             : query->class_name);

    reply_init(&r, WSMAN_NS_ENUM "/EnumerateResponse", q->message_id);
    resp = wsman_add(r.body, r.n, "EnumerateResponse", NULL);
    id = register_context(srv, ctx);
    context = wsman_add(resp, r.n, "EnumerationContext", id);
    if (wsman_child(en, WSMAN_NS_WSMAN, "OptimizeEnumeration")) {
        xmlNode *items = wsman_add(resp, r.w, "Items", NULL);
        take_items(srv, &r, items, ctx, max_elements(en, WSMAN_NS_WSMAN));
        if (!ctx->items->len) {
            /* all in one page: as Windows, an empty context and the end */
            xmlNodeSetContent(context, NULL);
            wsman_add(resp, r.w, "EndOfSequence", NULL);
            g_hash_table_remove(srv->contexts, id);
        }
    }
    g_free(id);
    reply_send(msg, &r, 200);
}

static void
send_invalid_context(SimServer *srv, SoupServerMessage *msg, Request *q)
{
    send_fault(srv, msg, q->message_id, "s:Sender",
               "n:InvalidEnumerationContext", 2150858775u,
               "The WS-Management service cannot process the request because "
               "the enumeration context is not valid or has expired.");
}

static void
handle_pull(SimServer *srv, SoupServerMessage *msg, Request *q)
{
    xmlNode *pull = wsman_child(q->body, WSMAN_NS_ENUM, "Pull");
    g_autofree char *id =
        wsman_text(wsman_child(pull, WSMAN_NS_ENUM, "EnumerationContext"));
    EnumContext *ctx = id ? g_hash_table_lookup(srv->contexts, id) : NULL;
    gpointer key = NULL;
    Reply r;
    xmlNode *resp, *items;

    if (!ctx) {
        send_invalid_context(srv, msg, q);
        return;
    }
    count(srv, "Pull", class_of_uri(q->resource_uri));
    g_hash_table_steal_extended(srv->contexts, id, &key, NULL);
    g_free(key);
    reply_init(&r, WSMAN_NS_ENUM "/PullResponse", q->message_id);
    resp = wsman_add(r.body, r.n, "PullResponse", NULL);
    items = wsman_add(resp, r.n, "Items", NULL);
    take_items(srv, &r, items, ctx, max_elements(pull, WSMAN_NS_ENUM));
    if (ctx->items->len) {
        /* a fresh context for every Pull, as Windows does */
        g_autofree char *next = register_context(srv, ctx);
        xmlNode *c = xmlNewDocRawNode(
            r.doc, r.n, (const xmlChar *) "EnumerationContext", NULL);
        xmlNodeAddContent(c, (const xmlChar *) next);
        xmlAddPrevSibling(items, c);
    } else {
        wsman_add(resp, r.n, "EndOfSequence", NULL);
        context_free(ctx);
    }
    reply_send(msg, &r, 200);
}

static void
handle_release(SimServer *srv, SoupServerMessage *msg, Request *q)
{
    xmlNode *rel = wsman_child(q->body, WSMAN_NS_ENUM, "Release");
    g_autofree char *id =
        wsman_text(wsman_child(rel, WSMAN_NS_ENUM, "EnumerationContext"));
    Reply r;

    count(srv, "Release", class_of_uri(q->resource_uri));
    if (!id || !g_hash_table_remove(srv->contexts, id)) {
        send_invalid_context(srv, msg, q);
        return;
    }
    reply_init(&r, WSMAN_NS_ENUM "/ReleaseResponse", q->message_id);
    reply_send(msg, &r, 200);
}

static gboolean
known_class(SimServer *srv, SoupServerMessage *msg, Request *q, const char *cls)
{
    if (wmi_class_lookup(cls) &&
        g_str_has_prefix(q->resource_uri, wsman_namespace_uri(cls)))
        return TRUE;
    send_fault(srv, msg, q->message_id, "s:Sender", "w:DestinationUnreachable",
               2150858770u,
               "The WS-Management service cannot process the request because "
               "the resource URI is not valid.");
    return FALSE;
}

static WmiObject *
find_target(SimServer *srv, SoupServerMessage *msg, Request *q, const char *cls)
{
    GError *err = NULL;
    WmiObject *obj;

    if (!q->selectors || q->selectors->selector_names->len == 0) {
        send_fault(srv, msg, q->message_id, "s:Sender", "w:InvalidSelectors",
                   FAULT_NOT_FOUND,
                   "The WS-Management service cannot process the request "
                   "because the request contained invalid selectors for the "
                   "resource.");
        return NULL;
    }
    obj = sim_host_get(srv->host, cls, q->selectors, &err);
    if (!obj) {
        send_not_found(srv, msg, q->message_id);
        g_error_free(err);
    }
    return obj;
}

static void
handle_get(SimServer *srv, SoupServerMessage *msg, Request *q)
{
    const char *cls = class_of_uri(q->resource_uri);
    g_autoptr(WmiObject) obj = NULL;
    Reply r;

    if (!known_class(srv, msg, q, cls))
        return;
    count(srv, "Get", cls);
    obj = find_target(srv, msg, q, cls);
    if (!obj)
        return;
    reply_init(&r, WSMAN_NS_XFER "/GetResponse", q->message_id);
    render_instance(&r, r.body, obj);
    reply_send(msg, &r, 200);
}

static void
handle_invoke(SimServer *srv, SoupServerMessage *msg, Request *q,
              const char *method)
{
    const char *cls = class_of_uri(q->resource_uri);
    g_autofree char *input_name = g_strconcat(method, "_INPUT", NULL);
    g_autofree char *output_name = g_strconcat(method, "_OUTPUT", NULL);
    g_autofree char *response = g_strconcat(q->action, "Response", NULL);
    g_autofree char *counter = g_strconcat(cls, ".", method, NULL);
    g_autoptr(WmiObject) target = NULL;
    g_autoptr(WmiObject) in = NULL;
    g_autoptr(WmiObject) out = NULL;
    const WmiClassDef *klass = wmi_class_lookup(cls);
    xmlNode *input;
    GError *err = NULL;
    guint32 rv;
    char num[16];
    Reply r;

    if (!known_class(srv, msg, q, cls))
        return;
    count(srv, "Invoke", counter);
    if (!wmi_class_method(klass, method)) {
        send_fault(srv, msg, q->message_id, "s:Sender", "a:ActionNotSupported",
                   2150858801u,
                   "The WS-Management service cannot process the request "
                   "because the method is not valid for the resource.");
        return;
    }
    target = find_target(srv, msg, q, cls);
    if (!target)
        return;
    input = wsman_child(q->body, NULL, input_name);
    if (!input && q->body->children) {
        send_fault(srv, msg, q->message_id, "s:Sender",
                   "w:SchemaValidationError", 2150858817u,
                   "The SOAP XML in the message does not match the "
                   "corresponding XML schema definition.");
        return;
    }
    in = input ? wsman_parse_instance(input) : wmi_object_new(input_name);
    out = wmi_object_new(output_name);
    rv = sim_invoke(srv->host, target, method, in, out, &err);
    if (err) {
        send_fault(srv, msg, q->message_id, "s:Receiver", "w:InternalError",
                   2150859046u, err->message);
        g_error_free(err);
        return;
    }
    g_snprintf(num, sizeof(num), "%u", rv);
    wmi_object_add_text(out, "ReturnValue", num);
    reply_init(&r, response, q->message_id);
    render_object(&r, r.body, out, output_name, q->resource_uri, FALSE);
    reply_send(msg, &r, 200);
}

static gboolean
parse_request(const char *data, gsize len, Request *q)
{
    xmlNode *env, *header, *set;
    xmlChar *s;

    memset(q, 0, sizeof(*q));
    q->doc = xmlReadMemory(data, (int) len, NULL, NULL,
                           XML_PARSE_NONET | XML_PARSE_NOERROR |
                               XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
    env = q->doc ? xmlDocGetRootElement(q->doc) : NULL;
    header = q->header = wsman_child(env, WSMAN_NS_SOAP, "Header");
    q->body = wsman_child(env, WSMAN_NS_SOAP, "Body");
    if (!header || !q->body)
        return FALSE;
    s = xmlNodeGetContent(wsman_child(header, WSMAN_NS_ADDR, "Action"));
    q->action = (const char *) s;
    s = xmlNodeGetContent(wsman_child(header, WSMAN_NS_WSMAN, "ResourceURI"));
    q->resource_uri = (const char *) s;
    q->message_id = wsman_text(wsman_child(header, WSMAN_NS_ADDR, "MessageID"));
    set = wsman_child(header, WSMAN_NS_WSMAN, "SelectorSet");
    if (set) {
        q->selectors = wmi_epr_new(class_of_uri(q->resource_uri));
        for (xmlNode *n = set->children; n; n = n->next) {
            xmlChar *name;
            g_autofree char *value = NULL;
            if (n->type != XML_ELEMENT_NODE)
                continue;
            name = xmlGetProp(n, (const xmlChar *) "Name");
            value = wsman_text(n);
            if (name)
                wmi_epr_add_selector(q->selectors, (const char *) name, value);
            xmlFree(name);
        }
    }
    return q->action && q->resource_uri;
}

static void
request_clear(Request *q)
{
    xmlFree((xmlChar *) q->action);
    xmlFree((xmlChar *) q->resource_uri);
    g_free(q->message_id);
    wmi_epr_free(q->selectors);
    xmlFreeDoc(q->doc);
}

/* The request's verb as the control interface names it */
static const char *
request_verb(const Request *q, const char **method)
{
    *method = NULL;
    if (!q->action)
        return NULL;
    if (g_str_equal(q->action, WSMAN_NS_ENUM "/Enumerate"))
        return "Enumerate";
    if (g_str_equal(q->action, WSMAN_NS_ENUM "/Pull"))
        return "Pull";
    if (g_str_equal(q->action, WSMAN_NS_ENUM "/Release"))
        return "Release";
    if (g_str_equal(q->action, WSMAN_NS_XFER "/Get"))
        return "Get";
    if (q->resource_uri && g_str_has_prefix(q->action, q->resource_uri) &&
        q->action[strlen(q->resource_uri)] == '/') {
        *method = q->action + strlen(q->resource_uri) + 1;
        return "Invoke";
    }
    return NULL;
}

/* Takes the first fault queued for this request (q NULL: one that did
 * not parse), before or after it is carried out. */
static HttpFault *
take_fault(SimServer *srv, const Request *q, gboolean after)
{
    const char *method = NULL;
    const char *verb = q ? request_verb(q, &method) : NULL;
    const char *cls =
        q && q->resource_uri ? class_of_uri(q->resource_uri) : NULL;

    for (GList *l = srv->http_faults.head; l; l = l->next) {
        HttpFault *f = l->data;
        if (f->after != after || (f->action && g_strcmp0(f->action, verb)) ||
            (f->cls && g_strcmp0(f->cls, cls)) ||
            (f->method && g_strcmp0(f->method, method)))
            continue;
        g_queue_delete_link(&srv->http_faults, l);
        return f;
    }
    return NULL;
}

/* Answers with the fault instead of whatever the answer was. */
static void
send_injected(SoupServerMessage *msg, HttpFault *f)
{
    static const char broken[] =
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\">"
        "<s:Body><n:EnumerateRes";
    static const char html[] =
        "<html><body><h1>Internal Server Error</h1></body></html>";

    switch (f->kind) {
    case HTTP_FAULT_DROP: {
        GIOStream *io = soup_server_message_steal_connection(msg);
        g_io_stream_close(io, NULL, NULL);
        g_object_unref(io);
        break;
    }
    case HTTP_FAULT_500:
        soup_server_message_set_status(msg, 500, NULL);
        soup_server_message_set_response(msg, "text/html", SOUP_MEMORY_STATIC,
                                         html, strlen(html));
        break;
    default:
        respond(msg, 200, broken, strlen(broken));
        break;
    }
    http_fault_free(f);
}

gboolean
sim_server_inject(SimServer *srv, const char *kind, guint count,
                  const char *action, const char *cls, const char *method,
                  gboolean after, guint delay_ms, GError **error)
{
    static const char *const names[] = { "drop", "500", "malformed", "delay" };

    for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
        if (g_strcmp0(kind, names[i]) != 0)
            continue;
        for (guint n = 0; n < MAX(count, 1); n++) {
            HttpFault *f = g_new0(HttpFault, 1);
            f->kind = i;
            f->action = g_strdup(action);
            f->cls = g_strdup(cls);
            f->method = g_strdup(method);
            f->after = after;
            f->delay_ms = delay_ms;
            g_queue_push_tail(&srv->http_faults, f);
        }
        return TRUE;
    }
    g_set_error(error, SIM_ERROR, SIM_ERROR_INVALID,
                _("'fault' is one of drop, 500, malformed, delay"));
    return FALSE;
}

void
sim_server_clear_faults(SimServer *srv)
{
    g_queue_clear_full(&srv->http_faults, (GDestroyNotify) http_fault_free);
}

void
sim_server_set_latency(SimServer *srv, guint ms)
{
    srv->latency_ms = ms;
}

/* A request whose answer a delay fault holds back */
typedef struct {
    SimServer *srv;
    SoupServerMessage *msg;
} Delayed;

static void serve_wsman(SimServer *srv, SoupServerMessage *msg,
                        gboolean delayed);

/* msg answered by serve after ms, other requests served meanwhile */
static void
serve_after(SimServer *srv, SoupServerMessage *msg, guint ms, GSourceFunc serve)
{
    Delayed *later = g_new0(Delayed, 1);

    later->srv = srv;
    later->msg = g_object_ref(msg);
    soup_server_message_pause(msg);
    g_timeout_add_full(G_PRIORITY_DEFAULT, ms, serve, later, g_free);
}

/* The answer after the injected latency: requests wait side by side, as
 * a host's do, not one after the other */
static gboolean
serve_late(gpointer data)
{
    Delayed *later = data;

    soup_server_message_unpause(later->msg);
    serve_wsman(later->srv, later->msg, FALSE);
    g_object_unref(later->msg);
    return G_SOURCE_REMOVE;
}

static gboolean
serve_delayed(gpointer data)
{
    Delayed *later = data;

    serve_wsman(later->srv, later->msg, TRUE);
    soup_server_message_unpause(later->msg);
    g_object_unref(later->msg);
    return G_SOURCE_REMOVE;
}

/* Headers WinRM refuses before anything else (MS-WSMV 3.1.4.1.7, 8): a
 * MaxEnvelopeSize below 8192, a Locale it must understand; TRUE when
 * answered */
static gboolean
refused_header(SimServer *srv, SoupServerMessage *msg, Request *q)
{
    xmlNode *max = wsman_child(q->header, WSMAN_NS_WSMAN, "MaxEnvelopeSize");
    xmlNode *locale = wsman_child(q->header, WSMAN_NS_WSMAN, "Locale");
    g_autofree char *size = wsman_text(max);
    xmlChar *must =
        locale ? xmlGetNsProp(locale, (const xmlChar *) "mustUnderstand",
                              (const xmlChar *) WSMAN_NS_SOAP)
               : NULL;
    gboolean must_understand =
        must && (g_str_equal((const char *) must, "true") ||
                 g_str_equal((const char *) must, "1"));
    guint64 n;

    xmlFree(must);
    if (size && (!wmi_parse_unsigned(size, G_MAXUINT32, &n) || n < 8192)) {
        send_fault(srv, msg, q->message_id, "s:Sender", "w:EncodingLimit",
                   2150858805u,
                   "The WS-Management service cannot process the request "
                   "because the encoding of the request exceeds an internal "
                   "encoding limit. Reconfigure the client to send messages "
                   "which fit the encoding limits of the service.");
        return TRUE;
    }
    if (must_understand) {
        send_fault(srv, msg, q->message_id, "s:Sender", "w:UnsupportedFeature",
                   2150858818u,
                   "The WS-Management service does not support the "
                   "specified feature. Remove the unsupported feature from "
                   "the request and retry.");
        return TRUE;
    }
    return FALSE;
}

/* Parses and answers a request to /wsman; delayed: the delay fault it
 * matched has run its course. */
static void
serve_wsman(SimServer *srv, SoupServerMessage *msg, gboolean delayed)
{
    SoupMessageBody *body = soup_server_message_get_request_body(msg);
    GBytes *clear = g_object_get_data(G_OBJECT(msg), MSG_BODY);
    HttpFault *fault;
    gboolean parsed;
    Request q;

    g_mutex_lock(&srv->host->lock);
    parsed = clear ? parse_request(g_bytes_get_data(clear, NULL),
                                   g_bytes_get_size(clear), &q)
                   : parse_request(body->data, (gsize) body->length, &q);
    fault = delayed ? NULL : take_fault(srv, parsed ? &q : NULL, FALSE);
    if (fault && fault->kind == HTTP_FAULT_DELAY) {
        serve_after(srv, msg, fault->delay_ms, serve_delayed);
        http_fault_free(fault);
        g_mutex_unlock(&srv->host->lock);
        request_clear(&q);
        return;
    }
    if (fault) {
        send_injected(msg, fault);
        g_mutex_unlock(&srv->host->lock);
        request_clear(&q);
        return;
    }
    expire_contexts(srv);
    if (!parsed) {
        send_fault(srv, msg, NULL, "s:Sender", "w:SchemaValidationError",
                   2150858817u,
                   "The SOAP XML in the message does not match the "
                   "corresponding XML schema definition.");
    } else if (refused_header(srv, msg, &q)) {
        /* answered */
    } else if (g_str_equal(q.action, WSMAN_NS_ENUM "/Enumerate")) {
        handle_enumerate(srv, msg, &q);
    } else if (g_str_equal(q.action, WSMAN_NS_ENUM "/Pull")) {
        handle_pull(srv, msg, &q);
    } else if (g_str_equal(q.action, WSMAN_NS_ENUM "/Release")) {
        handle_release(srv, msg, &q);
    } else if (g_str_equal(q.action, WSMAN_NS_XFER "/Get")) {
        handle_get(srv, msg, &q);
    } else if (g_str_has_prefix(q.action, q.resource_uri) &&
               q.action[strlen(q.resource_uri)] == '/') {
        handle_invoke(srv, msg, &q, q.action + strlen(q.resource_uri) + 1);
    } else {
        send_fault(srv, msg, q.message_id, "s:Sender", "a:ActionNotSupported",
                   2150858801u, "The action is not supported by the service.");
    }
    /* done on the host, but the answer is lost on the way */
    fault = parsed ? take_fault(srv, &q, TRUE) : NULL;
    if (fault)
        send_injected(msg, fault);
    g_mutex_unlock(&srv->host->lock);
    request_clear(&q);
}

/* A request to /control without the credentials (401) or not a POST
 * (405); TRUE when answered. */
static gboolean
refused(SimServer *srv, SoupServerMessage *msg)
{
    const char *auth = soup_message_headers_get_one(
        soup_server_message_get_request_headers(msg), "Authorization");
    SoupMessageHeaders *rh = soup_server_message_get_response_headers(msg);

    if (srv->basic_auth && g_strcmp0(auth, srv->basic_auth) != 0) {
        soup_message_headers_append(rh, "WWW-Authenticate",
                                    "Basic realm=\"hypervsim\"");
        soup_server_message_set_status(msg, 401, NULL);
        return TRUE;
    }
    if (g_strcmp0(soup_server_message_get_method(msg), "POST") != 0) {
        soup_server_message_set_status(msg, 405, NULL);
        return TRUE;
    }
    return FALSE;
}

static gboolean
over_tls(SoupServerMessage *msg)
{
    return g_strcmp0(g_uri_get_scheme(soup_server_message_get_uri(msg)),
                     "https") == 0;
}

static void
challenge(SimServer *srv, SoupServerMessage *msg, const char *token_b64)
{
    SoupMessageHeaders *rh = soup_server_message_get_response_headers(msg);
    g_autofree char *nego =
        token_b64 ? g_strconcat("Negotiate ", token_b64, NULL) : NULL;

    if (srv->negotiate)
        soup_message_headers_append(rh, "WWW-Authenticate",
                                    nego ? nego : "Negotiate");
    /* AllowUnencrypted = false: Basic is not offered outside TLS */
    if (srv->basic && !token_b64 && !(srv->require_sealed && !over_tls(msg)))
        soup_message_headers_append(rh, "WWW-Authenticate",
                                    "Basic realm=\"WSMAN\"");
    soup_server_message_set_status(msg, 401, NULL);
}

/* One leg of Negotiate on the connection's own context: 401 with the
 * next token, or, once established, 200 to a request without a body */
static gboolean
negotiate(SimServer *srv, SoupServerMessage *msg, const char *b64)
{
    GSocket *sock = soup_server_message_get_socket(msg);
    WsmanGss *gss = g_object_get_data(G_OBJECT(sock), CONN_GSS);
    g_autoptr(GError) err = NULL;
    g_autoptr(GBytes) in = NULL, out = NULL;
    g_autofree char *out_b64 = NULL;
    gsize len = 0;
    guchar *raw;

    /* a new exchange on a connection starts a new context */
    if (!gss || wsman_gss_established(gss)) {
        gss = wsman_gss_acceptor(srv->keytab, &err);
        if (!gss) {
            g_warning("hypervsim: %s", err->message);
            soup_server_message_set_status(msg, 500, NULL);
            return FALSE;
        }
        g_object_set_data_full(G_OBJECT(sock), CONN_GSS, gss,
                               (GDestroyNotify) wsman_gss_free);
    }
    raw = g_base64_decode(b64, &len);
    in = g_bytes_new_take(raw, len);
    if (len == 0 || !wsman_gss_step(gss, in, &out, &err)) {
        if (err)
            g_message("hypervsim: %s", err->message);
        g_object_set_data(G_OBJECT(sock), CONN_GSS, NULL);
        challenge(srv, msg, NULL);
        return FALSE;
    }
    if (out)
        out_b64 =
            g_base64_encode(g_bytes_get_data(out, NULL), g_bytes_get_size(out));
    if (!wsman_gss_established(gss)) {
        challenge(srv, msg, out_b64);
        return FALSE;
    }
    if (out_b64) {
        g_autofree char *v = g_strconcat("Negotiate ", out_b64, NULL);
        soup_message_headers_append(
            soup_server_message_get_response_headers(msg), "WWW-Authenticate",
            v);
    }
    if (soup_server_message_get_request_body(msg)->length == 0) {
        soup_server_message_set_status(msg, 200, NULL);
        return FALSE;
    }
    return TRUE;
}

/* Whether a request to /wsman may be served: its credentials (Basic, or
 * Negotiate on the connection), POST, and a sealed body opened where the
 * connection's context sealed it; otherwise it is answered here */
static gboolean
authorized(SimServer *srv, SoupServerMessage *msg)
{
    SoupMessageHeaders *qh = soup_server_message_get_request_headers(msg);
    const char *auth = soup_message_headers_get_one(qh, "Authorization");
    const char *type = soup_message_headers_get_one(qh, "Content-Type");
    SoupMessageBody *body = soup_server_message_get_request_body(msg);
    GSocket *sock = soup_server_message_get_socket(msg);
    WsmanGss *gss;
    gboolean tls = over_tls(msg);

    if (srv->negotiate && auth &&
        g_ascii_strncasecmp(auth, "Negotiate ", 10) == 0) {
        if (!negotiate(srv, msg, auth + 10))
            return FALSE;
    } else if (srv->basic_auth && srv->basic &&
               g_strcmp0(auth, srv->basic_auth) == 0) {
        /* AllowUnencrypted = false: Basic only inside TLS */
        if (srv->require_sealed && !tls) {
            challenge(srv, msg, NULL);
            return FALSE;
        }
    } else if (!srv->basic_auth) {
        /* a host open to all, for tests of other things */
    } else if (!(srv->negotiate && !auth &&
                 (gss = g_object_get_data(G_OBJECT(sock), CONN_GSS)) &&
                 wsman_gss_established(gss))) {
        /* Negotiate holds for the connection it was made on */
        challenge(srv, msg, NULL);
        return FALSE;
    }
    if (g_strcmp0(soup_server_message_get_method(msg), "POST") != 0) {
        soup_server_message_set_status(msg, 405, NULL);
        return FALSE;
    }
    gss = g_object_get_data(G_OBJECT(sock), CONN_GSS);
    if (wsman_gss_is_sealed(type)) {
        g_autoptr(GError) err = NULL;
        GBytes *clear = NULL;

        if (gss)
            clear = wsman_gss_unseal(gss, type, body->data,
                                     (gsize) body->length, &err);
        if (!clear) {
            g_message("hypervsim: refused: %s",
                      err ? err->message
                          : "an encrypted message without authentication");
            /* the sealing keys are out of step now: the connection goes */
            g_object_set_data(G_OBJECT(sock), CONN_GSS, NULL);
            soup_message_headers_append(
                soup_server_message_get_response_headers(msg), "Connection",
                "close");
            soup_server_message_set_status(msg, 400, NULL);
            return FALSE;
        }
        g_object_set_data_full(G_OBJECT(msg), MSG_BODY, clear,
                               (GDestroyNotify) g_bytes_unref);
        g_object_set_data(G_OBJECT(msg), MSG_GSS, gss);
    } else if (srv->require_sealed && !tls && gss) {
        /* AllowUnencrypted = false */
        challenge(srv, msg, NULL);
        return FALSE;
    }
    return TRUE;
}

static void
wsman_handler(SoupServer *soup, SoupServerMessage *msg, const char *path,
              GHashTable *query, gpointer data)
{
    SimServer *srv = data;
    SoupMessageBody *body = soup_server_message_get_request_body(msg);

    if (body->length > MAX_REQUEST) {
        soup_server_message_set_status(msg, 413, NULL);
        return;
    }
    if (!authorized(srv, msg))
        return;
    if (srv->latency_ms)
        serve_after(srv, msg, srv->latency_ms, serve_late);
    else
        serve_wsman(srv, msg, FALSE);
}
static void
control_handler(SoupServer *soup, SoupServerMessage *msg, const char *path,
                GHashTable *query, gpointer data)
{
    SimServer *srv = data;

    if (refused(srv, msg))
        return;
    sim_control_handle(srv, srv->host, msg);
}

SimServer *
sim_server_new(SimHost *host, const char *user, const char *password,
               GTlsCertificate *cert)
{
    SimServer *srv = g_new0(SimServer, 1);

    srv->host = host;
    srv->basic = srv->negotiate = TRUE;
    srv->contexts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify) context_free);
    srv->counters =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    if (user) {
        g_autofree char *pair =
            g_strconcat(user, ":", password ? password : "", NULL);
        g_autofree char *b64 =
            g_base64_encode((const guchar *) pair, strlen(pair));
        srv->basic_auth = g_strconcat("Basic ", b64, NULL);
    }
    srv->soup = soup_server_new("tls-certificate", cert, "server-header",
                                "Microsoft-HTTPAPI/2.0", NULL);
    soup_server_add_handler(srv->soup, "/wsman", wsman_handler, srv, NULL);
    soup_server_add_handler(srv->soup, "/control", control_handler, srv, NULL);
    return srv;
}

void
sim_server_set_auth(SimServer *srv, gboolean basic, gboolean negotiate,
                    gboolean require_sealed, const char *keytab)
{
    srv->basic = basic;
    srv->negotiate = negotiate;
    srv->require_sealed = require_sealed;
    g_free(srv->keytab);
    srv->keytab = g_strdup(keytab);
}

SoupServer *
sim_server_soup(SimServer *srv)
{
    return srv->soup;
}

GHashTable *
sim_server_counters(SimServer *srv)
{
    return srv->counters;
}

guint64
sim_server_request_count(SimServer *srv)
{
    return srv->requests;
}

void
sim_server_free(SimServer *srv)
{
    if (!srv)
        return;
    g_object_unref(srv->soup);
    g_hash_table_unref(srv->contexts);
    g_hash_table_unref(srv->counters);
    g_queue_clear_full(&srv->http_faults, (GDestroyNotify) http_fault_free);
    g_free(srv->basic_auth);
    g_free(srv->keytab);
    g_free(srv);
}
