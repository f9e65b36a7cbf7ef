/*
 * hvd-dispatch.h: the remote procedures virthypervd serves, on driver/
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "hvd-driver.h"
#include "hvd-server.h"

G_BEGIN_DECLS

/* The hosts a daemon serves, and their drivers (made on first use) */
typedef struct _HvdDaemon HvdDaemon;

HvdDaemon *hvd_daemon_new(void);
void hvd_daemon_free(HvdDaemon *daemon);
/* config is copied; the first host added is the default until one is set */
void hvd_daemon_add_host(HvdDaemon *daemon, const HvdHostConfig *config);
gboolean hvd_daemon_set_default_host(HvdDaemon *daemon, const char *name,
                                     GError **error);
guint hvd_daemon_n_hosts(HvdDaemon *daemon);

/* The driver for a CONNECT_OPEN name: NULL or hyperv:///system for the
 * default host, hyperv://HOST/ for a configured one. */
HvdDriver *hvd_daemon_open(HvdDaemon *daemon, const char *uri, GError **error);

/* The procedure table, sorted */
const HvdProcedure *hvd_dispatch_procedures(guint *n);
/* For hvd_server_set_close_func(); data is the HvdDaemon */
void hvd_dispatch_client_closed(HvdClient *client, gpointer client_data,
                                gpointer server_data);

/* The server's goodbye: tells a client that registered a close callback
 * that the daemon is going away */
void hvd_dispatch_client_goodbye(HvdClient *client, gpointer client_data,
                                 gpointer server_data);

G_END_DECLS
