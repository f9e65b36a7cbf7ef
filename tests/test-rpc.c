/*
 * test-rpc.c: packets of the remote protocol, against bytes virsh 9.0 was
 * seen to send, and against damaged ones
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "hvd-message.h"

/* virsh's first packet: AUTH_LIST, serial 0, no payload */
static const guint8 auth_list[] = {
    0x00, 0x00, 0x00, 0x1c, 0x20, 0x00, 0x80, 0x86, 0x00, 0x00,
    0x00, 0x01, 0x00, 0x00, 0x00, 0x42, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* CONNECT_OPEN("hyperv:///system", 0), serial 2 */
static const guint8 connect_open[] = {
    0x00, 0x00, 0x00, 0x38, 0x20, 0x00, 0x80, 0x86, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x10,
    'h',  'y',  'p',  'e',  'r',  'v',  ':',  '/',  '/',  '/',  's',  'y',
    's',  't',  'e',  'm',  0x00, 0x00, 0x00, 0x00,
};

static void
test_encode_matches_virsh(void)
{
    hvd_message_header h = { .prog = HVD_REMOTE_PROGRAM,
                             .vers = HVD_REMOTE_VERSION,
                             .proc = HVD_PROC_AUTH_LIST,
                             .type = HVD_CALL,
                             .serial = 0,
                             .status = HVD_OK };
    g_autoptr(GBytes) b = hvd_packet_encode(&h, NULL, NULL, NULL);
    gsize n;
    const guint8 *p = g_bytes_get_data(b, &n);

    g_assert_cmpmem(p, n, auth_list, sizeof(auth_list));
}

static void
test_decode_connect_open(void)
{
    hvd_message_header h;
    hvd_connect_open_args args = { 0 };
    guint32 len;
    GError *err = NULL;

    g_assert_true(hvd_packet_length(connect_open, &len, &err));
    g_assert_cmpuint(len, ==, sizeof(connect_open));
    g_assert_true(hvd_packet_header(connect_open, len, &h, &err));
    g_assert_cmphex(h.prog, ==, HVD_REMOTE_PROGRAM);
    g_assert_cmpint(h.proc, ==, HVD_PROC_CONNECT_OPEN);
    g_assert_cmpuint(h.serial, ==, 2);
    g_assert_cmpint(h.type, ==, HVD_CALL);
    g_assert_true(hvd_packet_payload(
        connect_open, len, (xdrproc_t) xdr_hvd_connect_open_args, &args, &err));
    g_assert_no_error(err);
    g_assert_nonnull(args.name);
    g_assert_cmpstr(*args.name, ==, "hyperv:///system");
    g_assert_cmpuint(args.flags, ==, 0);
    xdr_free((xdrproc_t) xdr_hvd_connect_open_args, (char *) &args);
}

static void
test_bad_lengths(void)
{
    const guint8 small[4] = { 0, 0, 0, 27 };
    const guint8 huge[4] = { 0x02, 0x00, 0x00, 0x05 };
    guint32 len;
    GError *err = NULL;

    g_assert_false(hvd_packet_length(small, &len, &err));
    g_assert_error(err, HVD_RPC_ERROR, HVD_RPC_ERROR_LENGTH);
    g_assert_nonnull(strstr(err->message, "27"));
    g_clear_error(&err);
    g_assert_false(hvd_packet_length(huge, &len, &err));
    g_assert_error(err, HVD_RPC_ERROR, HVD_RPC_ERROR_LENGTH);
    g_clear_error(&err);
}

static void
test_damaged_payloads(void)
{
    hvd_connect_open_args args = { 0 };
    g_autofree guint8 *longer = NULL;
    guint8 lying[sizeof(connect_open)];
    GError *err = NULL;

    /* cut short inside the string */
    g_assert_false(hvd_packet_payload(connect_open, sizeof(connect_open) - 8,
                                      (xdrproc_t) xdr_hvd_connect_open_args,
                                      &args, &err));
    g_assert_error(err, HVD_RPC_ERROR, HVD_RPC_ERROR_PAYLOAD);
    g_clear_error(&err);
    g_assert_null(args.name); /* nothing is left allocated */

    /* bytes after the arguments */
    longer = g_malloc0(sizeof(connect_open) + 4);
    memcpy(longer, connect_open, sizeof(connect_open));
    g_assert_false(hvd_packet_payload(longer, sizeof(connect_open) + 4,
                                      (xdrproc_t) xdr_hvd_connect_open_args,
                                      &args, &err));
    g_assert_error(err, HVD_RPC_ERROR, HVD_RPC_ERROR_PAYLOAD);
    g_assert_nonnull(strstr(err->message, "4 bytes after"));
    g_clear_error(&err);

    /* a string length beyond the protocol's limit */
    memcpy(lying, connect_open, sizeof(lying));
    lying[32] = 0x7f;
    g_assert_false(hvd_packet_payload(lying, sizeof(lying),
                                      (xdrproc_t) xdr_hvd_connect_open_args,
                                      &args, &err));
    g_assert_error(err, HVD_RPC_ERROR, HVD_RPC_ERROR_PAYLOAD);
    g_clear_error(&err);

    /* a header cut short */
    g_assert_false(
        hvd_packet_header(connect_open, 20, &(hvd_message_header){ 0 }, &err));
    g_assert_error(err, HVD_RPC_ERROR, HVD_RPC_ERROR_HEADER);
    g_clear_error(&err);
}

/* char[32] and unsigned char / short take 4 bytes an element on the wire */
static void
test_reply_sizes(void)
{
    hvd_message_header h = { .prog = HVD_REMOTE_PROGRAM,
                             .vers = HVD_REMOTE_VERSION,
                             .proc = HVD_PROC_NODE_GET_INFO,
                             .type = HVD_REPLY,
                             .serial = 7 };
    hvd_node_get_info_ret node = { .memory = 8 << 20, .cpus = 4 };
    hvd_domain_get_info_ret info = { .state = 1, .nr_virt_cpu = 2 };
    g_autoptr(GBytes) a = NULL, b = NULL;

    strcpy(node.model, "x86_64");
    a = hvd_packet_encode(&h, (xdrproc_t) xdr_hvd_node_get_info_ret, &node,
                          NULL);
    g_assert_cmpuint(g_bytes_get_size(a), ==, 28 + 32 * 4 + 8 + 6 * 4);
    h.proc = HVD_PROC_DOMAIN_GET_INFO;
    b = hvd_packet_encode(&h, (xdrproc_t) xdr_hvd_domain_get_info_ret, &info,
                          NULL);
    g_assert_cmpuint(g_bytes_get_size(b), ==, 28 + 4 + 8 + 8 + 4 + 8);
}

static void
test_round_trip_domains(void)
{
    hvd_message_header h = { .prog = HVD_REMOTE_PROGRAM,
                             .vers = HVD_REMOTE_VERSION,
                             .proc = HVD_PROC_CONNECT_LIST_ALL_DOMAINS,
                             .type = HVD_REPLY,
                             .serial = 0xfffffffe };
    hvd_nonnull_domain doms[2] = { { .name = "web1", .id = 1 },
                                   { .name = "db1", .id = -1 } };
    hvd_connect_list_all_domains_ret ret = { { 2, doms }, 2 };
    hvd_connect_list_all_domains_ret back = { { 0 } };
    hvd_message_header h2;
    g_autoptr(GBytes) pkt = NULL;
    const guint8 *p;
    gsize n;
    GError *err = NULL;

    memset(doms[0].uuid, 0xab, HVD_UUID_LEN);
    pkt = hvd_packet_encode(
        &h, (xdrproc_t) xdr_hvd_connect_list_all_domains_ret, &ret, &err);
    g_assert_no_error(err);
    p = g_bytes_get_data(pkt, &n);
    g_assert_true(hvd_packet_header(p, n, &h2, &err));
    g_assert_cmpuint(h2.serial, ==, 0xfffffffe);
    g_assert_true(hvd_packet_payload(
        p, n, (xdrproc_t) xdr_hvd_connect_list_all_domains_ret, &back, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(back.domains.domains_len, ==, 2);
    g_assert_cmpstr(back.domains.domains_val[1].name, ==, "db1");
    g_assert_cmpint(back.domains.domains_val[1].id, ==, -1);
    g_assert_cmpmem(back.domains.domains_val[0].uuid, HVD_UUID_LEN,
                    doms[0].uuid, HVD_UUID_LEN);
    xdr_free((xdrproc_t) xdr_hvd_connect_list_all_domains_ret, (char *) &back);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/rpc/encode/matches-virsh", test_encode_matches_virsh);
    g_test_add_func("/rpc/decode/connect-open", test_decode_connect_open);
    g_test_add_func("/rpc/decode/bad-lengths", test_bad_lengths);
    g_test_add_func("/rpc/decode/damaged-payloads", test_damaged_payloads);
    g_test_add_func("/rpc/encode/reply-sizes", test_reply_sizes);
    g_test_add_func("/rpc/round-trip/domains", test_round_trip_domains);
    return g_test_run();
}
