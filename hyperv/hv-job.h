/*
 * hv-job.h: method results and Hyper-V jobs
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "wsman.h"

G_BEGIN_DECLS

typedef void (*HvProgressFunc)(guint percent, gpointer data);

typedef struct {
    guint timeout_ms;  /* 0: 10 minutes */
    guint poll_min_ms; /* 0: 100 ms, doubling up to poll_max_ms */
    guint poll_max_ms; /* 0: 2 s */
    HvProgressFunc progress;
    gpointer progress_data;
    GCancellable *cancellable;
} HvJobWait;

/* Finished = 7, 8, 9, 10, 32768; successful = 7, 32768 with ErrorCode 0. */
gboolean hv_job_state_finished(guint16 state);

/* TRUE for an error after which what the host did is not known: the
 * answer was lost, cut short, garbled or a fault of the transport, as
 * opposed to Hyper-V's own refusal (a ReturnValue, a failed job). */
gboolean hv_error_outcome_unknown(const GError *error);

/* Waits for the job the EPR names; returns it in its final, successful
 * state, or fails with Hyper-V's own text (ErrorDescription, GetErrorEx).
 * A poll whose answer is lost or garbled is asked again, a few times with
 * a growing pause, before the error is given up on. */
Msvm_ConcreteJob *hv_job_wait(WsmanClient *client, const WmiEpr *job,
                              const HvJobWait *wait, GError **error);

/* Checks a method's output without waiting: TRUE for ReturnValue 0 (done,
 * *job_epr NULL) and 4096 (*job_epr: the job, owned by output). */
gboolean hv_method_started(WsmanClient *client, const char *what,
                           WmiObject *output, const WmiEpr **job_epr,
                           GError **error);
/* Checks a method's output: ReturnValue 0 is done, 4096 waits for the Job
 * (returned in job_out when not NULL), anything else fails naming what and
 * the value's meaning. */
gboolean hv_method_result(WsmanClient *client, const char *what,
                          WmiObject *output, const HvJobWait *wait,
                          Msvm_ConcreteJob **job_out, GError **error);

/* The objects of result_class a job affected (Msvm_AffectedJobElement). */
GPtrArray *hv_job_affected(WsmanClient *client, const Msvm_ConcreteJob *job,
                           const WmiClassDef *result_class, GError **error);

/* The one object of result_class the job of method made (job NULL: the
 * method ended without one, an error) */
WmiObject *hv_job_affected_one(WsmanClient *client, const Msvm_ConcreteJob *job,
                               const WmiClassDef *result_class,
                               const char *method, GError **error);

G_END_DECLS
