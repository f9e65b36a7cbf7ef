/*
 * hvd-server.h: the remote-protocol server: UNIX sockets, one reading
 * thread per connection, calls served by a worker pool
 *
 * The reading thread answers keepalive PINGs itself, so that a client
 * sees the daemon alive while every worker waits on Hyper-V. Replies go
 * out in the order calls finish, each matching its call's prog, vers,
 * proc and serial.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>
#include <libvirt/virterror.h>

#include "hvd-message.h"

G_BEGIN_DECLS

typedef struct _HvdServer HvdServer;
typedef struct _HvdClient HvdClient;

/* One call being served */
typedef struct {
    HvdClient *client;
    hvd_message_header header;
    /* set by a handler that fails: libvirt's code, domain and message */
    int error_code;
    int error_domain;
    char *error_message;
} HvdCall;

typedef gboolean (*HvdHandler)(HvdCall *call, gpointer args, gpointer ret);

typedef struct {
    int proc;
    xdrproc_t args_proc; /* NULL: no arguments */
    gsize args_size;
    xdrproc_t ret_proc; /* NULL: an empty reply */
    gsize ret_size;
    HvdHandler handler;
    gboolean writes;      /* refused on a read-only connection */
    gboolean before_open; /* allowed before CONNECT_OPEN */
} HvdProcedure;

void hvd_call_fail(HvdCall *call, int code, int domain, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

/* Called on the connection's reading thread once the client is gone;
 * calls may still be running. */
typedef void (*HvdCloseFunc)(HvdClient *client, gpointer data);

/* procedures: sorted by proc, n of them; data: for the handlers */
HvdServer *hvd_server_new(const HvdProcedure *procedures, guint n,
                          guint workers, gpointer data);
void hvd_server_free(HvdServer *server);
void hvd_server_set_close_func(HvdServer *server, HvdCloseFunc func);
/* Listens on a socket systemd (or another parent) passed in. */
gboolean hvd_server_listen_fd(HvdServer *server, int fd, gboolean read_only,
                              GError **error);
/* Listens on a UNIX socket; every connection on a read-only one is. */
gboolean hvd_server_listen(HvdServer *server, const char *path,
                           gboolean read_only, GError **error);
void hvd_server_start(HvdServer *server);
gpointer hvd_server_get_data(HvdServer *server);

HvdClient *hvd_client_ref(HvdClient *client);
void hvd_client_unref(HvdClient *client);
/* The handlers' own state of a connection */
void hvd_client_set_data(HvdClient *client, gpointer data);
gpointer hvd_client_get_data(HvdClient *client);
gboolean hvd_client_is_read_only(HvdClient *client);
void hvd_client_set_read_only(HvdClient *client);
gboolean hvd_client_is_open(HvdClient *client);
void hvd_client_set_open(HvdClient *client, gboolean open);
HvdServer *hvd_client_get_server(HvdClient *client);
/* Sends an event (type MESSAGE) on the client's connection. */
gboolean hvd_client_send_event(HvdClient *client, int proc, xdrproc_t proc_x,
                               const void *msg);

G_END_DECLS
