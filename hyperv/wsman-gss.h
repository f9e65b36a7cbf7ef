/*
 * wsman-gss.h: Negotiate authentication and WinRM message encryption
 *
 * A Windows host's WinRM, as installed, takes Negotiate (Kerberos or NTLM)
 * over plain HTTP and wants every SOAP body sealed with the session key of
 * that authentication (MS-WSMV 2.2.9.1): the body travels as a
 * multipart/encrypted message whose second part is the GSS-API wrap token.
 * A WsmanGss is one security context, on the client's side (initiator) or
 * on hypervsim's (acceptor); it belongs to one HTTP connection.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
    WSMAN_GSS_NTLM,   /* NTLM alone (gss-ntlmssp), as "Negotiate" */
    WSMAN_GSS_SPNEGO, /* SPNEGO: Kerberos, or NTLM where Kerberos fails */
} WsmanGssMech;

/* Where Kerberos credentials come from when no password is given: a
 * credential cache and a client keytab (NULL: the caller's defaults) */
typedef struct {
    const char *ccache;
    const char *client_keytab;
} WsmanGssCreds;

/* Content type of a sealed body (the boundary and protocol follow it) */
#define WSMAN_SEALED_TYPE "multipart/encrypted"

typedef struct _WsmanGss WsmanGss;

/* A client context for the host's HTTP service. With a user, its password
 * makes the credentials; without one, creds name the Kerberos ones. */
WsmanGss *wsman_gss_initiator(WsmanGssMech mech, const char *host,
                              const char *user, const char *password,
                              const WsmanGssCreds *creds, GError **error);
/* A server context: NTLM users from the file in $NTLM_USER_FILE,
 * Kerberos from keytab (NULL: $KRB5_KTNAME or the system's) */
WsmanGss *wsman_gss_acceptor(const char *keytab, GError **error);
void wsman_gss_free(WsmanGss *gss);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(WsmanGss, wsman_gss_free)

/* One leg of the exchange: in is the peer's token (NULL for the client's
 * first), *out what to send back (NULL when nothing is). */
gboolean wsman_gss_step(WsmanGss *gss, GBytes *in, GBytes **out,
                        GError **error);
gboolean wsman_gss_established(WsmanGss *gss);
/* The authenticated client's name (acceptor, once established) */
char *wsman_gss_peer(WsmanGss *gss);
/* Whether the session key is Kerberos' (else NTLM's) */
gboolean wsman_gss_is_kerberos(WsmanGss *gss);

/* body sealed as MS-WSMV's multipart/encrypted; *content_type is the
 * HTTP Content-Type to send it with */
GBytes *wsman_gss_seal(WsmanGss *gss, const void *body, gsize len,
                       char **content_type, GError **error);
/* A sealed body opened: its signature checked and its length the one
 * announced; NULL with an error naming what is wrong otherwise */
GBytes *wsman_gss_unseal(WsmanGss *gss, const char *content_type,
                         const void *data, gsize len, GError **error);
gboolean wsman_gss_is_sealed(const char *content_type);

G_END_DECLS
