/*
 * hvd-hosts.h: the Hyper-V hosts a daemon serves, and their drivers
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "hvd-driver.h"

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

G_END_DECLS
