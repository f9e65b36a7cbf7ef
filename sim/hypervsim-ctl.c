/*
 * hypervsim-ctl: sends one control request to a running hypervsim
 *
 *   hypervsim-ctl --url http://127.0.0.1:5985 [--user U --password P]
 *                 OP [NAME=VALUE ...]
 *
 * VALUEs that read as integers or true/false are sent as such, others as
 * strings; NAME:=VALUE always sends a string. The answer is printed as
 * JSON; the exit status is 0 when the host did it, 1 when it refused, 2
 * when it could not be asked.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <locale.h>
#include <string.h>

static void
add_member(JsonBuilder *b, const char *arg)
{
    const char *eq = strchr(arg, '=');
    g_autofree char *name = NULL;
    const char *value = eq + 1;
    gboolean literal = eq > arg && eq[-1] == ':';
    gint64 n;

    name = g_strndup(arg, eq - arg - (literal ? 1 : 0));
    json_builder_set_member_name(b, name);
    if (!literal &&
        g_ascii_string_to_signed(value, 10, G_MININT64, G_MAXINT64, &n, NULL))
        json_builder_add_int_value(b, n);
    else if (!literal &&
             (g_str_equal(value, "true") || g_str_equal(value, "false")))
        json_builder_add_boolean_value(b, g_str_equal(value, "true"));
    else
        json_builder_add_string_value(b, value);
}

static gboolean
accept_any(SoupMessage *msg, GTlsCertificate *cert, GTlsCertificateFlags errors,
           gpointer data)
{
    return TRUE;
}

/* http://host:port, with or without a path, becomes .../control */
static char *
control_url(const char *url, GError **error)
{
    g_autoptr(GUri) uri = g_uri_parse(url, G_URI_FLAGS_NONE, error);
    if (!uri)
        return NULL;
    return g_uri_join(G_URI_FLAGS_NONE, g_uri_get_scheme(uri), NULL,
                      g_uri_get_host(uri), g_uri_get_port(uri), "/control",
                      NULL, NULL);
}

int
main(int argc, char **argv)
{
    g_autofree char *url = NULL, *user = NULL, *password = NULL;
    g_autofree char *target = NULL, *body = NULL;
    g_autoptr(GOptionContext) ctx = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(SoupSession) session = NULL;
    g_autoptr(SoupMessage) msg = NULL;
    g_autoptr(GBytes) reply = NULL;
    g_autoptr(GBytes) request = NULL;
    GError *err = NULL;
    JsonObject *answer;
    gboolean insecure = FALSE;
    GOptionEntry entries[] = {
        { "url", 0, 0, G_OPTION_ARG_STRING, &url,
          N_("hypervsim's address (http://127.0.0.1:5985)"), N_("URL") },
        { "user", 0, 0, G_OPTION_ARG_STRING, &user,
          N_("User for Basic authentication"), N_("USER") },
        { "password", 0, 0, G_OPTION_ARG_STRING, &password,
          N_("The user's password"), N_("PASSWORD") },
        { "insecure", 0, 0, G_OPTION_ARG_NONE, &insecure,
          N_("Accept any HTTPS certificate"), NULL },
        { NULL },
    };

    setlocale(LC_ALL, "");
    bindtextdomain(GETTEXT_PACKAGE,
                   g_getenv("VIRTHYPERVD_LOCALEDIR") ?: LOCALEDIR);
    bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
    textdomain(GETTEXT_PACKAGE);

    ctx = g_option_context_new(_("OP [NAME=VALUE ...]"));
    g_option_context_set_summary(
        ctx, _("Sends a control request (add-vm, remove-vm, set-vm, write, "
               "read, fail-job, move-file, crash-merge, http-fault, latency, "
               "counters) to hypervsim."));
    g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        g_printerr("hypervsim-ctl: %s\n", err->message);
        g_error_free(err);
        return 2;
    }
    if (argc < 2) {
        g_printerr(_("hypervsim-ctl: name an operation; see --help\n"));
        return 2;
    }
    target = control_url(url ? url : "http://127.0.0.1:5985", &err);
    if (!target) {
        g_printerr(_("hypervsim-ctl: bad --url: %s\n"), err->message);
        g_error_free(err);
        return 2;
    }

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "op");
    json_builder_add_string_value(b, argv[1]);
    for (int i = 2; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i] || (eq == argv[i] + 1 && argv[i][0] == ':')) {
            g_printerr(_("hypervsim-ctl: '%s' is not NAME=VALUE\n"), argv[i]);
            return 2;
        }
        add_member(b, argv[i]);
    }
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    body = json_generator_to_data(gen, NULL);
    request = g_bytes_new(body, strlen(body));

    session = soup_session_new();
    msg = soup_message_new(SOUP_METHOD_POST, target);
    if (user) {
        g_autofree char *pair =
            g_strdup_printf("%s:%s", user, password ? password : "");
        g_autofree char *enc = g_base64_encode((guchar *) pair, strlen(pair));
        g_autofree char *hdr = g_strdup_printf("Basic %s", enc);
        soup_message_headers_append(soup_message_get_request_headers(msg),
                                    "Authorization", hdr);
    }
    if (insecure)
        g_signal_connect(msg, "accept-certificate", G_CALLBACK(accept_any),
                         NULL);
    soup_message_set_request_body_from_bytes(msg, "application/json", request);
    reply = soup_session_send_and_read(session, msg, NULL, &err);
    if (!reply) {
        g_printerr(_("hypervsim-ctl: cannot reach %s: %s\n"), target,
                   err->message);
        g_error_free(err);
        return 2;
    }
    if (soup_message_get_status(msg) == SOUP_STATUS_UNAUTHORIZED) {
        g_printerr(_("hypervsim-ctl: %s refused the credentials\n"), target);
        return 2;
    }
    if (!json_parser_load_from_data(parser, g_bytes_get_data(reply, NULL),
                                    g_bytes_get_size(reply), &err) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
        g_printerr(_("hypervsim-ctl: %s did not answer in JSON (HTTP %u)\n"),
                   target, soup_message_get_status(msg));
        g_clear_error(&err);
        return 2;
    }
    answer = json_node_get_object(json_parser_get_root(parser));
    json_generator_set_root(gen, json_parser_get_root(parser));
    json_generator_set_pretty(gen, TRUE);
    g_free(body);
    body = json_generator_to_data(gen, NULL);
    g_print("%s\n", body);
    if (!json_object_get_boolean_member_with_default(answer, "ok", FALSE)) {
        g_printerr("hypervsim-ctl: %s\n",
                   json_object_get_string_member_with_default(
                       answer, "error", _("the host refused the request")));
        return 1;
    }
    return 0;
}
