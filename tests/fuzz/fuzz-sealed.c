/*
 * fuzz-sealed.c: a sealed WinRM body (MS-WSMV multipart/encrypted) from
 * the host, opened with an NTLM context made in-process
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gstdio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "wsman-gss.h"

#define SEALED_TYPE                                                            \
    "multipart/encrypted;protocol=\"application/"                              \
    "HTTP-SPNEGO-session-encrypted\";boundary=\"Encrypted Boundary\""

static WsmanGss *client;

static void
free_client(void)
{
    g_clear_pointer(&client, wsman_gss_free);
}

/* A client context through its exchange with an acceptor, once: the
 * acceptor's users in a file, as gss-ntlmssp reads them */
static WsmanGss *
client_context(void)
{
    g_autofree char *dir = NULL, *users = NULL;
    g_autoptr(WsmanGss) server = NULL;
    g_autoptr(GBytes) token = NULL;

    if (client)
        return client;
    dir = g_dir_make_tmp("fuzz-sealed-XXXXXX", NULL);
    users = g_build_filename(dir, "ntlm-users", NULL);
    g_file_set_contents(users, "HV01:Administrator:secret\n", -1, NULL);
    g_setenv("NTLM_USER_FILE", users, TRUE);
    g_setenv("NETBIOS_COMPUTER_NAME", "HV01", TRUE);
    g_setenv("NETBIOS_DOMAIN_NAME", "HV01", TRUE);
    client = wsman_gss_initiator(WSMAN_GSS_NTLM, "hv01", "Administrator",
                                 "secret", NULL, NULL);
    server = wsman_gss_acceptor(NULL, NULL);
    for (int leg = 0; client && server && leg < 8; leg++) {
        g_autoptr(GBytes) back = NULL;

        if (!wsman_gss_step(client, token, &back, NULL) || !back)
            break;
        g_clear_pointer(&token, g_bytes_unref);
        if (!wsman_gss_step(server, back, &token, NULL) || !token)
            break;
    }
    remove(users);
    g_rmdir(dir);
    atexit(free_client);
    if (!client || !wsman_gss_established(client)) {
        fprintf(stderr, "fuzz-sealed: no NTLM context\n");
        abort();
    }
    return client;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    GBytes *clear =
        wsman_gss_unseal(client_context(), SEALED_TYPE, data, size, NULL);

    if (clear)
        g_bytes_unref(clear);
    return 0;
}

#ifndef FUZZING_ENGINE
#include "fuzz-main.h"
#endif
