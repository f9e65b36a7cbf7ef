/*
 * virthypervd.c: the daemon: options, configuration, credentials, the
 * lock, sockets (its own or systemd's), signals and logging
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "hvd-dispatch.h"

#define SYSTEM_SOCKET_DIR "/run/libvirt"
#define SOCKET_NAME       "virthypervd-sock"

typedef struct {
    char *config_file;
    char *socket_path;
    char *host_url;
    char *auth_file;
    gboolean verbose;
    char *reconnect; /* a differencing disk to reconnect, then exit */
    char *parent;
    char *state_dir;
    /* --group-*: a VM group of the default host changed, then exit */
    gboolean group_list;
    char *group_define, *group_destroy, *group_rename, *group_add;
    char *group_remove, *member, *group_revert;
} Options;

/* The strings GOption gave the entries */
static void
entries_clear(const GOptionEntry *e)
{
    for (; e->long_name; e++)
        if (e->arg == G_OPTION_ARG_STRING || e->arg == G_OPTION_ARG_FILENAME)
            g_clear_pointer((char **) e->arg_data, g_free);
}

/* --reconnect CHILD --to PARENT: the repair Hyper-V offers for a broken
 * chain, on the default host; prints the chain it reads back. */
static int
reconnect(HvdDaemon *daemon, const Options *o, GError **error)
{
    HvdDriver *driver = hvd_daemon_open(daemon, NULL, error);
    g_autoptr(GPtrArray) chain = NULL;

    if (!driver)
        return 1;
    if (!o->parent) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    _("--reconnect needs --to, the parent file"));
        return 2;
    }
    chain = hvd_driver_reconnect_parent(driver, o->reconnect, o->parent, error);
    if (!chain)
        return 1;
    for (guint i = 0; i < chain->len; i++)
        g_print("%s%s\n", i ? "  <- " : "", (char *) chain->pdata[i]);
    return 0;
}

static gboolean
wants_group(const Options *o)
{
    return o->group_list || o->group_define || o->group_destroy ||
           o->group_rename || o->group_add || o->group_remove ||
           o->group_revert;
}

/* --group-*: the VM groups of the default host, for hosts managed from
 * Linux only (on Windows, New-VMGroup and its kin do the same) */
static int
group_command(HvdDaemon *daemon, const Options *o, GError **error)
{
    HvdDriver *driver = hvd_daemon_open(daemon, NULL, error);
    const char *name = NULL, *arg = NULL;
    HvdGroupChange change;

    if (!driver)
        return 1;
    if (o->group_list) {
        g_autoptr(GPtrArray) lines = hvd_host_groups(driver, error);
        if (!lines)
            return 1;
        for (guint i = 0; i < lines->len; i++)
            g_print("%s\n", (char *) lines->pdata[i]);
        return 0;
    }
    if (o->group_revert) {
        if (!o->parent) {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                        _("--group-revert needs --to, the snapshot"));
            return 2;
        }
        return hvd_group_snapshot_revert(driver, o->group_revert, o->parent,
                                         error)
                   ? 0
                   : 1;
    }
    if (o->group_define) {
        change = HVD_GROUP_DEFINE;
        name = o->group_define;
    } else if (o->group_destroy) {
        change = HVD_GROUP_DESTROY;
        name = o->group_destroy;
    } else if (o->group_rename) {
        change = HVD_GROUP_RENAME;
        name = o->group_rename;
        arg = o->parent;
    } else {
        change = o->group_add ? HVD_GROUP_ADD : HVD_GROUP_REMOVE;
        name = o->group_add ? o->group_add : o->group_remove;
        arg = o->member;
    }
    if ((change == HVD_GROUP_RENAME || change == HVD_GROUP_ADD ||
         change == HVD_GROUP_REMOVE) &&
        !arg) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    change == HVD_GROUP_RENAME
                        ? _("--group-rename needs --to, the new name")
                        : _("--group-add and --group-remove need --member, "
                            "the domain"));
        return 2;
    }
    return hvd_host_group_change(driver, change, name, arg, error) ? 0 : 1;
}

/* Where the sockets go: /run/libvirt for root, $XDG_RUNTIME_DIR/libvirt
 * for anybody else, as libvirt's own daemons do. */
static char *
default_socket(void)
{
    if (geteuid() == 0)
        return g_build_filename(SYSTEM_SOCKET_DIR, SOCKET_NAME, NULL);
    return g_build_filename(g_get_user_runtime_dir(), "libvirt", SOCKET_NAME,
                            NULL);
}

#define SYSTEM_STATE_DIR "/var/lib/libvirt/virthypervd"

/* Where operations in flight are recorded: /var/lib/libvirt for root,
 * $XDG_STATE_HOME/libvirt for anybody else */
static char *
default_state_dir(void)
{
    if (geteuid() == 0)
        return g_strdup(SYSTEM_STATE_DIR);
    return g_build_filename(g_get_user_state_dir(), "libvirt", "virthypervd",
                            NULL);
}

static char *
default_config_file(const char *name)
{
    if (geteuid() == 0)
        return g_build_filename(SYSCONFDIR, "libvirt", name, NULL);
    return g_build_filename(g_get_user_config_dir(), "libvirt", name, NULL);
}

/* libvirt's auth.conf: [auth-hyperv-HOST] credentials=NAME, then
 * [credentials-NAME] username=, password= ("default" for any host) */
static gboolean
read_credentials(GKeyFile *auth, const char *host, char **user, char **password,
                 GError **error)
{
    const char *try[] = { host, "default" };

    for (gsize i = 0; i < G_N_ELEMENTS(try); i++) {
        g_autofree char *group = g_strdup_printf("auth-hyperv-%s", try[i]);
        g_autofree char *name =
            g_key_file_get_string(auth, group, "credentials", NULL);
        g_autofree char *cred = NULL;

        if (!name)
            continue;
        cred = g_strdup_printf("credentials-%s", name);
        if (!g_key_file_has_group(auth, cred)) {
            g_set_error(error, G_KEY_FILE_ERROR,
                        G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
                        _("[%s] names the credentials '%s', but there is no "
                          "[%s]"),
                        group, name, cred);
            return FALSE;
        }
        *user = g_key_file_get_string(auth, cred, "username", NULL);
        *password = g_key_file_get_string(auth, cred, "password", NULL);
        return TRUE;
    }
    return TRUE;
}

static gboolean
parse_auth(const char *text, WsmanAuth *out)
{
    if (!text || g_ascii_strcasecmp(text, "negotiate") == 0)
        *out = WSMAN_AUTH_NEGOTIATE;
    else if (g_ascii_strcasecmp(text, "basic") == 0)
        *out = WSMAN_AUTH_BASIC;
    else if (g_ascii_strcasecmp(text, "ntlm") == 0)
        *out = WSMAN_AUTH_NTLM;
    else if (g_ascii_strcasecmp(text, "kerberos") == 0)
        *out = WSMAN_AUTH_KERBEROS;
    else
        return FALSE;
    return TRUE;
}

/* One [host NAME] group, or the --host URL */
static gboolean
add_host(HvdDaemon *daemon, GKeyFile *conf, const char *group, const char *name,
         const char *url_opt, GKeyFile *auth, guint poll_ms,
         const char *state_dir, GError **error)
{
    HvdHostConfig h = { .state_dir = (char *) state_dir };
    g_autofree char *url = NULL, *transport = NULL, *address = NULL;
    g_autofree char *ca = NULL, *auth_kind = NULL;
    g_autofree char *ccache = NULL, *keytab = NULL;
    g_autofree char *user = NULL, *password = NULL;
    g_autoptr(GUri) uri = NULL;
    gint port = 0, connections;

    if (url_opt) {
        url = g_strdup(url_opt);
    } else {
        url = g_key_file_get_string(conf, group, "url", NULL);
        transport = g_key_file_get_string(conf, group, "transport", NULL);
        address = g_key_file_get_string(conf, group, "address", NULL);
        port = g_key_file_get_integer(conf, group, "port", NULL);
        ca = g_key_file_get_string(conf, group, "ca_file", NULL);
        auth_kind = g_key_file_get_string(conf, group, "auth", NULL);
        h.wsman.no_verify =
            g_key_file_get_boolean(conf, group, "no_verify", NULL);
        h.wsman.allow_unencrypted =
            g_key_file_get_boolean(conf, group, "allow_unencrypted", NULL);
        ccache = g_key_file_get_string(conf, group, "krb5_ccache", NULL);
        keytab = g_key_file_get_string(conf, group, "krb5_keytab", NULL);
        h.job_timeout_ms =
            g_key_file_get_integer(conf, group, "job_timeout", NULL) * 1000;
        connections = g_key_file_get_integer(conf, group, "connections", NULL);
        if (connections < 0 || connections > HVD_MAX_CONNECTIONS) {
            g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                        _("[%s] connections is 1 to %d, not %d"), group,
                        HVD_MAX_CONNECTIONS, connections);
            return FALSE;
        }
        h.connections = connections;
        if (!url) {
            gboolean https;
            if (transport && g_strcmp0(transport, "http") != 0 &&
                g_strcmp0(transport, "https") != 0) {
                g_set_error(error, G_KEY_FILE_ERROR,
                            G_KEY_FILE_ERROR_INVALID_VALUE,
                            _("[%s] transport is http or https, not '%s'"),
                            group, transport);
                return FALSE;
            }
            https = !transport || g_str_equal(transport, "https");
            url = g_strdup_printf("%s://%s:%d/wsman", https ? "https" : "http",
                                  address ? address : name,
                                  port ? port : (https ? 5986 : 5985));
        }
    }
    uri = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);
    if (!uri || !g_uri_get_host(uri) ||
        (g_strcmp0(g_uri_get_scheme(uri), "http") != 0 &&
         g_strcmp0(g_uri_get_scheme(uri), "https") != 0)) {
        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                    _("'%s' is not an http(s)://HOST:PORT/wsman address"), url);
        return FALSE;
    }
    if (g_uri_get_userinfo(uri)) {
        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                    _("the address of host '%s' holds credentials; they "
                      "belong in auth.conf"),
                    name ? name : g_uri_get_host(uri));
        return FALSE;
    }
    if (!name)
        name = g_uri_get_host(uri);
    if (!parse_auth(auth_kind, &h.wsman.auth)) {
        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                    _("[%s] auth is negotiate, ntlm, kerberos or basic, not "
                      "'%s'"),
                    group, auth_kind);
        return FALSE;
    }
    if (h.wsman.auth == WSMAN_AUTH_BASIC &&
        g_str_equal(g_uri_get_scheme(uri), "http") &&
        !h.wsman.allow_unencrypted) {
        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                    _("[%s] auth = basic over http:// would send the password "
                      "and every message in clear: use transport = https, or "
                      "auth = negotiate (encrypted), or say "
                      "allow_unencrypted = true"),
                    group ? group : name);
        return FALSE;
    }
    if (auth &&
        !read_credentials(auth, g_uri_get_host(uri), &user, &password, error))
        return FALSE;
    if (g_strcmp0(name, g_uri_get_host(uri)) != 0 && auth && !user &&
        !read_credentials(auth, name, &user, &password, error))
        return FALSE;

    h.name = (char *) name;
    h.wsman.url = url;
    h.wsman.user = user;
    h.wsman.password = password;
    h.wsman.ca_file = ca;
    h.wsman.krb5_ccache = ccache;
    h.wsman.krb5_keytab = keytab;
    h.poll_interval_ms = poll_ms;
    hvd_daemon_add_host(daemon, &h);
    g_info("host %s: %s, %s", name, g_uri_get_host(uri),
           user ? "with credentials" : "without credentials");
    if (password)
        memset(password, 0, strlen(password));
    return TRUE;
}

typedef struct {
    HvdServerLimits limits;
    char *socket_group;
} DaemonSettings;

/* A non-negative integer key of [daemon]; absent is 0 (the default). */
static gboolean
daemon_uint(GKeyFile *conf, const char *key, guint64 max, guint64 *value,
            GError **error)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *text = g_key_file_get_value(conf, "daemon", key, &err);

    *value = 0;
    if (!text)
        return TRUE;
    if (!g_ascii_string_to_unsigned(g_strstrip(text), 10, 0, max, value,
                                    NULL)) {
        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                    _("[daemon] %s = '%s' is not a whole number from 0 to "
                      "%u"),
                    key, text, (guint) max);
        return FALSE;
    }
    return TRUE;
}

/* The client limits of [daemon], libvirtd's names where it has them */
static gboolean
configure_limits(GKeyFile *conf, HvdServerLimits *l, GError **error)
{
    guint64 workers, clients, anonymous, requests, output, read_s, handshake_s;
    const struct {
        const char *key;
        guint64 max;
        guint64 *value;
    } keys[] = {
        { "workers", 100000, &workers },
        { "max_clients", 100000, &clients },
        { "max_anonymous_clients", 100000, &anonymous },
        { "max_client_requests", 100000, &requests },
        { "max_client_output", G_MAXUINT32, &output },
        { "read_timeout", 86400, &read_s },
        { "handshake_timeout", 86400, &handshake_s },
    };

    for (guint i = 0; i < G_N_ELEMENTS(keys); i++)
        if (!daemon_uint(conf, keys[i].key, keys[i].max, keys[i].value, error))
            return FALSE;
    l->workers = workers;
    l->max_clients = clients;
    l->max_anonymous_clients = anonymous;
    l->max_client_requests = requests;
    l->max_client_output = output;
    l->read_timeout_ms = read_s * 1000;
    l->handshake_timeout_ms = handshake_s * 1000;
    return TRUE;
}

/* Every client is a descriptor: raise the soft limit to the hard one, as
 * systemd's services have it, and keep max_clients within it. */
static void
raise_open_files(HvdServerLimits *l)
{
    struct rlimit r;

    if (getrlimit(RLIMIT_NOFILE, &r) < 0)
        return;
    if (r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
        getrlimit(RLIMIT_NOFILE, &r);
    }
    /* the rest: sockets, Hyper-V connections, files */
    if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur > 128) {
        guint most = MIN(r.rlim_cur - 64, G_MAXUINT);
        guint want = l->max_clients ? l->max_clients : 5000;
        if (want > most) {
            g_info("max_clients %u lowered to %u: the daemon may open %lu "
                   "files",
                   want, most, (unsigned long) r.rlim_cur);
            l->max_clients = most;
        }
    }
}

static gboolean
configure(HvdDaemon *daemon, const Options *o, DaemonSettings *set,
          GError **error)
{
    g_autoptr(GKeyFile) conf = g_key_file_new();
    g_autoptr(GKeyFile) auth = NULL;
    g_autofree char *conf_path = NULL, *auth_path = NULL;
    g_autofree char *default_host = NULL;
    g_autofree char *state_dir = NULL;
    g_auto(GStrv) groups = NULL;
    guint poll_ms;
    gboolean explicit_conf = o->config_file != NULL;

    conf_path = o->config_file ? g_strdup(o->config_file)
                               : default_config_file("virthypervd.conf");
    if (explicit_conf || g_file_test(conf_path, G_FILE_TEST_EXISTS)) {
        if (!g_key_file_load_from_file(conf, conf_path, G_KEY_FILE_NONE,
                                       error)) {
            g_prefix_error(error, "%s: ", conf_path);
            return FALSE;
        }
    }
    auth_path = o->auth_file ? g_strdup(o->auth_file)
                : g_getenv("LIBVIRT_AUTH_FILE")
                    ? g_strdup(g_getenv("LIBVIRT_AUTH_FILE"))
                    : default_config_file("auth.conf");
    if (o->auth_file || g_file_test(auth_path, G_FILE_TEST_EXISTS)) {
        auth = g_key_file_new();
        if (!g_key_file_load_from_file(auth, auth_path, G_KEY_FILE_NONE,
                                       error)) {
            g_prefix_error(error, "%s: ", auth_path);
            return FALSE;
        }
    }

    if (!configure_limits(conf, &set->limits, error)) {
        g_prefix_error(error, "%s: ", conf_path);
        return FALSE;
    }
    set->socket_group =
        g_key_file_get_string(conf, "daemon", "socket_group", NULL);
    poll_ms = g_key_file_get_integer(conf, "daemon", "poll_interval_ms", NULL);
    state_dir = o->state_dir
                    ? g_strdup(o->state_dir)
                    : g_key_file_get_string(conf, "daemon", "state_dir", NULL);
    if (!state_dir)
        state_dir = default_state_dir();
    default_host = g_key_file_get_string(conf, "daemon", "default_host", NULL);

    groups = g_key_file_get_groups(conf, NULL);
    for (guint i = 0; groups[i]; i++) {
        if (!g_str_has_prefix(groups[i], "host "))
            continue;
        if (!add_host(daemon, conf, groups[i], groups[i] + 5, NULL, auth,
                      poll_ms, state_dir, error)) {
            g_prefix_error(error, "%s: ", conf_path);
            return FALSE;
        }
    }
    if (o->host_url) {
        if (!add_host(daemon, conf, NULL, NULL, o->host_url, auth, poll_ms,
                      state_dir, error))
            return FALSE;
        g_autoptr(GUri) u = g_uri_parse(o->host_url, G_URI_FLAGS_NONE, NULL);
        if (!hvd_daemon_set_default_host(daemon, g_uri_get_host(u), error))
            return FALSE;
    } else if (default_host &&
               !hvd_daemon_set_default_host(daemon, default_host, error)) {
        g_prefix_error(error, "%s: ", conf_path);
        return FALSE;
    }
    if (hvd_daemon_n_hosts(daemon) == 0) {
        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_NOT_FOUND,
                    _("no Hyper-V host: give --host URL or a [host NAME] "
                      "group in %s"),
                    conf_path);
        return FALSE;
    }
    return TRUE;
}

/* The lock: SOCKET.lock holds the pid of the daemon that owns SOCKET. */
static int
take_lock(const char *socket_path, GError **error)
{
    g_autofree char *path = g_strconcat(socket_path, ".lock", NULL);
    g_autofree char *pid = NULL;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    if (fd < 0) {
        int e = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
                    _("cannot open the lock file %s: %s"), path, g_strerror(e));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        char buf[32] = "";
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        buf[MAX(n, 0)] = '\0';
        g_strchomp(buf);
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_BUSY,
                    _("another virthypervd (pid %s) is serving %s"),
                    *buf ? buf : "?", socket_path);
        close(fd);
        return -1;
    }
    pid = g_strdup_printf("%d\n", (int) getpid());
    if (ftruncate(fd, 0) < 0 || write(fd, pid, strlen(pid)) < 0) {
        int e = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
                    _("cannot write the lock file %s: %s"), path,
                    g_strerror(e));
        close(fd);
        return -1;
    }
    return fd;
}

static gboolean
set_socket_access(const char *path, mode_t mode, const char *group,
                  GError **error)
{
    if (group) {
        struct group *g = getgrnam(group);
        if (!g) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                        _("the socket group '%s' does not exist"), group);
            return FALSE;
        }
        if (chown(path, -1, g->gr_gid) < 0) {
            int e = errno;
            g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
                        _("cannot give %s to the group %s: %s"), path, group,
                        g_strerror(e));
            return FALSE;
        }
    }
    if (chmod(path, mode) < 0) {
        int e = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e),
                    _("cannot set the mode of %s: %s"), path, g_strerror(e));
        return FALSE;
    }
    return TRUE;
}

/* The sockets systemd passed in, by their unit names; FALSE if none. */
static gboolean
activated_sockets(HvdServer *server, int *n_out, GError **error)
{
    char **names = NULL;
    int n = sd_listen_fds_with_names(TRUE, &names);

    *n_out = MAX(n, 0);
    for (int i = 0; i < n; i++) {
        gboolean ro = names && names[i] && strstr(names[i], "-ro");
        if (!hvd_server_listen_fd(server, SD_LISTEN_FDS_START + i, ro, error)) {
            g_strfreev(names);
            return FALSE;
        }
        g_info("listening on a socket from systemd (%s)",
               names && names[i] ? names[i] : "?");
    }
    g_strfreev(names);
    return TRUE;
}

static gboolean
own_sockets(HvdServer *server, const char *path, const char *group,
            GError **error)
{
    g_autofree char *ro = g_strconcat(path, "-ro", NULL);
    mode_t old;
    gboolean ok;

    /* the folder was made for the lock; the lock is ours: what is left there is
     * a dead daemon's */
    g_unlink(path);
    g_unlink(ro);
    old = umask(0077);
    ok = hvd_server_listen(server, path, FALSE, error) &&
         hvd_server_listen(server, ro, TRUE, error);
    umask(old);
    return ok && set_socket_access(path, group ? 0660 : 0600, group, error) &&
           set_socket_access(ro, 0666, NULL, error);
}

static gboolean
on_signal(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_CONTINUE;
}

int
main(int argc, char **argv)
{
    Options o = { 0 };
    DaemonSettings set = { 0 };
    g_autoptr(GError) err = NULL;
    g_autoptr(GOptionContext) ctx = NULL;
    GOptionGroup *group;
    g_autoptr(GMainLoop) loop = NULL;
    HvdDaemon *daemon = NULL;
    HvdServer *server = NULL;
    const HvdProcedure *procs;
    guint n_procs;
    int lock_fd = -1, n_activated = 0, status = 1;
    GOptionEntry entries[] = {
        { "config", 'f', 0, G_OPTION_ARG_FILENAME, &o.config_file,
          N_("Configuration file (hosts, transport, CA, default host)"),
          N_("FILE") },
        { "socket", 's', 0, G_OPTION_ARG_FILENAME, &o.socket_path,
          N_("Socket to listen on; a read-only one goes next to it with "
             "-ro"),
          N_("PATH") },
        { "host", 'H', 0, G_OPTION_ARG_STRING, &o.host_url,
          N_("A Hyper-V host's WS-Management address, the default host"),
          N_("URL") },
        { "auth-file", 'a', 0, G_OPTION_ARG_FILENAME, &o.auth_file,
          N_("Credentials, in libvirt's auth.conf format"), N_("FILE") },
        { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &o.state_dir,
          N_("Where operations in flight and checkpoint metadata are kept "
             "(default /var/lib/libvirt/virthypervd)"),
          N_("DIR") },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &o.verbose,
          N_("Log what the daemon does"), NULL },
        { "reconnect", 0, 0, G_OPTION_ARG_STRING, &o.reconnect,
          N_("Reconnect a differencing disk of the default host to the "
             "parent --to names, print its chain, and exit"),
          N_("CHILD") },
        { "to", 0, 0, G_OPTION_ARG_STRING, &o.parent,
          N_("The parent file for --reconnect, the new name for "
             "--group-rename, the snapshot for --group-revert"),
          N_("PARENT") },
        { NULL },
    };
    GOptionEntry group_entries[] = {
        { "group-list", 0, 0, G_OPTION_ARG_NONE, &o.group_list,
          N_("List the default host's VM groups (name, id, members) and "
             "exit"),
          NULL },
        { "group-define", 0, 0, G_OPTION_ARG_STRING, &o.group_define,
          N_("Make a VM group on the default host, print its id, and exit"),
          N_("NAME") },
        { "group-destroy", 0, 0, G_OPTION_ARG_STRING, &o.group_destroy,
          N_("Remove a VM group (its members stay) and exit"), N_("NAME") },
        { "group-rename", 0, 0, G_OPTION_ARG_STRING, &o.group_rename,
          N_("Rename a VM group to --to and exit"), N_("NAME") },
        { "group-add", 0, 0, G_OPTION_ARG_STRING, &o.group_add,
          N_("Add the domain --member names to a VM group and exit"),
          N_("NAME") },
        { "group-remove", 0, 0, G_OPTION_ARG_STRING, &o.group_remove,
          N_("Take the domain --member names out of a VM group and exit"),
          N_("NAME") },
        { "group-revert", 0, 0, G_OPTION_ARG_STRING, &o.group_revert,
          N_("Revert the whole group to the group snapshot whose part of "
             "this domain --to names, and exit"),
          N_("DOMAIN") },
        { "member", 0, 0, G_OPTION_ARG_STRING, &o.member,
          N_("The domain for --group-add and --group-remove"), N_("DOMAIN") },
        { NULL },
    };

    setlocale(LC_ALL, "");
    bindtextdomain(GETTEXT_PACKAGE, LOCALEDIR);
    bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
    if (g_getenv("VIRTHYPERVD_LOCALEDIR"))
        bindtextdomain(GETTEXT_PACKAGE, g_getenv("VIRTHYPERVD_LOCALEDIR"));
    textdomain(GETTEXT_PACKAGE);

    ctx = g_option_context_new(_("- libvirt's remote protocol for Hyper-V"));
    g_option_context_set_translation_domain(ctx, GETTEXT_PACKAGE);
    g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
    group = g_option_group_new("group", _("VM groups of the default host:"),
                               _("Show the VM group commands"), NULL, NULL);
    g_option_group_set_translation_domain(group, GETTEXT_PACKAGE);
    g_option_group_add_entries(group, group_entries);
    g_option_context_add_group(ctx, group);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        g_printerr("virthypervd: %s\n", err->message);
        return 2;
    }
    /* GLib's writer logs to the journal when stderr is the journal */
    if (o.verbose)
        g_log_set_debug_enabled(TRUE);
    if (!o.socket_path)
        o.socket_path = default_socket();

    daemon = hvd_daemon_new();
    if (!configure(daemon, &o, &set, &err))
        goto out;
    if (o.reconnect) {
        status = reconnect(daemon, &o, &err);
        goto out;
    }
    if (wants_group(&o)) {
        status = group_command(daemon, &o, &err);
        goto out;
    }
    procs = hvd_dispatch_procedures(&n_procs);
    raise_open_files(&set.limits);
    server = hvd_server_new(procs, n_procs, &set.limits, daemon);
    hvd_server_set_close_func(server, hvd_dispatch_client_closed);
    hvd_server_set_goodbye_func(server, hvd_dispatch_client_goodbye);
    if (!activated_sockets(server, &n_activated, &err))
        goto out;
    if (n_activated == 0) {
        g_autofree char *dir = g_path_get_dirname(o.socket_path);
        if (g_mkdir_with_parents(dir, 0755) < 0) {
            int e = errno;
            g_set_error(&err, G_IO_ERROR, g_io_error_from_errno(e),
                        _("cannot create %s: %s"), dir, g_strerror(e));
            goto out;
        }
        lock_fd = take_lock(o.socket_path, &err);
        if (lock_fd < 0 ||
            !own_sockets(server, o.socket_path, set.socket_group, &err))
            goto out;
        g_info("listening on %s and %s-ro", o.socket_path, o.socket_path);
    }

    loop = g_main_loop_new(NULL, FALSE);
    g_unix_signal_add(SIGTERM, on_signal, loop);
    g_unix_signal_add(SIGINT, on_signal, loop);
    hvd_server_start(server);
    sd_notify(0, "READY=1");
    g_main_loop_run(loop);
    sd_notify(0, "STOPPING=1");
    g_info("stopping");
    status = 0;

out:
    if (err)
        g_printerr("virthypervd: %s\n", err->message);
    hvd_server_free(server);
    hvd_daemon_free(daemon);
    if (lock_fd >= 0) {
        g_autofree char *lock = g_strconcat(o.socket_path, ".lock", NULL);
        g_unlink(lock);
        close(lock_fd);
    }
    g_free(set.socket_group);
    entries_clear(entries);
    entries_clear(group_entries);
    return status;
}
