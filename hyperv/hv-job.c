/*
 * hv-job.c: method results and Hyper-V jobs (reference §7)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <inttypes.h>

#include <glib/gi18n-lib.h>

#include "hv-job.h"

gboolean
hv_job_state_finished(guint16 state)
{
    return (state >= MSVM_JOB_STATE_COMPLETED &&
            state <= MSVM_JOB_STATE_EXCEPTION) ||
           state == MSVM_JOB_STATE_COMPLETED_WITH_WARNINGS;
}

static gboolean
job_succeeded(const Msvm_ConcreteJob *job)
{
    return (job->JobState == MSVM_JOB_STATE_COMPLETED ||
            job->JobState == MSVM_JOB_STATE_COMPLETED_WITH_WARNINGS) &&
           job->ErrorCode == 0;
}

static const char *
job_name(const Msvm_ConcreteJob *job)
{
    const char *t = wmi_valuemap_text(&msvm_valuemap_JobType, job->JobType);
    return t ? t : job->Caption ? job->Caption : _("job");
}

/* GetErrorEx: embedded Msvm_Error instances with Hyper-V's messages. */
static void
append_error_details(WsmanClient *c, const WmiEpr *epr, GString *msg)
{
    g_autoptr(WmiObject) out = wsman_invoke(c, epr, "GetErrorEx", NULL, NULL);
    GPtrArray *errors = out ? wmi_object_values(out, "Errors") : NULL;

    for (guint i = 0; errors && i < errors->len; i++) {
        WmiValue *v = errors->pdata[i];
        g_autoptr(WmiObject) e = NULL;
        const char *text;

        if (v->kind != WMI_VALUE_TEXT)
            continue;
        e = wmi_object_from_cimxml(v->text, NULL);
        text = e ? wmi_object_text(e, "Message") : NULL;
        if (text && *text && !strstr(msg->str, text))
            g_string_append_printf(
                msg, g_str_has_suffix(msg->str, ".") ? " %s" : "; %s", text);
    }
}

static void
set_job_error(WsmanClient *c, const WmiEpr *epr, const Msvm_ConcreteJob *job,
              GError **error)
{
    GString *msg = g_string_new(NULL);
    const char *state =
        wmi_valuemap_text(&msvm_valuemap_JobState, job->JobState);

    g_string_printf(msg, _("%s: Hyper-V job '%s' ended %s (error code %u)"),
                    wsman_client_host(c), job_name(job), state ? state : "?",
                    job->ErrorCode);
    if (job->ErrorDescription && *job->ErrorDescription)
        g_string_append_printf(msg, ": %s", job->ErrorDescription);
    else if (job->ErrorSummaryDescription && *job->ErrorSummaryDescription)
        g_string_append_printf(msg, ": %s", job->ErrorSummaryDescription);
    append_error_details(c, epr, msg);
    g_set_error_literal(error, HV_ERROR, HV_ERROR_JOB_FAILED, msg->str);
    g_string_free(msg, TRUE);
}

static Msvm_ConcreteJob *
get_job(WsmanClient *c, const WmiEpr *epr, GError **error)
{
    const WmiClassDef *klass = wmi_class_lookup(epr->class_name);
    WmiObject *obj;

    if (!klass || (klass != &Msvm_ConcreteJob_class &&
                   klass->parent != &Msvm_ConcreteJob_class)) {
        g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
                    _("%s: the job reference names %s, not a job class"),
                    wsman_client_host(c), epr->class_name);
        return NULL;
    }
    obj = wsman_get(c, epr, error);
    return obj ? wmi_typed_new(klass, obj, error) : NULL;
}

/* Cancellation: ask Hyper-V to kill the job when it can be (os-win's 5). */
static void
cancel_job(WsmanClient *c, const WmiEpr *epr, const Msvm_ConcreteJob *job)
{
    g_autoptr(WsmanParams) params = wsman_params_new();
    g_autoptr(WmiObject) out = NULL;

    if (!job->Cancellable)
        return;
    wsman_params_add_uint(params, "RequestedState", 5);
    out = wsman_invoke(c, epr, "RequestStateChange", params, NULL);
}

gboolean
hv_error_outcome_unknown(const GError *error)
{
    if (!error || error->domain != HV_ERROR)
        return FALSE;
    switch (error->code) {
    case HV_ERROR_CONNECTION:
    case HV_ERROR_TIMEOUT:
    case HV_ERROR_HTTP:
    case HV_ERROR_PARSE:
    case HV_ERROR_FAULT:
        return TRUE;
    default:
        return FALSE;
    }
}

/* A poll is a Get: asked again when the answer was lost or garbled, so
 * that one bad answer does not abandon a job that goes on on the host. */
#define POLL_RETRIES      5
#define POLL_RETRY_MIN_MS 250
#define POLL_RETRY_MAX_MS 4000

Msvm_ConcreteJob *
hv_job_wait(WsmanClient *c, const WmiEpr *epr, const HvJobWait *wait,
            GError **error)
{
    static const HvJobWait defaults = { 0 };
    guint timeout = 0, delay, max_delay;
    gint64 deadline;
    guint last_percent = G_MAXUINT;
    guint retries = 0, retry_ms = POLL_RETRY_MIN_MS;

    if (!wait)
        wait = &defaults;
    timeout = wait->timeout_ms ? wait->timeout_ms : 10 * 60 * 1000;
    delay = wait->poll_min_ms ? wait->poll_min_ms : 100;
    max_delay = wait->poll_max_ms ? wait->poll_max_ms : 2000;
    deadline = g_get_monotonic_time() + (gint64) timeout * 1000;

    for (;;) {
        g_autoptr(GError) local = NULL;
        Msvm_ConcreteJob *job = get_job(c, epr, &local);
        gint64 now = g_get_monotonic_time();

        if (!job) {
            if (retries < POLL_RETRIES && now < deadline &&
                hv_error_outcome_unknown(local)) {
                g_debug("%s: polling the job again: %s", wsman_client_host(c),
                        local->message);
                retries++;
                g_usleep(MIN((gint64) retry_ms * 1000, deadline - now));
                retry_ms = MIN(retry_ms * 2, POLL_RETRY_MAX_MS);
                continue;
            }
            g_propagate_prefixed_error(error, g_steal_pointer(&local),
                                       _("the job could not be followed: "));
            return NULL;
        }
        retries = 0;
        retry_ms = POLL_RETRY_MIN_MS;
        if (wait->progress && job->PercentComplete != last_percent) {
            last_percent = job->PercentComplete;
            wait->progress(MIN(job->PercentComplete, 100), wait->progress_data);
        }
        if (hv_job_state_finished(job->JobState)) {
            if (job_succeeded(job))
                return job;
            set_job_error(c, epr, job, error);
            wmi_typed_free(job);
            return NULL;
        }
        if (g_cancellable_is_cancelled(wait->cancellable)) {
            gboolean could = job->Cancellable;
            cancel_job(c, epr, job);
            g_set_error(error, HV_ERROR, HV_ERROR_CANCELLED,
                        could ? _("%s: cancelled; Hyper-V was asked to stop "
                                  "the job '%s'")
                              : _("%s: cancelled; the job '%s' cannot be "
                                  "stopped and goes on on the host"),
                        wsman_client_host(c), job_name(job));
            wmi_typed_free(job);
            return NULL;
        }
        if (now >= deadline) {
            g_set_error(error, HV_ERROR, HV_ERROR_TIMEOUT,
                        _("%s: the job '%s' is still running after %u s "
                          "(%u%% done)"),
                        wsman_client_host(c), job_name(job), timeout / 1000,
                        job->PercentComplete);
            wmi_typed_free(job);
            return NULL;
        }
        wmi_typed_free(job);
        g_usleep(MIN((gint64) delay * 1000, deadline - now));
        delay = MIN(delay * 2, max_delay);
    }
}

gboolean
hv_method_started(WsmanClient *c, const char *what, WmiObject *output,
                  const WmiEpr **job_epr, GError **error)
{
    const char *rv_text = wmi_object_text(output, "ReturnValue");
    guint64 rv;
    const char *meaning;

    *job_epr = NULL;
    if (!rv_text || !wmi_parse_unsigned(rv_text, G_MAXUINT32, &rv)) {
        g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
                    _("%s: %s returned no valid ReturnValue"),
                    wsman_client_host(c), what);
        return FALSE;
    }
    if (rv == MSVM_RETURN_VALUE_COMPLETED)
        return TRUE;
    if (rv == MSVM_RETURN_VALUE_JOB_STARTED) {
        *job_epr = wmi_object_epr(output, "Job");
        if (!*job_epr) {
            g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
                        _("%s: %s started a job but returned no Job "
                          "reference"),
                        wsman_client_host(c), what);
            return FALSE;
        }
        return TRUE;
    }
    meaning = wmi_valuemap_text(&msvm_valuemap_ReturnValue, rv);
    g_set_error(error, HV_ERROR, HV_ERROR_METHOD,
                _("%s: %s failed with return value %" PRIu64 " (%s)"),
                wsman_client_host(c), what, rv,
                meaning ? meaning : _("unknown"));
    return FALSE;
}

gboolean
hv_method_result(WsmanClient *c, const char *what, WmiObject *output,
                 const HvJobWait *wait, Msvm_ConcreteJob **job_out,
                 GError **error)
{
    const WmiEpr *job_epr;
    Msvm_ConcreteJob *job;

    if (job_out)
        *job_out = NULL;
    if (!hv_method_started(c, what, output, &job_epr, error))
        return FALSE;
    if (!job_epr)
        return TRUE;
    job = hv_job_wait(c, job_epr, wait, error);
    if (!job)
        return FALSE;
    if (job_out)
        *job_out = job;
    else
        wmi_typed_free(job);
    return TRUE;
}

GPtrArray *
hv_job_affected(WsmanClient *c, const Msvm_ConcreteJob *job,
                const WmiClassDef *result_class, GError **error)
{
    g_autoptr(WmiEpr) source = wmi_epr_new(job->klass->name);
    g_autofree char *wql = NULL;

    wmi_epr_add_selector(source, "InstanceID",
                         job->InstanceID ? job->InstanceID : "");
    wql = wmi_associators_wql(&Msvm_AffectedJobElement_assoc, source,
                              result_class, NULL);
    return wsman_enumerate(c, wql, FALSE, error);
}

WmiObject *
hv_job_affected_one(WsmanClient *c, const Msvm_ConcreteJob *job,
                    const WmiClassDef *result_class, const char *method,
                    GError **error)
{
    g_autoptr(GPtrArray) made = NULL;

    if (!job) {
        g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
                    _("%s: %s finished without a job to name what it made"),
                    wsman_client_host(c), method);
        return NULL;
    }
    made = hv_job_affected(c, job, result_class, error);
    if (!made)
        return NULL;
    if (made->len != 1) {
        g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
                    _("%s: the %s job affected %u objects, one was expected"),
                    wsman_client_host(c), method, made->len);
        return NULL;
    }
    return g_ptr_array_steal_index(made, 0);
}
