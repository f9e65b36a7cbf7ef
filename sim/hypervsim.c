/*
 * hypervsim: a Hyper-V host on the wire, with real disks
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <locale.h>

#include "sim-ops.h"
#include "sim-server.h"

static gboolean
quit(gpointer loop)
{
    g_main_loop_quit(loop);
    return G_SOURCE_REMOVE;
}

/* gss-ntlmssp's acceptor reads its users (DOMAIN:USER:PASSWORD) from the
 * file $NTLM_USER_FILE names; set before any thread runs */
static gboolean
write_ntlm_users(const char *state_dir, const char *host_name, const char *user,
                 const char *password, GError **error)
{
    g_autofree char *path = g_build_filename(state_dir, "ntlm-users", NULL);
    g_autofree char *line = g_strdup_printf("%s:%s:%s\n", host_name, user,
                                            password ? password : "");

    if (!g_file_set_contents_full(path, line, -1,
                                  G_FILE_SET_CONTENTS_CONSISTENT, 0600, error))
        return FALSE;
    g_setenv("NTLM_USER_FILE", path, TRUE);
    g_setenv("NETBIOS_COMPUTER_NAME", host_name, FALSE);
    g_setenv("NETBIOS_DOMAIN_NAME", host_name, FALSE);
    return TRUE;
}

/* The listening socket, with room for the connections a client opens at
 * once (HTTP.sys queues thousands; GLib's default backlog of 10 would
 * drop the SYNs of a pool that opens 32, each then waiting a second) */
static gboolean
listen_on(SimServer *srv, GSocketAddress *sa, gboolean tls, GError **error)
{
    g_autoptr(GSocket) sock =
        g_socket_new(g_socket_address_get_family(sa), G_SOCKET_TYPE_STREAM,
                     G_SOCKET_PROTOCOL_TCP, error);

    if (!sock)
        return FALSE;
    g_socket_set_listen_backlog(sock, 1024);
    return g_socket_bind(sock, sa, TRUE, error) &&
           g_socket_listen(sock, error) &&
           soup_server_listen_socket(sim_server_soup(srv), sock,
                                     tls ? SOUP_SERVER_LISTEN_HTTPS : 0, error);
}

static gboolean
make_sample(SimHost *host, GError **error)
{
    SimVm *vm;

    /* web1: two disks, running; db1 and mail1: one disk, off */
    vm = sim_host_add_vm(host, "web1", 2, 64, error);
    if (!vm)
        return FALSE;
    sim_vm_set_state(vm, MSVM_ENABLED_STATE_ENABLED);
    vm->memory_mb = 2048;
    vm->cpus = 2;
    if (!sim_host_add_vm(host, "db1", 1, 128, error) ||
        !sim_host_add_vm(host, "mail1", 1, 32, error))
        return FALSE;
    return sim_host_save(host, error);
}

int
main(int argc, char **argv)
{
    g_autofree char *state_dir = NULL, *listen = NULL, *tls_cert = NULL;
    g_autofree char *tls_key = NULL, *user = NULL, *password = NULL;
    g_autofree char *host_name = NULL, *auth = NULL, *keytab = NULL;
    gboolean sample = FALSE, require_sealing = FALSE;
    gboolean basic = TRUE, negotiate = TRUE;
    GOptionEntry entries[] = {
        { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir,
          N_("Where the host keeps its VMs and disks"), N_("DIR") },
        { "listen", 0, 0, G_OPTION_ARG_STRING, &listen,
          N_("Address and port to listen on (127.0.0.1:5985)"),
          N_("ADDR:PORT") },
        { "tls-cert", 0, 0, G_OPTION_ARG_FILENAME, &tls_cert,
          N_("Serve HTTPS with this certificate"), N_("FILE") },
        { "tls-key", 0, 0, G_OPTION_ARG_FILENAME, &tls_key,
          N_("The certificate's private key"), N_("FILE") },
        { "user", 0, 0, G_OPTION_ARG_STRING, &user,
          N_("Require authentication as this user"), N_("USER") },
        { "password", 0, 0, G_OPTION_ARG_STRING, &password,
          N_("The user's password"), N_("PASSWORD") },
        { "auth", 0, 0, G_OPTION_ARG_STRING, &auth,
          N_("Authentication accepted on /wsman: basic, negotiate or both "
             "(basic,negotiate)"),
          N_("LIST") },
        { "require-sealing", 0, 0, G_OPTION_ARG_NONE, &require_sealing,
          N_("Refuse bodies not sealed over HTTP, and Basic outside HTTPS "
             "(WinRM's AllowUnencrypted = false)"),
          NULL },
        { "keytab", 0, 0, G_OPTION_ARG_FILENAME, &keytab,
          N_("The keytab with the host's Kerberos keys (HTTP/host)"),
          N_("FILE") },
        { "host-name", 0, 0, G_OPTION_ARG_STRING, &host_name,
          N_("The host's name (HV01)"), N_("NAME") },
        { "sample", 0, 0, G_OPTION_ARG_NONE, &sample,
          N_("Create three sample VMs in an empty state directory"), NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx =
        g_option_context_new(_("- a Hyper-V host on the wire"));
    g_autoptr(GError) err = NULL;
    g_autoptr(GTlsCertificate) cert = NULL;
    g_autoptr(GMainLoop) loop = NULL;
    g_autoptr(GInetAddress) addr = NULL;
    g_autoptr(GSocketAddress) sa = NULL;
    g_auto(GStrv) hp = NULL;
    g_autofree char *localedir = NULL;
    SimHost *host;
    SimServer *srv;
    guint64 port;
    GSList *uris;

    setlocale(LC_ALL, "");
    localedir = g_strdup(g_getenv("VIRTHYPERVD_LOCALEDIR"));
    bindtextdomain(GETTEXT_PACKAGE, localedir ? localedir : LOCALEDIR);
    bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
    textdomain(GETTEXT_PACKAGE);

    g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        g_printerr("hypervsim: %s\n", err->message);
        return 2;
    }
    if (!state_dir) {
        g_printerr(_("hypervsim: --state-dir is required\n"));
        return 2;
    }
    if (auth) {
        g_auto(GStrv) kinds = g_strsplit(auth, ",", -1);

        basic = negotiate = FALSE;
        for (char **k = kinds; *k; k++) {
            if (g_str_equal(*k, "basic")) {
                basic = TRUE;
            } else if (g_str_equal(*k, "negotiate")) {
                negotiate = TRUE;
            } else {
                g_printerr(_("hypervsim: --auth takes basic and negotiate, "
                             "not '%s'\n"),
                           *k);
                return 2;
            }
        }
    }
    hp = g_strsplit(listen ? listen : "127.0.0.1:5985", ":", 2);
    if (!hp[1] || !(addr = g_inet_address_new_from_string(hp[0])) ||
        !wmi_parse_unsigned(hp[1], 65535, &port)) {
        g_printerr(_("hypervsim: --listen wants ADDR:PORT, not '%s'\n"),
                   listen);
        return 2;
    }
    if (tls_cert) {
        cert = g_tls_certificate_new_from_files(
            tls_cert, tls_key ? tls_key : tls_cert, &err);
        if (!cert) {
            g_printerr("hypervsim: %s\n", err->message);
            return 1;
        }
    }
    if (g_mkdir_with_parents(state_dir, 0755) < 0) {
        g_printerr(_("hypervsim: cannot create %s\n"), state_dir);
        return 1;
    }

    if (user && negotiate &&
        !write_ntlm_users(state_dir, host_name ? host_name : "HV01", user,
                          password, &err)) {
        g_printerr("hypervsim: %s\n", err->message);
        return 1;
    }
    host = sim_host_new(host_name ? host_name : "HV01", state_dir);
    if (!sim_host_load(host, &err) ||
        (sample && host->vms->len == 0 && !make_sample(host, &err))) {
        g_printerr("hypervsim: %s\n", err->message);
        return 1;
    }
    sim_host_start(host);
    srv = sim_server_new(host, user, password, cert);
    sim_server_set_auth(srv, basic, negotiate, require_sealing, keytab);
    sa = g_inet_socket_address_new(addr, (guint16) port);
    if (!listen_on(srv, sa, cert != NULL, &err)) {
        g_printerr("hypervsim: %s\n", err->message);
        return 1;
    }
    uris = soup_server_get_uris(sim_server_soup(srv));
    for (GSList *u = uris; u; u = u->next) {
        g_autofree char *s = g_uri_to_string(u->data);
        g_print(_("hypervsim: %s serving %s (%u VMs)\n"), host->name, s,
                host->vms->len);
    }
    g_slist_free_full(uris, (GDestroyNotify) g_uri_unref);

    loop = g_main_loop_new(NULL, FALSE);
    g_unix_signal_add(SIGTERM, quit, loop);
    g_unix_signal_add(SIGINT, quit, loop);
    g_main_loop_run(loop);

    sim_server_free(srv);
    g_mutex_lock(&host->lock);
    sim_host_save(host, NULL);
    g_mutex_unlock(&host->lock);
    sim_host_free(host);
    return 0;
}
