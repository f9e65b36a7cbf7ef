/*
 * wsman.h: a WS-Management client for Hyper-V's WMI provider
 *
 * One WsmanClient is one kept-alive connection; it is not shared between
 * threads (a daemon gives each worker its own).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>
#include <libxml/tree.h>

#include "msvm-classes.h"

G_BEGIN_DECLS

#define WSMAN_NS_SOAP   "http://www.w3.org/2003/05/soap-envelope"
#define WSMAN_NS_ADDR   "http://schemas.xmlsoap.org/ws/2004/08/addressing"
#define WSMAN_NS_WSMAN  "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
#define WSMAN_NS_ENUM   "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
#define WSMAN_NS_XFER   "http://schemas.xmlsoap.org/ws/2004/09/transfer"
#define WSMAN_NS_MSWSMV "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
#define WSMAN_NS_CIM    "http://schemas.dmtf.org/wbem/wscim/1/common"
#define WSMAN_NS_XSI    "http://www.w3.org/2001/XMLSchema-instance"
#define WSMAN_NS_FAULT  "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
#define WSMAN_URI_V2                                                           \
    "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/"
#define WSMAN_URI_CIMV2                                                        \
    "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/"
#define WSMAN_ANONYMOUS                                                        \
    "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
#define WSMAN_DIALECT_WQL "http://schemas.microsoft.com/wbem/wsman/1/WQL"

/* The namespace URI (ending in '/') of a class: root\cimv2 for Win32_*
 * classes, root\virtualization\v2 for the others. */
const char *wsman_namespace_uri(const char *class_name);

/* Bounds on what a host may send back. */
#define WSMAN_DEFAULT_MAX_RESPONSE (32 * 1024 * 1024)
#define WSMAN_MAX_ITEMS            100000

/* Over http://, every kind but Basic seals the bodies with the session
 * key (MS-WSMV 2.2.9.1), as a Windows host as installed requires */
typedef enum {
    WSMAN_AUTH_NEGOTIATE, /* NTLM with a password, Kerberos without */
    WSMAN_AUTH_BASIC,     /* over https:// only, unless allow_unencrypted */
    WSMAN_AUTH_NTLM,
    WSMAN_AUTH_KERBEROS, /* SPNEGO: Kerberos, from a password or creds */
} WsmanAuth;

typedef struct {
    const char *url; /* http(s)://host:port/wsman */
    const char *user;
    const char *password;
    WsmanAuth auth;
    gboolean allow_unencrypted; /* Basic over http://, in so many words */
    const char *krb5_ccache;    /* Kerberos credentials without a password */
    const char *krb5_keytab;    /* (NULL: the caller's defaults) */
    const char *ca_file;        /* NULL: the system's CA store */
    gboolean no_verify;         /* an explicit choice: no certificate check */
    guint timeout_ms;           /* per request; 0: 60 s, Windows' own default */
    gsize max_response;         /* 0: WSMAN_DEFAULT_MAX_RESPONSE */
} WsmanOptions;

typedef struct _WsmanClient WsmanClient;

WsmanClient *wsman_client_new(const WsmanOptions *opts, GError **error);
void wsman_client_free(WsmanClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(WsmanClient, wsman_client_free)

const char *wsman_client_host(WsmanClient *client);
/* Requests made, all together and per "Action Class" (e.g. "Enumerate
 * Msvm_VirtualSystemSettingData", "Invoke Msvm_X.Method"). */
guint64 wsman_client_request_count(WsmanClient *client);
/* Connections opened so far: a kept-alive client opens one. */
guint64 wsman_client_connection_count(WsmanClient *client);
GHashTable *wsman_client_counters(WsmanClient *client);
void wsman_client_reset_counters(WsmanClient *client);

/* The EPRs of the host's singleton services, kept per connection */
const WmiEpr *wsman_client_service(WsmanClient *client, const char *class_name);
/* The host's service instances (class name -> WmiEpr), known to one
 * connection and told to the others: each learns what the table knows,
 * and the table what it knows */
GHashTable *wsman_services_new(void);
void wsman_client_share_services(WsmanClient *client, GHashTable *known);
void wsman_client_set_service(WsmanClient *client, const char *class_name,
                              const WmiEpr *epr);

/* WQL enumeration on the v2/\* URI, optimized, pulled to the end. Returns
 * WmiObject items, or WmiEpr ones with epr_mode. */
GPtrArray *wsman_enumerate(WsmanClient *client, const char *wql,
                           gboolean epr_mode, GError **error);

WmiObject *wsman_get(WsmanClient *client, const WmiEpr *epr, GError **error);

/* Method parameters, in order. */
typedef struct _WsmanParams WsmanParams;
WsmanParams *wsman_params_new(void);
void wsman_params_free(WsmanParams *params);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(WsmanParams, wsman_params_free)
void wsman_params_add_text(WsmanParams *params, const char *name,
                           const char *text);
void wsman_params_add_uint(WsmanParams *params, const char *name,
                           guint64 value);
void wsman_params_add_epr(WsmanParams *params, const char *name,
                          const WmiEpr *epr);
/* A typed struct's given properties as an embedded instance */
void wsman_params_add_typed(WsmanParams *params, const char *name,
                            gconstpointer typed);
/* An embedded instance, sent as CIM-XML in CDATA. */
void wsman_params_add_instance(WsmanParams *params, const char *name,
                               const WmiObject *instance);

/* Invokes method on the object target names; returns the METHOD_OUTPUT
 * element as an object (ReturnValue and out parameters). A non-zero
 * ReturnValue is not an error here: see hv_method_result(). */
WmiObject *wsman_invoke(WsmanClient *client, const WmiEpr *target,
                        const char *method, WsmanParams *params,
                        GError **error);

/* Parsing, exposed for tests and fuzzing: a whole SOAP envelope. A fault
 * becomes the GError; otherwise the document is returned. */
xmlDoc *wsman_parse_envelope(const char *data, gsize len, const char *host,
                             GError **error);
/* The instance or output element at node, as a generic object. */
WmiObject *wsman_parse_instance(xmlNode *node);
gboolean wsman_parse_epr(xmlNode *node, WmiEpr **out);
xmlNode *wsman_body(xmlDoc *doc);
xmlNode *wsman_child(xmlNode *node, const char *ns, const char *name);

/* Message building and reading, shared with hypervsim. */
char *wsman_text(xmlNode *node); /* trimmed content; NULL without a node */
xmlNode *wsman_add(xmlNode *parent, xmlNs *ns, const char *name,
                   const char *text);
void wsman_add_selectors(xmlNode *parent, xmlNs *w, const WmiEpr *epr);
/* An EPR's a:Address and a:ReferenceParameters under parent. */
void wsman_add_epr(xmlNode *parent, xmlNs *a, xmlNs *w, const WmiEpr *epr);

G_END_DECLS
