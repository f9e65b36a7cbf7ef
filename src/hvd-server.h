/*
 * hvd-server.h: the remote-protocol server: UNIX sockets, one I/O
 * thread for every connection, calls served by a worker pool
 *
 * The I/O thread answers keepalive PINGs itself, so that a client sees
 * the daemon alive while every worker waits on Hyper-V. Replies go out in
 * the order calls finish, each matching its call's prog, vers, proc and
 * serial. No write ever blocks: what a client does not read waits in its
 * own bounded queue, and a client over its limits is disconnected or
 * stops being read, never holding up another.
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
    /* the client's data (hvd_client_set_data), held for the whole call
     * even if the client goes away meanwhile; NULL when it had none */
    gpointer data;
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

/* Called on the I/O thread once the client is gone, with its data (or
 * NULL) and the server's; calls may still be running, and the server
 * drops its reference to client_data right after. */
typedef void (*HvdCloseFunc)(HvdClient *client, gpointer client_data,
                             gpointer server_data);

/* Limits, as libvirtd's of the same names; 0 means the default. */
typedef struct {
    guint workers;               /* threads serving calls: 16 */
    guint max_clients;           /* connections at once: 5000 */
    guint max_anonymous_clients; /* of them not yet through CONNECT_OPEN: 20 */
    guint max_client_requests;   /* calls of one client being served or
                                  * waiting for their reply to be written: 5;
                                  * past it the client is not read */
    gsize max_client_output;     /* bytes queued for one client: 16 MiB;
                                  * past it the client is disconnected */
    guint read_timeout_ms;       /* a packet begun stalls this long: 30 s */
    guint handshake_timeout_ms;  /* idle before CONNECT_OPEN: 60 s */
} HvdServerLimits;

/* procedures: sorted by proc, n of them; limits: NULL for the defaults;
 * data: for the handlers */
HvdServer *hvd_server_new(const HvdProcedure *procedures, guint n,
                          const HvdServerLimits *limits, gpointer data);
void hvd_server_free(HvdServer *server);
void hvd_server_set_close_func(HvdServer *server, HvdCloseFunc func);
/* Called at shutdown for each client still connected, with its data,
 * before the server closes it: what it queues (hvd_client_send_event) is
 * written while the client reads, for a second at most. */
void hvd_server_set_goodbye_func(HvdServer *server, HvdCloseFunc func);
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
/* The handlers' own state of a connection. ref and unref keep it alive
 * while a call uses it (HvdCall.data); the server drops its reference
 * once the client is gone. Set on a client already gone, it is dropped at
 * once. */
void hvd_client_set_data(HvdClient *client, gpointer data, GBoxedCopyFunc ref,
                         GDestroyNotify unref);
gboolean hvd_client_is_read_only(HvdClient *client);
void hvd_client_set_read_only(HvdClient *client);
gboolean hvd_client_is_open(HvdClient *client);
void hvd_client_set_open(HvdClient *client, gboolean open);
HvdServer *hvd_client_get_server(HvdClient *client);
/* Queues an event (type MESSAGE) for the client's connection; never
 * blocks. FALSE when the client is gone or was over its output limit. */
gboolean hvd_client_send_event(HvdClient *client, int proc, xdrproc_t proc_x,
                               const void *msg);

G_END_DECLS
