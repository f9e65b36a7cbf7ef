/*
 * sim-groups.c: reference points and VM groups in hypervsim
 *
 * An RCT reference point is what a recovery checkpoint becomes once
 * converted: its files are merged away and only the change-tracking
 * position stays. A VM group (Msvm_VirtualSystemCollection) takes its
 * snapshots and reference points one per member, grouped under one
 * CollectionID; ExportSnapshot writes a group snapshot's disks to a folder,
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

#define COPY_CHUNK (1u << 20)

/* Reference points of a VM */

static char *
rct_id_new(guint64 seq)
{
    g_autofree char *guid = g_uuid_string_random();
    g_strdelimit(guid, "-", ':');
    return g_strdup_printf("rctX:%s:%08" G_GINT64_MODIFIER "x", guid, seq);
}

static SimRefPoint *
refpoint_new(SimVm *vm, GPtrArray *disks, guint8 consistency, guint64 seq)
{
    SimRefPoint *r = g_new0(SimRefPoint, 1);

    r->id = sim_guid_new();
    r->created = g_date_time_new_now_utc();
    r->consistency = consistency;
    r->change_seq = seq;
    r->slots = g_ptr_array_new_with_free_func(g_free);
    r->rct_ids = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < disks->len; i++) {
        g_ptr_array_add(r->slots,
                        g_strdup(((SimDiskRef *) disks->pdata[i])->slot_id));
        g_ptr_array_add(r->rct_ids, rct_id_new(seq + i));
    }
    return r;
}

static gboolean
is_recovery(SimSnapshot *s)
{
    return g_str_equal(s->type, MSVM_VIRTUAL_SYSTEM_TYPE_SNAPSHOT_RECOVERY);
}

/* Changes older than every point that can still be asked about go. */
static void
trim_changes(SimVm *vm)
{
    guint64 oldest = G_MAXUINT64;

    for (guint i = 0; i < vm->refpoints->len; i++)
        oldest =
            MIN(oldest, ((SimRefPoint *) vm->refpoints->pdata[i])->change_seq);
    for (guint i = 0; i < vm->snapshots->len; i++) {
        SimSnapshot *s = vm->snapshots->pdata[i];
        if (is_recovery(s))
            oldest = MIN(oldest, s->change_seq);
    }
    for (guint i = vm->changes->len; i > 0; i--)
        if (((SimChange *) vm->changes->pdata[i - 1])->seq <= oldest)
            g_ptr_array_remove_index(vm->changes, i - 1);
}

SimRefPoint *
sim_convert_snapshot(SimHost *host, SimJob *job, SimVm *vm, SimSnapshot *s,
                     GError **error)
{
    SimRefPoint *r = refpoint_new(vm, s->disks, s->consistency, s->change_seq);

    if (!sim_destroy_snapshot(host, job, vm, s, error)) {
        sim_refpoint_free(r);
        return NULL;
    }
    g_ptr_array_add(vm->refpoints, r);
    return r;
}

void
sim_destroy_refpoint(SimHost *host, SimVm *vm, SimRefPoint *r)
{
    sim_leave_group_points(host, r->id, TRUE);
    g_ptr_array_remove(vm->refpoints, r);
    trim_changes(vm);
}

static gboolean
run_convert(SimHost *host, SimJob *job, gpointer data, GError **error)
{
    SimVm *vm = NULL;
    SimSnapshot *s;
    SimRefPoint *r = NULL;
    g_autofree char *key = NULL;

    sim_job_progress(host, job, 10);
    g_mutex_lock(&host->lock);
    s = sim_host_find_snapshot(host, data, &vm);
    if (!s)
        g_set_error(error, SIM_ERROR, SIM_ERROR_NOT_FOUND,
                    _("The checkpoint was deleted."));
    else
        r = sim_convert_snapshot(host, job, vm, s, error);
    if (r) {
        key = g_strdup_printf("Microsoft:%s", r->id);
        sim_job_affects(job, "Msvm_VirtualSystemReferencePoint", key);
    }
    if (vm)
        vm->busy_status = 0;
    g_mutex_unlock(&host->lock);
    return r != NULL;
}

static guint32
convert_snapshot(SimHost *host, const WmiObject *target, const char *method,
                 const WmiObject *in, WmiObject *out, GError **error)
{
    const char *id = sim_param_selector(in, "AffectedSnapshot", "InstanceID");
    SimSnapshot *s = id ? sim_host_find_snapshot(host, id, NULL) : NULL;

    if (!s)
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    /* only a recovery checkpoint turns into a reference point */
    if (!is_recovery(s))
        return MSVM_RETURN_VALUE_MSVM_INVALID_STATE;
    sim_out_job(out,
                sim_job_start(host, MSVM_JOB_TYPE_CONVERT_TO_REFERENCE_POINT,
                              FALSE, run_convert, g_strdup(s->id), g_free));
    wmi_object_set_nil(out, "ResultingReferencePoint");
    return MSVM_RETURN_VALUE_JOB_STARTED;
}

static gboolean
run_create_refpoint(SimHost *host, SimJob *job, gpointer data, GError **error)
{
    SimVmTask *d = data;
    SimVm *vm;
    SimRefPoint *r = NULL;
    g_autofree char *key = NULL;

    sim_job_progress(host, job, 30);
    g_mutex_lock(&host->lock);
    vm = sim_host_find_vm(host, d->vm_id);
    if (!vm) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_NOT_FOUND,
                    _("The virtual machine was deleted."));
    } else {
        r = refpoint_new(vm, vm->disks, d->consistency, vm->change_seq);
        g_ptr_array_add(vm->refpoints, r);
        key = g_strdup_printf("Microsoft:%s", r->id);
        sim_job_affects(job, "Msvm_VirtualSystemReferencePoint", key);
    }
    g_mutex_unlock(&host->lock);
    return r != NULL;
}

static guint32
create_refpoint(SimHost *host, const WmiObject *target, const char *method,
                const WmiObject *in, WmiObject *out, GError **error)
{
    const char *name = sim_param_selector(in, "AffectedSystem", "Name");
    SimVm *vm = name ? sim_host_find_vm(host, name) : NULL;
    const char *settings = sim_param_text(in, "ReferencePointSettings");
    guint64 type, level = MSVM_CONSISTENCY_LEVEL_CRASH;

    if (!vm || !sim_param_uint(in, "ReferencePointType", G_MAXUINT16, &type))
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    /* the method documents 0 log / 1 RCT, the class 1 log / 2 RCT: both
     * RCT spellings are taken; log-based points need Hyper-V Replica */
    if (type == 0)
        return MSVM_RETURN_VALUE_MSVM_NOT_SUPPORTED;
    if (type > 2)
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    if (settings && *settings) {
        g_autoptr(WmiObject) o = wmi_object_from_cimxml(settings, NULL);
        const char *t = o ? wmi_object_text(o, "ConsistencyLevel") : NULL;
        if (!o || (t && (!wmi_parse_unsigned(t, 2, &level) || level == 0)))
            return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    }
    sim_out_job(out, sim_job_start(host, MSVM_JOB_TYPE_CREATE_REFERENCE_POINT,
                                   FALSE, run_create_refpoint,
                                   sim_vm_task_new(vm, type, level),
                                   (GDestroyNotify) sim_vm_task_free));
    wmi_object_set_nil(out, "ResultingReferencePoint");
    return MSVM_RETURN_VALUE_JOB_STARTED;
}

static gboolean
run_destroy_refpoint(SimHost *host, SimJob *job, gpointer data, GError **error)
{
    SimVm *vm = NULL;
    SimRefPoint *r;

    sim_job_progress(host, job, 50);
    g_mutex_lock(&host->lock);
    r = sim_host_find_refpoint(host, data, &vm);
    if (r) {
        sim_job_affects(job, "Msvm_ComputerSystem", vm->id);
        sim_destroy_refpoint(host, vm, r);
    } else {
        g_set_error(error, SIM_ERROR, SIM_ERROR_NOT_FOUND,
                    _("The reference point was deleted."));
    }
    g_mutex_unlock(&host->lock);
    return r != NULL;
}

static guint32
destroy_refpoint(SimHost *host, const WmiObject *target, const char *method,
                 const WmiObject *in, WmiObject *out, GError **error)
{
    const char *id =
        sim_param_selector(in, "AffectedReferencePoint", "InstanceID");
    SimRefPoint *r = id ? sim_host_find_refpoint(host, id, NULL) : NULL;

    if (!r)
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    sim_out_job(out,
                sim_job_start(host, MSVM_JOB_TYPE_DELETE_REFERENCE_POINT, FALSE,
                              run_destroy_refpoint, g_strdup(r->id), g_free));
    return MSVM_RETURN_VALUE_JOB_STARTED;
}

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
        const char *vm_name = sim_param_selector(in, "Member", "Name");
        vm = vm_name ? sim_host_find_vm(host, vm_name) : NULL;
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

typedef struct {
    char *group_id;
    char *point_id; /* the group point worked on */
    guint16 type;
    guint8 consistency;
    char *directory; /* ExportSnapshot */
    char *base_id;   /* ExportSnapshot: CollectionID of the base point */
    gboolean copy_storage;
} GroupTask;

static void
group_task_free(GroupTask *t)
{
    g_free(t->group_id);
    g_free(t->point_id);
    g_free(t->directory);
    g_free(t->base_id);
    g_free(t);
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

static GroupTask *
group_task_new(SimGroup *g, SimGroupPoint *p)
{
    GroupTask *t = g_new0(GroupTask, 1);
    t->group_id = g_strdup(g->id);
    t->point_id = p ? g_strdup(p->id) : NULL;
    return t;
}

/* Finds the task's group and point again from the worker, lock held. */
static SimGroupPoint *
task_point(SimHost *host, GroupTask *t, gboolean refpoints, SimGroup **g,
           GError **error)
{
    SimGroupPoint *p;

    *g = sim_host_find_group(host, t->group_id);
    p = *g ? sim_group_find_point(refpoints ? (*g)->refpoints : (*g)->snapshots,
                                  t->point_id)
           : NULL;
    if (!p)
        g_set_error(error, SIM_ERROR, SIM_ERROR_NOT_FOUND,
                    _("The group checkpoint was deleted."));
    return p;
}

static gboolean
run_group_create(SimHost *host, SimJob *job, gpointer data, GError **error)
{
    GroupTask *t = data;
    SimGroup *g;
    SimGroupPoint *p;
    g_autoptr(GPtrArray) taken = g_ptr_array_new();
    g_autofree char *name = NULL;
    guint16 vm_type = t->type == MSVM_COLLECTION_SNAPSHOT_TYPE_RECOVERY
                          ? MSVM_SNAPSHOT_TYPE_RECOVERY
                          : MSVM_SNAPSHOT_TYPE_FULL;
    GError *local = NULL;

    sim_job_progress(host, job, 10);
    g_mutex_lock(&host->lock);
    g = sim_host_find_group(host, t->group_id);
    if (!g || !g->members->len) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_STATE,
                    _("The virtual machine group has no members."));
        g_mutex_unlock(&host->lock);
        return FALSE;
    }
    name = default_point_name(g);
    p = group_point_new(name, t->type, t->consistency);
    for (guint i = 0; i < g->members->len; i++) {
        SimVm *vm = sim_host_find_vm(host, g->members->pdata[i]);
        SimSnapshot *s =
            vm ? sim_take_snapshot(host, vm, vm_type, t->consistency, &local)
               : NULL;
        if (!s) {
            /* all members or none: the ones taken go again */
            for (guint k = 0; k < taken->len; k++) {
                SimVm *owner = NULL;
                SimSnapshot *undo =
                    sim_host_find_snapshot(host, taken->pdata[k], &owner);
                if (undo)
                    sim_destroy_snapshot(host, job, owner, undo, NULL);
            }
            g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                        _("The group checkpoint of '%s' failed: %s"), g->name,
                        local ? local->message
                              : _("a member virtual machine was deleted."));
            g_clear_error(&local);
            sim_group_point_free(p);
            g_mutex_unlock(&host->lock);
            return FALSE;
        }
        g_free(s->name);
        s->name = g_strdup(name);
        g_ptr_array_add(p->items, g_strdup(s->id));
        g_ptr_array_add(taken, p->items->pdata[p->items->len - 1]);
    }
    g_ptr_array_add(g->snapshots, p);
    sim_job_affects(job, "Msvm_SnapshotCollection", p->id);
    g_mutex_unlock(&host->lock);
    sim_job_progress(host, job, 90);
    return TRUE;
}

static guint32
group_create(SimHost *host, const WmiObject *target, const char *method,
             const WmiObject *in, WmiObject *out, GError **error)
{
    SimGroup *g = group_of_param(host, in);
    const char *settings = sim_param_text(in, "SnapshotSettings");
    GroupTask *t;
    guint64 type;
    guint8 level;

    if (!g || !sim_param_uint(in, "SnapshotType", G_MAXUINT16, &type) ||
        (type != MSVM_COLLECTION_SNAPSHOT_TYPE_STANDARD &&
         type != MSVM_COLLECTION_SNAPSHOT_TYPE_RECOVERY) ||
        !sim_settings_consistency(settings, &level))
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    t = group_task_new(g, NULL);
    t->type = type;
    t->consistency = level;
    sim_out_job(out, sim_job_start(host, MSVM_JOB_TYPE_SNAPSHOT_COLLECTION,
                                   FALSE, run_group_create, t,
                                   (GDestroyNotify) group_task_free));
    wmi_object_set_nil(out, "ResultingSnapshotCollection");
    return MSVM_RETURN_VALUE_JOB_STARTED;
}

static gboolean
run_group_destroy(SimHost *host, SimJob *job, gpointer data, GError **error)
{
    GroupTask *t = data;
    SimGroup *g;
    SimGroupPoint *p;
    g_autoptr(GPtrArray) items = NULL;
    gboolean ok = TRUE;

    sim_job_progress(host, job, 10);
    g_mutex_lock(&host->lock);
    p = task_point(host, t, FALSE, &g, error);
    if (!p) {
        g_mutex_unlock(&host->lock);
        return FALSE;
    }
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
    GroupTask *t = data;
    SimGroup *g;
    SimGroupPoint *p;
    gboolean ok = TRUE;

    sim_job_progress(host, job, 10);
    g_mutex_lock(&host->lock);
    p = task_point(host, t, FALSE, &g, error);
    if (!p) {
        g_mutex_unlock(&host->lock);
        return FALSE;
    }
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
    GroupTask *t = data;
    SimGroup *g;
    SimGroupPoint *p, *rp;
    g_autoptr(GPtrArray) items = NULL;
    gboolean ok = TRUE;

    sim_job_progress(host, job, 10);
    g_mutex_lock(&host->lock);
    p = task_point(host, t, FALSE, &g, error);
    if (!p) {
        g_mutex_unlock(&host->lock);
        return FALSE;
    }
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

/* ExportSnapshot: per member, "<dir>/<VM name>/Virtual Hard Disks/" holds
 * one VHDX per disk with the snapshot's content (or, differential, only
 * the ranges changed since the base point), and "Virtual Machines/"
 * a JSON description of what was exported. */

typedef struct {
    char *source; /* the snapshot's frozen file */
    char *target;
    char *slot_id;
    GArray *ranges; /* Range; NULL: everything */
} ExportDisk;

static void
export_disk_free(ExportDisk *d)
{
    g_free(d->source);
    g_free(d->target);
    g_free(d->slot_id);
    if (d->ranges)
        g_array_unref(d->ranges);
    g_free(d);
}

/* A range of a disk, in bytes */
typedef struct {
    guint64 offset;
    guint64 length;
} Range;

static gint
range_cmp(gconstpointer a, gconstpointer b)
{
    guint64 x = ((const Range *) a)->offset, y = ((const Range *) b)->offset;
    return x < y ? -1 : x > y;
}

/* The ranges of slot changed after seq and up to until, in order, with
 * overlapping ones joined. */
static GArray *
changed_ranges(SimVm *vm, const char *slot, guint64 after, guint64 until)
{
    GArray *r = g_array_new(FALSE, FALSE, sizeof(Range));
    g_autoptr(GArray) raw = g_array_new(FALSE, FALSE, sizeof(Range));

    for (guint i = 0; i < vm->changes->len; i++) {
        SimChange *c = vm->changes->pdata[i];
        if (c->seq > after && c->seq <= until &&
            g_str_equal(c->slot_id, slot)) {
            Range one = { c->offset, MIN(c->length, G_MAXUINT64 - c->offset) };
            g_array_append_val(raw, one);
        }
    }
    g_array_sort(raw, range_cmp);
    for (guint i = 0; i < raw->len; i++) {
        Range *one = &g_array_index(raw, Range, i);
        Range *last = r->len ? &g_array_index(r, Range, r->len - 1) : NULL;
        if (last && one->offset <= last->offset + last->length)
            last->length =
                MAX(last->offset + last->length, one->offset + one->length) -
                last->offset;
        else
            g_array_append_val(r, *one);
    }
    return r;
}

static gboolean
is_zero(const guint8 *buf, gsize len)
{
    return len == 0 || (buf[0] == 0 && memcmp(buf, buf + 1, len - 1) == 0);
}

static gboolean
copy_disk(ExportDisk *d, GError **error)
{
    g_autoptr(VhdxImage) src = NULL;
    g_autoptr(VhdxImage) dst = NULL;
    g_autofree guint8 *buf = g_malloc(COPY_CHUNK);
    VhdxCreateOptions opts = { 0 };
    const VhdxInfo *info;
    guint64 size;

    src = vhdx_open(d->source, VHDX_OPEN_READ_ONLY | VHDX_OPEN_CHAIN, error);
    if (!src)
        return FALSE;
    info = vhdx_get_info(src);
    size = info->virtual_size;
    opts.virtual_size = size;
    opts.logical_sector_size = info->logical_sector_size;
    opts.physical_sector_size = info->physical_sector_size;
    if (!vhdx_create(d->target, &opts, error))
        return FALSE;
    dst = vhdx_open(d->target, VHDX_OPEN_READ_WRITE, error);
    if (!dst)
        return FALSE;
    for (guint r = 0; r < (d->ranges ? d->ranges->len : 1); r++) {
        Range all = { 0, size };
        const Range *one =
            d->ranges ? &g_array_index(d->ranges, Range, r) : &all;
        guint64 off = one->offset;
        guint64 end = MIN(off + one->length, size);
        while (off < end) {
            gsize n = MIN(end - off, COPY_CHUNK);
            if (!vhdx_read(src, buf, n, off, error))
                return FALSE;
            /* a whole export skips zeros; a differential one keeps them,
             * as they are changes */
            if ((d->ranges || !is_zero(buf, n)) &&
                !vhdx_write(dst, buf, n, off, error))
                return FALSE;
            off += n;
        }
    }
    return vhdx_close(g_steal_pointer(&dst), error);
}

static void
put_ranges(JsonBuilder *b, GArray *ranges)
{
    json_builder_set_member_name(b, "changed_ranges");
    if (!ranges) {
        json_builder_add_null_value(b);
        return;
    }
    json_builder_begin_array(b);
    for (guint i = 0; i < ranges->len; i++) {
        const Range *one = &g_array_index(ranges, Range, i);
        json_builder_begin_array(b);
        json_builder_add_int_value(b, one->offset);
        json_builder_add_int_value(b, MIN(one->length, (guint64) G_MAXINT64));
        json_builder_end_array(b);
    }
    json_builder_end_array(b);
}

static gboolean
write_description(const char *path, SimVm *vm, SimSnapshot *s, const char *base,
                  GPtrArray *disks, GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *data = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "virtual_machine");
    json_builder_add_string_value(b, vm->id);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, vm->name);
    json_builder_set_member_name(b, "snapshot");
    json_builder_add_string_value(b, s->id);
    json_builder_set_member_name(b, "differential_base");
    if (base)
        json_builder_add_string_value(b, base);
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "disks");
    json_builder_begin_array(b);
    for (guint i = 0; i < disks->len; i++) {
        ExportDisk *d = disks->pdata[i];
        g_autofree char *file = g_path_get_basename(d->target);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "slot");
        json_builder_add_string_value(b, d->slot_id);
        json_builder_set_member_name(b, "file");
        json_builder_add_string_value(b, file);
        put_ranges(b, d->ranges);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    data = json_generator_to_data(gen, NULL);
    return g_file_set_contents(path, data, -1, error);
}

/* The change counter of the base point for a member, or FALSE when the
 * base does not cover that member. */
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
    GroupTask *t = data;
    SimGroup *g;
    SimGroupPoint *p;
    g_autoptr(GPtrArray) disks =
        g_ptr_array_new_with_free_func((GDestroyNotify) export_disk_free);
    g_autoptr(GPtrArray) folders = g_ptr_array_new_with_free_func(g_free);

    sim_job_progress(host, job, 5);
    g_mutex_lock(&host->lock);
    p = task_point(host, t, FALSE, &g, error);
    if (!p) {
        g_mutex_unlock(&host->lock);
        return FALSE;
    }
    sim_job_affects(job, "Msvm_SnapshotCollection", p->id);
    /* plan under the lock; the files are frozen, so copy without it */
    for (guint i = 0; i < p->items->len; i++) {
        SimVm *vm = NULL;
        SimSnapshot *s = sim_host_find_snapshot(host, p->items->pdata[i], &vm);
        g_autofree char *vm_dir = NULL, *vhd_dir = NULL, *cfg_dir = NULL;
        g_autofree char *cfg = NULL, *cfg_name = NULL;
        g_autoptr(GPtrArray) vm_disks = g_ptr_array_new();
        guint64 since = 0;
        gboolean differential = FALSE;

        if (!s)
            continue;
        if (t->base_id) {
            differential = base_seq(host, g, t->base_id, vm, &since);
            if (!differential) {
                g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                            _("The differential base does not cover '%s'."),
                            vm->name);
                g_mutex_unlock(&host->lock);
                return FALSE;
            }
        }
        vm_dir = g_build_filename(t->directory, vm->name, NULL);
        vhd_dir = g_build_filename(vm_dir, "Virtual Hard Disks", NULL);
        cfg_dir = g_build_filename(vm_dir, "Virtual Machines", NULL);
        if (g_mkdir_with_parents(vhd_dir, 0755) < 0 ||
            g_mkdir_with_parents(cfg_dir, 0755) < 0) {
            g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                        _("Failed to create the export folder '%s'."), vm_dir);
            g_mutex_unlock(&host->lock);
            return FALSE;
        }
        for (guint k = 0; t->copy_storage && k < s->disks->len; k++) {
            SimDiskRef *ref = s->disks->pdata[k];
            g_autofree char *base = g_path_get_basename(ref->path);
            g_autofree char *file = NULL;
            ExportDisk *d = g_new0(ExportDisk, 1);
            char *under = strchr(base, '_'), *dot = strrchr(base, '.');

            /* the root disk's name, without a checkpoint's suffix */
            if (under && dot && dot - under == 37)
                *under = '\0';
            else if (dot)
                *dot = '\0';
            file = g_strdup_printf("%s.vhdx", base);
            d->source = g_strdup(ref->path);
            d->target = g_build_filename(vhd_dir, file, NULL);
            d->slot_id = g_strdup(ref->slot_id);
            if (differential)
                d->ranges =
                    changed_ranges(vm, ref->slot_id, since, s->change_seq);
            if (g_file_test(d->target, G_FILE_TEST_EXISTS)) {
                g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                            _("Failed to export: '%s' exists."), d->target);
                export_disk_free(d);
                g_mutex_unlock(&host->lock);
                return FALSE;
            }
            g_ptr_array_add(disks, d);
            g_ptr_array_add(vm_disks, d);
        }
        cfg_name = g_strdup_printf("%s.vmcx", s->id);
        cfg = g_build_filename(cfg_dir, cfg_name, NULL);
        if (!write_description(cfg, vm, s, differential ? t->base_id : NULL,
                               vm_disks, error)) {
            g_mutex_unlock(&host->lock);
            return FALSE;
        }
        g_ptr_array_add(folders, g_steal_pointer(&vm_dir));
    }
    g_mutex_unlock(&host->lock);

    for (guint i = 0; i < disks->len; i++) {
        ExportDisk *d = disks->pdata[i];
        GError *local = NULL;
        if (!copy_disk(d, &local)) {
            g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                        _("Failed to export '%s': %s"), d->source,
                        local->message);
            g_error_free(local);
            return FALSE;
        }
        sim_job_progress(host, job, 10 + 85 * (i + 1) / disks->len);
    }
    return TRUE;
}

/* The CollectionID in a WMI object path, or the bare id. */
static char *
collection_id_of(const char *path)
{
    const char *at = path ? strstr(path, "CollectionID=\"") : NULL;
    const char *end;

    if (!path || !*path)
        return NULL;
    if (!at)
        return g_strdup(path);
    at += strlen("CollectionID=\"");
    end = strchr(at, '"');
    return end ? g_strndup(at, end - at) : NULL;
}

static guint32
group_export(SimHost *host, SimGroup *g, SimGroupPoint *p, const WmiObject *in,
             WmiObject *out)
{
    const char *dir = sim_param_text(in, "ExportDirectory");
    const char *settings = sim_param_text(in, "ExportSettingData");
    g_autofree char *posix = sim_path_from_windows(dir);
    g_autoptr(WmiObject) esd = NULL;
    GroupTask *t;
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
            group_task_free(t);
            return MSVM_RETURN_VALUE_INVALID_PARAMETER;
        }
        v = wmi_object_text(esd, "CopyVmStorage");
        t->copy_storage = !v || g_ascii_strcasecmp(v, "true") == 0;
        t->base_id =
            collection_id_of(wmi_object_text(esd, "DifferentialBackupBase"));
        if (t->base_id && !sim_group_find_point(g->refpoints, t->base_id) &&
            !sim_group_find_point(g->snapshots, t->base_id)) {
            group_task_free(t);
            return MSVM_RETURN_VALUE_INVALID_PARAMETER;
        }
    }
    sim_out_job(out, sim_job_start(host, MSVM_JOB_TYPE_EXPORT, FALSE,
                                   run_group_export, t,
                                   (GDestroyNotify) group_task_free));
    return MSVM_RETURN_VALUE_JOB_STARTED;
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
    sim_out_job(out, sim_job_start(host, type, FALSE, run, group_task_new(g, p),
                                   (GDestroyNotify) group_task_free));
    return MSVM_RETURN_VALUE_JOB_STARTED;
}

const SimMethod sim_groups_methods[] = {
    { "Msvm_VirtualSystemSnapshotService", "ConvertToReferencePoint",
      convert_snapshot },
    { "Msvm_VirtualSystemReferencePointService", "CreateReferencePoint",
      create_refpoint },
    { "Msvm_VirtualSystemReferencePointService", "DestroyReferencePoint",
      destroy_refpoint },
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
