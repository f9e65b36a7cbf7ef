/*
 * hvd-dispatch.h: the remote procedures virthypervd serves, on driver/
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "hvd-hosts.h"
#include "hvd-server.h"

G_BEGIN_DECLS

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
