/*
 * hvd-server.c: sockets, connections, keepalive and the worker pool
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <gio/gunixsocketaddress.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "hvd-server.h"

struct _HvdServer {
    const HvdProcedure *procedures;
    guint n_procedures;
    gpointer data;
    GThreadedSocketService *service;
    GThreadPool *workers;
    GHashTable *read_only_listeners; /* GSocketListener source objects */
    GPtrArray *paths;                /* socket files to remove */
    GMainContext *context;           /* where connections are accepted */
    GMainLoop *loop;
    GThread *acceptor;
    HvdCloseFunc close_func;
    GMutex conns_lock; /* the three below */
    GCond conns_done;
    guint n_conns;      /* accepted, their reading threads not ended */
    GPtrArray *clients; /* HvdClient being read */
    gboolean stopping;
};

struct _HvdClient {
    gint refs;
    HvdServer *server;
    GSocketConnection *conn;
    GMutex write_lock;
    gboolean read_only;
    gboolean open;
    gboolean closed;
    gpointer data;
};

typedef struct {
    HvdClient *client;
    GBytes *packet;
    hvd_message_header header;
} Job;

HvdClient *
hvd_client_ref(HvdClient *c)
{
    g_atomic_int_inc(&c->refs);
    return c;
}

void
hvd_client_unref(HvdClient *c)
{
    if (!g_atomic_int_dec_and_test(&c->refs))
        return;
    g_object_unref(c->conn);
    g_mutex_clear(&c->write_lock);
    g_free(c);
}

/* Writes a whole packet; a client gone away only loses its replies. */
static gboolean
client_write(HvdClient *c, GBytes *packet)
{
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(c->conn));
    gsize n;
    const guint8 *p = g_bytes_get_data(packet, &n);
    gboolean ok;

    g_mutex_lock(&c->write_lock);
    ok = !c->closed && g_output_stream_write_all(out, p, n, NULL, NULL, NULL);
    g_mutex_unlock(&c->write_lock);
    return ok;
}

void
hvd_call_fail(HvdCall *call, int code, int domain, const char *fmt, ...)
{
    va_list ap;

    g_free(call->error_message);
    va_start(ap, fmt);
    call->error_message = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    call->error_code = code;
    call->error_domain = domain;
}

static void
send_error(HvdClient *c, const hvd_message_header *call, int code, int domain,
           const char *message)
{
    hvd_message_header h = *call;
    char *text = (char *) message;
    hvd_error e = { 0 };
    g_autoptr(GBytes) pkt = NULL;

    h.type = HVD_REPLY;
    h.status = HVD_ERROR;
    e.code = code;
    e.domain = domain;
    e.message = &text;
    e.level = VIR_ERR_ERROR;
    pkt = hvd_packet_encode(&h, (xdrproc_t) xdr_hvd_error, &e, NULL);
    if (pkt)
        client_write(c, pkt);
}

static const HvdProcedure *
find_procedure(HvdServer *s, int proc)
{
    guint lo = 0, hi = s->n_procedures;

    while (lo < hi) {
        guint mid = (lo + hi) / 2;
        if (s->procedures[mid].proc == proc)
            return &s->procedures[mid];
        if (s->procedures[mid].proc < proc)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void
serve(HvdServer *s, Job *job)
{
    HvdClient *c = job->client;
    const HvdProcedure *p = find_procedure(s, job->header.proc);
    HvdCall call = { .client = c, .header = job->header };
    g_autofree gpointer args = NULL, ret = NULL;
    g_autoptr(GBytes) reply = NULL;
    g_autoptr(GError) err = NULL;
    const guint8 *data;
    gsize len;

    if (!p) {
        /* what libvirtd says, untranslated: clients recognise the words
         * and report "not supported" */
        g_autofree char *msg =
            g_strdup_printf("unknown procedure: %d", job->header.proc);
        send_error(c, &job->header, VIR_ERR_RPC, VIR_FROM_RPC, msg);
        return;
    }
    data = g_bytes_get_data(job->packet, &len);
    args = g_malloc0(MAX(p->args_size, 1));
    ret = g_malloc0(MAX(p->ret_size, 1));
    if (p->args_proc ? !hvd_packet_payload(data, len, p->args_proc, args, &err)
                     : len != HVD_PACKET_MIN) {
        g_autofree char *msg = g_strdup_printf(
            _("cannot decode the arguments of procedure %d: %s"),
            job->header.proc,
            err ? err->message : _("a call without arguments has a payload"));
        send_error(c, &job->header, VIR_ERR_RPC, VIR_FROM_RPC, msg);
        return;
    }
    if (!p->before_open && !hvd_client_is_open(c)) {
        hvd_call_fail(&call, VIR_ERR_RPC, VIR_FROM_RPC,
                      _("connection not open"));
    } else if (p->writes && hvd_client_is_read_only(c)) {
        hvd_call_fail(&call, VIR_ERR_OPERATION_DENIED, VIR_FROM_NONE,
                      _("operation forbidden: read only access prevents "
                        "this operation"));
    } else if (!p->handler(&call, args, ret) && !call.error_message) {
        hvd_call_fail(&call, VIR_ERR_INTERNAL_ERROR, VIR_FROM_NONE,
                      _("procedure %d failed"), job->header.proc);
    }
    if (p->args_proc)
        xdr_free(p->args_proc, args);

    if (!call.error_message) {
        hvd_message_header h = job->header;
        h.type = HVD_REPLY;
        h.status = HVD_OK;
        reply = hvd_packet_encode(&h, p->ret_proc, ret, &err);
        if (!reply)
            hvd_call_fail(&call, VIR_ERR_RPC, VIR_FROM_RPC, "%s", err->message);
    }
    if (p->ret_proc)
        xdr_free(p->ret_proc, ret);
    if (call.error_message) {
        send_error(c, &job->header, call.error_code, call.error_domain,
                   call.error_message);
        g_free(call.error_message);
    } else {
        client_write(c, reply);
    }
}

static void
run_job(gpointer data, gpointer user_data)
{
    Job *job = data;

    serve(user_data, job);
    g_bytes_unref(job->packet);
    hvd_client_unref(job->client);
    g_free(job);
}

/* Reads exactly n bytes; FALSE at end of stream or on an error. */
static gboolean
read_exactly(GInputStream *in, guint8 *buf, gsize n)
{
    gsize got = 0;
    return g_input_stream_read_all(in, buf, n, &got, NULL, NULL) && got == n;
}

static void
answer_ping(HvdClient *c, const hvd_message_header *ping)
{
    hvd_message_header h = *ping;
    g_autoptr(GBytes) pong = NULL;

    h.proc = HVD_KEEPALIVE_PONG;
    pong = hvd_packet_encode(&h, NULL, NULL, NULL);
    client_write(c, pong);
}

/* A reading thread ends (conns_lock held; released here). */
static void
connection_ended(HvdServer *s, HvdClient *c)
{
    if (c)
        g_ptr_array_remove_fast(s->clients, c);
    s->n_conns--;
    g_cond_broadcast(&s->conns_done);
    g_mutex_unlock(&s->conns_lock);
}

/* One connection's reading thread: packets in, calls to the pool. A
 * packet that does not frame or is not a call closes the connection, as
 * libvirt's own server does. */
static gboolean
on_run(GThreadedSocketService *service, GSocketConnection *conn,
       GObject *source, gpointer data)
{
    HvdServer *s = data;
    HvdClient *c;
    GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(conn));

    g_mutex_lock(&s->conns_lock);
    if (s->stopping) {
        connection_ended(s, NULL);
        return TRUE;
    }
    c = g_new0(HvdClient, 1);
    c->refs = 1;
    c->server = s;
    c->conn = g_object_ref(conn);
    g_mutex_init(&c->write_lock);
    c->read_only =
        source && g_hash_table_contains(s->read_only_listeners, source);
    g_ptr_array_add(s->clients, c);
    g_mutex_unlock(&s->conns_lock);
    for (;;) {
        guint8 word[HVD_MESSAGE_LEN_SIZE];
        hvd_message_header h;
        guint32 len;
        guint8 *buf;
        GBytes *packet;
        Job *job;

        if (!read_exactly(in, word, sizeof(word)) ||
            !hvd_packet_length(word, &len, NULL))
            break;
        buf = g_malloc(len);
        memcpy(buf, word, sizeof(word));
        if (!read_exactly(in, buf + sizeof(word), len - sizeof(word)) ||
            !hvd_packet_header(buf, len, &h, NULL)) {
            g_free(buf);
            break;
        }
        packet = g_bytes_new_take(buf, len);
        if (h.prog == HVD_KEEPALIVE_PROGRAM && h.type == HVD_MESSAGE) {
            if (h.proc == HVD_KEEPALIVE_PING)
                answer_ping(c, &h);
            g_bytes_unref(packet);
            continue;
        }
        if (h.type != HVD_CALL || h.status != HVD_OK) {
            g_bytes_unref(packet);
            break;
        }
        if (h.prog != HVD_REMOTE_PROGRAM || h.vers != HVD_REMOTE_VERSION) {
            send_error(c, &h, VIR_ERR_RPC, VIR_FROM_RPC,
                       _("unknown program or version"));
            g_bytes_unref(packet);
            continue;
        }
        job = g_new0(Job, 1);
        job->client = hvd_client_ref(c);
        job->packet = packet;
        job->header = h;
        g_thread_pool_push(s->workers, job, NULL);
    }
    g_mutex_lock(&c->write_lock);
    c->closed = TRUE;
    g_mutex_unlock(&c->write_lock);
    g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
    if (s->close_func)
        s->close_func(c, s->data);
    g_mutex_lock(&s->conns_lock);
    connection_ended(s, c);
    hvd_client_unref(c);
    return TRUE;
}

/* On the accepting thread, before a reading thread is asked for: counted
 * from here, so that freeing the server waits for every one. */
static gboolean
on_incoming(GSocketService *service, GSocketConnection *conn, GObject *source,
            gpointer data)
{
    HvdServer *s = data;

    g_mutex_lock(&s->conns_lock);
    s->n_conns++;
    g_mutex_unlock(&s->conns_lock);
    return FALSE; /* the threaded service goes on with it */
}

HvdServer *
hvd_server_new(const HvdProcedure *procedures, guint n, guint workers,
               gpointer data)
{
    HvdServer *s;

    /* looked up by bisection */
    for (guint i = 1; i < n; i++)
        g_return_val_if_fail(procedures[i - 1].proc < procedures[i].proc, NULL);
    s = g_new0(HvdServer, 1);
    s->procedures = procedures;
    s->n_procedures = n;
    s->data = data;
    /* a reading thread per connection, up to 256 clients at once */
    s->service = G_THREADED_SOCKET_SERVICE(g_threaded_socket_service_new(256));
    g_signal_connect(s->service, "incoming", G_CALLBACK(on_incoming), s);
    g_signal_connect(s->service, "run", G_CALLBACK(on_run), s);
    g_socket_service_stop(G_SOCKET_SERVICE(s->service)); /* until started */
    s->context = g_main_context_new();
    s->loop = g_main_loop_new(s->context, FALSE);
    s->workers = g_thread_pool_new(run_job, s, MAX(workers, 1), FALSE, NULL);
    s->read_only_listeners = g_hash_table_new(NULL, NULL);
    s->paths = g_ptr_array_new_with_free_func(g_free);
    g_mutex_init(&s->conns_lock);
    g_cond_init(&s->conns_done);
    s->clients = g_ptr_array_new();
    return s;
}

void
hvd_server_free(HvdServer *s)
{
    if (!s)
        return;
    if (s->acceptor) {
        g_main_loop_quit(s->loop);
        g_thread_join(s->acceptor);
    }
    g_socket_listener_close(G_SOCKET_LISTENER(s->service));
    /* every reading thread ends before the server goes: their sockets
     * are shut so that their reads return */
    g_mutex_lock(&s->conns_lock);
    s->stopping = TRUE;
    for (guint i = 0; i < s->clients->len; i++) {
        HvdClient *c = s->clients->pdata[i];
        g_socket_shutdown(g_socket_connection_get_socket(c->conn), TRUE, TRUE,
                          NULL);
    }
    while (s->n_conns > 0)
        g_cond_wait(&s->conns_done, &s->conns_lock);
    g_mutex_unlock(&s->conns_lock);
    g_thread_pool_free(s->workers, FALSE, TRUE);
    g_object_unref(s->service);
    for (guint i = 0; i < s->paths->len; i++)
        g_unlink(s->paths->pdata[i]);
    g_ptr_array_unref(s->paths);
    g_hash_table_unref(s->read_only_listeners);
    g_main_loop_unref(s->loop);
    g_main_context_unref(s->context);
    g_ptr_array_unref(s->clients);
    g_mutex_clear(&s->conns_lock);
    g_cond_clear(&s->conns_done);
    g_free(s);
}

gboolean
hvd_server_listen(HvdServer *s, const char *path, gboolean read_only,
                  GError **error)
{
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    /* the source object tells the reading thread which socket it was */
    GObject *tag = G_OBJECT(addr);

    if (!g_socket_listener_add_address(
            G_SOCKET_LISTENER(s->service), addr, G_SOCKET_TYPE_STREAM,
            G_SOCKET_PROTOCOL_DEFAULT, tag, NULL, error))
        return FALSE;
    if (read_only)
        g_hash_table_add(s->read_only_listeners, tag);
    g_ptr_array_add(s->paths, g_strdup(path));
    return TRUE;
}

gboolean
hvd_server_listen_fd(HvdServer *s, int fd, gboolean read_only, GError **error)
{
    g_autoptr(GSocket) sock = g_socket_new_from_fd(fd, error);
    /* a tag of the server's own tells the reading thread which it was */
    g_autoptr(GObject) tag = g_object_new(G_TYPE_OBJECT, NULL);

    if (!sock || !g_socket_listener_add_socket(G_SOCKET_LISTENER(s->service),
                                               sock, tag, error))
        return FALSE;
    if (read_only)
        g_hash_table_add(s->read_only_listeners, tag);
    return TRUE;
}

void
hvd_server_set_close_func(HvdServer *s, HvdCloseFunc func)
{
    s->close_func = func;
}

static gpointer
accept_connections(gpointer data)
{
    HvdServer *s = data;

    g_main_context_push_thread_default(s->context);
    g_socket_service_start(G_SOCKET_SERVICE(s->service));
    g_main_loop_run(s->loop);
    g_socket_service_stop(G_SOCKET_SERVICE(s->service));
    g_main_context_pop_thread_default(s->context);
    return NULL;
}

/* Connections are accepted on a thread of the server's own, so that the
 * daemon's main loop only deals with signals and events. */
void
hvd_server_start(HvdServer *s)
{
    s->acceptor = g_thread_new("hvd-accept", accept_connections, s);
}

gpointer
hvd_server_get_data(HvdServer *s)
{
    return s->data;
}

void
hvd_client_set_data(HvdClient *c, gpointer data)
{
    g_atomic_pointer_set(&c->data, data);
}

gpointer
hvd_client_get_data(HvdClient *c)
{
    return g_atomic_pointer_get(&c->data);
}

gboolean
hvd_client_is_read_only(HvdClient *c)
{
    return g_atomic_int_get(&c->read_only);
}

void
hvd_client_set_read_only(HvdClient *c)
{
    g_atomic_int_set(&c->read_only, TRUE);
}

gboolean
hvd_client_is_open(HvdClient *c)
{
    return g_atomic_int_get(&c->open);
}

void
hvd_client_set_open(HvdClient *c, gboolean open)
{
    g_atomic_int_set(&c->open, open);
}

HvdServer *
hvd_client_get_server(HvdClient *c)
{
    return c->server;
}

gboolean
hvd_client_send_event(HvdClient *c, int proc, xdrproc_t proc_x, const void *msg)
{
    hvd_message_header h = { .prog = HVD_REMOTE_PROGRAM,
                             .vers = HVD_REMOTE_VERSION,
                             .proc = proc,
                             .type = HVD_MESSAGE,
                             .serial = 1,
                             .status = HVD_OK };
    g_autoptr(GBytes) pkt = hvd_packet_encode(&h, proc_x, msg, NULL);
    return pkt && client_write(c, pkt);
}
