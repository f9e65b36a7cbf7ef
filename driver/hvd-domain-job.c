/*
 * hvd-domain-job.c: the one operation the driver runs on a VM at a time
 * (a snapshot create, revert or delete, a checkpoint's, a backup), as
 * libvirt's domain job: what domjobinfo shows while it runs and after, the
 * one lock that refuses a second operation as busy, and domjobabort for
 * the operations that can stop part way.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "hvd-driver-private.h"

struct _HvdDomainJob {
    /* running: the verb other clients are told (NULL: none runs) */
    const char *verb;
    int operation; /* virDomainJobOperation */
    char *what;    /* the object it works on, for the busy message */
    gint64 started;
    guint percent;       /* Hyper-V's PercentComplete */
    GCancellable *abort; /* cancelled by ABORT_JOB; NULL: cannot be */
    /* the one that ended last */
    gboolean done_valid;
    int done_operation;
    gint64 done_elapsed_ms;
    gboolean done_ok;
    char *done_error;
};

void
hvd_domain_job_free(gpointer p)
{
    HvdDomainJob *j = p;
    g_clear_object(&j->abort);
    g_free(j->what);
    g_free(j->done_error);
    g_free(j);
}

static gpointer
job_new(void)
{
    return g_new0(HvdDomainJob, 1);
}

/* The VM's job record (lock held), made when first asked for */
static HvdDomainJob *
job_of(HvdDriver *d, const guchar uuid[16])
{
    return hvd_driver_per_vm(d->jobs, uuid, job_new);
}

static guint64
elapsed_ms(const HvdDomainJob *j)
{
    return (g_get_monotonic_time() - j->started) / G_TIME_SPAN_MILLISECOND;
}

gboolean
hvd_domain_job_begin(HvdDriver *d, const VmEntry *vm, int operation,
                     const char *verb, const char *what, GError **error)
{
    HvdDomainJob *j;

    g_mutex_lock(&d->lock);
    j = job_of(d, vm->uuid);
    if (j->verb) {
        hvd_error_set(error, HVD_ERROR_SNAPSHOT, VIR_ERR_OPERATION_INVALID,
                      _("domain '%s' is busy: another client is %s '%s'"),
                      vm->name, j->verb, j->what);
        g_mutex_unlock(&d->lock);
        return FALSE;
    }
    j->verb = verb;
    j->operation = operation;
    g_free(j->what);
    j->what = g_strdup(what);
    j->started = g_get_monotonic_time();
    j->percent = 0;
    g_mutex_unlock(&d->lock);
    return TRUE;
}

void
hvd_domain_job_progress(guint percent, gpointer data)
{
    HvdJobProgress *p = data;

    g_mutex_lock(&p->driver->lock);
    job_of(p->driver, p->uuid)->percent = percent;
    g_mutex_unlock(&p->driver->lock);
}

HvJobWait
hvd_domain_job_wait(HvdDriver *d, const VmEntry *vm, HvdJobProgress *progress)
{
    HvJobWait w = hvd_driver_job_wait(d);

    progress->driver = d;
    memcpy(progress->uuid, vm->uuid, 16);
    w.progress = hvd_domain_job_progress;
    w.progress_data = progress;
    return w;
}

void
hvd_domain_job_end(HvdDriver *d, const VmEntry *vm, GError **error)
{
    HvdDomainJob *j;

    g_mutex_lock(&d->lock);
    j = job_of(d, vm->uuid);
    j->verb = NULL;
    g_clear_object(&j->abort);
    j->done_valid = TRUE;
    j->done_operation = j->operation;
    j->done_elapsed_ms = elapsed_ms(j);
    j->done_ok = !error || !*error;
    g_free(j->done_error);
    j->done_error = j->done_ok ? NULL : g_strdup((*error)->message);
    g_mutex_unlock(&d->lock);
}

void
hvd_domain_job_set_abort(HvdDriver *d, const VmEntry *vm, GCancellable *abort)
{
    HvdDomainJob *j;

    g_mutex_lock(&d->lock);
    j = job_of(d, vm->uuid);
    g_set_object(&j->abort, abort);
    g_mutex_unlock(&d->lock);
}

gboolean
hvd_domain_abort_job(HvdDriver *d, const guchar uuid[16], guint flags,
                     GError **error)
{
    g_autoptr(VmEntry) vm = NULL;
    gint64 deadline;
    HvdDomainJob *j;

    if (!hvd_check_flags(flags, 0, "hvdDomainAbortJob", error) ||
        !(vm = hvd_driver_find_vm(d, uuid, error)))
        return FALSE;
    g_mutex_lock(&d->lock);
    j = job_of(d, uuid);
    if (!j->verb) {
        g_mutex_unlock(&d->lock);
        hvd_error_set(error, HVD_ERROR_HYPERV, VIR_ERR_OPERATION_INVALID,
                      _("no job is active on the domain"));
        return FALSE;
    }
    if (!j->abort) {
        hvd_error_set(error, HVD_ERROR_HYPERV, VIR_ERR_OPERATION_INVALID,
                      _("cannot abort: domain '%s' is %s '%s', which Hyper-V "
                        "finishes once begun"),
                      vm->name, j->verb, j->what);
        g_mutex_unlock(&d->lock);
        return FALSE;
    }
    g_cancellable_cancel(j->abort);
    g_mutex_unlock(&d->lock);
    /* back once Hyper-V has stopped and what was begun is undone */
    deadline = g_get_monotonic_time() + 10 * G_TIME_SPAN_MINUTE;
    for (;;) {
        gboolean running;
        g_mutex_lock(&d->lock);
        running = job_of(d, uuid)->verb != NULL;
        g_mutex_unlock(&d->lock);
        if (!running || g_get_monotonic_time() > deadline)
            break;
        g_usleep(20 * 1000);
    }
    return TRUE;
}

/* GET_JOB_INFO: what GET_JOB_STATS says of the job running */
gboolean
hvd_domain_get_job_info(HvdDriver *d, const guchar uuid[16],
                        virDomainJobInfo *info, GError **error)
{
    HvdJobStats st;

    if (!hvd_domain_get_job_stats(d, uuid, 0, &st, error))
        return FALSE;
    memset(info, 0, sizeof(*info));
    info->type = st.type;
    info->timeElapsed = st.elapsed_ms;
    info->dataTotal = st.data_total;
    info->dataProcessed = st.data_processed;
    info->dataRemaining = st.data_remaining;
    g_free(st.error);
    return TRUE;
}

#define JOB_STATS_FLAGS                                                        \
    (VIR_DOMAIN_JOB_STATS_COMPLETED | VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED)

gboolean
hvd_domain_get_job_stats(HvdDriver *d, const guchar uuid[16], guint flags,
                         HvdJobStats *stats, GError **error)
{
    g_autoptr(VmEntry) vm = NULL;
    HvdDomainJob *j;

    if (!hvd_check_flags(flags, JOB_STATS_FLAGS, "hvdDomainGetJobStats", error))
        return FALSE;
    vm = hvd_driver_find_vm(d, uuid, error);
    if (!vm)
        return FALSE;
    memset(stats, 0, sizeof(*stats));
    g_mutex_lock(&d->lock);
    j = job_of(d, uuid);
    if (flags & VIR_DOMAIN_JOB_STATS_COMPLETED) {
        if (j->done_valid) {
            stats->type =
                j->done_ok ? VIR_DOMAIN_JOB_COMPLETED : VIR_DOMAIN_JOB_FAILED;
            stats->operation = j->done_operation;
            stats->elapsed_ms = j->done_elapsed_ms;
            stats->completed = TRUE;
            stats->success = j->done_ok;
            stats->error = g_strdup(j->done_error);
            /* read once, as libvirt's drivers do, unless asked to keep */
            if (!(flags & VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED))
                j->done_valid = FALSE;
        } else {
            stats->type = VIR_DOMAIN_JOB_NONE;
        }
    } else if (j->verb) {
        stats->type = VIR_DOMAIN_JOB_UNBOUNDED;
        stats->operation = j->operation;
        stats->elapsed_ms = elapsed_ms(j);
        /* Hyper-V's jobs say a percentage, not bytes */
        stats->has_data = TRUE;
        stats->data_total = 100;
        stats->data_processed = MIN(j->percent, 100);
        stats->data_remaining = 100 - stats->data_processed;
    } else {
        stats->type = VIR_DOMAIN_JOB_NONE;
    }
    g_mutex_unlock(&d->lock);
    return TRUE;
}
