/*
 * hvd-message.c: encoding and decoding packets of libvirt's remote
 * protocol with libtirpc's XDR streams
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>

#include "hvd-message.h"

/* Reply buffers start here and grow fourfold up to the limit, as libvirt's
 * do. */
#define INITIAL_BUFFER 65536

G_DEFINE_QUARK(hvd - rpc - error - quark, hvd_rpc_error)

gboolean
hvd_packet_length(const guint8 word[HVD_MESSAGE_LEN_SIZE], guint32 *length,
                  GError **error)
{
    guint32 len = (guint32) word[0] << 24 | (guint32) word[1] << 16 |
                  (guint32) word[2] << 8 | word[3];

    if (len < HVD_PACKET_MIN || len > HVD_PACKET_MAX) {
        g_set_error(error, HVD_RPC_ERROR, HVD_RPC_ERROR_LENGTH,
                    _("packet length %u is outside %u to %u bytes"), len,
                    HVD_PACKET_MIN, HVD_PACKET_MAX);
        return FALSE;
    }
    *length = len;
    return TRUE;
}

gboolean
hvd_packet_header(const guint8 *packet, gsize length,
                  hvd_message_header *header, GError **error)
{
    XDR xdr;
    gboolean ok;

    if (length < HVD_PACKET_MIN) {
        g_set_error(error, HVD_RPC_ERROR, HVD_RPC_ERROR_HEADER,
                    _("packet of %zu bytes is too short for "
                      "a header"),
                    length);
        return FALSE;
    }
    xdrmem_create(&xdr, (char *) packet + HVD_MESSAGE_LEN_SIZE,
                  HVD_MESSAGE_HEADER_SIZE, XDR_DECODE);
    ok = xdr_hvd_message_header(&xdr, header);
    xdr_destroy(&xdr);
    if (!ok) {
        g_set_error_literal(error, HVD_RPC_ERROR, HVD_RPC_ERROR_HEADER,
                            _("the packet header does not decode"));
        return FALSE;
    }
    return TRUE;
}

gboolean
hvd_packet_payload(const guint8 *packet, gsize length, xdrproc_t proc,
                   void *obj, GError **error)
{
    guint start = HVD_PACKET_MIN;
    XDR xdr;
    gboolean ok;
    guint used = 0;

    if (length < start || length > HVD_PACKET_MAX) {
        g_set_error(error, HVD_RPC_ERROR, HVD_RPC_ERROR_PAYLOAD,
                    _("packet of %zu bytes has no payload "
                      "to decode"),
                    length);
        return FALSE;
    }
    xdrmem_create(&xdr, (char *) packet + start, length - start, XDR_DECODE);
    ok = proc(&xdr, obj);
    if (ok)
        used = xdr_getpos(&xdr);
    xdr_destroy(&xdr);
    if (!ok) {
        /* what was decoded before the fault is freed */
        xdr_free(proc, obj);
        g_set_error_literal(error, HVD_RPC_ERROR, HVD_RPC_ERROR_PAYLOAD,
                            _("the packet's arguments do not decode"));
        return FALSE;
    }
    if (used != length - start) {
        xdr_free(proc, obj);
        g_set_error(error, HVD_RPC_ERROR, HVD_RPC_ERROR_PAYLOAD,
                    _("the packet has %zu bytes after its "
                      "arguments"),
                    (gsize) (length - start - used));
        return FALSE;
    }
    return TRUE;
}

GBytes *
hvd_packet_encode(const hvd_message_header *header, xdrproc_t proc,
                  const void *obj, GError **error)
{
    gsize size = INITIAL_BUFFER;

    for (;;) {
        guint8 *buf = g_malloc(size);
        XDR xdr;
        gboolean ok;
        guint32 len;

        xdrmem_create(&xdr, (char *) buf + HVD_MESSAGE_LEN_SIZE,
                      size - HVD_MESSAGE_LEN_SIZE, XDR_ENCODE);
        ok = xdr_hvd_message_header(&xdr, (hvd_message_header *) header) &&
             (!proc || proc(&xdr, (void *) obj));
        len = xdr_getpos(&xdr) + HVD_MESSAGE_LEN_SIZE;
        xdr_destroy(&xdr);
        if (ok) {
            buf[0] = len >> 24;
            buf[1] = len >> 16;
            buf[2] = len >> 8;
            buf[3] = len;
            return g_bytes_new_take(g_realloc(buf, len), len);
        }
        g_free(buf);
        if (size >= HVD_PACKET_MAX) {
            g_set_error(error, HVD_RPC_ERROR, HVD_RPC_ERROR_ENCODE,
                        _("the reply to procedure %d does not encode within "
                          "%u bytes"),
                        header->proc, HVD_PACKET_MAX);
            return NULL;
        }
        size = MIN(size * 4, (gsize) HVD_PACKET_MAX);
    }
}
