/*
 * hvd-server.c: sockets, connections, keepalive and the worker pool
 *
 * Every socket is non-blocking and served by one I/O thread: it accepts,
 * reads packets, answers keepalive PINGs, hands calls to the workers and
 * writes what a client's queue holds as the client reads it. Workers (and
 * whichever thread sends an event) write straight to the socket when its
 * queue is empty and queue the rest; nothing they do waits for a client.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <poll.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>

#include "hvd-server.h"
#include "hvd-workers.h"

/* libvirtd's defaults (daemon/libvirtd.conf) where it has one */
#define DEFAULT_WORKERS            16
#define DEFAULT_MAX_CLIENTS        5000
#define DEFAULT_MAX_ANONYMOUS      20
#define DEFAULT_MAX_CLIENT_REQUEST 5
#define DEFAULT_MAX_CLIENT_OUTPUT  (16u << 20)
#define DEFAULT_READ_TIMEOUT_MS    30000
#define DEFAULT_HANDSHAKE_MS       60000
/* A refused connection gets its answer to one call, or this long */
#define REFUSED_TIMEOUT_MS 5000
/* Refused connections waiting for their answer at once; more are closed
 * without one */
#define MAX_REFUSED 64
/* Packets read from one client before the others get their turn */
#define PACKETS_PER_TURN 16

struct _HvdServer {
    const HvdProcedure *procedures;
    guint n_procedures;
    gpointer data;
    HvdServerLimits limits;
    GSocketService *service;
    HvdWorkers *workers;             /* running the Jobs */
    GHashTable *read_only_listeners; /* GSocketListener source objects */
    GPtrArray *paths;                /* socket files to remove */
    GMainContext *context;           /* the I/O thread's */
    GMainLoop *loop;
    GThread *io_thread;
    HvdCloseFunc close_func;
    HvdCloseFunc goodbye_func;
    GMutex lock;        /* the counts below and clients */
    GPtrArray *clients; /* every HvdClient not yet closed */
    guint n_served;     /* clients not refused */
    guint n_anonymous;  /* of them, not yet open */
    guint n_refused;
};

typedef struct {
    GBytes *packet;
    gsize offset;   /* bytes of it already written */
    gboolean reply; /* the end of a request: counted in requests */
} Output;

typedef struct {
    GSource source;
    HvdClient *client;
} ClientSource;

struct _HvdClient {
    gint refs;
    HvdServer *server;
    GSocketConnection *conn;
    int fd;
    const char *refused; /* the reason a connection over a limit gets */

    /* I/O thread only */
    GSource *source;
    gpointer tag;
    guint8 word[HVD_MESSAGE_LEN_SIZE];
    gsize word_got;
    guint8 *packet;    /* the packet being read, word included */
    gsize packet_len;  /* its length */
    gsize packet_got;  /* bytes of it read */
    gsize packet_size; /* bytes allocated */
    gint64 last_read;  /* monotonic µs of the last byte read */
    gboolean refusal_sent;

    GMutex lock;   /* everything below */
    GQueue output; /* Output */
    gsize output_bytes;
    guint requests; /* calls read whose reply is not yet written */
    gboolean closed;
    gboolean failed;         /* a write failed or the output overflowed */
    gboolean update_pending; /* an update of the watch is on its way */
    /* counted in n_anonymous: changed under the server's lock, read
     * without it by the I/O thread */
    gint anonymous;
    gboolean read_only;
    gboolean open;
    gpointer data;
    GBoxedCopyFunc data_ref;
    GDestroyNotify data_unref;
};

typedef struct {
    HvdClient *client;
    GBytes *packet;
    hvd_message_header header;
} Job;

static void client_update(HvdClient *c);

HvdClient *
hvd_client_ref(HvdClient *c)
{
    g_atomic_int_inc(&c->refs);
    return c;
}

static void
output_free(gpointer p)
{
    Output *o = p;
    g_bytes_unref(o->packet);
    g_free(o);
}

void
hvd_client_unref(HvdClient *c)
{
    if (!g_atomic_int_dec_and_test(&c->refs))
        return;
    g_queue_clear_full(&c->output, output_free);
    g_free(c->packet);
    g_object_unref(c->conn);
    g_mutex_clear(&c->lock);
    g_free(c);
}

static gboolean
invoke_update(gpointer data)
{
    client_update(data);
    return G_SOURCE_REMOVE;
}

/* Asks the I/O thread to look at the client again (lock held). */
static void
schedule_update(HvdClient *c)
{
    if (c->update_pending || c->closed)
        return;
    c->update_pending = TRUE;
    g_main_context_invoke_full(c->server->context, G_PRIORITY_DEFAULT,
                               invoke_update, hvd_client_ref(c),
                               (GDestroyNotify) hvd_client_unref);
}

/* Writes what the socket takes of the queue (lock held). FALSE when the
 * client cannot be written to any more. */
static gboolean
flush_output(HvdClient *c)
{
    Output *o;

    while ((o = g_queue_peek_head(&c->output))) {
        gsize n;
        const guint8 *p = g_bytes_get_data(o->packet, &n);
        ssize_t w = send(c->fd, p + o->offset, n - o->offset,
                         MSG_DONTWAIT | MSG_NOSIGNAL);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK;
        }
        o->offset += w;
        c->output_bytes -= w;
        if (o->offset < n)
            return TRUE;
        if (o->reply && c->requests > 0)
            c->requests--;
        output_free(g_queue_pop_head(&c->output));
    }
    return TRUE;
}

/* Queues a packet and writes what the socket takes now. A client whose
 * queue would pass its limit is disconnected, as libvirtd does with a
 * client that stops reading. */
static gboolean
client_send(HvdClient *c, GBytes *packet, gboolean reply)
{
    gsize n = g_bytes_get_size(packet);
    gboolean was_empty, ok;
    Output *o;

    g_mutex_lock(&c->lock);
    if (c->closed || c->failed) {
        g_mutex_unlock(&c->lock);
        return FALSE;
    }
    was_empty = g_queue_is_empty(&c->output);
    /* one packet always fits an empty queue, however large */
    if (!was_empty &&
        c->output_bytes + n > c->server->limits.max_client_output) {
        g_info("a client left %" G_GSIZE_FORMAT " bytes unread, over "
               "max_client_output: disconnected",
               c->output_bytes);
        c->failed = TRUE;
        schedule_update(c);
        g_mutex_unlock(&c->lock);
        return FALSE;
    }
    o = g_new0(Output, 1);
    o->packet = g_bytes_ref(packet);
    o->reply = reply;
    g_queue_push_tail(&c->output, o);
    c->output_bytes += n;
    if (was_empty && !flush_output(c))
        c->failed = TRUE;
    /* the I/O thread watches for room, reads again below the request
     * limit, or closes a failed client */
    if (!g_queue_is_empty(&c->output) || reply || c->failed)
        schedule_update(c);
    ok = !c->failed;
    g_mutex_unlock(&c->lock);
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
           const char *message, gboolean reply)
{
    hvd_message_header h = *call;
    char *text = (char *) message;
    char *format = (char *) "%s";
    hvd_error e = { 0 };
    g_autoptr(GBytes) pkt = NULL;

    h.type = HVD_REPLY;
    h.status = HVD_ERROR;
    e.code = code;
    e.domain = domain;
    e.message = &text;
    e.level = VIR_ERR_ERROR;
    /* the fields libvirtd's virReportError fills: the format, its one
     * argument, and -1 for both numbers */
    e.str1 = &format;
    e.str2 = &text;
    e.int1 = -1;
    e.int2 = -1;
    pkt = hvd_packet_encode(&h, (xdrproc_t) xdr_hvd_error, &e, NULL);
    if (pkt) {
        client_send(c, pkt, reply);
    } else if (reply) {
        /* nothing to send, but the request is over */
        g_mutex_lock(&c->lock);
        if (c->requests > 0)
            c->requests--;
        schedule_update(c);
        g_mutex_unlock(&c->lock);
    }
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
        send_error(c, &job->header, VIR_ERR_RPC, VIR_FROM_RPC, msg, TRUE);
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
        send_error(c, &job->header, VIR_ERR_RPC, VIR_FROM_RPC, msg, TRUE);
        return;
    }
    /* the data stays while the call runs; a client that went away after
     * its call was read is not served */
    g_mutex_lock(&c->lock);
    if (c->closed || c->failed) {
        g_mutex_unlock(&c->lock);
        if (p->args_proc)
            xdr_free(p->args_proc, args);
        return;
    }
    call.data = c->data ? c->data_ref(c->data) : NULL;
    g_mutex_unlock(&c->lock);
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
    if (call.data)
        c->data_unref(call.data);
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
                   call.error_message, TRUE);
        g_free(call.error_message);
    } else {
        client_send(c, reply, TRUE);
    }
}

static void
run_job(gpointer data, gpointer user_data)
{
    Job *job = data;
    HvdClient *c = job->client;

    serve(user_data, job);
    /* a call that sent no reply (its client gone) still ends */
    g_mutex_lock(&c->lock);
    if (c->closed || c->failed) {
        if (c->requests > 0)
            c->requests--;
    }
    g_mutex_unlock(&c->lock);
    g_bytes_unref(job->packet);
    hvd_client_unref(c);
    g_free(job);
}

static void
answer_ping(HvdClient *c, const hvd_message_header *ping)
{
    hvd_message_header h = *ping;
    g_autoptr(GBytes) pong = NULL;

    h.proc = HVD_KEEPALIVE_PONG;
    pong = hvd_packet_encode(&h, NULL, NULL, NULL);
    client_send(c, pong, FALSE);
}

/* The client is gone (I/O thread). */
static void
client_close(HvdClient *c)
{
    HvdServer *s = c->server;
    gpointer data;
    GDestroyNotify unref;

    g_mutex_lock(&c->lock);
    if (c->closed) {
        g_mutex_unlock(&c->lock);
        return;
    }
    c->closed = TRUE;
    g_queue_clear_full(&c->output, output_free);
    c->output_bytes = 0;
    g_mutex_unlock(&c->lock);

    if (c->source) {
        g_source_destroy(c->source);
        g_source_unref(c->source);
        c->source = NULL;
    }
    /* no worker writes to a closed client, so the socket can go */
    g_io_stream_close(G_IO_STREAM(c->conn), NULL, NULL);

    g_mutex_lock(&s->lock);
    g_ptr_array_remove_fast(s->clients, c);
    if (c->refused)
        s->n_refused--;
    else
        s->n_served--;
    if (g_atomic_int_get(&c->anonymous))
        s->n_anonymous--;
    g_atomic_int_set(&c->anonymous, FALSE);
    g_mutex_unlock(&s->lock);

    g_mutex_lock(&c->lock);
    data = c->data;
    unref = c->data_unref;
    g_mutex_unlock(&c->lock);
    if (s->close_func)
        s->close_func(c, data, s->data);
    g_mutex_lock(&c->lock);
    c->data = NULL;
    g_mutex_unlock(&c->lock);
    if (data)
        unref(data);
    hvd_client_unref(c); /* the server's */
}

/* A whole packet has been read (I/O thread). FALSE: close the client. */
static gboolean
client_packet(HvdClient *c, guint8 *buf, gsize len)
{
    HvdServer *s = c->server;
    hvd_message_header h;
    GBytes *packet;
    Job *job;

    if (!hvd_packet_header(buf, len, &h, NULL)) {
        g_free(buf);
        return FALSE;
    }
    packet = g_bytes_new_take(buf, len);
    if (h.prog == HVD_KEEPALIVE_PROGRAM && h.type == HVD_MESSAGE) {
        if (h.proc == HVD_KEEPALIVE_PING && !c->refused)
            answer_ping(c, &h);
        g_bytes_unref(packet);
        return TRUE;
    }
    if (h.type != HVD_CALL || h.status != HVD_OK) {
        g_bytes_unref(packet);
        return FALSE;
    }
    if (c->refused) {
        /* the one answer a refused connection gets */
        send_error(c, &h, VIR_ERR_RPC, VIR_FROM_RPC, c->refused, FALSE);
        c->refusal_sent = TRUE;
        g_bytes_unref(packet);
        return TRUE;
    }
    if (h.prog != HVD_REMOTE_PROGRAM || h.vers != HVD_REMOTE_VERSION) {
        send_error(c, &h, VIR_ERR_RPC, VIR_FROM_RPC,
                   _("unknown program or version"), FALSE);
        g_bytes_unref(packet);
        return TRUE;
    }
    g_mutex_lock(&c->lock);
    c->requests++;
    g_mutex_unlock(&c->lock);
    job = g_new0(Job, 1);
    job->client = hvd_client_ref(c);
    job->packet = packet;
    job->header = h;
    hvd_workers_push(s->workers, job);
    return TRUE;
}

/* Reads what the socket has, up to a few packets (I/O thread). FALSE:
 * close the client. */
static gboolean
client_read(HvdClient *c)
{
    guint packets = 0;

    while (packets < PACKETS_PER_TURN) {
        guint8 *dst;
        gsize want;
        ssize_t r;
        gboolean full;

        g_mutex_lock(&c->lock);
        full = c->requests >= c->server->limits.max_client_requests;
        g_mutex_unlock(&c->lock);
        if (full || c->refusal_sent)
            return TRUE; /* read again once a reply is out */

        if (c->word_got < sizeof(c->word)) {
            dst = c->word + c->word_got;
            want = sizeof(c->word) - c->word_got;
        } else {
            /* grow as bytes come, so a length word alone reserves little */
            if (c->packet_size == c->packet_got) {
                c->packet_size =
                    MIN(c->packet_len, MAX(c->packet_size * 2, 65536));
                c->packet = g_realloc(c->packet, c->packet_size);
            }
            dst = c->packet + c->packet_got;
            want = c->packet_size - c->packet_got;
        }
        r = recv(c->fd, dst, want, MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK;
        if (r == 0)
            return FALSE; /* end of stream */
        c->last_read = g_get_monotonic_time();
        if (c->word_got < sizeof(c->word)) {
            guint32 len;

            c->word_got += r;
            if (c->word_got < sizeof(c->word))
                continue;
            if (!hvd_packet_length(c->word, &len, NULL))
                return FALSE;
            c->packet_len = len;
            c->packet_size = MIN(len, 65536);
            c->packet = g_malloc(c->packet_size);
            memcpy(c->packet, c->word, sizeof(c->word));
            c->packet_got = sizeof(c->word);
        } else {
            c->packet_got += r;
        }
        if (c->packet_got == c->packet_len) {
            guint8 *buf = g_steal_pointer(&c->packet);
            gsize len = c->packet_len;

            c->word_got = 0;
            c->packet_len = c->packet_got = c->packet_size = 0;
            packets++;
            if (!client_packet(c, buf, len))
                return FALSE;
        }
    }
    return TRUE;
}

/* When the client must have sent something by, or -1 (I/O thread) */
static gint64
client_deadline(HvdClient *c, guint requests)
{
    const HvdServerLimits *l = &c->server->limits;

    if (c->refused)
        return c->last_read + REFUSED_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;
    if (c->word_got > 0)
        return c->last_read + l->read_timeout_ms * G_TIME_SPAN_MILLISECOND;
    if (g_atomic_int_get(&c->anonymous) && requests == 0)
        return c->last_read + l->handshake_timeout_ms * G_TIME_SPAN_MILLISECOND;
    return -1;
}

/* What the client's watch waits for, or its close (I/O thread) */
static void
client_update(HvdClient *c)
{
    GIOCondition events = 0;
    gboolean close_it, done_refusing;
    guint requests;

    if (!c->source)
        return; /* closed */
    g_mutex_lock(&c->lock);
    c->update_pending = FALSE;
    close_it = c->failed;
    if (!close_it && !g_queue_is_empty(&c->output))
        events |= G_IO_OUT;
    requests = c->requests;
    done_refusing = c->refusal_sent && g_queue_is_empty(&c->output);
    if (c->requests < c->server->limits.max_client_requests && !c->refusal_sent)
        events |= G_IO_IN;
    g_mutex_unlock(&c->lock);
    if (close_it || done_refusing) {
        client_close(c);
        return;
    }
    g_source_modify_unix_fd(c->source, c->tag, events);
    g_source_set_ready_time(c->source, client_deadline(c, requests));
}

static gboolean
client_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
    HvdClient *c = ((ClientSource *) source)->client;
    GIOCondition revents = g_source_query_unix_fd(source, c->tag);
    gint64 deadline;
    gboolean ok = TRUE;
    guint requests;

    hvd_client_ref(c);
    if (revents & G_IO_OUT) {
        g_mutex_lock(&c->lock);
        if (!flush_output(c))
            c->failed = TRUE;
        g_mutex_unlock(&c->lock);
    }
    if (revents & (G_IO_IN | G_IO_HUP | G_IO_ERR))
        ok = client_read(c);
    /* a peer that hung up reads no reply: what it sent before is read
     * above while there is room, as libvirtd does */
    if (revents & (G_IO_HUP | G_IO_ERR))
        ok = FALSE;
    g_mutex_lock(&c->lock);
    requests = c->requests;
    g_mutex_unlock(&c->lock);
    deadline = client_deadline(c, requests);
    if (ok && deadline >= 0 && g_get_monotonic_time() >= deadline) {
        g_info(c->word_got ? "a client stopped in the middle of a packet: "
                             "disconnected"
                           : "a client stayed idle without opening a "
                             "connection: disconnected");
        ok = FALSE;
    }
    if (ok)
        client_update(c);
    else
        client_close(c);
    hvd_client_unref(c);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs client_source_funcs = {
    .dispatch = client_dispatch,
};

/* A new connection (I/O thread) */
static gboolean
on_incoming(GSocketService *service, GSocketConnection *conn, GObject *source,
            gpointer data)
{
    HvdServer *s = data;
    GSocket *sock = g_socket_connection_get_socket(conn);
    HvdClient *c;
    const char *refused = NULL;

    g_mutex_lock(&s->lock);
    if (s->n_served >= s->limits.max_clients)
        refused = "too many clients: virthypervd serves max_clients of them "
                  "at once; try again later";
    else if (s->n_anonymous >= s->limits.max_anonymous_clients)
        refused = "too many clients opening a connection at once "
                  "(max_anonymous_clients); try again later";
    if (refused && s->n_refused >= MAX_REFUSED) {
        g_mutex_unlock(&s->lock);
        g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
        return TRUE;
    }
    c = g_new0(HvdClient, 1);
    c->refs = 1; /* the server's, until client_close */
    c->server = s;
    c->conn = g_object_ref(conn);
    c->fd = g_socket_get_fd(sock);
    c->refused = refused;
    g_mutex_init(&c->lock);
    g_queue_init(&c->output);
    c->read_only =
        source && g_hash_table_contains(s->read_only_listeners, source);
    if (refused) {
        s->n_refused++;
    } else {
        s->n_served++;
        s->n_anonymous++;
        g_atomic_int_set(&c->anonymous, TRUE);
    }
    g_ptr_array_add(s->clients, c);
    g_mutex_unlock(&s->lock);
    if (refused)
        g_info("refused a connection: %s", refused);

    g_socket_set_blocking(sock, FALSE);
    c->last_read = g_get_monotonic_time();
    c->source = g_source_new(&client_source_funcs, sizeof(ClientSource));
    ((ClientSource *) c->source)->client = c;
    c->tag = g_source_add_unix_fd(c->source, c->fd, G_IO_IN);
    g_source_attach(c->source, s->context);
    client_update(c);
    return TRUE;
}

HvdServer *
hvd_server_new(const HvdProcedure *procedures, guint n,
               const HvdServerLimits *limits, gpointer data)
{
    HvdServer *s;
    HvdServerLimits *l;

    /* looked up by bisection */
    for (guint i = 1; i < n; i++)
        g_return_val_if_fail(procedures[i - 1].proc < procedures[i].proc, NULL);
    s = g_new0(HvdServer, 1);
    s->procedures = procedures;
    s->n_procedures = n;
    s->data = data;
    l = &s->limits;
    if (limits)
        *l = *limits;
    l->workers = l->workers ? l->workers : DEFAULT_WORKERS;
    l->max_clients = l->max_clients ? l->max_clients : DEFAULT_MAX_CLIENTS;
    l->max_anonymous_clients = l->max_anonymous_clients
                                   ? l->max_anonymous_clients
                                   : DEFAULT_MAX_ANONYMOUS;
    l->max_client_requests = l->max_client_requests
                                 ? l->max_client_requests
                                 : DEFAULT_MAX_CLIENT_REQUEST;
    l->max_client_output =
        l->max_client_output ? l->max_client_output : DEFAULT_MAX_CLIENT_OUTPUT;
    l->read_timeout_ms =
        l->read_timeout_ms ? l->read_timeout_ms : DEFAULT_READ_TIMEOUT_MS;
    l->handshake_timeout_ms = l->handshake_timeout_ms ? l->handshake_timeout_ms
                                                      : DEFAULT_HANDSHAKE_MS;
    s->service = g_socket_service_new();
    /* libvirtd's backlog: a burst of clients waits rather than fails */
    g_socket_listener_set_backlog(G_SOCKET_LISTENER(s->service), 128);
    g_signal_connect(s->service, "incoming", G_CALLBACK(on_incoming), s);
    g_socket_service_stop(s->service); /* until started */
    s->context = g_main_context_new();
    s->loop = g_main_loop_new(s->context, FALSE);
    s->workers = hvd_workers_new("hvd-worker", l->workers, run_job, s);
    s->read_only_listeners = g_hash_table_new(NULL, NULL);
    s->paths = g_ptr_array_new_with_free_func(g_free);
    g_mutex_init(&s->lock);
    s->clients = g_ptr_array_new();
    return s;
}

/* At shutdown, with the I/O thread stopped: what the goodbye function
 * queued, and any reply still waiting, is written while the client reads
 * it, for at most GOODBYE_MS in all. */
#define GOODBYE_MS 1000

static void
say_goodbye(HvdServer *s, GPtrArray *clients)
{
    gint64 end = g_get_monotonic_time() + GOODBYE_MS * G_TIME_SPAN_MILLISECOND;

    for (guint i = 0; s->goodbye_func && i < clients->len; i++) {
        HvdClient *c = clients->pdata[i];
        gpointer data;

        g_mutex_lock(&c->lock);
        data =
            c->data && !c->closed && !c->failed ? c->data_ref(c->data) : NULL;
        g_mutex_unlock(&c->lock);
        if (data) {
            s->goodbye_func(c, data, s->data);
            c->data_unref(data);
        }
    }
    for (guint i = 0; i < clients->len; i++) {
        HvdClient *c = clients->pdata[i];

        g_mutex_lock(&c->lock);
        while (!c->closed && !c->failed && !g_queue_is_empty(&c->output)) {
            struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
            gint64 left = end - g_get_monotonic_time();

            if (left <= 0 ||
                poll(&pfd, 1, (int) (left / G_TIME_SPAN_MILLISECOND) + 1) <=
                    0 ||
                !flush_output(c) || (pfd.revents & (POLLERR | POLLHUP)))
                break;
        }
        g_mutex_unlock(&c->lock);
    }
}

static gboolean
quit_loop(gpointer loop)
{
    g_main_loop_quit(loop);
    return G_SOURCE_REMOVE;
}

void
hvd_server_free(HvdServer *s)
{
    g_autoptr(GPtrArray) clients = NULL;

    if (!s)
        return;
    if (s->io_thread) {
        /* from the loop itself: a quit before the I/O thread runs its loop
         * would be lost, and the join would wait for ever */
        GSource *quit = g_idle_source_new();
        g_source_set_callback(quit, quit_loop, s->loop, NULL);
        g_source_attach(quit, s->context);
        g_source_unref(quit);
        g_thread_join(s->io_thread);
    }
    g_socket_listener_close(G_SOCKET_LISTENER(s->service));
    g_mutex_lock(&s->lock);
    clients = g_ptr_array_copy(s->clients, NULL, NULL);
    g_mutex_unlock(&s->lock);
    say_goodbye(s, clients);
    /* no more writes, so that the calls still running end at once */
    for (guint i = 0; i < clients->len; i++) {
        HvdClient *c = clients->pdata[i];
        g_mutex_lock(&c->lock);
        c->failed = TRUE;
        g_mutex_unlock(&c->lock);
        g_socket_shutdown(g_socket_connection_get_socket(c->conn), TRUE, TRUE,
                          NULL);
    }
    /* the calls queued are served, then each worker ends */
    hvd_workers_free(s->workers);
    for (guint i = 0; i < clients->len; i++)
        client_close(clients->pdata[i]);
    g_object_unref(s->service);
    for (guint i = 0; i < s->paths->len; i++)
        g_unlink(s->paths->pdata[i]);
    g_ptr_array_unref(s->paths);
    g_hash_table_unref(s->read_only_listeners);
    g_main_loop_unref(s->loop);
    /* updates still queued hold their clients until the context goes */
    g_main_context_unref(s->context);
    g_ptr_array_unref(s->clients);
    g_mutex_clear(&s->lock);
    g_free(s);
}

gboolean
hvd_server_listen(HvdServer *s, const char *path, gboolean read_only,
                  GError **error)
{
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    /* the source object tells on_incoming which socket it was */
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
    /* a tag of the server's own tells on_incoming which it was */
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

void
hvd_server_set_goodbye_func(HvdServer *s, HvdCloseFunc func)
{
    s->goodbye_func = func;
}

static gpointer
io_thread(gpointer data)
{
    HvdServer *s = data;

    g_main_context_push_thread_default(s->context);
    g_socket_service_start(s->service);
    g_main_loop_run(s->loop);
    g_socket_service_stop(s->service);
    g_main_context_pop_thread_default(s->context);
    return NULL;
}

/* Connections are served on a thread of the server's own, so that the
 * daemon's main loop only deals with signals and events. */
void
hvd_server_start(HvdServer *s)
{
    s->io_thread = g_thread_new("hvd-io", io_thread, s);
}

gpointer
hvd_server_get_data(HvdServer *s)
{
    return s->data;
}

void
hvd_client_set_data(HvdClient *c, gpointer data, GBoxedCopyFunc ref,
                    GDestroyNotify unref)
{
    gpointer old;
    GDestroyNotify old_unref;

    g_mutex_lock(&c->lock);
    if (c->closed) {
        g_mutex_unlock(&c->lock);
        if (data)
            unref(data);
        return;
    }
    old = c->data;
    old_unref = c->data_unref;
    c->data = data;
    c->data_ref = ref;
    c->data_unref = unref;
    g_mutex_unlock(&c->lock);
    if (old)
        old_unref(old);
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
    HvdServer *s = c->server;

    g_atomic_int_set(&c->open, open);
    if (!open)
        return;
    /* through the handshake: no longer counted against
     * max_anonymous_clients, nor timed out as idle */
    g_mutex_lock(&s->lock);
    if (g_atomic_int_get(&c->anonymous)) {
        g_atomic_int_set(&c->anonymous, FALSE);
        s->n_anonymous--;
    }
    g_mutex_unlock(&s->lock);
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
    return pkt && client_send(c, pkt, FALSE);
}
