/*
 * sim-groups.c: VM groups in hypervsim
 *
 * A VM group (Msvm_VirtualSystemCollection) takes its snapshots and
 * reference points one per member, grouped under one CollectionID;
 * ExportSnapshot writes a group snapshot's disks to a folder (sim-export.c),
 * whole or only what changed since an earlier point.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "sim-ops.h"
#include "vhdx.h"

/* Msvm_CollectionManagementService: synchronous, as group edits touch
 * no files */

static SimGroup *
group_of_param(SimHost *host, const WmiObject *in)
{
    const char *id = sim_param_selector(in, "Collection", "CollectionID");
    SimGroup *g = id ? sim_host_find_group(host, id) : NULL;
    return g && g_ascii_strcasecmp(g->id, id) == 0 ? g : NULL;
}

static void
out_group(WmiObject *out, const char *name, SimGroup *g)
{
    WmiValue *v = g_new0(WmiValue, 1);
    v->kind = WMI_VALUE_EPR;
    v->epr = wmi_epr_new("Msvm_VirtualSystemCollection");
    wmi_epr_add_selector(v->epr, "CollectionID", g->id);
    wmi_object_add_value(out, name, v);
}

static gint
member_index(SimGroup *g, const char *vm_id)
{
    for (guint i = 0; i < g->members->len; i++)
        if (g_ascii_strcasecmp(g->members->pdata[i], vm_id) == 0)
            return i;
    return -1;
}

static guint32
define_group(SimHost *host, const WmiObject *target, const char *method,
             const WmiObject *in, WmiObject *out, GError **error)
{
    const char *name = sim_param_text(in, "Name");
    const char *id = sim_param_text(in, "Id");
    g_autofree char *new_id = NULL;
    guint64 type = 0;
    SimGroup *g;

    if (!name || !*name || g_utf8_strlen(name, -1) > 256)
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    if (sim_param_text(in, "Type") &&
        !sim_param_uint(in, "Type", G_MAXUINT16, &type))
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    /* collections of collections are for management tools, not here */
    if (type != 0)
        return MSVM_RETURN_VALUE_MSVM_NOT_SUPPORTED;
    if (id && *id) {
        if (!g_uuid_string_is_valid(id))
            return MSVM_RETURN_VALUE_INVALID_PARAMETER;
        new_id = g_ascii_strup(id, -1);
    } else {
        new_id = sim_guid_new();
    }
    for (guint i = 0; i < host->groups->len; i++)
        if (g_ascii_strcasecmp(((SimGroup *) host->groups->pdata[i])->id,
                               new_id) == 0)
            return MSVM_RETURN_VALUE_MSVM_INVALID_PARAMETER;
    g = sim_group_new(new_id, name);
    g_ptr_array_add(host->groups, g);
    out_group(out, "DefinedCollection", g);
    wmi_object_set_nil(out, "Job");
    sim_host_save(host, NULL);
    return MSVM_RETURN_VALUE_COMPLETED;
}

static guint32
edit_group(SimHost *host, const WmiObject *target, const char *method,
           const WmiObject *in, WmiObject *out, GError **error)
{
    SimGroup *g = group_of_param(host, in);
    SimVm *vm = NULL;
    const char *name;
    gint at = -1;

    if (!g)
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    if (g_str_equal(method, "AddMember") ||
        g_str_equal(method, "RemoveMember")) {
        vm = sim_param_vm(host, in, "Member");
        if (!vm)
            return MSVM_RETURN_VALUE_INVALID_PARAMETER;
        at = member_index(g, vm->id);
    }
    if (g_str_equal(method, "DestroyCollection")) {
        g_ptr_array_remove(host->groups, g);
    } else if (g_str_equal(method, "RenameCollection")) {
        name = sim_param_text(in, "NewName");
        if (!name || !*name || g_utf8_strlen(name, -1) > 256)
            return MSVM_RETURN_VALUE_INVALID_PARAMETER;
        g_free(g->name);
        g->name = g_strdup(name);
    } else if (g_str_equal(method, "AddMember")) {
        if (at >= 0)
            return MSVM_RETURN_VALUE_MSVM_INVALID_PARAMETER;
        g_ptr_array_add(g->members, g_strdup(vm->id));
    } else {
        if (at < 0)
            return MSVM_RETURN_VALUE_MSVM_INVALID_PARAMETER;
        g_ptr_array_remove_index(g->members, at);
    }
    wmi_object_set_nil(out, "Job");
    sim_host_save(host, NULL);
    return MSVM_RETURN_VALUE_COMPLETED;
}

/* Msvm_CollectionSnapshotService */

static char *
default_point_name(SimGroup *g)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_local();
    g_autofree char *when = g_date_time_format(now, "%m/%d/%Y - %I:%M:%S %p");
    return g_strdup_printf("%s - (%s)", g->name, when);
}

static SimGroupPoint *
group_point_new(const char *name, guint16 type, guint8 consistency)
{
    SimGroupPoint *p = g_new0(SimGroupPoint, 1);
    p->id = sim_guid_new();
    p->name = g_strdup(name);
    p->created = g_date_time_new_now_utc();
    p->type = type;
    p->consistency = consistency;
    p->items = g_ptr_array_new_with_free_func(g_free);
    return p;
}

/* The items of a point, to walk while members leave it. */
static GPtrArray *
copy_ids(GPtrArray *ids)
{
    GPtrArray *out = g_ptr_array_new_full(ids->len, g_free);
    for (guint i = 0; i < ids->len; i++)
        g_ptr_array_add(out, g_strdup(ids->pdata[i]));
    return out;
}

static SimTask *
group_task_new(SimGroup *g, SimGroupPoint *p)
{
    SimTask *t = sim_task_new();
    t->group_id = g_strdup(g->id);
    t->item_id = p ? g_strdup(p->id) : NULL;
    return t;
}

/* Finds the task's group and point again from the worker, lock held. */
static SimGroupPoint *
task_point(SimHost *host, SimTask *t, gboolean refpoints, SimGroup **g,
           GError **error)
{
    SimGroupPoint *p;

    *g = sim_host_find_group(host, t->group_id);
    p = *g ? sim_group_find_point(refpoints ? (*g)->refpoints : (*g)->snapshots,
                                  t->item_id)
           : NULL;
    if (!p)
        g_set_error(error, SIM_ERROR, SIM_ERROR_NOT_FOUND,
                    _("The group checkpoint was deleted."));
    return p;
}

/* A group checkpoint job's start: its progress set, the host locked and
 * the task's group checkpoint found again; NULL (unlocked) when it went */
static SimGroupPoint *
task_begin(SimHost *host, SimJob *job, SimTask *t, guint percent, SimGroup **g,
           GError **error)
{
    SimGroupPoint *p;

    sim_job_step(host, job, percent);
    p = task_point(host, t, FALSE, g, error);
    if (!p)
        g_mutex_unlock(&host->lock);
    return p;
}

/* What failed on one member, naming it as Hyper-V's per-VM errors do */
static char *
member_failure(const SimVm *vm, const char *member_id, const GError *local)
{
    g_autofree char *quoted = vm ? g_strdup_printf("'%s'", vm->name) : NULL;

    if (!vm)
        return g_strdup_printf(_("The member virtual machine %s was deleted."),
                               member_id);
    if (strstr(local->message, quoted))
        return g_strdup(local->message);
    return g_strdup_printf(_("'%s' could not create its checkpoint: %s "
                             "(Virtual machine ID %s)"),
                           vm->name, local->message, vm->id);
}

SimGroupPoint *
sim_group_take(SimHost *host, SimGroup *g, guint16 type, guint8 consistency,
               SimJob *job, GError **error)
{
    SimGroupPoint *p;
    g_autoptr(GPtrArray) taken = g_ptr_array_new();
    g_autofree char *name = NULL;
    guint16 vm_type = type == MSVM_COLLECTION_SNAPSHOT_TYPE_RECOVERY
                          ? MSVM_SNAPSHOT_TYPE_RECOVERY
                          : MSVM_SNAPSHOT_TYPE_FULL;
    GError *local = NULL;

    if (!g->members->len) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_STATE,
                    _("The virtual machine group has no members."));
        return NULL;
    }
    name = default_point_name(g);
    p = group_point_new(name, type, consistency);
    for (guint i = 0; i < g->members->len; i++) {
        SimVm *vm = sim_host_find_vm(host, g->members->pdata[i]);
        SimSnapshot *s =
            vm && !(job && sim_member_fault(host, job, vm, &local))
                ? sim_take_snapshot(host, vm, vm_type, consistency, &local)
                : NULL;
        if (!s) {
            g_autofree char *why =
                member_failure(vm, g->members->pdata[i], local);
            /* all members or none: the ones taken go again */
            for (guint k = 0; k < taken->len; k++) {
                SimVm *owner = NULL;
                SimSnapshot *undo =
                    sim_host_find_snapshot(host, taken->pdata[k], &owner);
                if (undo)
                    sim_destroy_snapshot(host, job, owner, undo, NULL);
            }
            g_clear_error(&local);
            sim_group_point_free(p);
            /* as on Windows: the job's description is the group's, and
             * GetErrorEx names the member and its reason */
            if (job) {
                g_ptr_array_add(job->error_messages, g_steal_pointer(&why));
                g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                            _("The group checkpoint of '%s' failed."), g->name);
            } else {
                g_set_error_literal(error, SIM_ERROR, SIM_ERROR_FAILED, why);
            }
            return NULL;
        }
        g_free(s->name);
        s->name = g_strdup(name);
        g_ptr_array_add(p->items, g_strdup(s->id));
        g_ptr_array_add(taken, p->items->pdata[p->items->len - 1]);
    }
    g_ptr_array_add(g->snapshots, p);
    return p;
}

static gboolean
run_group_create(SimHost *host, SimJob *job, gpointer data, GError **error)
{
    SimTask *t = data;
    SimGroup *g;
    SimGroupPoint *p = NULL;

    sim_job_step(host, job, 10);
    g = sim_host_find_group(host, t->group_id);
    if (!g)
        g_set_error(error, SIM_ERROR, SIM_ERROR_STATE,
                    _("The virtual machine group has no members."));
    else
        p = sim_group_take(host, g, t->value, t->consistency, job, error);
    if (p)
        sim_job_affects(job, "Msvm_SnapshotCollection", p->id);
    g_mutex_unlock(&host->lock);
    if (p)
        sim_job_progress(host, job, 90);
    return p != NULL;
}

static guint32
group_create(SimHost *host, const WmiObject *target, const char *method,
             const WmiObject *in, WmiObject *out, GError **error)
{
    SimGroup *g = group_of_param(host, in);
    const char *settings = sim_param_text(in, "SnapshotSettings");
    SimTask *t;
    guint64 type;
    guint8 level;

    if (!g || !sim_param_uint(in, "SnapshotType", G_MAXUINT16, &type) ||
        (type != MSVM_COLLECTION_SNAPSHOT_TYPE_STANDARD &&
         type != MSVM_COLLECTION_SNAPSHOT_TYPE_RECOVERY) ||
        !sim_settings_consistency(settings, &level))
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    t = group_task_new(g, NULL);
    t->value = type;
    t->consistency = level;
    return sim_start_task(host, out, MSVM_JOB_TYPE_SNAPSHOT_COLLECTION,
                          run_group_create, t, "ResultingSnapshotCollection");
}

static gboolean
run_group_destroy(SimHost *host, SimJob *job, gpointer data, GError **error)
{
    SimTask *t = data;
    SimGroup *g;
    SimGroupPoint *p;
    g_autoptr(GPtrArray) items = NULL;
    gboolean ok = TRUE;

    p = task_begin(host, job, t, 10, &g, error);
    if (!p)
        return FALSE;
    items = copy_ids(p->items);
    sim_job_affects(job, "Msvm_VirtualSystemCollection", g->id);
    for (guint i = 0; ok && i < items->len; i++) {
        SimVm *vm = NULL;
        SimSnapshot *s = sim_host_find_snapshot(host, items->pdata[i], &vm);
        if (s) {
            ok = sim_destroy_snapshot(host, job, vm, s, error);
            vm->busy_status = 0;
        }
    }
    /* the point itself went with its last member snapshot */
    g_mutex_unlock(&host->lock);
    return ok;
}

static gboolean
run_group_apply(SimHost *host, SimJob *job, gpointer data, GError **error)
{
    SimTask *t = data;
    SimGroup *g;
    SimGroupPoint *p;
    gboolean ok = TRUE;

    p = task_begin(host, job, t, 10, &g, error);
    if (!p)
        return FALSE;
    g_ptr_array_set_size(g->last_apply_vms, 0);
    for (guint i = 0; ok && i < p->items->len; i++) {
        SimVm *vm = NULL;
        SimSnapshot *s = sim_host_find_snapshot(host, p->items->pdata[i], &vm);
        if (!s)
            continue;
        ok = sim_apply_snapshot(host, vm, s, error);
        if (ok)
            g_ptr_array_add(g->last_apply_vms, g_strdup(vm->id));
    }
    g_clear_pointer(&g->last_apply_time, g_date_time_unref);
    g->last_apply_time = g_date_time_new_now_utc();
    g->last_apply_consistency = p->consistency;
    sim_job_affects(job, "Msvm_VirtualSystemCollection", g->id);
    g_mutex_unlock(&host->lock);
    sim_job_progress(host, job, 90);
    return ok;
}

/* ConsistencyLevel of a reference point collection counts the other way
 * round from the VM-level one: 1 crash, 2 application. */
static guint8
collection_consistency(guint8 vm_level)
{
    return vm_level == MSVM_CONSISTENCY_LEVEL_APPLICATION ? 2
           : vm_level == MSVM_CONSISTENCY_LEVEL_CRASH     ? 1
                                                          : 0;
}

static gboolean
run_group_convert(SimHost *host, SimJob *job, gpointer data, GError **error)
{
    SimTask *t = data;
    SimGroup *g;
    SimGroupPoint *p, *rp;
    g_autoptr(GPtrArray) items = NULL;
    gboolean ok = TRUE;

    p = task_begin(host, job, t, 10, &g, error);
    if (!p)
        return FALSE;
    rp =
        group_point_new(p->name, MSVM_REFERENCE_POINT_TYPE_RCT, p->consistency);
    items = copy_ids(p->items);
    for (guint i = 0; ok && i < items->len; i++) {
        SimVm *vm = NULL;
        SimSnapshot *s = sim_host_find_snapshot(host, items->pdata[i], &vm);
        SimRefPoint *r;
        if (!s)
            continue;
        if (!rp->consistency)
            rp->consistency = s->consistency;
        r = sim_convert_snapshot(host, job, vm, s, error);
        vm->busy_status = 0;
        ok = r != NULL;
        if (ok)
            g_ptr_array_add(rp->items, g_strdup(r->id));
    }
    /* what was converted stays converted, as on a host that failed midway */
    if (rp->items->len) {
        rp->consistency = collection_consistency(rp->consistency);
        g_ptr_array_add(g->refpoints, rp);
        sim_job_affects(job, "Msvm_ReferencePointCollection", rp->id);
    } else {
        sim_group_point_free(rp);
    }
    g_mutex_unlock(&host->lock);
    return ok;
}

static gboolean
base_seq(SimHost *host, SimGroup *g, const char *base_id, SimVm *vm,
         guint64 *seq)
{
    SimGroupPoint *bp = sim_group_find_point(g->refpoints, base_id);
    gboolean refpoints = bp != NULL;

    if (!bp)
        bp = sim_group_find_point(g->snapshots, base_id);
    for (guint i = 0; bp && i < bp->items->len; i++) {
        SimVm *owner = NULL;
        if (refpoints) {
            SimRefPoint *r =
                sim_host_find_refpoint(host, bp->items->pdata[i], &owner);
            if (r && owner == vm) {
                *seq = r->change_seq;
                return TRUE;
            }
        } else {
            SimSnapshot *s =
                sim_host_find_snapshot(host, bp->items->pdata[i], &owner);
            if (s && owner == vm) {
                *seq = s->change_seq;
                return TRUE;
            }
        }
    }
    return FALSE;
}

static gboolean
run_group_export(SimHost *host, SimJob *job, gpointer data, GError **error)
{
    SimTask *t = data;
    SimGroup *g;
    SimGroupPoint *p;
    g_autoptr(SimExport) e = sim_export_new();

    p = task_begin(host, job, t, 5, &g, error);
    if (!p)
        return FALSE;
    sim_job_affects(job, "Msvm_SnapshotCollection", p->id);
    /* plan under the lock; the files are frozen, so copy without it */
    for (guint i = 0; i < p->items->len; i++) {
        SimVm *vm = NULL;
        SimSnapshot *s = sim_host_find_snapshot(host, p->items->pdata[i], &vm);
        guint64 since = 0;

        if (!s)
            continue;
        if (t->base_id && !base_seq(host, g, t->base_id, vm, &since)) {
            g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                        _("The differential base does not cover '%s'."),
                        vm->name);
            g_mutex_unlock(&host->lock);
            return FALSE;
        }
        if (!sim_export_plan(e, t->directory, TRUE, vm, s, t->copy_storage,
                             t->base_id ? &since : NULL, t->base_id, error)) {
            g_mutex_unlock(&host->lock);
            return FALSE;
        }
    }
    g_mutex_unlock(&host->lock);
    return sim_export_run(e, host, job, 10, 95, error);
}

static guint32
group_export(SimHost *host, SimGroup *g, SimGroupPoint *p, const WmiObject *in,
             WmiObject *out)
{
    const char *dir = sim_param_text(in, "ExportDirectory");
    const char *settings = sim_param_text(in, "ExportSettingData");
    g_autofree char *posix = sim_path_from_windows(dir);
    g_autoptr(WmiObject) esd = NULL;
    SimTask *t;
    const char *v;

    if (!posix)
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    t = group_task_new(g, p);
    t->directory = g_steal_pointer(&posix);
    t->copy_storage = TRUE;
    if (settings && *settings) {
        esd = wmi_object_from_cimxml(settings, NULL);
        if (!esd || !g_str_equal(esd->class_name,
                                 "Msvm_CollectionSnapshotExportSettingData")) {
            sim_task_free(t);
            return MSVM_RETURN_VALUE_INVALID_PARAMETER;
        }
        v = wmi_object_text(esd, "CopyVmStorage");
        t->copy_storage = !v || g_ascii_strcasecmp(v, "true") == 0;
        t->base_id = sim_path_key(
            wmi_object_text(esd, "DifferentialBackupBase"), "CollectionID");
        if (t->base_id && !sim_group_find_point(g->refpoints, t->base_id) &&
            !sim_group_find_point(g->snapshots, t->base_id)) {
            sim_task_free(t);
            return MSVM_RETURN_VALUE_INVALID_PARAMETER;
        }
    }
    return sim_start_task(host, out, MSVM_JOB_TYPE_EXPORT, run_group_export, t,
                          NULL);
}

static guint32
group_snapshot_method(SimHost *host, const WmiObject *target,
                      const char *method, const WmiObject *in, WmiObject *out,
                      GError **error)
{
    const char *param = g_str_equal(method, "ApplySnapshot") ||
                                g_str_equal(method, "ExportSnapshot")
                            ? "SnapshotCollection"
                            : "AffectedSnapshotCollection";
    const char *id = sim_param_selector(in, param, "CollectionID");
    SimGroup *g = NULL;
    SimGroupPoint *p =
        id ? sim_host_find_group_point(host, id, FALSE, &g) : NULL;
    SimJobRun run;
    guint16 type;

    if (!p)
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    if (g_str_equal(method, "ExportSnapshot"))
        return group_export(host, g, p, in, out);
    if (g_str_equal(method, "DestroySnapshot")) {
        run = run_group_destroy;
        type = MSVM_JOB_TYPE_DELETE_SNAPSHOT;
    } else if (g_str_equal(method, "ApplySnapshot")) {
        for (guint i = 0; i < p->items->len; i++) {
            SimVm *vm = NULL;
            if (sim_host_find_snapshot(host, p->items->pdata[i], &vm) &&
                sim_vm_is_running(vm))
                return MSVM_RETURN_VALUE_MSVM_INVALID_STATE;
        }
        run = run_group_apply;
        type = MSVM_JOB_TYPE_APPLY_SNAPSHOT;
    } else {
        /* ConvertToReferencePoint: recovery group snapshots only */
        if (p->type != MSVM_COLLECTION_SNAPSHOT_TYPE_RECOVERY)
            return MSVM_RETURN_VALUE_MSVM_INVALID_STATE;
        run = run_group_convert;
        type = MSVM_JOB_TYPE_CONVERT_TO_REFERENCE_POINT;
        wmi_object_set_nil(out, "ResultingReferencePointCollection");
    }
    return sim_start_task(host, out, type, run, group_task_new(g, p), NULL);
}

const SimMethod sim_groups_methods[] = {
    { "Msvm_CollectionManagementService", "DefineCollection", define_group },
    { "Msvm_CollectionManagementService", "DestroyCollection", edit_group },
    { "Msvm_CollectionManagementService", "RenameCollection", edit_group },
    { "Msvm_CollectionManagementService", "AddMember", edit_group },
    { "Msvm_CollectionManagementService", "RemoveMember", edit_group },
    { "Msvm_CollectionSnapshotService", "CreateSnapshot", group_create },
    { "Msvm_CollectionSnapshotService", "DestroySnapshot",
      group_snapshot_method },
    { "Msvm_CollectionSnapshotService", "ApplySnapshot",
      group_snapshot_method },
    { "Msvm_CollectionSnapshotService", "ExportSnapshot",
      group_snapshot_method },
    { "Msvm_CollectionSnapshotService", "ConvertToReferencePoint",
      group_snapshot_method },
    { NULL, NULL, NULL },
};
