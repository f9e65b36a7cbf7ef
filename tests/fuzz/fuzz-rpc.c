/*
 * fuzz-rpc.c: the packet decoder: length word, header, and the argument
 * decoders of the procedures the daemon serves, picked by the packet's
 * own header
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hvd-dispatch.h"

/* The daemon's own procedure table picks the argument decoder; packets of
 * other procedures are decoded as errors and as domain arguments, the
 * shapes that travel most. */
static xdrproc_t
args_of(int proc, gsize *size)
{
    guint n;
    const HvdProcedure *procs = hvd_dispatch_procedures(&n);

    for (guint i = 0; i < n; i++)
        if (procs[i].proc == proc && procs[i].args_proc) {
            *size = procs[i].args_size;
            return procs[i].args_proc;
        }
    *size = MAX(sizeof(hvd_error), sizeof(hvd_domain_args));
    return proc & 1 ? (xdrproc_t) xdr_hvd_error
                    : (xdrproc_t) xdr_hvd_domain_args;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hvd_message_header h;
    guint32 len;
    gpointer args;
    gsize args_size;
    xdrproc_t proc;

    if (size < HVD_MESSAGE_LEN_SIZE || !hvd_packet_length(data, &len, NULL) ||
        len > size || !hvd_packet_header(data, len, &h, NULL))
        return 0;
    proc = args_of(h.proc, &args_size);
    args = g_malloc0(args_size);
    if (hvd_packet_payload(data, len, proc, args, NULL)) {
        /* what decoded must encode again */
        GBytes *again = hvd_packet_encode(&h, proc, args, NULL);
        g_assert(again);
        g_bytes_unref(again);
        xdr_free(proc, (char *) args);
    }
    g_free(args);
    return 0;
}

#ifndef FUZZING_ENGINE
#include "fuzz-main.h"
#endif
