/*
 * wsman-gss.c: Negotiate authentication and WinRM message encryption over
 * MIT krb5's GSS-API (Kerberos, SPNEGO) with gss-ntlmssp (NTLM)
 *
 * A sealed body (MS-WSMV 2.2.9.1) is a two-part MIME message:
 *
 *   --Encrypted Boundary\r\n
 *   \tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n
 *   \tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=N\r\n
 *   --Encrypted Boundary\r\n
 *   \tContent-Type: application/octet-stream\r\n
 *   <signature length, 32-bit little-endian><signature><sealed body>
 *   --Encrypted Boundary--\r\n
 *
 * NTLM's signature is the first 16 bytes of its wrap token; Kerberos' is
 * the header of an IOV wrap, as Windows' SSPI lays it out.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#define _GNU_SOURCE 1 /* memmem */

#include "config.h"

#include <string.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <glib/gi18n-lib.h>

#include "wmi-schema.h"
#include "wsman-gss.h"

#define BOUNDARY       "--Encrypted Boundary"
#define PROTO_SPNEGO   "application/HTTP-SPNEGO-session-encrypted"
#define PROTO_KERBEROS "application/HTTP-Kerberos-session-encrypted"
#define ORIGINAL_TYPE  "application/soap+xml;charset=UTF-8"
#define MAX_SIGNATURE  4096

/* 1.3.6.1.4.1.311.2.2.10, 1.3.6.1.5.5.2, 1.2.840.113554.1.2.2 */
static gss_OID_desc ntlm_oid = { 10, (void *) "\x2b\x06\x01\x04\x01\x82\x37"
                                              "\x02\x02\x0a" };
static gss_OID_desc spnego_oid = { 6, (void *) "\x2b\x06\x01\x05\x05\x02" };
static gss_OID_desc krb5_oid = { 9, (void *) "\x2a\x86\x48\x86\xf7\x12"
                                             "\x01\x02\x02" };

struct _WsmanGss {
    gboolean acceptor;
    gss_OID mech; /* asked for (initiator) */
    gss_OID actual_mech;
    gss_cred_id_t cred;
    gss_name_t target;
    gss_name_t peer;
    gss_ctx_id_t ctx;
    OM_uint32 flags;
    gboolean established;
    char *protocol; /* of the bodies this context seals */
};

static void
append_status(GString *s, OM_uint32 code, int type, gss_OID mech)
{
    OM_uint32 minor, more = 0;

    do {
        gss_buffer_desc text = GSS_C_EMPTY_BUFFER;
        if (GSS_ERROR(
                gss_display_status(&minor, code, type, mech, &more, &text)))
            break;
        if (text.length) {
            if (s->len)
                g_string_append(s, ", ");
            g_string_append_len(s, text.value, (gssize) text.length);
        }
        gss_release_buffer(&minor, &text);
    } while (more);
}

/* what, then GSS-API's own words for major and minor */
static void
set_gss_error(GError **error, gss_OID mech, OM_uint32 major, OM_uint32 minor,
              const char *what)
{
    g_autoptr(GString) why = g_string_new(NULL);

    append_status(why, major, GSS_C_GSS_CODE, GSS_C_NO_OID);
    if (minor)
        append_status(why, minor, GSS_C_MECH_CODE, mech);
    g_set_error(error, HV_ERROR, HV_ERROR_AUTH, "%s: %s", what,
                why->len ? why->str : "?");
}

void
wsman_gss_free(WsmanGss *g)
{
    OM_uint32 minor;

    if (!g)
        return;
    if (g->ctx != GSS_C_NO_CONTEXT)
        gss_delete_sec_context(&minor, &g->ctx, GSS_C_NO_BUFFER);
    if (g->cred != GSS_C_NO_CREDENTIAL)
        gss_release_cred(&minor, &g->cred);
    if (g->target != GSS_C_NO_NAME)
        gss_release_name(&minor, &g->target);
    if (g->peer != GSS_C_NO_NAME)
        gss_release_name(&minor, &g->peer);
    g_free(g->protocol);
    g_free(g);
}

WsmanGss *
wsman_gss_initiator(WsmanGssMech mech, const char *host, const char *user,
                    const char *password, const WsmanGssCreds *creds,
                    GError **error)
{
    g_autoptr(WsmanGss) g = g_new0(WsmanGss, 1);
    g_autofree char *service = g_strconcat("HTTP@", host, NULL);
    gss_buffer_desc buf = { strlen(service), service };
    gss_OID_set_desc mechs = { 1, NULL };
    OM_uint32 major, minor;

    g->mech = mech == WSMAN_GSS_NTLM ? &ntlm_oid : &spnego_oid;
    g->protocol = g_strdup(PROTO_SPNEGO);
    mechs.elements = g->mech;
    major =
        gss_import_name(&minor, &buf, GSS_C_NT_HOSTBASED_SERVICE, &g->target);
    if (GSS_ERROR(major)) {
        set_gss_error(error, GSS_C_NO_OID, major, minor,
                      _("the host's service name"));
        return NULL;
    }
    if (user) {
        gss_name_t name = GSS_C_NO_NAME;
        gss_buffer_desc ubuf = { strlen(user), (void *) user };
        gss_buffer_desc pbuf = { password ? strlen(password) : 0,
                                 (void *) (password ? password : "") };

        major = gss_import_name(&minor, &ubuf, GSS_C_NT_USER_NAME, &name);
        if (!GSS_ERROR(major))
            major = gss_acquire_cred_with_password(
                &minor, name, &pbuf, GSS_C_INDEFINITE, &mechs, GSS_C_INITIATE,
                &g->cred, NULL, NULL);
        gss_release_name(&minor, &name);
        if (GSS_ROUTINE_ERROR(major) == GSS_S_BAD_MECH &&
            mech == WSMAN_GSS_NTLM) {
            g_set_error_literal(error, HV_ERROR, HV_ERROR_AUTH,
                                _("NTLM is not available here: install "
                                  "gss-ntlmssp, whose mechanism file goes "
                                  "in /etc/gss/mech.d"));
            return NULL;
        }
        if (GSS_ERROR(major)) {
            set_gss_error(error, g->mech, major, minor,
                          _("no credentials for the user"));
            return NULL;
        }
    } else if (creds && (creds->ccache || creds->client_keytab)) {
        gss_key_value_element_desc kv[2];
        gss_key_value_set_desc store = { 0, kv };

        /* tickets got with a keytab go to a cache of the process's own,
         * not the user's default one */
        kv[store.count++] = (gss_key_value_element_desc){
            "ccache", creds->ccache ? creds->ccache : "MEMORY:virthypervd"
        };
        if (creds->client_keytab)
            kv[store.count++] =
                (gss_key_value_element_desc){ "client_keytab",
                                              creds->client_keytab };
        major = gss_acquire_cred_from(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE,
                                      &mechs, GSS_C_INITIATE, &store, &g->cred,
                                      NULL, NULL);
        if (GSS_ERROR(major)) {
            set_gss_error(error, g->mech, major, minor,
                          _("no Kerberos credentials"));
            return NULL;
        }
    }
    return g_steal_pointer(&g);
}

WsmanGss *
wsman_gss_acceptor(const char *keytab, GError **error)
{
    g_autoptr(WsmanGss) g = g_new0(WsmanGss, 1);

    g->acceptor = TRUE;
    g->protocol = g_strdup(PROTO_SPNEGO);
    if (keytab) {
        gss_key_value_element_desc kv = { "keytab", keytab };
        gss_key_value_set_desc store = { 1, &kv };
        OM_uint32 minor, major;

        major = gss_acquire_cred_from(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE,
                                      GSS_C_NO_OID_SET, GSS_C_ACCEPT, &store,
                                      &g->cred, NULL, NULL);
        if (GSS_ERROR(major)) {
            set_gss_error(error, GSS_C_NO_OID, major, minor, _("the keytab"));
            return NULL;
        }
    }
    return g_steal_pointer(&g);
}

static gboolean
has_oid(gss_OID oid, const gss_OID_desc *want)
{
    return oid && oid->length == want->length &&
           memcmp(oid->elements, want->elements, want->length) == 0;
}

gboolean
wsman_gss_step(WsmanGss *g, GBytes *in, GBytes **out, GError **error)
{
    gss_buffer_desc itok = GSS_C_EMPTY_BUFFER, otok = GSS_C_EMPTY_BUFFER;
    OM_uint32 major, minor, rel;

    *out = NULL;
    if (in)
        itok.value = (void *) g_bytes_get_data(in, &itok.length);
    if (g->acceptor) {
        if (g->peer != GSS_C_NO_NAME)
            gss_release_name(&rel, &g->peer);
        major = gss_accept_sec_context(
            &minor, &g->ctx, g->cred, &itok, GSS_C_NO_CHANNEL_BINDINGS,
            &g->peer, &g->actual_mech, &otok, &g->flags, NULL, NULL);
    } else {
        major =
            gss_init_sec_context(&minor, g->cred, &g->ctx, g->target, g->mech,
                                 GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG |
                                     GSS_C_MUTUAL_FLAG | GSS_C_SEQUENCE_FLAG,
                                 GSS_C_INDEFINITE, GSS_C_NO_CHANNEL_BINDINGS,
                                 in ? &itok : GSS_C_NO_BUFFER, &g->actual_mech,
                                 &otok, &g->flags, NULL);
    }
    if (otok.length)
        *out = g_bytes_new(otok.value, otok.length);
    gss_release_buffer(&rel, &otok);
    if (GSS_ERROR(major)) {
        g_clear_pointer(out, g_bytes_unref);
        set_gss_error(error, g->actual_mech ? g->actual_mech : g->mech, major,
                      minor,
                      g->acceptor ? _("the client's authentication failed")
                                  : _("authentication failed"));
        return FALSE;
    }
    if (!(major & GSS_S_CONTINUE_NEEDED)) {
        if (!(g->flags & GSS_C_CONF_FLAG)) {
            g_clear_pointer(out, g_bytes_unref);
            g_set_error_literal(error, HV_ERROR, HV_ERROR_AUTH,
                                _("the authentication agreed on offers no "
                                  "message encryption"));
            return FALSE;
        }
        g->established = TRUE;
    }
    return TRUE;
}

gboolean
wsman_gss_established(WsmanGss *g)
{
    return g->established;
}

gboolean
wsman_gss_is_kerberos(WsmanGss *g)
{
    return has_oid(g->actual_mech, &krb5_oid);
}

char *
wsman_gss_peer(WsmanGss *g)
{
    gss_buffer_desc text = GSS_C_EMPTY_BUFFER;
    OM_uint32 minor;
    char *name;

    if (g->peer == GSS_C_NO_NAME ||
        GSS_ERROR(gss_display_name(&minor, g->peer, &text, NULL)))
        return NULL;
    name = g_strndup(text.value, text.length);
    gss_release_buffer(&minor, &text);
    return name;
}

gboolean
wsman_gss_is_sealed(const char *content_type)
{
    return content_type && g_ascii_strncasecmp(content_type, WSMAN_SEALED_TYPE,
                                               strlen(WSMAN_SEALED_TYPE)) == 0;
}

static void
put_le32(GByteArray *a, guint32 v)
{
    guint32 le = GUINT32_TO_LE(v);
    g_byte_array_append(a, (const guint8 *) &le, 4);
}

static void
append_str(GByteArray *a, const char *s)
{
    g_byte_array_append(a, (const guint8 *) s, strlen(s));
}

GBytes *
wsman_gss_seal(WsmanGss *g, const void *body, gsize len, char **content_type,
               GError **error)
{
    g_autoptr(GByteArray) a = g_byte_array_new();
    g_autofree char *head = NULL;
    OM_uint32 major, minor, rel;
    int conf = 0;

    g_return_val_if_fail(g->established, NULL);
    head = g_strdup_printf(BOUNDARY "\r\n"
                                    "\tContent-Type: %s\r\n"
                                    "\tOriginalContent: type=" ORIGINAL_TYPE
                                    ";Length=%zu\r\n" BOUNDARY "\r\n"
                                    "\tContent-Type: application/"
                                    "octet-stream\r\n",
                           g->protocol, len);
    append_str(a, head);
    if (wsman_gss_is_kerberos(g)) {
        gss_iov_buffer_desc iov[3] = {
            { GSS_IOV_BUFFER_TYPE_HEADER | GSS_IOV_BUFFER_FLAG_ALLOCATE,
              GSS_C_EMPTY_BUFFER },
            { GSS_IOV_BUFFER_TYPE_DATA, { len, g_memdup2(body, len) } },
            { GSS_IOV_BUFFER_TYPE_PADDING | GSS_IOV_BUFFER_FLAG_ALLOCATE,
              GSS_C_EMPTY_BUFFER },
        };

        major =
            gss_wrap_iov(&minor, g->ctx, 1, GSS_C_QOP_DEFAULT, &conf, iov, 3);
        if (!GSS_ERROR(major)) {
            put_le32(a, (guint32) iov[0].buffer.length);
            for (guint i = 0; i < 3; i++)
                g_byte_array_append(a, iov[i].buffer.value,
                                    iov[i].buffer.length);
        }
        g_free(iov[1].buffer.value);
        gss_release_iov_buffer(&rel, iov, 3);
    } else {
        gss_buffer_desc in = { len, (void *) body }, out = GSS_C_EMPTY_BUFFER;

        major =
            gss_wrap(&minor, g->ctx, 1, GSS_C_QOP_DEFAULT, &in, &conf, &out);
        if (!GSS_ERROR(major) && out.length >= 16) {
            put_le32(a, 16);
            g_byte_array_append(a, out.value, out.length);
        }
        gss_release_buffer(&rel, &out);
    }
    if (GSS_ERROR(major) || !conf) {
        set_gss_error(error, g->actual_mech, major, minor,
                      _("cannot seal the message"));
        return NULL;
    }
    append_str(a, BOUNDARY "--\r\n");
    *content_type = g_strdup_printf(WSMAN_SEALED_TYPE ";protocol=\"%s\";"
                                                      "boundary=\"Encrypted "
                                                      "Boundary\"",
                                    g->protocol);
    return g_byte_array_free_to_bytes(g_steal_pointer(&a));
}

/* The bytes after the prefix p at *at, *at moved past them */
static gboolean
skip(const guint8 *data, gsize len, gsize *at, const char *p)
{
    gsize n = strlen(p);

    if (len - *at < n || memcmp(data + *at, p, n) != 0)
        return FALSE;
    *at += n;
    return TRUE;
}

static gboolean
malformed(GError **error, const char *what)
{
    g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
                _("the encrypted message is malformed: %s"), what);
    return FALSE;
}

/* Splits a sealed body into its announced length and its octet part */
static gboolean
split_parts(const guint8 *data, gsize len, gsize *original, gsize *start,
            gsize *end, GError **error)
{
    static const char part2[] = BOUNDARY "\r\n"
                                         "\tContent-Type: application/"
                                         "octet-stream\r\n";
    static const char last[] = BOUNDARY "--";
    const guint8 *mark;
    gsize at = 0, hlen;
    g_autofree char *head = NULL, *digits = NULL;
    const char *l;
    guint64 n;

    if (!skip(data, len, &at, BOUNDARY "\r\n"))
        return malformed(error, _("it does not begin with its boundary"));
    mark = memmem(data + at, len - at, part2, strlen(part2));
    if (!mark)
        return malformed(error, _("it has no octet-stream part"));
    hlen = (gsize) (mark - (data + at));
    head = g_strndup((const char *) data + at, hlen);
    l = strstr(head, "Length=");
    if (l)
        digits = g_strndup(l + 7, strspn(l + 7, "0123456789"));
    if (!digits || !*digits || !wmi_parse_unsigned(digits, G_MAXINT32, &n))
        return malformed(error, _("it does not say the original length"));
    *original = (gsize) n;
    *start = (gsize) (mark - data) + strlen(part2);
    /* the closing boundary, and at most a line end after it */
    if (len >= *start + strlen(last) + 2 &&
        memcmp(data + len - 2, "\r\n", 2) == 0 &&
        memcmp(data + len - 2 - strlen(last), last, strlen(last)) == 0)
        *end = len - 2 - strlen(last);
    else if (len >= *start + strlen(last) &&
             memcmp(data + len - strlen(last), last, strlen(last)) == 0)
        *end = len - strlen(last);
    else
        return malformed(error, _("it has no closing boundary"));
    return TRUE;
}

GBytes *
wsman_gss_unseal(WsmanGss *g, const char *content_type, const void *body,
                 gsize len, GError **error)
{
    const guint8 *data = body;
    gsize original, start, end;
    guint32 siglen;
    OM_uint32 major, minor, rel;
    int conf = 0;
    GBytes *clear = NULL;

    if (!wsman_gss_is_sealed(content_type) ||
        (!strstr(content_type, PROTO_SPNEGO) &&
         !strstr(content_type, PROTO_KERBEROS))) {
        malformed(error, _("its content type is not WinRM's"));
        return NULL;
    }
    if (!g->established) {
        g_set_error_literal(error, HV_ERROR, HV_ERROR_AUTH,
                            _("an encrypted message before the "
                              "authentication"));
        return NULL;
    }
    if (g->acceptor) {
        /* the answer goes back in the protocol the request came in */
        g_free(g->protocol);
        g->protocol =
            g_strdup(strstr(content_type, PROTO_KERBEROS) ? PROTO_KERBEROS
                                                          : PROTO_SPNEGO);
    }
    if (!split_parts(data, len, &original, &start, &end, error))
        return NULL;
    if (end - start < 4) {
        malformed(error, _("its octet-stream part is too short"));
        return NULL;
    }
    memcpy(&siglen, data + start, 4);
    siglen = GUINT32_FROM_LE(siglen);
    if (siglen == 0 || siglen > MAX_SIGNATURE || siglen > end - start - 4) {
        malformed(error, _("its signature length is out of bounds"));
        return NULL;
    }
    start += 4;
    if (wsman_gss_is_kerberos(g)) {
        gsize dlen = end - start - siglen;
        gss_iov_buffer_desc iov[2] = {
            { GSS_IOV_BUFFER_TYPE_HEADER,
              { siglen, g_memdup2(data + start, siglen) } },
            { GSS_IOV_BUFFER_TYPE_DATA,
              { dlen, g_memdup2(data + start + siglen, dlen) } },
        };

        major = gss_unwrap_iov(&minor, g->ctx, &conf, NULL, iov, 2);
        if (!GSS_ERROR(major))
            clear = g_bytes_new(iov[1].buffer.value, iov[1].buffer.length);
        g_free(iov[0].buffer.value);
        g_free(iov[1].buffer.value);
    } else {
        gss_buffer_desc in = { end - start, (void *) (data + start) };
        gss_buffer_desc out = GSS_C_EMPTY_BUFFER;

        if (siglen != 16) {
            malformed(error, _("an NTLM signature is 16 bytes"));
            return NULL;
        }
        major = gss_unwrap(&minor, g->ctx, &in, &out, &conf, NULL);
        if (!GSS_ERROR(major))
            clear = g_bytes_new(out.value, out.length);
        gss_release_buffer(&rel, &out);
    }
    if (GSS_ERROR(major)) {
        set_gss_error(error, g->actual_mech, major, minor,
                      _("the encrypted message does not verify"));
        return NULL;
    }
    if (!conf) {
        g_bytes_unref(clear);
        g_set_error_literal(error, HV_ERROR, HV_ERROR_AUTH,
                            _("the message is signed but not encrypted"));
        return NULL;
    }
    if (g_bytes_get_size(clear) != original) {
        g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
                    _("the encrypted message holds %zu bytes, not the %zu "
                      "it announces"),
                    g_bytes_get_size(clear), original);
        g_bytes_unref(clear);
        return NULL;
    }
    return clear;
}
