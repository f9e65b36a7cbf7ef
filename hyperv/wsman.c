/*
 * wsman.c: WS-Management over HTTP(S) with libcurl, messages with libxml2
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <inttypes.h>
#include <string.h>

#include <curl/curl.h>
#include <glib/gi18n-lib.h>
#include <libxml/parser.h>

#include "wsman-gss.h"
#include "wsman.h"

#define ACTION_ENUMERATE WSMAN_NS_ENUM "/Enumerate"
#define ACTION_PULL      WSMAN_NS_ENUM "/Pull"
#define ACTION_RELEASE   WSMAN_NS_ENUM "/Release"
#define ACTION_GET       WSMAN_NS_XFER "/Get"
#define MAX_ELEMENTS     "512"
#define MAX_ENVELOPE     "512000"
#define SOAP_TYPE        "application/soap+xml;charset=UTF-8"
#define MAX_LEGS         8

struct _WsmanClient {
    char *url;
    char *host;
    CURL *curl;
    char curl_error[CURL_ERROR_SIZE];
    WsmanAuth auth;
    gboolean gss;  /* Negotiate through GSS-API, not libcurl's Basic */
    gboolean seal; /* and the bodies sealed: over http:// */
    WsmanGssMech mech;
    char *user;
    char *password;
    char *ccache;
    char *keytab;
    WsmanGss *ctx; /* the current connection's security context */
    gsize max_response;
    guint timeout_ms;
    guint64 requests;
    guint64 connections;
    GHashTable *counters;
    GHashTable *services; /* class name -> WmiEpr of its one instance */
};

typedef struct {
    GByteArray *data;
    gsize max;
    gboolean too_large;
} Response;

static GOnce curl_once = G_ONCE_INIT;

static gpointer
curl_init_once(gpointer data)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return NULL;
}

static size_t
collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    Response *r = userdata;
    gsize n = size * nmemb;

    if (r->data->len + n > r->max) {
        r->too_large = TRUE;
        return 0; /* libcurl stops with CURLE_WRITE_ERROR */
    }
    g_byte_array_append(r->data, (guint8 *) ptr, n);
    return n;
}

/* Which authentication to run and how: Basic through libcurl, or
 * Negotiate through GSS-API, sealing the bodies over http:// */
static gboolean
choose_auth(WsmanClient *c, const WsmanOptions *opts, gboolean https,
            GError **error)
{
    gboolean krb5_creds = opts->krb5_ccache || opts->krb5_keytab;

    c->auth = opts->auth;
    switch (opts->auth) {
    case WSMAN_AUTH_BASIC:
        if (opts->user && !https && !opts->allow_unencrypted) {
            g_set_error(error, HV_ERROR, HV_ERROR_INVALID,
                        _("%s: Basic authentication over http:// sends the "
                          "password and every message in clear; use an "
                          "https:// address, Negotiate (NTLM or Kerberos, "
                          "encrypted), or allow_unencrypted = true"),
                        c->host);
            return FALSE;
        }
        return TRUE;
    case WSMAN_AUTH_NEGOTIATE:
        c->gss = opts->user || krb5_creds;
        c->mech = opts->user ? WSMAN_GSS_NTLM : WSMAN_GSS_SPNEGO;
        break;
    case WSMAN_AUTH_NTLM:
        if (!opts->user) {
            g_set_error(error, HV_ERROR, HV_ERROR_INVALID,
                        _("%s: NTLM needs a user name and password"), c->host);
            return FALSE;
        }
        c->gss = TRUE;
        c->mech = WSMAN_GSS_NTLM;
        break;
    case WSMAN_AUTH_KERBEROS:
        c->gss = TRUE;
        c->mech = WSMAN_GSS_SPNEGO;
        break;
    }
    c->seal = c->gss && !https;
    c->user = g_strdup(opts->user);
    c->password = g_strdup(opts->user ? opts->password : NULL);
    c->ccache = g_strdup(opts->krb5_ccache);
    c->keytab = g_strdup(opts->krb5_keytab);
    return TRUE;
}

WsmanClient *
wsman_client_new(const WsmanOptions *opts, GError **error)
{
    g_autoptr(GUri) uri = NULL;
    WsmanClient *c;

    g_once(&curl_once, curl_init_once, NULL);
    uri = g_uri_parse(opts->url, G_URI_FLAGS_NONE, NULL);
    if (!uri || !g_uri_get_host(uri) ||
        (g_strcmp0(g_uri_get_scheme(uri), "http") != 0 &&
         g_strcmp0(g_uri_get_scheme(uri), "https") != 0)) {
        g_set_error(error, HV_ERROR, HV_ERROR_INVALID,
                    _("'%s' is not an http:// or https:// WS-Management URL"),
                    opts->url);
        return NULL;
    }

    c = g_new0(WsmanClient, 1);
    c->url = g_strdup(opts->url);
    c->host = g_strdup(g_uri_get_host(uri));
    if (!choose_auth(c, opts, g_str_equal(g_uri_get_scheme(uri), "https"),
                     error)) {
        wsman_client_free(c);
        return NULL;
    }
    c->max_response =
        opts->max_response ? opts->max_response : WSMAN_DEFAULT_MAX_RESPONSE;
    c->timeout_ms = opts->timeout_ms ? opts->timeout_ms : 60000;
    c->counters = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    c->services = wsman_services_new();
    c->curl = curl_easy_init();

    curl_easy_setopt(c->curl, CURLOPT_URL, c->url);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->curl_error);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPALIVE, 1L);
    /* one connection: a fresh one replaces the one kept alive, so that
     * the legs of an authentication and the request it is for share it */
    curl_easy_setopt(c->curl, CURLOPT_MAXCONNECTS, 1L);
    /* MS-WSMV 3.2.5: the host answers within OperationTimeout, a fault if
     * it must; the answer then still has the network to cross */
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS,
                     (long) (c->timeout_ms + MIN(c->timeout_ms / 2, 10000)));
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS,
                     (long) MIN(c->timeout_ms, 30000));
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c->curl, CURLOPT_USERAGENT,
                     PACKAGE_NAME "/" PACKAGE_VERSION);
    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    if (opts->ca_file)
        curl_easy_setopt(c->curl, CURLOPT_CAINFO, opts->ca_file);
    if (opts->no_verify) {
        curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (opts->user && !c->gss) {
        /* kept only in libcurl's handle; never logged */
        curl_easy_setopt(c->curl, CURLOPT_USERNAME, opts->user);
        curl_easy_setopt(c->curl, CURLOPT_PASSWORD,
                         opts->password ? opts->password : "");
        curl_easy_setopt(c->curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    }
    return c;
}

void
wsman_client_free(WsmanClient *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    wsman_gss_free(c->ctx);
    if (c->password)
        memset(c->password, 0, strlen(c->password));
    g_free(c->password);
    g_free(c->user);
    g_free(c->ccache);
    g_free(c->keytab);
    g_free(c->url);
    g_free(c->host);
    if (c->counters)
        g_hash_table_unref(c->counters);
    if (c->services)
        g_hash_table_unref(c->services);
    g_free(c);
}

const WmiEpr *
wsman_client_service(WsmanClient *c, const char *class_name)
{
    return g_hash_table_lookup(c->services, class_name);
}

void
wsman_client_set_service(WsmanClient *c, const char *class_name,
                         const WmiEpr *epr)
{
    g_hash_table_replace(c->services, g_strdup(class_name), wmi_epr_copy(epr));
}

GHashTable *
wsman_services_new(void)
{
    return g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                 (GDestroyNotify) wmi_epr_free);
}

static void
add_missing(GHashTable *to, GHashTable *from)
{
    GHashTableIter it;
    gpointer k, v;

    g_hash_table_iter_init(&it, from);
    while (g_hash_table_iter_next(&it, &k, &v))
        if (!g_hash_table_contains(to, k))
            g_hash_table_insert(to, g_strdup(k), wmi_epr_copy(v));
}

void
wsman_client_share_services(WsmanClient *c, GHashTable *known)
{
    add_missing(c->services, known);
    add_missing(known, c->services);
}

const char *
wsman_client_host(WsmanClient *c)
{
    return c->host;
}

guint64
wsman_client_request_count(WsmanClient *c)
{
    return c->requests;
}

guint64
wsman_client_connection_count(WsmanClient *c)
{
    return c->connections;
}

GHashTable *
wsman_client_counters(WsmanClient *c)
{
    return c->counters;
}

void
wsman_client_reset_counters(WsmanClient *c)
{
    c->requests = 0;
    g_hash_table_remove_all(c->counters);
}

static void
count(WsmanClient *c, const char *key)
{
    gpointer n = g_hash_table_lookup(c->counters, key);
    g_hash_table_replace(c->counters, g_strdup(key),
                         GUINT_TO_POINTER(GPOINTER_TO_UINT(n) + 1));
    c->requests++;
}

/* XML helpers */

xmlNode *
wsman_child(xmlNode *node, const char *ns, const char *name)
{
    for (xmlNode *n = node ? node->children : NULL; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE &&
            g_str_equal((const char *) n->name, name) &&
            (!ns || (n->ns && g_str_equal((const char *) n->ns->href, ns))))
            return n;
    return NULL;
}

char *
wsman_text(xmlNode *node)
{
    xmlChar *c = node ? xmlNodeGetContent(node) : NULL;
    char *s = c ? g_strstrip(g_strdup((const char *) c)) : NULL;
    xmlFree(c);
    return s;
}

xmlNode *
wsman_body(xmlDoc *doc)
{
    xmlNode *env = xmlDocGetRootElement(doc);
    return wsman_child(env, WSMAN_NS_SOAP, "Body");
}

static gboolean
is_nil(xmlNode *n)
{
    xmlChar *v = xmlGetNsProp(n, (const xmlChar *) "nil",
                              (const xmlChar *) WSMAN_NS_XSI);
    gboolean nil = v && (g_ascii_strcasecmp((char *) v, "true") == 0 ||
                         g_str_equal((char *) v, "1"));
    xmlFree(v);
    return nil;
}

gboolean
wsman_parse_epr(xmlNode *node, WmiEpr **out)
{
    xmlNode *refs = wsman_child(node, WSMAN_NS_ADDR, "ReferenceParameters");
    xmlNode *uri = wsman_child(refs, WSMAN_NS_WSMAN, "ResourceURI");
    xmlNode *set = wsman_child(refs, WSMAN_NS_WSMAN, "SelectorSet");
    g_autofree char *resource = wsman_text(uri);
    g_autofree char *address =
        wsman_text(wsman_child(node, WSMAN_NS_ADDR, "Address"));
    const char *slash;
    WmiEpr *epr;

    if (!resource || !*resource)
        return FALSE;
    slash = strrchr(resource, '/');
    epr = wmi_epr_new(slash ? slash + 1 : resource);
    g_free(epr->resource_uri);
    epr->resource_uri = g_steal_pointer(&resource);
    if (address) {
        g_free(epr->address);
        epr->address = g_steal_pointer(&address);
    }
    for (xmlNode *s = set ? set->children : NULL; s; s = s->next) {
        xmlChar *name;
        g_autofree char *value = NULL;
        if (s->type != XML_ELEMENT_NODE ||
            !g_str_equal((const char *) s->name, "Selector"))
            continue;
        name = xmlGetProp(s, (const xmlChar *) "Name");
        value = wsman_text(s);
        if (name)
            wmi_epr_add_selector(epr, (const char *) name, value);
        xmlFree(name);
    }
    *out = epr;
    return TRUE;
}

/* One property element: nil, text, cim:Datetime / cim:Interval, or EPR. */
static WmiValue *
parse_property(xmlNode *p)
{
    WmiValue *v = g_new0(WmiValue, 1);
    xmlNode *first = NULL;

    if (is_nil(p)) {
        v->kind = WMI_VALUE_NIL;
        return v;
    }
    for (xmlNode *n = p->children; n && !first; n = n->next)
        if (n->type == XML_ELEMENT_NODE)
            first = n;
    if (first && first->ns &&
        g_str_equal((const char *) first->ns->href, WSMAN_NS_CIM)) {
        v->kind = g_str_equal((const char *) first->name, "Interval")
                      ? WMI_VALUE_INTERVAL
                      : WMI_VALUE_DATETIME;
        v->text = wsman_text(first);
    } else if (first && wsman_parse_epr(p, &v->epr)) {
        v->kind = WMI_VALUE_EPR;
    } else {
        xmlChar *c = xmlNodeGetContent(p);
        v->kind = WMI_VALUE_TEXT;
        v->text = g_strdup(c ? (const char *) c : "");
        xmlFree(c);
    }
    return v;
}

WmiObject *
wsman_parse_instance(xmlNode *node)
{
    WmiObject *obj = wmi_object_new((const char *) node->name);

    for (xmlNode *p = node->children; p; p = p->next) {
        if (p->type != XML_ELEMENT_NODE)
            continue;
        /* cim:Location and other foreign children are not properties */
        if (p->ns && node->ns &&
            !g_str_equal((const char *) p->ns->href,
                         (const char *) node->ns->href))
            continue;
        wmi_object_add_value(obj, (const char *) p->name, parse_property(p));
    }
    return obj;
}

/* A WSManFault's message: Windows nests the provider's own fault in it
 * (f:Message/f:ProviderFault/f:WSManFault), whose message is the one that
 * says what went wrong */
static char *
fault_message(xmlNode *wf, int depth)
{
    xmlNode *m = wsman_child(wf, NULL, "Message");
    xmlNode *pf = wsman_child(m, NULL, "ProviderFault");
    xmlNode *inner = pf ? wsman_child(pf, NULL, "WSManFault") : NULL;

    if (inner && depth < 4) {
        char *text = fault_message(inner, depth + 1);
        if (text && *text)
            return text;
        g_free(text);
    }
    return wsman_text(pf ? pf : m);
}

/* A SOAP fault (s:Fault) as a GError keeping Windows' text and code. */
static void
set_fault(xmlNode *fault, const char *host, GError **error)
{
    xmlNode *code = wsman_child(fault, WSMAN_NS_SOAP, "Code");
    xmlNode *sub = wsman_child(code, WSMAN_NS_SOAP, "Subcode");
    xmlNode *reason = wsman_child(fault, WSMAN_NS_SOAP, "Reason");
    xmlNode *detail = wsman_child(fault, WSMAN_NS_SOAP, "Detail");
    g_autofree char *value =
        wsman_text(wsman_child(code, WSMAN_NS_SOAP, "Value"));
    g_autofree char *subvalue =
        wsman_text(wsman_child(sub, WSMAN_NS_SOAP, "Value"));
    g_autofree char *text =
        wsman_text(wsman_child(reason, WSMAN_NS_SOAP, "Text"));
    g_autofree char *message = NULL, *wincode = NULL, *cim_status = NULL;
    guint64 hresult = 0, status = 0;
    HvErrorCode kind = HV_ERROR_FAULT;
    GString *msg = g_string_new(NULL);

    for (xmlNode *d = detail ? detail->children : NULL; d; d = d->next) {
        if (d->type != XML_ELEMENT_NODE)
            continue;
        /* the last detail of a kind says it */
        if (g_str_equal((const char *) d->name, "WSManFault")) {
            xmlChar *c = xmlGetProp(d, (const xmlChar *) "Code");
            g_free(wincode);
            wincode = c ? g_strdup((const char *) c) : NULL;
            xmlFree(c);
            g_free(message);
            message = fault_message(d, 0);
        } else if (g_str_equal((const char *) d->name, "MSFT_WmiError")) {
            g_free(message);
            message = wsman_text(wsman_child(d, NULL, "Message"));
            g_free(wincode);
            wincode = wsman_text(wsman_child(d, NULL, "error_Code"));
            g_free(cim_status);
            cim_status = wsman_text(wsman_child(d, NULL, "CIMStatusCode"));
        }
    }
    if (wincode)
        wmi_parse_unsigned(wincode, G_MAXUINT32, &hresult);
    if (cim_status)
        wmi_parse_unsigned(cim_status, G_MAXUINT32, &status);

    /* 0x80338000: the object was not found; CIM_ERR_NOT_FOUND is 6 */
    if (hresult == 0x80338000 || status == 6 ||
        (subvalue && (g_str_has_suffix(subvalue, ":InvalidSelectors") ||
                      g_str_has_suffix(subvalue, ":DestinationUnreachable"))))
        kind = HV_ERROR_NOT_FOUND;
    else if (hresult == 0x80338029 ||
             (subvalue && g_str_has_suffix(subvalue, ":TimedOut")))
        kind = HV_ERROR_TIMEOUT;
    else if (subvalue && g_str_has_suffix(subvalue, ":AccessDenied"))
        kind = HV_ERROR_FORBIDDEN;

    g_string_printf(msg, _("%s: WS-Management fault %s"), host,
                    subvalue ? subvalue
                    : value  ? value
                             : "?");
    if (message && *message)
        g_string_append_printf(msg, ": %s", message);
    else if (text && *text)
        g_string_append_printf(msg, ": %s", text);
    if (hresult)
        g_string_append_printf(msg, " (0x%08" PRIx64 ")", hresult);
    g_set_error_literal(error, HV_ERROR, kind, msg->str);
    g_string_free(msg, TRUE);
}

xmlDoc *
wsman_parse_envelope(const char *data, gsize len, const char *host,
                     GError **error)
{
    xmlDoc *doc;
    xmlNode *env, *body, *fault;

    if (len > G_MAXINT) {
        g_set_error(error, HV_ERROR, HV_ERROR_TOO_LARGE,
                    _("%s: reply of %zu bytes is too large"), host, len);
        return NULL;
    }
    doc = xmlReadMemory(data, (int) len, NULL, NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR |
                            XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
    env = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!env || !env->ns ||
        !g_str_equal((const char *) env->name, "Envelope") ||
        !g_str_equal((const char *) env->ns->href, WSMAN_NS_SOAP) ||
        !(body = wsman_child(env, WSMAN_NS_SOAP, "Body"))) {
        g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
                    _("%s: the reply is not a SOAP 1.2 envelope"), host);
        xmlFreeDoc(doc);
        return NULL;
    }
    fault = wsman_child(body, WSMAN_NS_SOAP, "Fault");
    if (fault) {
        set_fault(fault, host, error);
        xmlFreeDoc(doc);
        return NULL;
    }
    return doc;
}

/* Request building */

typedef struct {
    xmlDoc *doc;
    xmlNode *header;
    xmlNode *body;
    xmlNs *s, *a, *w;
} Envelope;

xmlNode *
wsman_add(xmlNode *parent, xmlNs *ns, const char *name, const char *text)
{
    return xmlNewTextChild(parent, ns, (const xmlChar *) name,
                           (const xmlChar *) text);
}

static void
must_understand(Envelope *e, xmlNode *n)
{
    xmlNewNsProp(n, e->s, (const xmlChar *) "mustUnderstand",
                 (const xmlChar *) "true");
}

void
wsman_add_selectors(xmlNode *parent, xmlNs *w, const WmiEpr *epr)
{
    xmlNode *set;

    if (!epr || epr->selector_names->len == 0)
        return;
    set = wsman_add(parent, w, "SelectorSet", NULL);
    for (guint i = 0; i < epr->selector_names->len; i++) {
        xmlNode *sel =
            wsman_add(set, w, "Selector", epr->selector_values->pdata[i]);
        xmlNewProp(sel, (const xmlChar *) "Name",
                   (const xmlChar *) epr->selector_names->pdata[i]);
    }
}

void
wsman_add_epr(xmlNode *parent, xmlNs *a, xmlNs *w, const WmiEpr *epr)
{
    xmlNode *refs;

    wsman_add(parent, a, "Address", epr->address);
    refs = wsman_add(parent, a, "ReferenceParameters", NULL);
    wsman_add(refs, w, "ResourceURI", epr->resource_uri);
    wsman_add_selectors(refs, w, epr);
}

static void
envelope_init(WsmanClient *c, Envelope *e, const char *action,
              const char *resource_uri, const WmiEpr *selectors)
{
    xmlNode *env, *n, *reply;
    g_autofree char *uuid = g_uuid_string_random();
    g_autofree char *message_id = g_strconcat("uuid:", uuid, NULL);
    g_autofree char *timeout = g_strdup_printf(
        "PT%u.%03uS", c->timeout_ms / 1000, c->timeout_ms % 1000);

    e->doc = xmlNewDoc((const xmlChar *) "1.0");
    env = xmlNewNode(NULL, (const xmlChar *) "Envelope");
    xmlDocSetRootElement(e->doc, env);
    e->s =
        xmlNewNs(env, (const xmlChar *) WSMAN_NS_SOAP, (const xmlChar *) "s");
    e->a =
        xmlNewNs(env, (const xmlChar *) WSMAN_NS_ADDR, (const xmlChar *) "a");
    e->w =
        xmlNewNs(env, (const xmlChar *) WSMAN_NS_WSMAN, (const xmlChar *) "w");
    xmlSetNs(env, e->s);
    e->header = wsman_add(env, e->s, "Header", NULL);
    e->body = wsman_add(env, e->s, "Body", NULL);

    wsman_add(e->header, e->a, "To", c->url);
    must_understand(e, wsman_add(e->header, e->w, "ResourceURI", resource_uri));
    reply = wsman_add(e->header, e->a, "ReplyTo", NULL);
    wsman_add(reply, e->a, "Address", WSMAN_ANONYMOUS);
    must_understand(e, wsman_add(e->header, e->a, "Action", action));
    must_understand(
        e, wsman_add(e->header, e->w, "MaxEnvelopeSize", MAX_ENVELOPE));
    wsman_add(e->header, e->a, "MessageID", message_id);
    n = wsman_add(e->header, e->w, "Locale", NULL);
    xmlNodeSetLang(n, (const xmlChar *) "en-US");
    xmlNewNsProp(n, e->s, (const xmlChar *) "mustUnderstand",
                 (const xmlChar *) "false");
    wsman_add(e->header, e->w, "OperationTimeout", timeout);
    wsman_add_selectors(e->header, e->w, selectors);
}

static const char *
curl_failure(CURLcode rc, HvErrorCode *kind)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        *kind = HV_ERROR_TIMEOUT;
        return _("no answer in time");
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CIPHER:
        *kind = HV_ERROR_TLS;
        return _("TLS failed");
    case CURLE_COULDNT_RESOLVE_HOST:
        *kind = HV_ERROR_CONNECTION;
        return _("cannot resolve the host name");
    case CURLE_COULDNT_CONNECT:
        *kind = HV_ERROR_CONNECTION;
        return _("cannot connect");
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
        *kind = HV_ERROR_CONNECTION;
        return _("the connection was closed or reset");
    default:
        *kind = HV_ERROR_CONNECTION;
        return _("request failed");
    }
}

/* Whether the request is a method that may change the host: Hyper-V's
 * Get* methods (GetVirtualHardDiskSettingData, GetErrorEx, ...) only
 * read */
static gboolean
may_change(const char *counter)
{
    const char *dot = strrchr(counter, '.');

    return g_str_has_prefix(counter, "Invoke") &&
           !(dot && g_str_has_prefix(dot + 1, "Get"));
}

/* One HTTP exchange: body POSTed with type (and authorization), the answer
 * in r and *status; fresh: on a new connection. *opened: whether one was
 * opened for it. */
static gboolean
perform(WsmanClient *c, const char *what, const char *type,
        const char *authorization, const void *body, gsize len, gboolean fresh,
        Response *r, long *status, gboolean *opened, GError **error)
{
    g_autofree char *ct = g_strconcat("Content-Type: ", type, NULL);
    struct curl_slist *headers = curl_slist_append(NULL, ct);
    long connects = 0;
    CURLcode rc;

    headers = curl_slist_append(headers, "Expect:");
    if (authorization)
        headers = curl_slist_append(headers, authorization);
    g_byte_array_set_size(r->data, 0);
    r->too_large = FALSE;
    c->curl_error[0] = '\0';
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c->curl, CURLOPT_FRESH_CONNECT, fresh ? 1L : 0L);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, len ? body : "");
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long) len);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, r);
    rc = curl_easy_perform(c->curl);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    curl_easy_getinfo(c->curl, CURLINFO_NUM_CONNECTS, &connects);
    c->connections += (guint64) connects;
    if (opened)
        *opened = connects > 0;

    if (r->too_large) {
        g_set_error(error, HV_ERROR, HV_ERROR_TOO_LARGE,
                    _("%s: the reply to %s is larger than %zu bytes"), c->host,
                    what, c->max_response);
        return FALSE;
    }
    if (rc != CURLE_OK) {
        HvErrorCode kind;
        const char *why = curl_failure(rc, &kind);
        g_set_error(error, HV_ERROR, kind, "%s: %s (%s): %s", c->host, why,
                    what,
                    c->curl_error[0] ? c->curl_error : curl_easy_strerror(rc));
        return FALSE;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
    return TRUE;
}

/* The host's WWW-Authenticate headers: whether it offers scheme, and the
 * token of a "Negotiate TOKEN" one */
static gboolean
host_offers(WsmanClient *c, const char *scheme, GBytes **token)
{
    struct curl_header *h;
    gsize n = strlen(scheme);
    gboolean offered = FALSE;

    if (token)
        *token = NULL;
    for (size_t i = 0; curl_easy_header(c->curl, "WWW-Authenticate", i,
                                        CURLH_HEADER, -1, &h) == CURLHE_OK;
         i++) {
        const char *v = h->value;

        if (g_ascii_strncasecmp(v, scheme, n) != 0 ||
            (v[n] != '\0' && v[n] != ' '))
            continue;
        offered = TRUE;
        v += n + strspn(v + n, " ");
        if (token && *v && !*token) {
            gsize len = 0;
            guchar *raw = g_base64_decode(v, &len);
            *token = g_bytes_new_take(raw, len);
        }
        if (i + 1 >= h->amount)
            break;
    }
    return offered;
}

static const char *
mech_name(WsmanClient *c)
{
    return c->mech == WSMAN_GSS_NTLM ? "NTLM" : "Kerberos";
}

/* Negotiate, run to its end in empty POSTs as WinRM takes it, on the
 * connection the requests then go over (a new one when fresh) */
static gboolean
authenticate(WsmanClient *c, gboolean fresh, GError **error)
{
    WsmanGssCreds creds = { c->ccache, c->keytab };
    g_autoptr(GBytes) in = NULL;
    g_autoptr(GByteArray) data = g_byte_array_new();
    Response r = { data, c->max_response, FALSE };

    wsman_gss_free(c->ctx);
    c->ctx = wsman_gss_initiator(c->mech, c->host, c->user, c->password, &creds,
                                 error);
    if (!c->ctx) {
        g_prefix_error(error, "%s: ", c->host);
        return FALSE;
    }
    for (int leg = 0; leg < MAX_LEGS; leg++) {
        g_autoptr(GBytes) out = NULL;
        g_autofree char *b64 = NULL, *header = NULL;
        gboolean opened;
        long status = 0;

        if (!wsman_gss_step(c->ctx, in, &out, error)) {
            g_prefix_error(error, _("%s: %s authentication: "), c->host,
                           mech_name(c));
            break;
        }
        g_clear_pointer(&in, g_bytes_unref);
        if (!out) {
            if (wsman_gss_established(c->ctx))
                return TRUE;
            g_set_error(error, HV_ERROR, HV_ERROR_AUTH,
                        _("%s: %s authentication stopped before it was "
                          "through"),
                        c->host, mech_name(c));
            break;
        }
        b64 =
            g_base64_encode(g_bytes_get_data(out, NULL), g_bytes_get_size(out));
        header = g_strconcat("Authorization: Negotiate ", b64, NULL);
        if (!perform(c, "authentication", SOAP_TYPE, header, NULL, 0,
                     fresh && leg == 0, &r, &status, &opened, error))
            break;
        if (leg > 0 && opened) {
            g_set_error(error, HV_ERROR, HV_ERROR_CONNECTION,
                        _("%s: the connection was closed during "
                          "authentication"),
                        c->host);
            break;
        }
        if (status == 200) {
            host_offers(c, "Negotiate", &in);
            if (!in && wsman_gss_established(c->ctx))
                return TRUE;
            if (!in) {
                g_set_error(error, HV_ERROR, HV_ERROR_AUTH,
                            _("%s: the host let the %s authentication "
                              "through before it was complete"),
                            c->host, mech_name(c));
                break;
            }
            continue;
        }
        if (status != 401) {
            g_set_error(error, HV_ERROR, HV_ERROR_HTTP,
                        _("%s: HTTP status %ld to %s authentication"), c->host,
                        status, mech_name(c));
            break;
        }
        if (!host_offers(c, "Negotiate", &in)) {
            g_set_error(error, HV_ERROR, HV_ERROR_AUTH,
                        _("%s: access denied (HTTP 401): the host does not "
                          "take Negotiate (NTLM or Kerberos); turn on "
                          "Negotiate in its WinRM service configuration "
                          "(winrm/config/service/auth), or use Basic over "
                          "HTTPS"),
                        c->host);
            break;
        }
        if (!in) {
            if (c->mech == WSMAN_GSS_NTLM)
                g_set_error(error, HV_ERROR, HV_ERROR_AUTH,
                            _("%s: access denied (HTTP 401): the host "
                              "refused the NTLM credentials; check the "
                              "user name and password"),
                            c->host);
            else
                g_set_error(error, HV_ERROR, HV_ERROR_AUTH,
                            _("%s: access denied (HTTP 401): the host "
                              "refused the Kerberos ticket; check that "
                              "the host has the service name HTTP/%s and "
                              "the user a ticket of its realm"),
                            c->host, c->host);
            break;
        }
    }
    if (error && !*error)
        g_set_error(error, HV_ERROR, HV_ERROR_AUTH,
                    _("%s: %s authentication did not end"), c->host,
                    mech_name(c));
    g_clear_pointer(&c->ctx, wsman_gss_free);
    return FALSE;
}

/* The request over Negotiate: a read on the kept-alive connection, sent
 * again once on a new one when that connection has lost its
 * authentication; a method that may change the host authenticated afresh
 * and sent exactly once. Over http:// the bodies go sealed. */
static gboolean
send_negotiated(WsmanClient *c, const char *counter, const void *body,
                gsize len, Response *r, long *status, GError **error)
{
    gboolean changes = may_change(counter);
    gboolean opened = FALSE;
    char *reply_type = NULL;

    for (int attempt = 0;; attempt++) {
        g_autoptr(GBytes) sealed = NULL;
        g_autofree char *type = NULL;
        const void *data = body;
        gsize dlen = len;

        if ((changes || !c->ctx || attempt > 0) &&
            !authenticate(c, changes || attempt > 0, error))
            return FALSE;
        if (c->seal) {
            sealed = wsman_gss_seal(c->ctx, body, len, &type, error);
            if (!sealed) {
                g_prefix_error(error, "%s: ", c->host);
                return FALSE;
            }
            data = g_bytes_get_data(sealed, &dlen);
        }
        if (!perform(c, counter, type ? type : SOAP_TYPE, NULL, data, dlen,
                     FALSE, r, status, &opened, error)) {
            g_clear_pointer(&c->ctx, wsman_gss_free);
            return FALSE;
        }
        if (*status == 401 && !changes && attempt == 0) {
            g_clear_pointer(&c->ctx, wsman_gss_free);
            continue;
        }
        break;
    }
    if (*status == 401 && changes && opened) {
        /* libcurl sent it again over a new connection, which is not
         * authenticated, after the one it was authenticated on went: the
         * host may have carried it out, and its answer is lost */
        g_clear_pointer(&c->ctx, wsman_gss_free);
        g_set_error(error, HV_ERROR, HV_ERROR_CONNECTION,
                    _("%s: the connection was closed or reset (%s): no "
                      "answer came"),
                    c->host, counter);
        return FALSE;
    }
    if (*status == 401) {
        g_clear_pointer(&c->ctx, wsman_gss_free);
        g_set_error(error, HV_ERROR, HV_ERROR_AUTH,
                    _("%s: access denied (HTTP 401) to %s after the %s "
                      "authentication went through"),
                    c->host, counter, mech_name(c));
        return FALSE;
    }
    if (!c->seal)
        return TRUE;
    curl_easy_getinfo(c->curl, CURLINFO_CONTENT_TYPE, &reply_type);
    if (wsman_gss_is_sealed(reply_type)) {
        g_autoptr(GBytes) clear = wsman_gss_unseal(
            c->ctx, reply_type, r->data->data, r->data->len, error);

        if (!clear) {
            /* the keys are out of step: the next request starts again */
            g_clear_pointer(&c->ctx, wsman_gss_free);
            g_prefix_error(error, _("%s: the reply to %s: "), c->host, counter);
            return FALSE;
        }
        g_byte_array_set_size(r->data, 0);
        g_byte_array_append(r->data, g_bytes_get_data(clear, NULL),
                            (guint) g_bytes_get_size(clear));
    } else if (*status == 200 || r->data->len > 0) {
        g_clear_pointer(&c->ctx, wsman_gss_free);
        if (*status == 200) {
            g_set_error(error, HV_ERROR, HV_ERROR_AUTH,
                        _("%s: the reply to %s came unencrypted; the "
                          "request was encrypted"),
                        c->host, counter);
            return FALSE;
        }
    }
    return TRUE;
}

/* Sends the envelope and returns the parsed reply (never a fault). */
static xmlDoc *
call(WsmanClient *c, Envelope *e, const char *counter, GError **error)
{
    xmlChar *out = NULL;
    int out_len = 0;
    Response r = { g_byte_array_new(), c->max_response, FALSE };
    long status = 0;
    xmlDoc *reply = NULL;
    g_autoptr(GByteArray) data = r.data;
    gboolean sent;

    xmlDocDumpMemoryEnc(e->doc, &out, &out_len, "UTF-8");
    xmlFreeDoc(e->doc);
    e->doc = NULL;
    count(c, counter);
    g_debug("%s: %s", c->host, counter);

    if (c->gss)
        sent = send_negotiated(c, counter, out, (gsize) out_len, &r, &status,
                               error);
    else
        /* libcurl sends a request again, unasked, when a kept-alive
         * connection dies before any answer: harmless for a read, a second
         * checkpoint or a second merge for a method, which must go out
         * exactly once */
        sent = perform(c, counter, SOAP_TYPE, NULL, out, (gsize) out_len,
                       may_change(counter), &r, &status, NULL, error);
    xmlFree(out);
    if (!sent)
        return NULL;
    if (status == 401) {
        if (c->auth == WSMAN_AUTH_BASIC && !host_offers(c, "Basic", NULL) &&
            host_offers(c, "Negotiate", NULL))
            g_set_error(error, HV_ERROR, HV_ERROR_AUTH,
                        _("%s: access denied (HTTP 401): the host does not "
                          "take Basic authentication (WinRM's Basic is off "
                          "as installed, and over HTTP so is unencrypted "
                          "traffic); use Negotiate"),
                        c->host);
        else
            g_set_error(error, HV_ERROR, HV_ERROR_AUTH,
                        _("%s: access denied (HTTP 401): check the user "
                          "name and password, and that WinRM accepts this "
                          "authentication"),
                        c->host);
        return NULL;
    }
    if (status == 403) {
        g_set_error(error, HV_ERROR, HV_ERROR_FORBIDDEN,
                    _("%s: forbidden (HTTP 403): the account may not use "
                      "WinRM"),
                    c->host);
        return NULL;
    }
    if (status == 200 || status == 400 || status == 500) {
        /* faults come with 400 or 500; parse whatever came */
        GError *perr = NULL;
        reply = wsman_parse_envelope((const char *) data->data, data->len,
                                     c->host, &perr);
        if (reply && status != 200) {
            xmlFreeDoc(reply);
            reply = NULL;
        } else if (!reply) {
            if (status == 200 || perr->code != HV_ERROR_PARSE) {
                g_propagate_error(error, perr);
                return NULL;
            }
            g_error_free(perr);
        } else {
            return reply;
        }
    }
    g_set_error(error, HV_ERROR, HV_ERROR_HTTP,
                _("%s: HTTP status %ld to %s without a SOAP fault"), c->host,
                status, counter);
    return NULL;
}

/* The class a WQL query is about, for the Pull URI and the counters. */
static char *
wql_class(const char *wql)
{
    static const char *const patterns[] = {
        "\\bResultClass\\s*=\\s*(\\w+)",
        "\\bFROM\\s+(\\w+)",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(patterns); i++) {
        g_autoptr(GRegex) re =
            g_regex_new(patterns[i], G_REGEX_CASELESS, 0, NULL);
        g_autoptr(GMatchInfo) m = NULL;
        if (g_regex_match(re, wql, 0, &m))
            return g_match_info_fetch(m, 1);
    }
    return g_strdup("*");
}

static gboolean
take_items(xmlNode *items, gboolean epr_mode, GPtrArray *out, const char *host,
           GError **error)
{
    for (xmlNode *n = items ? items->children : NULL; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (out->len >= WSMAN_MAX_ITEMS) {
            g_set_error(error, HV_ERROR, HV_ERROR_TOO_LARGE,
                        _("%s: more than %d objects in one enumeration"), host,
                        WSMAN_MAX_ITEMS);
            return FALSE;
        }
        if (epr_mode) {
            WmiEpr *epr = NULL;
            if (!wsman_parse_epr(n, &epr)) {
                g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
                            _("%s: an enumerated item is not an endpoint "
                              "reference"),
                            host);
                return FALSE;
            }
            g_ptr_array_add(out, epr);
        } else {
            g_ptr_array_add(out, wsman_parse_instance(n));
        }
    }
    return TRUE;
}

static void
release(WsmanClient *c, const char *uri, const char *context,
        const char *counter)
{
    Envelope e;
    xmlNode *rel;
    g_autofree char *key = g_strconcat("Release ", counter, NULL);
    xmlDoc *reply;

    envelope_init(c, &e, ACTION_RELEASE, uri, NULL);
    rel = wsman_add(e.body, NULL, "Release", NULL);
    xmlSetNs(rel, xmlNewNs(rel, (const xmlChar *) WSMAN_NS_ENUM,
                           (const xmlChar *) "n"));
    wsman_add(rel, rel->ns, "EnumerationContext", context);
    reply = call(c, &e, key, NULL);
    xmlFreeDoc(reply);
}

const char *
wsman_namespace_uri(const char *class_name)
{
    return g_str_has_prefix(class_name, "Win32_") ? WSMAN_URI_CIMV2
                                                  : WSMAN_URI_V2;
}

GPtrArray *
wsman_enumerate(WsmanClient *c, const char *wql, gboolean epr_mode,
                GError **error)
{
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(
        epr_mode ? (GDestroyNotify) wmi_epr_free
                 : (GDestroyNotify) wmi_object_free);
    g_autofree char *klass = wql_class(wql);
    const char *ns = wsman_namespace_uri(klass);
    g_autofree char *pull_uri = g_strconcat(ns, klass, NULL);
    g_autofree char *enum_uri = g_strconcat(ns, "*", NULL);
    g_autofree char *enum_key = g_strconcat("Enumerate ", klass, NULL);
    g_autofree char *pull_key = g_strconcat("Pull ", klass, NULL);
    g_autofree char *context = NULL;
    gboolean done = FALSE;
    Envelope e;
    xmlNode *en, *filter, *resp, *body;
    xmlNs *n;
    xmlDoc *reply;

    envelope_init(c, &e, ACTION_ENUMERATE, enum_uri, NULL);
    en = wsman_add(e.body, NULL, "Enumerate", NULL);
    n = xmlNewNs(en, (const xmlChar *) WSMAN_NS_ENUM, (const xmlChar *) "n");
    xmlSetNs(en, n);
    wsman_add(en, e.w, "OptimizeEnumeration", NULL);
    wsman_add(en, e.w, "MaxElements", MAX_ELEMENTS);
    if (epr_mode)
        wsman_add(en, e.w, "EnumerationMode", "EnumerateEPR");
    filter = wsman_add(en, e.w, "Filter", wql);
    xmlNewProp(filter, (const xmlChar *) "Dialect",
               (const xmlChar *) WSMAN_DIALECT_WQL);

    reply = call(c, &e, enum_key, error);
    if (!reply)
        return NULL;
    body = wsman_body(reply);
    resp = wsman_child(body, WSMAN_NS_ENUM, "EnumerateResponse");
    if (!resp) {
        g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
                    _("%s: no EnumerateResponse in the reply"), c->host);
        xmlFreeDoc(reply);
        return NULL;
    }
    context =
        wsman_text(wsman_child(resp, WSMAN_NS_ENUM, "EnumerationContext"));
    done = wsman_child(resp, WSMAN_NS_WSMAN, "EndOfSequence") != NULL;
    if (!take_items(wsman_child(resp, WSMAN_NS_WSMAN, "Items"), epr_mode, out,
                    c->host, error)) {
        xmlFreeDoc(reply);
        if (context && !done)
            release(c, pull_uri, context, klass);
        return NULL;
    }
    xmlFreeDoc(reply);

    while (!done && context && *context) {
        xmlNode *pull;
        gboolean ok;

        envelope_init(c, &e, ACTION_PULL, pull_uri, NULL);
        pull = wsman_add(e.body, NULL, "Pull", NULL);
        n = xmlNewNs(pull, (const xmlChar *) WSMAN_NS_ENUM,
                     (const xmlChar *) "n");
        xmlSetNs(pull, n);
        wsman_add(pull, n, "EnumerationContext", context);
        wsman_add(pull, n, "MaxElements", MAX_ELEMENTS);
        reply = call(c, &e, pull_key, error);
        if (!reply)
            return NULL; /* a failed Pull leaves no context to release */
        resp = wsman_child(wsman_body(reply), WSMAN_NS_ENUM, "PullResponse");
        if (!resp) {
            g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
                        _("%s: no PullResponse in the reply"), c->host);
            xmlFreeDoc(reply);
            release(c, pull_uri, context, klass);
            return NULL;
        }
        g_free(context);
        /* Windows hands out a new context with each Pull */
        context =
            wsman_text(wsman_child(resp, WSMAN_NS_ENUM, "EnumerationContext"));
        done = wsman_child(resp, WSMAN_NS_ENUM, "EndOfSequence") != NULL;
        if (!done && (!context || !*context)) {
            g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
                        _("%s: a PullResponse with neither an "
                          "EnumerationContext nor EndOfSequence"),
                        c->host);
            xmlFreeDoc(reply);
            return NULL;
        }
        ok = take_items(wsman_child(resp, WSMAN_NS_ENUM, "Items"), epr_mode,
                        out, c->host, error);
        xmlFreeDoc(reply);
        if (!ok) {
            if (context && !done)
                release(c, pull_uri, context, klass);
            return NULL;
        }
    }
    return g_steal_pointer(&out);
}

WmiObject *
wsman_get(WsmanClient *c, const WmiEpr *epr, GError **error)
{
    g_autofree char *key = g_strconcat("Get ", epr->class_name, NULL);
    Envelope e;
    xmlDoc *reply;
    xmlNode *body, *inst = NULL;
    WmiObject *obj;

    envelope_init(c, &e, ACTION_GET, epr->resource_uri, epr);
    reply = call(c, &e, key, error);
    if (!reply)
        return NULL;
    body = wsman_body(reply);
    for (xmlNode *n = body->children; n && !inst; n = n->next)
        if (n->type == XML_ELEMENT_NODE)
            inst = n;
    if (!inst) {
        g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
                    _("%s: an empty reply to Get %s"), c->host,
                    epr->class_name);
        xmlFreeDoc(reply);
        return NULL;
    }
    obj = wsman_parse_instance(inst);
    xmlFreeDoc(reply);
    return obj;
}

/* Method parameters */

typedef enum { PARAM_TEXT, PARAM_EPR, PARAM_INSTANCE } ParamKind;

typedef struct {
    char *name;
    ParamKind kind;
    char *text;
    WmiEpr *epr;
} Param;

struct _WsmanParams {
    GPtrArray *list;
};

static void
param_free(Param *p)
{
    g_free(p->name);
    g_free(p->text);
    wmi_epr_free(p->epr);
    g_free(p);
}

WsmanParams *
wsman_params_new(void)
{
    WsmanParams *p = g_new0(WsmanParams, 1);
    p->list = g_ptr_array_new_with_free_func((GDestroyNotify) param_free);
    return p;
}

void
wsman_params_free(WsmanParams *params)
{
    if (!params)
        return;
    g_ptr_array_unref(params->list);
    g_free(params);
}

static void
params_add(WsmanParams *params, const char *name, ParamKind kind, char *text,
           WmiEpr *epr)
{
    Param *p = g_new0(Param, 1);
    p->name = g_strdup(name);
    p->kind = kind;
    p->text = text;
    p->epr = epr;
    g_ptr_array_add(params->list, p);
}

void
wsman_params_add_text(WsmanParams *params, const char *name, const char *text)
{
    params_add(params, name, PARAM_TEXT, g_strdup(text), NULL);
}

void
wsman_params_add_uint(WsmanParams *params, const char *name, guint64 value)
{
    params_add(params, name, PARAM_TEXT,
               g_strdup_printf("%" G_GUINT64_FORMAT, value), NULL);
}

void
wsman_params_add_epr(WsmanParams *params, const char *name, const WmiEpr *epr)
{
    params_add(params, name, PARAM_EPR, NULL, wmi_epr_copy(epr));
}

void
wsman_params_add_instance(WsmanParams *params, const char *name,
                          const WmiObject *instance)
{
    params_add(params, name, PARAM_INSTANCE, wmi_object_to_cimxml(instance),
               NULL);
}

void
wsman_params_add_typed(WsmanParams *params, const char *name,
                       gconstpointer typed)
{
    g_autoptr(WmiObject) obj = wmi_typed_to_object(typed);

    wsman_params_add_instance(params, name, obj);
}

static gboolean
check_params(WsmanClient *c, const WmiEpr *target, const char *method,
             WsmanParams *params, GError **error)
{
    const WmiClassDef *klass = wmi_class_lookup(target->class_name);
    const WmiMethodDef *m;

    if (!klass)
        return TRUE; /* a class outside the schema: the host will judge */
    m = wmi_class_method(klass, method);
    if (!m) {
        g_set_error(error, HV_ERROR, HV_ERROR_INVALID, _("%s has no method %s"),
                    klass->name, method);
        return FALSE;
    }
    for (guint i = 0; params && i < params->list->len; i++) {
        Param *p = params->list->pdata[i];
        gboolean known = FALSE;
        for (guint j = 0; j < m->n_params && !known; j++)
            known = g_str_equal(m->params[j].name, p->name) &&
                    (m->params[j].dir & WMI_PARAM_IN);
        if (!known) {
            g_set_error(error, HV_ERROR, HV_ERROR_INVALID,
                        _("%s.%s has no input parameter %s"), klass->name,
                        method, p->name);
            return FALSE;
        }
    }
    return TRUE;
}

WmiObject *
wsman_invoke(WsmanClient *c, const WmiEpr *target, const char *method,
             WsmanParams *params, GError **error)
{
    g_autofree char *action =
        g_strconcat(target->resource_uri, "/", method, NULL);
    g_autofree char *key =
        g_strconcat("Invoke ", target->class_name, ".", method, NULL);
    g_autofree char *input = g_strconcat(method, "_INPUT", NULL);
    g_autofree char *output = g_strconcat(method, "_OUTPUT", NULL);
    Envelope e;
    xmlNode *in, *out;
    xmlNs *p;
    xmlDoc *reply;
    WmiObject *obj;

    if (!check_params(c, target, method, params, error))
        return NULL;
    envelope_init(c, &e, action, target->resource_uri, target);
    in = wsman_add(e.body, NULL, input, NULL);
    p = xmlNewNs(in, (const xmlChar *) target->resource_uri,
                 (const xmlChar *) "p");
    xmlSetNs(in, p);
    for (guint i = 0; params && i < params->list->len; i++) {
        Param *prm = params->list->pdata[i];
        xmlNode *node;

        switch (prm->kind) {
        case PARAM_TEXT:
            wsman_add(in, p, prm->name, prm->text);
            break;
        case PARAM_INSTANCE:
            node = wsman_add(in, p, prm->name, NULL);
            xmlAddChild(node,
                        xmlNewCDataBlock(e.doc, (const xmlChar *) prm->text,
                                         (int) strlen(prm->text)));
            break;
        case PARAM_EPR:
            node = wsman_add(in, p, prm->name, NULL);
            wsman_add_epr(node, e.a, e.w, prm->epr);
            break;
        }
    }

    reply = call(c, &e, key, error);
    if (!reply)
        return NULL;
    out = wsman_child(wsman_body(reply), NULL, output);
    if (!out) {
        g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
                    _("%s: no %s in the reply to %s.%s"), c->host, output,
                    target->class_name, method);
        xmlFreeDoc(reply);
        return NULL;
    }
    obj = wsman_parse_instance(out);
    xmlFreeDoc(reply);
    return obj;
}
