/*
 * hvd-message.h: packets of libvirt's remote protocol
 *
 * A packet is a 4-byte big-endian length (counting itself), a 24-byte
 * header and an XDR payload. Decoding checks every size against the
 * protocol's limits and fails with a message naming what was wrong.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

#include "hvd_protocol.h"

G_BEGIN_DECLS

#define HVD_RPC_ERROR (hvd_rpc_error_quark())
GQuark hvd_rpc_error_quark(void);

typedef enum {
    HVD_RPC_ERROR_LENGTH,  /* a length word out of bounds */
    HVD_RPC_ERROR_HEADER,  /* a header that does not decode */
    HVD_RPC_ERROR_PAYLOAD, /* a payload that does not decode */
    HVD_RPC_ERROR_ENCODE,  /* a reply too large or not encodable */
} HvdRpcError;

#define HVD_MESSAGE_LEN_SIZE 4
/* The smallest and largest length words */
#define HVD_PACKET_MIN (HVD_MESSAGE_LEN_SIZE + HVD_MESSAGE_HEADER_SIZE)
#define HVD_PACKET_MAX (HVD_MESSAGE_LEN_SIZE + HVD_MESSAGE_MAX)

/* The length of the packet whose first 4 bytes these are. */
gboolean hvd_packet_length(const guint8 word[HVD_MESSAGE_LEN_SIZE],
                           guint32 *length, GError **error);

/* The header of a whole packet (length word included). */
gboolean hvd_packet_header(const guint8 *packet, gsize length,
                           hvd_message_header *header, GError **error);

/* Decodes the payload of a whole packet into obj, which must be zeroed;
 * free it with xdr_free(proc, obj). Trailing bytes are an error. */
gboolean hvd_packet_payload(const guint8 *packet, gsize length, xdrproc_t proc,
                            void *obj, GError **error);

/* A whole packet: header, then obj encoded by proc (NULL: no payload). */
GBytes *hvd_packet_encode(const hvd_message_header *header, xdrproc_t proc,
                          const void *obj, GError **error);

G_END_DECLS
