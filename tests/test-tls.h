/*
 * test-tls.h: a self-signed certificate for localhost, made for a test
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

/* Writes dir/cert.pem and dir/key.pem with openssl; aborts on failure. */
static inline void
test_tls_make_files(const char *dir, char **cert_out, char **key_out)
{
    g_autofree char *cmd = NULL, *out = NULL, *errout = NULL;
    GError *err = NULL;
    int status;

    *cert_out = g_build_filename(dir, "cert.pem", NULL);
    *key_out = g_build_filename(dir, "key.pem", NULL);
    cmd = g_strdup_printf("openssl req -x509 -newkey rsa:2048 -nodes -days 2 "
                          "-subj /CN=localhost -addext "
                          "subjectAltName=DNS:localhost -keyout %s -out %s",
                          *key_out, *cert_out);
    g_spawn_command_line_sync(cmd, &out, &errout, &status, &err);
    g_assert_no_error(err);
    if (!g_spawn_check_wait_status(status, NULL))
        g_error("openssl failed: %s", errout);
}
