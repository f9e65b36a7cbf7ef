/*
 * sim-ops.c: the methods hypervsim serves, and the jobs that carry them out
 *
 * A method checks its parameters at once (a ReturnValue other than 0 or
 * 4096 when they are wrong), then hands the work to a job that runs on the
 * host's worker thread, moving through JobState with PercentComplete as
 * Hyper-V's do. Disk work happens on real VHDX files.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "sim-ops.h"
#include "vhdx.h"

typedef struct {
    SimHost *host;
    SimJob *job;
    SimJobRun run;
    gpointer data;
    GDestroyNotify free_data;
} JobTask;

/* Job plumbing */

void
sim_job_progress(SimHost *host, SimJob *job, guint percent)
{
    g_mutex_lock(&host->lock);
    /* progress never goes back, whatever the steps before said */
    job->percent = MAX(job->percent, MIN(percent, 99));
    g_mutex_unlock(&host->lock);
    if (host->job_step_ms)
        g_usleep(host->job_step_ms * 1000);
}

void
sim_job_step(SimHost *host, SimJob *job, guint percent)
{
    sim_job_progress(host, job, percent);
    g_mutex_lock(&host->lock);
}

static SimJobFault *
take_fault(SimHost *host, guint16 type, const char *vm)
{
    for (guint i = 0; i < host->job_faults->len; i++) {
        SimJobFault *f = host->job_faults->pdata[i];
        if ((f->job_type == 0 || f->job_type == type) &&
            g_strcmp0(f->vm, vm) == 0) {
            SimJobFault *copy = g_new0(SimJobFault, 1);
            *copy = *f;
            copy->text = g_strdup(f->text);
            copy->vm = NULL;
            if (--f->count == 0)
                g_ptr_array_remove_index(host->job_faults, i);
            return copy;
        }
    }
    return NULL;
}

gboolean
sim_member_fault(SimHost *host, const SimJob *job, const SimVm *vm,
                 GError **error)
{
    SimJobFault *f = take_fault(host, job->type, vm->name);

    if (!f)
        return FALSE;
    g_set_error_literal(error, SIM_ERROR, SIM_ERROR_FAILED,
                        f->text ? f->text : _("The operation failed."));
    g_free(f->text);
    g_free(f);
    return TRUE;
}

static void
run_job(gpointer data, gpointer user_data)
{
    JobTask *t = data;
    SimHost *host = t->host;
    SimJob *job = t->job;
    SimJobFault *fault;
    GError *err = NULL;
    gboolean ok;
    guint16 code = 32768;

    g_mutex_lock(&host->lock);
    job->state = MSVM_JOB_STATE_RUNNING;
    job->started = g_date_time_new_now_utc();
    fault = take_fault(host, job->type, NULL);
    g_mutex_unlock(&host->lock);

    if (fault && fault->delay_ms) {
        /* a slow job: progress creeps along while time passes */
        for (guint waited = 0; waited < fault->delay_ms; waited += 100) {
            gboolean stop;
            g_mutex_lock(&host->lock);
            job->percent = MIN(99, waited * 100 / fault->delay_ms);
            stop = job->cancel_requested;
            g_mutex_unlock(&host->lock);
            if (stop)
                break; /* a cancel ends the wait; the run sees it */
            g_usleep(100 * 1000);
        }
    }
    if (fault && fault->error_code) {
        code = fault->error_code;
        g_set_error_literal(&err, SIM_ERROR, SIM_ERROR_FAILED,
                            fault->text ? fault->text
                                        : _("The operation failed."));
        ok = FALSE;
    } else {
        ok = t->run(host, job, t->data, &err);
    }

    g_mutex_lock(&host->lock);
    job->finished = g_date_time_new_now_utc();
    if (ok) {
        job->state = MSVM_JOB_STATE_COMPLETED;
        job->percent = 100;
    } else {
        job->state = job->cancel_requested ? MSVM_JOB_STATE_TERMINATED
                                           : MSVM_JOB_STATE_EXCEPTION;
        job->error_code = code;
        job->error_description = g_strdup(err->message);
        g_ptr_array_add(job->error_messages, g_strdup(err->message));
        g_error_free(err);
    }
    sim_host_save(host, NULL);
    g_mutex_unlock(&host->lock);

    if (fault)
        g_free(fault->text);
    g_free(fault);
    if (t->free_data)
        t->free_data(t->data);
    g_free(t);
}

void
sim_host_start(SimHost *host)
{
    /* one worker: operations on a host are serialized, as VMMS does per VM */
    host->workers = g_thread_pool_new(run_job, NULL, 1, FALSE, NULL);
}

SimJob *
sim_job_start(SimHost *host, guint16 type, gboolean storage, SimJobRun run,
              gpointer data, GDestroyNotify free_data)
{
    SimJob *job = g_new0(SimJob, 1);
    JobTask *t = g_new0(JobTask, 1);

    job->id = sim_guid_new();
    job->class_name =
        g_strdup(storage ? "Msvm_StorageJob" : "Msvm_ConcreteJob");
    job->type = type;
    job->state = MSVM_JOB_STATE_NEW;
    job->submitted = g_date_time_new_now_utc();
    job->cancellable = TRUE;
    job->error_messages = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(host->jobs, job);

    t->host = host;
    t->job = job;
    t->run = run;
    t->data = data;
    t->free_data = free_data;
    g_thread_pool_push(host->workers, t, NULL);
    return job;
}

void
sim_job_affects(SimJob *job, const char *class_name, const char *id)
{
    g_free(job->affected_class);
    g_free(job->affected_key);
    job->affected_class = g_strdup(class_name);
    job->affected_key = g_strdup(id);
}

SimTask *
sim_vm_task_new(SimVm *vm, guint16 value, guint8 consistency)
{
    SimTask *t = sim_task_new();
    t->vm_id = g_strdup(vm->id);
    t->value = value;
    t->consistency = consistency;
    return t;
}

SimTask *
sim_task_new(void)
{
    return g_new0(SimTask, 1);
}

SimVm *
sim_job_step_vm(SimHost *host, SimJob *job, guint percent, const SimTask *t,
                GError **error)
{
    SimVm *vm;

    sim_job_step(host, job, percent);
    vm = sim_host_find_vm(host, t->vm_id);
    if (!vm)
        g_set_error(error, SIM_ERROR, SIM_ERROR_NOT_FOUND,
                    _("The virtual machine was deleted."));
    return vm;
}

SimSnapshot *
sim_job_step_snapshot(SimHost *host, SimJob *job, guint percent, const char *id,
                      SimVm **vm, GError **error)
{
    SimSnapshot *s;

    sim_job_step(host, job, percent);
    s = sim_host_find_snapshot(host, id, vm);
    if (!s)
        g_set_error(error, SIM_ERROR, SIM_ERROR_NOT_FOUND,
                    _("The checkpoint was deleted."));
    return s;
}

void
sim_task_free(SimTask *t)
{
    g_free(t->vm_id);
    g_free(t->group_id);
    g_free(t->item_id);
    g_free(t->directory);
    g_free(t->base_id);
    g_free(t->path);
    g_free(t->other);
    g_free(t);
}

guint32
sim_start_task(SimHost *host, WmiObject *out, guint16 type, SimJobRun run,
               SimTask *t, const char *resulting)
{
    sim_out_job(out, sim_job_start(host, type, FALSE, run, t,
                                   (GDestroyNotify) sim_task_free));
    if (resulting)
        wmi_object_set_nil(out, resulting);
    return MSVM_RETURN_VALUE_JOB_STARTED;
}

void
sim_out_job(WmiObject *out, SimJob *job)
{
    WmiValue *v = g_new0(WmiValue, 1);
    v->kind = WMI_VALUE_EPR;
    v->epr = wmi_epr_new(job->class_name);
    wmi_epr_add_selector(v->epr, "InstanceID", job->id);
    wmi_object_add_value(out, "Job", v);
}

static void
out_nil(WmiObject *out, const char *name)
{
    wmi_object_set_nil(out, name);
}

const char *
sim_param_text(const WmiObject *in, const char *name)
{
    return in ? wmi_object_text(in, name) : NULL;
}

const WmiEpr *
sim_param_epr(const WmiObject *in, const char *name)
{
    return in ? wmi_object_epr(in, name) : NULL;
}

char *
sim_path_key(const char *path, const char *key)
{
    g_autofree char *start = g_strdup_printf("%s=\"", key);
    const char *at = path ? strstr(path, start) : NULL;
    GString *value;

    if (!path || !*path)
        return NULL;
    if (!at)
        return g_strdup(path);
    value = g_string_new(NULL);
    for (at += strlen(start); *at && *at != '"'; at++) {
        if (*at == '\\' && at[1])
            at++;
        g_string_append_c(value, *at);
    }
    if (*at != '"') {
        g_string_free(value, TRUE);
        return NULL;
    }
    return g_string_free(value, FALSE);
}

SimVm *
sim_param_vm(SimHost *host, const WmiObject *in, const char *name)
{
    const char *guid = sim_param_selector(in, name, "Name");
    return guid ? sim_host_find_vm(host, guid) : NULL;
}

const char *
sim_param_selector(const WmiObject *in, const char *name, const char *selector)
{
    const WmiEpr *epr = sim_param_epr(in, name);
    return epr ? wmi_epr_get_selector(epr, selector) : NULL;
}

gboolean
sim_param_uint(const WmiObject *in, const char *name, guint64 max, guint64 *out)
{
    const char *text = sim_param_text(in, name);
    return text && wmi_parse_unsigned(text, max, out);
}

/* Resolving references */

static SimVm *
vm_of_epr(SimHost *host, const WmiEpr *epr)
{
    const char *name = epr ? wmi_epr_get_selector(epr, "Name") : NULL;
    return name ? sim_host_find_vm(host, name) : NULL;
}

static SimSnapshot *
snapshot_of_epr(SimHost *host, const WmiEpr *epr, SimVm **vm)
{
    const char *id = epr ? wmi_epr_get_selector(epr, "InstanceID") : NULL;
    SimSnapshot *s = id ? sim_host_find_snapshot(host, id, vm) : NULL;
    return s && g_strcmp0(s->type, MSVM_VIRTUAL_SYSTEM_TYPE_SYSTEM_REALIZED)
               ? s
               : NULL;
}

/* Disk work: parents of files, found from the files themselves */

char *
sim_disk_parent(const char *path)
{
    g_autoptr(VhdxImage) img = vhdx_open(path, VHDX_OPEN_READ_ONLY, NULL);
    return img ? sim_image_parent(img, path) : NULL;
}

char *
sim_image_parent(VhdxImage *img, const char *path)
{
    const VhdxInfo *info = vhdx_get_info(img);
    g_autofree char *dir = NULL, *rel = NULL;

    if (info->type != VHDX_DISK_DIFFERENCING || !info->parent_relative_path)
        return NULL;
    rel = g_strdup(info->parent_relative_path);
    g_strdelimit(rel, "\\", '/');
    dir = g_path_get_dirname(path);
    return g_canonicalize_filename(rel, dir);
}

static void
collect_paths(SimVm *vm, GPtrArray *out)
{
    for (guint i = 0; i < vm->disks->len; i++)
        g_ptr_array_add(out, ((SimDiskRef *) vm->disks->pdata[i])->path);
    for (guint i = 0; i < vm->snapshots->len; i++) {
        SimSnapshot *s = vm->snapshots->pdata[i];
        for (guint k = 0; k < s->disks->len; k++)
            g_ptr_array_add(out, ((SimDiskRef *) s->disks->pdata[k])->path);
    }
}

/* Every file of the VM's trees, with each file's parent. */
static GHashTable *
disk_parents(SimVm *vm)
{
    GHashTable *parents =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(GPtrArray) todo = g_ptr_array_new();

    collect_paths(vm, todo);
    while (todo->len) {
        const char *p = g_ptr_array_steal_index(todo, todo->len - 1);
        char *parent;
        if (g_hash_table_contains(parents, p))
            continue;
        parent = sim_disk_parent(p);
        g_hash_table_insert(parents, g_strdup(p), parent);
        if (parent && !g_hash_table_contains(parents, parent))
            g_ptr_array_add(todo, parent);
    }
    return parents;
}

/* The files whose parent is path (borrowed from parents). */
static GPtrArray *
children_of(GHashTable *parents, const char *path)
{
    GPtrArray *out = g_ptr_array_new();
    GHashTableIter it;
    gpointer k, v;

    g_hash_table_iter_init(&it, parents);
    while (g_hash_table_iter_next(&it, &k, &v))
        if (v && g_str_equal(v, path))
            g_ptr_array_add(out, k);
    return out;
}

static gboolean
referenced(SimVm *vm, const char *path, SimSnapshot *except)
{
    for (guint i = 0; i < vm->disks->len; i++)
        if (g_str_equal(((SimDiskRef *) vm->disks->pdata[i])->path, path))
            return TRUE;
    for (guint i = 0; i < vm->snapshots->len; i++) {
        SimSnapshot *s = vm->snapshots->pdata[i];
        if (s == except)
            continue;
        for (guint k = 0; k < s->disks->len; k++)
            if (g_str_equal(((SimDiskRef *) s->disks->pdata[k])->path, path))
                return TRUE;
    }
    return FALSE;
}

void
sim_vm_set_state(SimVm *vm, guint16 state)
{
    if (vm->state == state && vm->state_changed)
        return;
    vm->state = state;
    g_clear_pointer(&vm->state_changed, g_date_time_unref);
    vm->state_changed = g_date_time_new_now_utc();
}

void
sim_vm_replace_references(SimVm *vm, const char *from, const char *to)
{
    g_autoptr(GPtrArray) lists = g_ptr_array_new();
    g_ptr_array_add(lists, vm->disks);
    for (guint i = 0; i < vm->snapshots->len; i++)
        g_ptr_array_add(lists,
                        ((SimSnapshot *) vm->snapshots->pdata[i])->disks);
    for (guint l = 0; l < lists->len; l++) {
        GPtrArray *disks = lists->pdata[l];
        for (guint k = 0; k < disks->len; k++) {
            SimDiskRef *d = disks->pdata[k];
            if (g_str_equal(d->path, from)) {
                g_free(d->path);
                d->path = g_strdup(to);
            }
        }
    }
}

/* "<root name>_<GUID>.avhdx" beside the parent, as Hyper-V names them. */
static char *
child_path_for(const char *parent)
{
    g_autofree char *dir = g_path_get_dirname(parent);
    g_autofree char *base = g_path_get_basename(parent);
    g_autofree char *guid = sim_guid_new();
    g_autofree char *name = NULL;
    char *dot = strrchr(base, '.');
    char *under;

    if (dot)
        *dot = '\0';
    /* a checkpoint of a checkpoint keeps the root disk's name, which may
     * have underscores of its own (web1_1): only GUID suffixes go */
    while ((under = strrchr(base, '_')) && g_uuid_string_is_valid(under + 1))
        *under = '\0';
    name = g_strdup_printf("%s_%s.avhdx", base, guid);
    return g_build_filename(dir, name, NULL);
}

static gboolean
new_children(GPtrArray *from, GPtrArray *to, GError **error)
{
    for (guint i = 0; i < from->len; i++) {
        SimDiskRef *d = from->pdata[i];
        g_autofree char *child = child_path_for(d->path);
        GError *local = NULL;
        if (!vhdx_create_differencing(child, d->path, 0, &local)) {
            g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                        _("Failed to create the differencing disk: %s"),
                        local->message);
            g_error_free(local);
            return FALSE;
        }
        g_ptr_array_add(to, sim_disk_ref_new(d->slot_id, child));
    }
    return TRUE;
}

/* Msvm_VirtualSystemSnapshotService.CreateSnapshot */

static char *
default_snapshot_name(const char *vm_name)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_local();
    g_autofree char *when = g_date_time_format(now, "%m/%d/%Y - %I:%M:%S %p");
    return g_strdup_printf("%s - (%s)", vm_name, when);
}

static gboolean
write_saved_state(SimHost *host, SimVm *vm, SimSnapshot *s, GError **error)
{
    g_autofree char *dir = g_build_filename(host->state_dir, "Snapshots", NULL);
    g_autofree char *file = g_strdup_printf("%s.vmrs", s->id);
    g_autofree char *content = g_strdup_printf(
        "{\"vm\": \"%s\", \"state\": %u, \"memory_mb\": %" G_GUINT64_FORMAT
        "}\n",
        vm->id, vm->state, vm->memory_mb);

    if (g_mkdir_with_parents(dir, 0755) < 0) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED, _("cannot create %s"),
                    dir);
        return FALSE;
    }
    s->state_file = g_build_filename(dir, file, NULL);
    return g_file_set_contents(s->state_file, content, -1, error);
}

gboolean
sim_vm_is_running(SimVm *vm)
{
    return vm->state == MSVM_ENABLED_STATE_ENABLED ||
           vm->state == MSVM_ENABLED_STATE_QUIESCE;
}

SimSnapshot *
sim_take_snapshot(SimHost *host, SimVm *vm, guint16 type, guint8 consistency,
                  GError **error)
{
    SimSnapshot *s;
    gboolean running = sim_vm_is_running(vm), memory = FALSE;
    g_autoptr(GPtrArray) children =
        g_ptr_array_new_with_free_func((GDestroyNotify) sim_disk_ref_free);
    GPtrArray *frozen;

    if (vm->user_snapshot_type == MSVM_USER_SNAPSHOT_TYPE_DISABLED &&
        type != MSVM_SNAPSHOT_TYPE_RECOVERY) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_STATE,
                    _("Checkpoints are disabled for '%s'."), vm->name);
        return NULL;
    }
    if (vm->snapshots->len >= SIM_MAX_SNAPSHOTS) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_STATE,
                    _("'%s' could not create a checkpoint: the virtual "
                      "machine has reached the maximum of %u checkpoints."),
                    vm->name, SIM_MAX_SNAPSHOTS);
        return NULL;
    }
    if (type == MSVM_SNAPSHOT_TYPE_FULL) {
        if (vm->user_snapshot_type == MSVM_USER_SNAPSHOT_TYPE_STANDARD) {
            memory = running || vm->state == MSVM_ENABLED_STATE_OFFLINE;
        } else if (running && !vm->guest_vss) {
            if (vm->user_snapshot_type ==
                MSVM_USER_SNAPSHOT_TYPE_PRODUCTION_ONLY) {
                g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                            _("Production checkpoints cannot be created for "
                              "'%s'. (Virtual machine ID %s)"),
                            vm->name, vm->id);
                return NULL;
            }
            memory = TRUE; /* fell back to a standard checkpoint */
        }
    }
    /* the guest's writers are quiesced only where its VSS answers */
    if (!consistency)
        consistency = running && !vm->guest_vss
                          ? MSVM_CONSISTENCY_LEVEL_CRASH
                          : MSVM_CONSISTENCY_LEVEL_APPLICATION;
    if (consistency == MSVM_CONSISTENCY_LEVEL_APPLICATION && running &&
        !vm->guest_vss) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                    _("'%s' could not initiate a checkpoint operation: the "
                      "guest did not respond to the request for an "
                      "application-consistent checkpoint. (Virtual machine "
                      "ID %s)"),
                    vm->name, vm->id);
        return NULL;
    }

    s = g_new0(SimSnapshot, 1);
    s->id = sim_guid_new();
    s->name = default_snapshot_name(vm->name);
    s->notes = g_ptr_array_new_with_free_func(g_free);
    s->created = g_date_time_new_now_utc();
    s->parent_id = g_strdup(vm->current_id);
    s->is_saved = memory;
    s->type = g_strdup(type == MSVM_SNAPSHOT_TYPE_RECOVERY
                           ? MSVM_VIRTUAL_SYSTEM_TYPE_SNAPSHOT_RECOVERY
                           : MSVM_VIRTUAL_SYSTEM_TYPE_SNAPSHOT_REALIZED);
    s->memory_mb = vm->memory_mb;
    s->cpus = vm->cpus;
    s->vm_state = vm->state;
    s->consistency = memory ? MSVM_CONSISTENCY_LEVEL_CRASH : consistency;
    s->change_seq = vm->change_seq;
    for (guint i = 0; i < vm->notes->len; i++)
        g_ptr_array_add(s->notes, g_strdup(vm->notes->pdata[i]));
    vm->busy_status = 32768; /* Creating Snapshot */

    /* freeze every disk; the VM goes on in new AVHDX children */
    if (!new_children(vm->disks, children, error) ||
        (memory && !write_saved_state(host, vm, s, error))) {
        for (guint i = 0; i < children->len; i++)
            g_unlink(((SimDiskRef *) children->pdata[i])->path);
        vm->busy_status = 0;
        sim_snapshot_free(s);
        return NULL;
    }
    frozen = vm->disks;
    vm->disks = g_steal_pointer(&children);
    s->disks = frozen;
    g_ptr_array_add(vm->snapshots, s);
    g_free(vm->current_id);
    vm->current_id = g_strdup(s->id);
    vm->busy_status = 0;
    return s;
}

static gboolean
run_create_snapshot(SimHost *host, SimJob *job, gpointer data, GError **error)
{
    SimTask *d = data;
    SimVm *vm = sim_job_step_vm(host, job, 10, d, error);
    SimSnapshot *s = NULL;

    if (vm)
        s = sim_take_snapshot(host, vm, d->value, d->consistency, error);
    if (s)
        sim_job_affects(job, "Msvm_VirtualSystemSettingData", s->id);
    g_mutex_unlock(&host->lock);
    sim_job_progress(host, job, 90);
    return s != NULL;
}

/* ConsistencyLevel from the embedded Msvm_VirtualSystemSnapshotSettingData,
 * 0 when the caller left it to the host. */
gboolean
sim_settings_consistency(const char *settings, guint8 *out)
{
    g_autoptr(WmiObject) o = NULL;
    const char *level;
    guint64 v;

    *out = 0;
    if (!settings || !*settings)
        return TRUE;
    o = wmi_object_from_cimxml(settings, NULL);
    if (!o)
        return FALSE;
    level = wmi_object_text(o, "ConsistencyLevel");
    if (!level)
        return TRUE;
    if (!wmi_parse_unsigned(level, MSVM_CONSISTENCY_LEVEL_CRASH, &v))
        return FALSE;
    *out = v;
    return TRUE;
}

static guint32
create_snapshot(SimHost *host, const WmiObject *target, const char *method,
                const WmiObject *in, WmiObject *out, GError **error)
{
    SimVm *vm = vm_of_epr(host, sim_param_epr(in, "AffectedSystem"));
    const char *type_text = sim_param_text(in, "SnapshotType");
    guint64 type = MSVM_SNAPSHOT_TYPE_FULL;

    guint8 consistency;

    if (!vm || !sim_settings_consistency(sim_param_text(in, "SnapshotSettings"),
                                         &consistency))
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    if (type_text &&
        (!wmi_parse_unsigned(type_text, G_MAXUINT16, &type) ||
         (type != MSVM_SNAPSHOT_TYPE_FULL && type != MSVM_SNAPSHOT_TYPE_DISK &&
          type != MSVM_SNAPSHOT_TYPE_RECOVERY)))
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    return sim_start_task(
        host, out, MSVM_JOB_TYPE_SNAPSHOT, run_create_snapshot,
        sim_vm_task_new(vm, type, consistency), "ResultingSnapshot");
}

/* DestroySnapshot: the AVHDX that was made when the checkpoint was taken
 * is merged into the checkpoint's disk (child into parent), and the files
 * below it are reconnected. */

typedef struct {
    SimHost *host;
    SimJob *job;
    guint base;
    guint span;
    GCancellable *stop;
    gboolean crash;
    guint64 crash_after;
    guint pause_ms;
} MergeProgress;

static void
merge_progress(guint64 done, guint64 total, gpointer data)
{
    MergeProgress *p = data;
    guint pct = p->base + (total ? (guint) (done * p->span / total) : p->span);
    if (p->pause_ms)
        g_usleep(p->pause_ms * 1000); /* a slow disk, for tests */
    g_mutex_lock(&p->host->lock);
    if (p->job)
        p->job->percent = MAX(p->job->percent, MIN(pct, 99));
    if ((p->job && p->job->cancel_requested) ||
        (p->crash && done >= p->crash_after))
        g_cancellable_cancel(p->stop);
    g_mutex_unlock(&p->host->lock);
}

gboolean
sim_merge_file(SimHost *host, SimJob *job, const char *child, GError **error)
{
    g_autoptr(GCancellable) stop = g_cancellable_new();
    g_autofree char *parent = NULL;
    MergeProgress progress = { host,  job, job ? job->percent : 0, 40, stop,
                               FALSE, 0 };
    GError *local = NULL;
    gboolean ok;

    progress.crash = host->crash_next_merge;
    progress.crash_after = host->crash_after_bytes;
    progress.pause_ms = host->merge_chunk_ms;
    host->crash_next_merge = FALSE;
    g_mutex_unlock(&host->lock);
    /* a request that reads the file (GetVirtualHardDiskSettingData, an
     * export) holds it shared for a moment: Hyper-V's merge waits for
     * such readers rather than failing, and one that finds the file busy
     * has changed nothing yet */
    for (int tries = 0;; tries++) {
        ok = vhdx_merge(child, merge_progress, &progress, stop, &local);
        if (ok || tries >= 400 ||
            !g_error_matches(local, VHDX_ERROR, VHDX_ERROR_BUSY))
            break;
        g_clear_error(&local);
        g_usleep(5000);
    }
    g_mutex_lock(&host->lock);
    if (ok)
        return TRUE;
    parent = sim_disk_parent(child); /* to name it */
    if (progress.crash && g_cancellable_is_cancelled(stop))
        g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                    _("The merge of '%s' into '%s' was interrupted: the host "
                      "stopped during the operation. The files stay "
                      "usable; merging again completes it."),
                    child, parent);
    else
        g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                    _("Failed to merge '%s' into '%s': %s"), child, parent,
                    local->message);
    g_error_free(local);
    return FALSE;
}

static gboolean
merge_disk(SimHost *host, SimJob *job, SimVm *vm, const char *disk,
           GError **error)
{
    g_autoptr(GHashTable) parents = disk_parents(vm);
    g_autoptr(GPtrArray) children = children_of(parents, disk);
    g_autoptr(GPtrArray) grandchildren = NULL;
    const char *child;
    GError *local = NULL;

    if (children->len == 0) {
        if (!referenced(vm, disk, NULL))
            g_unlink(disk);
        return TRUE;
    }
    if (children->len > 1)
        return TRUE; /* shared by two branches: it stays */

    child = children->pdata[0];
    grandchildren = children_of(parents, child);

    vm->busy_status = 32772; /* Merging Disks */
    if (!sim_merge_file(host, job, child, error))
        return FALSE;
    for (guint i = 0; i < grandchildren->len; i++) {
        VhdxImage *g =
            vhdx_open(grandchildren->pdata[i], VHDX_OPEN_READ_WRITE, &local);
        if (!g || !vhdx_set_parent(g, disk, &local) ||
            !vhdx_close(g_steal_pointer(&g), &local)) {
            if (g)
                vhdx_free(g);
            g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                        _("Failed to reconnect '%s' to '%s': %s"),
                        (char *) grandchildren->pdata[i], disk, local->message);
            g_error_free(local);
            return FALSE;
        }
    }
    sim_vm_replace_references(vm, child, disk);
    g_unlink(child);
    return TRUE;
}

/* A group's points name their members' snapshots and reference points;
 * one that goes leaves them, and an emptied point goes too. */
void
sim_leave_group_points(SimHost *host, const char *id, gboolean refpoint)
{
    for (guint i = 0; i < host->groups->len; i++) {
        SimGroup *g = host->groups->pdata[i];
        GPtrArray *points = refpoint ? g->refpoints : g->snapshots;
        for (guint k = points->len; k > 0; k--) {
            SimGroupPoint *p = points->pdata[k - 1];
            for (guint n = p->items->len; n > 0; n--)
                if (g_ascii_strcasecmp(p->items->pdata[n - 1], id) == 0)
                    g_ptr_array_remove_index(p->items, n - 1);
            if (!p->items->len)
                g_ptr_array_remove_index(points, k - 1);
        }
    }
}

gboolean
sim_destroy_snapshot(SimHost *host, SimJob *job, SimVm *vm, SimSnapshot *s,
                     GError **error)
{
    g_autoptr(GPtrArray) disks = g_ptr_array_new_with_free_func(g_free);

    for (guint i = 0; i < vm->snapshots->len; i++) {
        SimSnapshot *c = vm->snapshots->pdata[i];
        if (g_strcmp0(c->parent_id, s->id) == 0) {
            g_free(c->parent_id);
            c->parent_id = g_strdup(s->parent_id);
        }
    }
    if (g_strcmp0(vm->current_id, s->id) == 0) {
        g_free(vm->current_id);
        vm->current_id = g_strdup(s->parent_id);
    }
    for (guint i = 0; i < s->disks->len; i++)
        g_ptr_array_add(disks,
                        g_strdup(((SimDiskRef *) s->disks->pdata[i])->path));
    if (s->state_file)
        g_unlink(s->state_file);
    if (g_strcmp0(vm->last_applied_id, s->id) == 0)
        g_clear_pointer(&vm->last_applied_id, g_free);
    sim_leave_group_points(host, s->id, FALSE);
    g_ptr_array_remove(vm->snapshots, s); /* frees s */
    /* as Hyper-V does, the checkpoint leaves the configuration before its
     * files merge: a host stopped mid-merge comes back without it, and
     * nobody reads the half-merged parent as the checkpoint */
    sim_host_save(host, NULL);

    for (guint i = 0; i < disks->len; i++)
        if (!merge_disk(host, job, vm, disks->pdata[i], error))
            return FALSE;
    return TRUE;
}

static void
subtree(SimVm *vm, SimSnapshot *s, GPtrArray *out)
{
    for (guint i = 0; i < vm->snapshots->len; i++) {
        SimSnapshot *c = vm->snapshots->pdata[i];
        if (g_strcmp0(c->parent_id, s->id) == 0)
            subtree(vm, c, out);
    }
    g_ptr_array_add(out, g_strdup(s->id));
}

static gboolean
run_destroy_snapshot(SimHost *host, SimJob *job, gpointer data, GError **error)
{
    SimTask *d = data;
    g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
    SimVm *vm = NULL;
    SimSnapshot *s =
        sim_job_step_snapshot(host, job, 10, d->item_id, &vm, error);
    gboolean ok = TRUE;

    if (!s) {
        g_mutex_unlock(&host->lock);
        return FALSE;
    }
    if (d->tree)
        subtree(vm, s, ids); /* leaves first */
    else
        g_ptr_array_add(ids, g_strdup(s->id));
    vm->busy_status = 32770; /* Deleting Snapshot */
    sim_job_affects(job, "Msvm_ComputerSystem", vm->id);
    for (guint i = 0; ok && i < ids->len; i++) {
        SimSnapshot *one = sim_vm_find_snapshot(vm, ids->pdata[i]);
        if (one)
            ok = sim_destroy_snapshot(host, job, vm, one, error);
    }
    vm->busy_status = 0;
    g_mutex_unlock(&host->lock);
    return ok;
}

static guint32
destroy_snapshot(SimHost *host, const WmiObject *in, WmiObject *out,
                 const char *param, gboolean tree)
{
    SimVm *vm = NULL;
    SimSnapshot *s = snapshot_of_epr(host, sim_param_epr(in, param), &vm);
    SimTask *t;

    if (!s)
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    t = sim_task_new();
    t->item_id = g_strdup(s->id);
    t->tree = tree;
    return sim_start_task(host, out, MSVM_JOB_TYPE_DELETE_SNAPSHOT,
                          run_destroy_snapshot, t, NULL);
}

/* ApplySnapshot: the VM gets fresh AVHDX children of the checkpoint's
 * disks; what it was running on is discarded. */

gboolean
sim_apply_snapshot(SimHost *host, SimVm *vm, SimSnapshot *s, GError **error)
{
    g_autoptr(GPtrArray) children =
        g_ptr_array_new_with_free_func((GDestroyNotify) sim_disk_ref_free);
    g_autoptr(GHashTable) parents = NULL;
    GPtrArray *old;

    vm->busy_status = 32769; /* Applying Snapshot */
    if (!new_children(s->disks, children, error)) {
        vm->busy_status = 0;
        return FALSE;
    }
    old = vm->disks;
    vm->disks = g_steal_pointer(&children);
    /* what the VM ran on goes, unless a checkpoint or a file needs it */
    parents = disk_parents(vm);
    for (guint i = 0; i < old->len; i++) {
        SimDiskRef *d = old->pdata[i];
        g_autoptr(GPtrArray) below = children_of(parents, d->path);
        if (!referenced(vm, d->path, NULL) && below->len == 0)
            g_unlink(d->path);
        /* every byte may differ now: change tracking says so */
        sim_vm_track_write(vm, d->slot_id, 0, G_MAXINT64);
    }
    g_ptr_array_unref(old);
    vm->memory_mb = s->memory_mb;
    vm->cpus = s->cpus;
    sim_vm_set_state(vm, s->is_saved ? MSVM_ENABLED_STATE_OFFLINE
                                     : MSVM_ENABLED_STATE_DISABLED);
    g_free(vm->current_id);
    vm->current_id = g_strdup(s->id);
    g_free(vm->last_applied_id);
    vm->last_applied_id = g_strdup(s->id);
    vm->busy_status = 0;
    return TRUE;
}

static gboolean
run_apply_snapshot(SimHost *host, SimJob *job, gpointer data, GError **error)
{
    SimVm *vm = NULL;
    SimSnapshot *s = sim_job_step_snapshot(host, job, 20, data, &vm, error);
    gboolean ok = s && sim_apply_snapshot(host, vm, s, error);

    if (ok)
        sim_job_affects(job, "Msvm_ComputerSystem", vm->id);
    g_mutex_unlock(&host->lock);
    sim_job_progress(host, job, 90);
    return ok;
}

static guint32
apply_snapshot(SimHost *host, const WmiObject *target, const char *method,
               const WmiObject *in, WmiObject *out, GError **error)
{
    SimVm *vm = NULL;
    SimSnapshot *s = snapshot_of_epr(host, sim_param_epr(in, "Snapshot"), &vm);

    if (!s)
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    if (sim_vm_is_running(vm))
        return MSVM_RETURN_VALUE_MSVM_INVALID_STATE;
    sim_out_job(out,
                sim_job_start(host, MSVM_JOB_TYPE_APPLY_SNAPSHOT, FALSE,
                              run_apply_snapshot, g_strdup(s->id), g_free));
    return MSVM_RETURN_VALUE_JOB_STARTED;
}

static gboolean
run_clear_state(SimHost *host, SimJob *job, gpointer data, GError **error)
{
    SimSnapshot *s;

    g_mutex_lock(&host->lock);
    s = sim_host_find_snapshot(host, data, NULL);
    if (s) {
        if (s->state_file)
            g_unlink(s->state_file);
        g_clear_pointer(&s->state_file, g_free);
        s->is_saved = FALSE;
    }
    g_mutex_unlock(&host->lock);
    return TRUE;
}

/* Msvm_ComputerSystem.RequestStateChange */

static gboolean
run_state_change(SimHost *host, SimJob *job, gpointer data, GError **error)
{
    SimTask *d = data;
    SimVm *vm = sim_job_step_vm(host, job, 50, d, error);

    if (vm) {
        if (vm->state == MSVM_ENABLED_STATE_DISABLED ||
            vm->state == MSVM_ENABLED_STATE_OFFLINE)
            vm->pid = 0; /* a new worker process */
        sim_vm_set_state(vm, d->value);
        sim_job_affects(job, "Msvm_ComputerSystem", vm->id);
    }
    g_mutex_unlock(&host->lock);
    return vm != NULL;
}

static guint32
request_state_change(SimHost *host, const WmiObject *target, const char *method,
                     const WmiObject *in, WmiObject *out, GError **error)
{
    SimVm *vm = sim_host_find_vm(host, wmi_object_text(target, "Name"));
    const char *req = sim_param_text(in, "RequestedState");
    guint64 r;
    guint16 from, to;
    gboolean on;
    guint16 type;

    if (!vm)
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    from = vm->state;
    on = from == MSVM_ENABLED_STATE_ENABLED;
    if (!req || !wmi_parse_unsigned(req, G_MAXUINT16, &r))
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    switch (r) {
    case MSVM_REQUESTED_STATE_START:
        to = MSVM_ENABLED_STATE_ENABLED;
        type = MSVM_JOB_TYPE_START_VM;
        break;
    case MSVM_REQUESTED_STATE_TURN_OFF:
        to = MSVM_ENABLED_STATE_DISABLED;
        type = MSVM_JOB_TYPE_POWER_OFF_VM;
        break;
    case MSVM_REQUESTED_STATE_SHUT_DOWN:
        if (!on)
            return MSVM_RETURN_VALUE_MSVM_INVALID_STATE;
        to = MSVM_ENABLED_STATE_DISABLED;
        type = MSVM_JOB_TYPE_POWER_OFF_VM;
        break;
    case MSVM_REQUESTED_STATE_SAVE:
        if (!on && from != MSVM_ENABLED_STATE_QUIESCE)
            return MSVM_RETURN_VALUE_MSVM_INVALID_STATE;
        to = MSVM_ENABLED_STATE_OFFLINE;
        type = MSVM_JOB_TYPE_SAVE_VM;
        break;
    case MSVM_REQUESTED_STATE_PAUSE:
        if (!on)
            return MSVM_RETURN_VALUE_MSVM_INVALID_STATE;
        to = MSVM_ENABLED_STATE_QUIESCE;
        type = MSVM_JOB_TYPE_MODIFY_VM;
        break;
    case MSVM_REQUESTED_STATE_REBOOT:
    case MSVM_REQUESTED_STATE_RESET:
        if (!on)
            return MSVM_RETURN_VALUE_MSVM_INVALID_STATE;
        to = MSVM_ENABLED_STATE_ENABLED;
        type = MSVM_JOB_TYPE_START_VM;
        break;
    default:
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    }
    if (to == from)
        return MSVM_RETURN_VALUE_MSVM_INVALID_STATE;
    return sim_start_task(host, out, type, run_state_change,
                          sim_vm_task_new(vm, to, 0), NULL);
}

/* Msvm_VirtualSystemManagementService.ModifySystemSettings */

static guint32
modify_system_settings(SimHost *host, const WmiObject *target,
                       const char *method, const WmiObject *in, WmiObject *out,
                       GError **error)
{
    const char *text = sim_param_text(in, "SystemSettings");
    g_autoptr(WmiObject) vssd = NULL;
    const char *id, *name, *ust;
    GPtrArray *notes;
    SimVm *vm = NULL;
    SimSnapshot *s;
    char **name_slot;
    GPtrArray **notes_slot;

    if (!text)
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    vssd = wmi_object_from_cimxml(text, error);
    if (!vssd)
        return 0;
    id = wmi_object_text(vssd, "InstanceID");
    if (!id)
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    s = sim_host_find_snapshot(host, id, &vm);
    if (!s)
        vm = sim_host_find_vm(host, g_str_has_prefix(id, "Microsoft:")
                                        ? id + strlen("Microsoft:")
                                        : id);
    if (!vm)
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    name = wmi_object_text(vssd, "ElementName");
    if (name && g_utf8_strlen(name, -1) > 100)
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    name_slot = s ? &s->name : &vm->name;
    notes_slot = s ? &s->notes : &vm->notes;
    if (name) {
        g_free(*name_slot);
        *name_slot = g_strdup(name);
    }
    notes = wmi_object_values(vssd, "Notes");
    if (notes) {
        g_ptr_array_set_size(*notes_slot, 0);
        for (guint i = 0; i < notes->len; i++) {
            WmiValue *v = notes->pdata[i];
            if (v->kind == WMI_VALUE_TEXT)
                g_ptr_array_add(*notes_slot, g_strdup(v->text));
        }
    }
    ust = wmi_object_text(vssd, "UserSnapshotType");
    if (ust && !s) {
        guint64 t;
        if (!wmi_parse_unsigned(ust, 5, &t) || t < 2)
            return MSVM_RETURN_VALUE_INVALID_PARAMETER;
        vm->user_snapshot_type = t;
    }
    sim_host_save(host, NULL);
    out_nil(out, "Job");
    return MSVM_RETURN_VALUE_COMPLETED;
}

/* Jobs' own methods */

static guint32
job_get_error_ex(SimHost *host, const WmiObject *target, const char *method,
                 const WmiObject *in, WmiObject *out, GError **error)
{
    SimJob *job =
        sim_host_find_job(host, wmi_object_text(target, "InstanceID"));

    if (!job)
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    for (guint i = 0; i < job->error_messages->len; i++) {
        g_autoptr(WmiObject) e = wmi_object_new("Msvm_Error");
        g_autofree char *xml = NULL;
        char code[16];
        g_snprintf(code, sizeof(code), "%u", job->error_code);
        wmi_object_add_text(e, "Message", job->error_messages->pdata[i]);
        wmi_object_add_text(e, "MessageID", code);
        wmi_object_add_text(e, "PerceivedSeverity", "7");
        xml = wmi_object_to_cimxml(e);
        wmi_object_add_text(out, "Errors", xml);
    }
    if (!job->error_messages->len)
        out_nil(out, "Errors");
    return MSVM_RETURN_VALUE_COMPLETED;
}

static guint32
destroy_one(SimHost *host, const WmiObject *target, const char *method,
            const WmiObject *in, WmiObject *out, GError **error)
{
    return destroy_snapshot(host, in, out, "AffectedSnapshot", FALSE);
}

static guint32
destroy_tree(SimHost *host, const WmiObject *target, const char *method,
             const WmiObject *in, WmiObject *out, GError **error)
{
    return destroy_snapshot(host, in, out, "SnapshotSettingData", TRUE);
}

static guint32
clear_snapshot_state(SimHost *host, const WmiObject *target, const char *method,
                     const WmiObject *in, WmiObject *out, GError **error)
{
    SimSnapshot *s =
        snapshot_of_epr(host, sim_param_epr(in, "SnapshotSettingData"), NULL);

    if (!s)
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    sim_out_job(out,
                sim_job_start(host, MSVM_JOB_TYPE_CLEAR_SNAPSHOT_STATE, FALSE,
                              run_clear_state, g_strdup(s->id), g_free));
    return MSVM_RETURN_VALUE_JOB_STARTED;
}

/* Msvm_ConcreteJob.RequestStateChange: a cancel, where the job allows it */
static guint32
job_request_state_change(SimHost *host, const WmiObject *target,
                         const char *method, const WmiObject *in,
                         WmiObject *out, GError **error)
{
    SimJob *job =
        sim_host_find_job(host, wmi_object_text(target, "InstanceID"));

    if (!job)
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    if (!job->cancellable)
        return MSVM_RETURN_VALUE_NOT_SUPPORTED;
    job->cancel_requested = TRUE;
    return MSVM_RETURN_VALUE_COMPLETED;
}

const SimMethod sim_ops_methods[] = {
    { "Msvm_VirtualSystemSnapshotService", "CreateSnapshot", create_snapshot },
    { "Msvm_VirtualSystemSnapshotService", "DestroySnapshot", destroy_one },
    { "Msvm_VirtualSystemSnapshotService", "DestroySnapshotTree",
      destroy_tree },
    { "Msvm_VirtualSystemSnapshotService", "ApplySnapshot", apply_snapshot },
    { "Msvm_VirtualSystemSnapshotService", "ClearSnapshotState",
      clear_snapshot_state },
    { "Msvm_ComputerSystem", "RequestStateChange", request_state_change },
    { "Msvm_VirtualSystemManagementService", "ModifySystemSettings",
      modify_system_settings },
    { "Msvm_ConcreteJob", "GetErrorEx", job_get_error_ex },
    { "Msvm_ConcreteJob", "RequestStateChange", job_request_state_change },
    { NULL, NULL, NULL },
};
