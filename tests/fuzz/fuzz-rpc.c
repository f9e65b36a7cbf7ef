/*
 * fuzz-rpc.c: the packet decoder: length word, header, and the argument
 * decoders of the procedures served, picked by the packet's own header
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hvd-message.h"

static xdrproc_t
args_of(int proc)
{
    switch (proc) {
    case HVD_PROC_CONNECT_OPEN:
        return (xdrproc_t) xdr_hvd_connect_open_args;
    case HVD_PROC_CONNECT_SUPPORTS_FEATURE:
        return (xdrproc_t) xdr_hvd_connect_supports_feature_args;
    case HVD_PROC_CONNECT_GET_MAX_VCPUS:
        return (xdrproc_t) xdr_hvd_connect_get_max_vcpus_args;
    case HVD_PROC_DOMAIN_LOOKUP_BY_ID:
        return (xdrproc_t) xdr_hvd_domain_lookup_by_id_args;
    case HVD_PROC_DOMAIN_LOOKUP_BY_NAME:
        return (xdrproc_t) xdr_hvd_domain_lookup_by_name_args;
    case HVD_PROC_DOMAIN_LOOKUP_BY_UUID:
        return (xdrproc_t) xdr_hvd_domain_lookup_by_uuid_args;
    case HVD_PROC_CONNECT_LIST_ALL_DOMAINS:
        return (xdrproc_t) xdr_hvd_connect_list_all_domains_args;
    case HVD_PROC_DOMAIN_GET_XML_DESC:
    case HVD_PROC_DOMAIN_GET_STATE:
    case HVD_PROC_DOMAIN_CREATE_WITH_FLAGS:
    case HVD_PROC_DOMAIN_DESTROY_FLAGS:
    case HVD_PROC_DOMAIN_SHUTDOWN_FLAGS:
        return (xdrproc_t) xdr_hvd_domain_flags_args;
    default:
        /* replies and errors travel the other way; decode them too */
        return proc & 1 ? (xdrproc_t) xdr_hvd_error
                        : (xdrproc_t) xdr_hvd_domain_args;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hvd_message_header h;
    guint32 len;
    union {
        hvd_connect_open_args open;
        hvd_connect_list_all_domains_args list;
        hvd_domain_flags_args dom;
        hvd_error err;
        char room[256];
    } args;
    xdrproc_t proc;

    if (size < HVD_MESSAGE_LEN_SIZE || !hvd_packet_length(data, &len, NULL) ||
        len > size || !hvd_packet_header(data, len, &h, NULL))
        return 0;
    proc = args_of(h.proc);
    memset(&args, 0, sizeof(args));
    if (hvd_packet_payload(data, len, proc, &args, NULL)) {
        /* what decoded must encode again */
        GBytes *again = hvd_packet_encode(&h, proc, &args, NULL);
        g_assert(again);
        g_bytes_unref(again);
        xdr_free(proc, (char *) &args);
    }
    return 0;
}

#ifndef FUZZING_ENGINE
#include "fuzz-main.h"
#endif
