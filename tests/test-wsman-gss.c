/*
 * test-wsman-gss.c: NTLM authentication and WinRM message sealing between
 * the client's context and hypervsim's, in one process
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#define _GNU_SOURCE 1 /* memmem */

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "wmi-schema.h"
#include "wsman-gss.h"

static const char body[] = "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/"
                           "soap-envelope\"><s:Body/></s:Envelope>";

typedef struct {
    WsmanGss *client;
    WsmanGss *server;
} Pair;

/* Runs the exchange to its end; FALSE (and the error) when a side refuses */
static gboolean
handshake(Pair *p, const char *user, const char *password, GError **error)
{
    g_autoptr(GBytes) token = NULL;

    p->client = wsman_gss_initiator(WSMAN_GSS_NTLM, "hv01.example.test", user,
                                    password, NULL, error);
    p->server = wsman_gss_acceptor(NULL, error);
    g_assert_nonnull(p->client);
    g_assert_nonnull(p->server);
    for (int leg = 0; leg < 8; leg++) {
        g_autoptr(GBytes) back = NULL;

        if (!wsman_gss_step(p->client, token, &back, error))
            return FALSE;
        g_clear_pointer(&token, g_bytes_unref);
        if (!back)
            break;
        if (!wsman_gss_step(p->server, back, &token, error))
            return FALSE;
        if (!token)
            break;
    }
    return wsman_gss_established(p->client) && wsman_gss_established(p->server);
}

static void
pair_clear(Pair *p)
{
    wsman_gss_free(p->client);
    wsman_gss_free(p->server);
}

static GBytes *
seal(WsmanGss *g, const char *text, char **type)
{
    GError *err = NULL;
    GBytes *b = wsman_gss_seal(g, text, strlen(text), type, &err);
    g_assert_no_error(err);
    g_assert_true(wsman_gss_is_sealed(*type));
    g_assert_nonnull(strstr(*type, "HTTP-SPNEGO-session-encrypted"));
    return b;
}

static GBytes *
unseal(WsmanGss *g, const char *type, GBytes *b, GError **error)
{
    gsize len;
    const void *data = g_bytes_get_data(b, &len);
    return wsman_gss_unseal(g, type, data, len, error);
}

static void
test_both_ways(void)
{
    Pair p = { 0 };
    GError *err = NULL;
    g_autofree char *peer = NULL;

    g_assert_true(handshake(&p, "Administrator", "secret", &err));
    g_assert_no_error(err);
    peer = wsman_gss_peer(p.server);
    g_assert_nonnull(peer);
    g_assert_nonnull(strstr(peer, "Administrator"));
    g_assert_false(wsman_gss_is_kerberos(p.client));
    /* several messages each way: the sealing keys run on per direction */
    for (int i = 0; i < 3; i++) {
        g_autofree char *t1 = NULL, *t2 = NULL;
        g_autoptr(GBytes) s1 = seal(p.client, body, &t1);
        g_autoptr(GBytes) c1 = unseal(p.server, t1, s1, &err);
        g_autoptr(GBytes) s2 = NULL, c2 = NULL;
        gsize len;
        const char *data;

        g_assert_no_error(err);
        data = g_bytes_get_data(c1, &len);
        g_assert_cmpmem(data, len, body, strlen(body));
        /* the body is not readable on the wire */
        g_assert_null(memmem(g_bytes_get_data(s1, NULL), g_bytes_get_size(s1),
                             "Envelope", 8));
        s2 = seal(p.server, "answer", &t2);
        c2 = unseal(p.client, t2, s2, &err);
        g_assert_no_error(err);
        data = g_bytes_get_data(c2, &len);
        g_assert_cmpmem(data, len, "answer", 6);
    }
    pair_clear(&p);
}

static void
test_tampered(void)
{
    Pair p = { 0 };
    GError *err = NULL;
    g_autofree char *type = NULL;
    g_autoptr(GBytes) sealed = NULL, clear = NULL, bad = NULL;
    g_autofree guint8 *copy = NULL;
    gsize len;

    g_assert_true(handshake(&p, "Administrator", "secret", &err));
    sealed = seal(p.client, body, &type);
    len = g_bytes_get_size(sealed);
    copy = g_memdup2(g_bytes_get_data(sealed, NULL), len);
    /* one bit of the sealed body, before the closing boundary */
    copy[len - strlen("--Encrypted Boundary--\r\n") - 5] ^= 0x01;
    bad = g_bytes_new(copy, len);
    clear = unseal(p.server, type, bad, &err);
    g_assert_null(clear);
    g_assert_error(err, HV_ERROR, HV_ERROR_AUTH);
    g_assert_nonnull(strstr(err->message, "does not verify"));
    g_clear_error(&err);
    pair_clear(&p);
}

static void
test_replayed(void)
{
    Pair p = { 0 };
    GError *err = NULL;
    g_autofree char *type = NULL;
    g_autoptr(GBytes) sealed = NULL, once = NULL, twice = NULL;

    g_assert_true(handshake(&p, "Administrator", "secret", &err));
    sealed = seal(p.client, body, &type);
    once = unseal(p.server, type, sealed, &err);
    g_assert_no_error(err);
    twice = unseal(p.server, type, sealed, &err);
    g_assert_null(twice);
    g_assert_error(err, HV_ERROR, HV_ERROR_AUTH);
    g_clear_error(&err);
    pair_clear(&p);
}

/* A sealed body with one part of it replaced */
static GBytes *
edited(GBytes *sealed, const char *from, const char *to)
{
    gsize len;
    const char *data = g_bytes_get_data(sealed, &len);
    const char *at = memmem(data, len, from, strlen(from));
    g_autoptr(GByteArray) a = g_byte_array_new();

    g_assert_nonnull(at);
    g_byte_array_append(a, (const guint8 *) data, (guint) (at - data));
    g_byte_array_append(a, (const guint8 *) to, (guint) strlen(to));
    at += strlen(from);
    g_byte_array_append(a, (const guint8 *) at,
                        (guint) (len - (gsize) (at - data)));
    return g_byte_array_free_to_bytes(g_steal_pointer(&a));
}

static void
test_malformed(void)
{
    static const struct {
        const char *from, *to, *says;
    } cases[] = {
        { "--Encrypted Boundary\r\n\tContent-Type: application/HTTP",
          "--Other\r\n\tContent-Type: application/HTTP", "begin" },
        { "application/octet-stream", "text/plain", "octet-stream" },
        { "Length=", "Size=", "original length" },
        { "--Encrypted Boundary--", "--Encrypted Boundary==", "closing" },
        { "\tContent-Type: application/octet-stream\r\n\x10",
          "\tContent-Type: application/octet-stream\r\n\x11", "16 bytes" },
        { "\tContent-Type: application/octet-stream\r\n\x10\x00\x00\x00",
          "\tContent-Type: application/octet-stream\r\n\xff\xff\x00\x00",
          "out of bounds" },
    };
    Pair p = { 0 };
    GError *err = NULL;
    g_autofree char *type = NULL;
    g_autoptr(GBytes) sealed = NULL;

    g_assert_true(handshake(&p, "Administrator", "secret", &err));
    sealed = seal(p.client, body, &type);
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GBytes) bad = edited(sealed, cases[i].from, cases[i].to);
        g_autoptr(GBytes) clear = unseal(p.server, type, bad, &err);

        g_assert_null(clear);
        g_assert_nonnull(err);
        if (!strstr(err->message, cases[i].says))
            g_error("case %u: '%s' does not say '%s'", i, err->message,
                    cases[i].says);
        g_clear_error(&err);
    }
    /* a body the size it announces, and none other */
    {
        g_autofree char *len = g_strdup_printf("Length=%zu", strlen(body));
        g_autofree char *wrong =
            g_strdup_printf("Length=%zu", strlen(body) + 1);
        g_autoptr(GBytes) bad = edited(sealed, len, wrong);
        g_autoptr(GBytes) clear = unseal(p.server, type, bad, &err);

        g_assert_null(clear);
        g_assert_nonnull(strstr(err->message, "announces"));
        g_clear_error(&err);
    }
    /* a plain body under the sealed type, and a sealed one under another */
    {
        g_autoptr(GBytes) plain = g_bytes_new_static(body, strlen(body));
        g_autoptr(GBytes) c1 = unseal(p.server, type, plain, &err);
        g_autoptr(GBytes) c2 = NULL;

        g_assert_null(c1);
        g_assert_error(err, HV_ERROR, HV_ERROR_PARSE);
        g_clear_error(&err);
        c2 = unseal(p.server, "application/soap+xml;charset=UTF-8", sealed,
                    &err);
        g_assert_null(c2);
        g_assert_nonnull(strstr(err->message, "content type"));
        g_clear_error(&err);
    }
    pair_clear(&p);
}

static void
test_wrong_password(void)
{
    Pair p = { 0 };
    GError *err = NULL;

    g_assert_false(handshake(&p, "Administrator", "not-the-password", &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_AUTH);
    g_assert_false(wsman_gss_established(p.server));
    g_clear_error(&err);
    pair_clear(&p);
}

/* Without gss-ntlmssp's mechanism, the error says what to install */
static void
test_no_ntlm(void)
{
    if (g_test_subprocess()) {
        GError *err = NULL;

        g_setenv("GSS_MECH_CONFIG", "/dev/null", TRUE);
        g_assert_null(wsman_gss_initiator(
            WSMAN_GSS_NTLM, "hv01", "Administrator", "secret", NULL, &err));
        g_assert_error(err, HV_ERROR, HV_ERROR_AUTH);
        g_printerr("%s\n", err->message);
        g_clear_error(&err);
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_passed();
    g_test_trap_assert_stderr("*install gss-ntlmssp*");
}

int
main(int argc, char **argv)
{
    g_autofree char *dir = g_dir_make_tmp("wsman-gss-XXXXXX", NULL);
    g_autofree char *users = g_build_filename(dir, "ntlm-users", NULL);
    int rc;

    /* gss-ntlmssp's acceptor reads its users from this file */
    g_assert_true(
        g_file_set_contents(users, "HV01:Administrator:secret\n", -1, NULL));
    g_setenv("NTLM_USER_FILE", users, TRUE);
    g_setenv("NETBIOS_COMPUTER_NAME", "HV01", TRUE);
    g_setenv("NETBIOS_DOMAIN_NAME", "HV01", TRUE);
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/gss/ntlm/sealed-both-ways", test_both_ways);
    g_test_add_func("/gss/ntlm/tampered-refused", test_tampered);
    g_test_add_func("/gss/ntlm/replay-refused", test_replayed);
    g_test_add_func("/gss/ntlm/malformed-named", test_malformed);
    g_test_add_func("/gss/ntlm/wrong-password", test_wrong_password);
    g_test_add_func("/gss/ntlm/not-installed", test_no_ntlm);
    rc = g_test_run();
    g_unlink(users);
    g_rmdir(dir);
    return rc;
}
