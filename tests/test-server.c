/*
 * test-server.c: the protocol server over a real UNIX socket, with a
 * procedure table of its own: handshake rules, unknown procedures,
 * read-only sockets, keepalive during a slow call, replies out of order,
 * and damaged packets
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <string.h>

#include "hvd-server.h"

#define PROC_SLOW  HVD_PROC_DOMAIN_GET_STATE
#define PROC_WRITE HVD_PROC_DOMAIN_CREATE

static gboolean
auth_list(HvdCall *call, gpointer args, gpointer ret)
{
    hvd_auth_list_ret *r = ret;
    r->types.types_len = 1;
    r->types.types_val = g_new0(hvd_auth_type, 1);
    return TRUE;
}

static gboolean
connect_open(HvdCall *call, gpointer args, gpointer ret)
{
    hvd_connect_open_args *a = args;
    if (a->flags & 1)
        hvd_client_set_read_only(call->client);
    hvd_client_set_open(call->client, TRUE);
    return TRUE;
}

static gboolean
slow(HvdCall *call, gpointer args, gpointer ret)
{
    hvd_domain_get_state_ret *r = ret;
    g_usleep(600 * 1000);
    r->state = 1;
    return TRUE;
}

static gboolean
write_call(HvdCall *call, gpointer args, gpointer ret)
{
    hvd_call_fail(call, VIR_ERR_NO_DOMAIN, VIR_FROM_HYPERV,
                  "no such domain '%s'", ((hvd_domain_args *) args)->dom.name);
    return FALSE;
}

static gboolean
get_type(HvdCall *call, gpointer args, gpointer ret)
{
    ((hvd_connect_get_type_ret *) ret)->type = g_strdup("HYPERV");
    return TRUE;
}

static const HvdProcedure table[] = {
    { HVD_PROC_CONNECT_OPEN, (xdrproc_t) xdr_hvd_connect_open_args,
      sizeof(hvd_connect_open_args), NULL, 0, connect_open, FALSE, TRUE },
    { HVD_PROC_CONNECT_GET_TYPE, NULL, 0,
      (xdrproc_t) xdr_hvd_connect_get_type_ret,
      sizeof(hvd_connect_get_type_ret), get_type, FALSE, FALSE },
    { PROC_WRITE, (xdrproc_t) xdr_hvd_domain_args, sizeof(hvd_domain_args),
      NULL, 0, write_call, TRUE, FALSE },
    { HVD_PROC_AUTH_LIST, NULL, 0, (xdrproc_t) xdr_hvd_auth_list_ret,
      sizeof(hvd_auth_list_ret), auth_list, FALSE, TRUE },
    { PROC_SLOW, (xdrproc_t) xdr_hvd_domain_flags_args,
      sizeof(hvd_domain_flags_args), (xdrproc_t) xdr_hvd_domain_get_state_ret,
      sizeof(hvd_domain_get_state_ret), slow, FALSE, FALSE },
};

typedef struct {
    char *dir;
    char *rw, *ro;
    HvdServer *server;
} Fixture;

static void
setup(Fixture *f, gconstpointer data)
{
    GError *err = NULL;

    f->dir = g_dir_make_tmp("hvd-server-XXXXXX", &err);
    g_assert_no_error(err);
    f->rw = g_build_filename(f->dir, "sock", NULL);
    f->ro = g_build_filename(f->dir, "sock-ro", NULL);
    HvdServerLimits limits = { .workers = 4 };

    f->server = hvd_server_new(table, G_N_ELEMENTS(table), &limits, NULL);
    g_assert_true(hvd_server_listen(f->server, f->rw, FALSE, &err));
    g_assert_true(hvd_server_listen(f->server, f->ro, TRUE, &err));
    g_assert_no_error(err);
    hvd_server_start(f->server);
}

static void
teardown(Fixture *f, gconstpointer data)
{
    hvd_server_free(f->server);
    g_rmdir(f->dir);
    g_free(f->dir);
    g_free(f->rw);
    g_free(f->ro);
}

static GSocketConnection *
dial(const char *path)
{
    g_autoptr(GSocketClient) c = g_socket_client_new();
    g_autoptr(GSocketAddress) a = g_unix_socket_address_new(path);
    GError *err = NULL;
    GSocketConnection *conn =
        g_socket_client_connect(c, G_SOCKET_CONNECTABLE(a), NULL, &err);
    g_assert_no_error(err);
    return conn;
}

static void
send_call(GSocketConnection *conn, guint prog, int proc, guint serial, int type,
          xdrproc_t args_proc, const void *args)
{
    hvd_message_header h = {
        .prog = prog, .vers = 1, .proc = proc, .type = type, .serial = serial
    };
    g_autoptr(GBytes) pkt = hvd_packet_encode(&h, args_proc, args, NULL);
    GError *err = NULL;
    gsize n;
    const void *p = g_bytes_get_data(pkt, &n);

    g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)),
                              p, n, NULL, NULL, &err);
    g_assert_no_error(err);
}

/* The next packet, or NULL at end of stream. */
static GBytes *
receive(GSocketConnection *conn, hvd_message_header *h)
{
    GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(conn));
    guint8 word[4];
    guint32 len;
    gsize got = 0;
    guint8 *buf;

    if (!g_input_stream_read_all(in, word, 4, &got, NULL, NULL) || got != 4)
        return NULL;
    g_assert_true(hvd_packet_length(word, &len, NULL));
    buf = g_malloc(len);
    memcpy(buf, word, 4);
    g_assert_true(
        g_input_stream_read_all(in, buf + 4, len - 4, &got, NULL, NULL));
    g_assert_true(hvd_packet_header(buf, len, h, NULL));
    return g_bytes_new_take(buf, len);
}

static hvd_error
receive_error(GSocketConnection *conn, guint serial)
{
    hvd_message_header h;
    g_autoptr(GBytes) pkt = receive(conn, &h);
    hvd_error e = { 0 };
    gsize n;
    const guint8 *p = g_bytes_get_data(pkt, &n);

    g_assert_cmpuint(h.serial, ==, serial);
    g_assert_cmpint(h.type, ==, HVD_REPLY);
    g_assert_cmpint(h.status, ==, HVD_ERROR);
    g_assert_true(
        hvd_packet_payload(p, n, (xdrproc_t) xdr_hvd_error, &e, NULL));
    return e;
}

static void
open_connection(GSocketConnection *conn, guint flags)
{
    char *name = "hyperv:///system";
    hvd_connect_open_args a = { &name, flags };
    hvd_message_header h;
    g_autoptr(GBytes) pkt = NULL;

    send_call(conn, HVD_REMOTE_PROGRAM, HVD_PROC_CONNECT_OPEN, 100, HVD_CALL,
              (xdrproc_t) xdr_hvd_connect_open_args, &a);
    pkt = receive(conn, &h);
    g_assert_cmpint(h.proc, ==, HVD_PROC_CONNECT_OPEN);
    g_assert_cmpint(h.status, ==, HVD_OK);
}

static void
test_handshake_rules(Fixture *f, gconstpointer data)
{
    g_autoptr(GSocketConnection) c = dial(f->rw);
    hvd_message_header h;
    g_autoptr(GBytes) pkt = NULL;
    hvd_auth_list_ret auth = { { 0 } };
    hvd_error e;
    gsize n;
    const guint8 *p;

    send_call(c, HVD_REMOTE_PROGRAM, HVD_PROC_AUTH_LIST, 0, HVD_CALL, NULL,
              NULL);
    pkt = receive(c, &h);
    g_assert_cmpint(h.status, ==, HVD_OK);
    p = g_bytes_get_data(pkt, &n);
    g_assert_true(hvd_packet_payload(p, n, (xdrproc_t) xdr_hvd_auth_list_ret,
                                     &auth, NULL));
    g_assert_cmpuint(auth.types.types_len, ==, 1);
    g_assert_cmpint(auth.types.types_val[0], ==, HVD_AUTH_NONE);
    xdr_free((xdrproc_t) xdr_hvd_auth_list_ret, (char *) &auth);

    /* before CONNECT_OPEN only the handshake is served */
    send_call(c, HVD_REMOTE_PROGRAM, HVD_PROC_CONNECT_GET_TYPE, 1, HVD_CALL,
              NULL, NULL);
    e = receive_error(c, 1);
    g_assert_cmpstr(*e.message, ==, "connection not open");
    xdr_free((xdrproc_t) xdr_hvd_error, (char *) &e);

    /* an unknown procedure: what libvirtd answers */
    send_call(c, HVD_REMOTE_PROGRAM, 999, 2, HVD_CALL, NULL, NULL);
    e = receive_error(c, 2);
    g_assert_cmpint(e.code, ==, VIR_ERR_RPC);
    g_assert_cmpint(e.domain, ==, VIR_FROM_RPC);
    g_assert_cmpstr(*e.message, ==, "unknown procedure: 999");
    xdr_free((xdrproc_t) xdr_hvd_error, (char *) &e);

    /* the handler's own error keeps its code, domain and text */
    open_connection(c, 0);
    {
        hvd_domain_args d = { { "ghost", { 0 }, -1 } };
        send_call(c, HVD_REMOTE_PROGRAM, PROC_WRITE, 3, HVD_CALL,
                  (xdrproc_t) xdr_hvd_domain_args, &d);
        e = receive_error(c, 3);
        g_assert_cmpint(e.code, ==, VIR_ERR_NO_DOMAIN);
        g_assert_cmpint(e.domain, ==, VIR_FROM_HYPERV);
        g_assert_cmpstr(*e.message, ==, "no such domain 'ghost'");
        xdr_free((xdrproc_t) xdr_hvd_error, (char *) &e);
    }
}

static void
test_read_only(Fixture *f, gconstpointer data)
{
    hvd_domain_args d = { { "web1", { 0 }, -1 } };
    hvd_error e;

    /* the -ro socket, and the read-only flag on the read-write one */
    for (int i = 0; i < 2; i++) {
        g_autoptr(GSocketConnection) c = dial(i ? f->rw : f->ro);
        open_connection(c, i ? 1 : 0);
        send_call(c, HVD_REMOTE_PROGRAM, PROC_WRITE, 5, HVD_CALL,
                  (xdrproc_t) xdr_hvd_domain_args, &d);
        e = receive_error(c, 5);
        g_assert_cmpint(e.code, ==, VIR_ERR_OPERATION_DENIED);
        g_assert_nonnull(strstr(*e.message, "read only"));
        xdr_free((xdrproc_t) xdr_hvd_error, (char *) &e);
    }
}

static void
test_keepalive_and_order(Fixture *f, gconstpointer data)
{
    g_autoptr(GSocketConnection) c = dial(f->rw);
    hvd_domain_flags_args d = { { "web1", { 0 }, -1 }, 0 };
    guint order[3];

    open_connection(c, 0);
    /* a slow call, then a PING and a quick call: the PONG and the quick
     * reply come back while the slow call still runs */
    send_call(c, HVD_REMOTE_PROGRAM, PROC_SLOW, 10, HVD_CALL,
              (xdrproc_t) xdr_hvd_domain_flags_args, &d);
    send_call(c, HVD_KEEPALIVE_PROGRAM, HVD_KEEPALIVE_PING, 0, HVD_MESSAGE,
              NULL, NULL);
    send_call(c, HVD_REMOTE_PROGRAM, HVD_PROC_CONNECT_GET_TYPE, 11, HVD_CALL,
              NULL, NULL);
    for (int i = 0; i < 3; i++) {
        hvd_message_header h;
        g_autoptr(GBytes) pkt = receive(c, &h);
        g_assert_nonnull(pkt);
        if (h.prog == HVD_KEEPALIVE_PROGRAM) {
            g_assert_cmpint(h.proc, ==, HVD_KEEPALIVE_PONG);
            g_assert_cmpuint(g_bytes_get_size(pkt), ==, 28);
            order[i] = 0;
        } else {
            g_assert_cmpint(h.status, ==, HVD_OK);
            order[i] = h.serial;
        }
    }
    g_assert_cmpuint(order[2], ==, 10); /* the slow reply comes last */
}

static void
test_damaged_packets(Fixture *f, gconstpointer data)
{
    g_autoptr(GSocketConnection) bad = dial(f->rw);
    g_autoptr(GSocketConnection) good = dial(f->rw);
    const guint8 tiny[] = { 0, 0, 0, 5, 1 };
    hvd_message_header h;
    g_autoptr(GBytes) pkt = NULL;
    GError *err = NULL;
    hvd_domain_lookup_by_uuid_args trailing = { { 0 } };

    open_connection(good, 0);
    /* arguments that do not decode: an error, and the connection lives */
    send_call(good, HVD_REMOTE_PROGRAM, HVD_PROC_CONNECT_GET_TYPE, 20, HVD_CALL,
              (xdrproc_t) xdr_hvd_domain_lookup_by_uuid_args, &trailing);
    {
        hvd_error e = receive_error(good, 20);
        g_assert_nonnull(strstr(*e.message, "cannot decode"));
        xdr_free((xdrproc_t) xdr_hvd_error, (char *) &e);
    }

    /* a length word below the header's size: the connection closes */
    g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(bad)),
                              tiny, sizeof(tiny), NULL, NULL, &err);
    g_assert_no_error(err);
    g_assert_null(receive(bad, &h));

    /* and the other client is still served */
    send_call(good, HVD_REMOTE_PROGRAM, HVD_PROC_CONNECT_GET_TYPE, 21, HVD_CALL,
              NULL, NULL);
    pkt = receive(good, &h);
    g_assert_cmpuint(h.serial, ==, 21);
    g_assert_cmpint(h.status, ==, HVD_OK);
}

#define ADD(path, fn) g_test_add(path, Fixture, NULL, setup, fn, teardown)

/* A server stopped the moment it was started (a SIGTERM right after the
 * sockets appear) stops: its I/O thread may not run its loop yet */
static void
test_stop_at_once(void)
{
    g_autofree char *dir = g_dir_make_tmp("hvd-server-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "sock", NULL);
    HvdServerLimits limits = { .workers = 1 };

    for (int i = 0; i < 200; i++) {
        HvdServer *s =
            hvd_server_new(table, G_N_ELEMENTS(table), &limits, NULL);
        g_assert_true(hvd_server_listen(s, path, FALSE, NULL));
        hvd_server_start(s);
        hvd_server_free(s);
    }
    g_rmdir(dir);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ADD("/server/handshake-rules", test_handshake_rules);
    ADD("/server/read-only", test_read_only);
    ADD("/server/keepalive-and-order", test_keepalive_and_order);
    ADD("/server/damaged-packets", test_damaged_packets);
    g_test_add_func("/server/stop-at-once", test_stop_at_once);
    return g_test_run();
}
