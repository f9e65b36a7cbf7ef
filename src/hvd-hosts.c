/*
 * hvd-hosts.c: the Hyper-V hosts a daemon serves, by the names clients
 * open them with, and the driver of each (made on first use)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>

#include "hvd-hosts.h"

struct _HvdDaemon {
    GMutex lock;
    GHashTable *hosts;   /* lower-case name -> HvdHostConfig */
    GHashTable *drivers; /* lower-case name -> HvdDriver */
    char *default_host;
};

HvdDaemon *
hvd_daemon_new(void)
{
    HvdDaemon *d = g_new0(HvdDaemon, 1);
    g_mutex_init(&d->lock);
    d->hosts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                     (GDestroyNotify) hvd_host_config_free);
    d->drivers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                       (GDestroyNotify) hvd_driver_free);
    return d;
}

void
hvd_daemon_add_host(HvdDaemon *d, const HvdHostConfig *config)
{
    HvdHostConfig *h = hvd_host_config_copy(config);
    char *key = g_ascii_strdown(config->name, -1);

    if (!d->default_host)
        d->default_host = g_strdup(key);
    g_hash_table_replace(d->hosts, key, h);
}

gboolean
hvd_daemon_set_default_host(HvdDaemon *d, const char *name, GError **error)
{
    g_autofree char *key = g_ascii_strdown(name, -1);

    if (!g_hash_table_contains(d->hosts, key)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    _("the default host '%s' is not configured"), name);
        return FALSE;
    }
    g_free(d->default_host);
    d->default_host = g_steal_pointer(&key);
    return TRUE;
}

guint
hvd_daemon_n_hosts(HvdDaemon *d)
{
    return g_hash_table_size(d->hosts);
}

HvdDriver *
hvd_daemon_open(HvdDaemon *d, const char *uri, GError **error)
{
    g_autoptr(GUri) u = NULL;
    g_autofree char *key = NULL;
    HvdHostConfig *h;
    HvdDriver *driver;
    const char *host = NULL, *path;

    if (uri && *uri) {
        u = g_uri_parse(uri, G_URI_FLAGS_NONE, NULL);
        if (!u || g_ascii_strcasecmp(g_uri_get_scheme(u), "hyperv") != 0) {
            hvd_error_set(error, HVD_ERROR_HYPERV, VIR_ERR_INVALID_ARG,
                          _("'%s' is not a Hyper-V connection URI "
                            "(hyperv:///system or hyperv://HOST/)"),
                          uri);
            return NULL;
        }
        host = g_uri_get_host(u);
        path = g_uri_get_path(u);
        if (host && !*host)
            host = NULL;
        if (!host && g_strcmp0(path, "/system") != 0) {
            hvd_error_set(error, HVD_ERROR_HYPERV, VIR_ERR_INVALID_ARG,
                          _("unexpected Hyper-V URI path '%s', try "
                            "hyperv:///system"),
                          path);
            return NULL;
        }
    }
    g_mutex_lock(&d->lock);
    key = host ? g_ascii_strdown(host, -1) : g_strdup(d->default_host);
    h = key ? g_hash_table_lookup(d->hosts, key) : NULL;
    if (!h) {
        g_mutex_unlock(&d->lock);
        if (host)
            hvd_error_set(error, HVD_ERROR_HYPERV, VIR_ERR_INVALID_ARG,
                          _("the Hyper-V host '%s' is not in virthypervd's "
                            "configuration"),
                          host);
        else
            hvd_error_set(error, HVD_ERROR_HYPERV, VIR_ERR_INVALID_ARG,
                          _("virthypervd has no Hyper-V host configured"));
        return NULL;
    }
    driver = g_hash_table_lookup(d->drivers, key);
    if (!driver) {
        driver = hvd_driver_new(h);
        g_hash_table_insert(d->drivers, g_strdup(key), driver);
    }
    g_mutex_unlock(&d->lock);
    return driver;
}

void
hvd_daemon_free(HvdDaemon *d)
{
    if (!d)
        return;
    g_hash_table_unref(d->drivers);
    g_hash_table_unref(d->hosts);
    g_free(d->default_host);
    g_mutex_clear(&d->lock);
    g_free(d);
}
