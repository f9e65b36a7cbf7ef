/*
 * sim-refpoints.c: RCT reference points in hypervsim
 *
 * An RCT reference point is what a recovery checkpoint becomes once
 * converted: its files are merged away and only the change-tracking
 * position stays (the VM's change counter when the checkpoint was taken).
 * The guest's writes are numbered as they come (sim_vm_track_write); the
 * changes older than every point that can still be asked about are
 * dropped.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>

#include "sim-ops.h"

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

gboolean
sim_is_recovery(SimSnapshot *s)
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
        if (sim_is_recovery(s))
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
    SimSnapshot *s = sim_job_step_snapshot(host, job, 10, data, &vm, error);
    SimRefPoint *r = s ? sim_convert_snapshot(host, job, vm, s, error) : NULL;

    if (r)
        sim_job_affects(job, "Msvm_VirtualSystemReferencePoint", r->id);
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
    if (!sim_is_recovery(s))
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
    SimTask *d = data;
    SimVm *vm = sim_job_step_vm(host, job, 30, d, error);
    SimRefPoint *r = NULL;

    if (vm) {
        r = refpoint_new(vm, vm->disks, d->consistency, vm->change_seq);
        g_ptr_array_add(vm->refpoints, r);
        sim_job_affects(job, "Msvm_VirtualSystemReferencePoint", r->id);
    }
    g_mutex_unlock(&host->lock);
    return r != NULL;
}

static guint32
create_refpoint(SimHost *host, const WmiObject *target, const char *method,
                const WmiObject *in, WmiObject *out, GError **error)
{
    SimVm *vm = sim_param_vm(host, in, "AffectedSystem");
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
    return sim_start_task(host, out, MSVM_JOB_TYPE_CREATE_REFERENCE_POINT,
                          run_create_refpoint, sim_vm_task_new(vm, type, level),
                          "ResultingReferencePoint");
}

static gboolean
run_destroy_refpoint(SimHost *host, SimJob *job, gpointer data, GError **error)
{
    SimVm *vm = NULL;
    SimRefPoint *r;

    sim_job_step(host, job, 50);
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

/* Msvm_ImageManagementService.GetVirtualDiskChanges: the ranges of the
 * disk at Path the guest wrote since the reference point whose RCT
 * identifier is LimitId, within ByteOffset and ByteLength; answered at
 * once, for at most CHANGES_SPAN bytes a call (ProcessedByteLength says
 * how far it got) */
#define CHANGES_SPAN (G_GUINT64_CONSTANT(1) << 30)

static void
add_uint(WmiObject *out, const char *name, guint64 value)
{
    char num[32];

    g_snprintf(num, sizeof(num), "%" G_GUINT64_FORMAT, value);
    wmi_object_add_text(out, name, num);
}

static guint32
get_disk_changes(SimHost *host, const WmiObject *target, const char *method,
                 const WmiObject *in, WmiObject *out, GError **error)
{
    g_autofree char *path = sim_path_from_windows(sim_param_text(in, "Path"));
    const char *limit = sim_param_text(in, "LimitId");
    guint64 offset, length, end;
    g_autoptr(GArray) ranges = NULL;
    SimRefPoint *point = NULL;
    const char *slot = NULL;
    SimVm *owner = NULL;
    g_autoptr(GArray) cut = g_array_new(FALSE, FALSE, sizeof(SimRange));

    if (!path || !limit ||
        !sim_param_uint(in, "ByteOffset", G_MAXUINT64, &offset) ||
        !sim_param_uint(in, "ByteLength", G_MAXUINT64, &length))
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    /* the VM that writes the disk now, and its point of that RCT id */
    for (guint i = 0; !slot && i < host->vms->len; i++) {
        SimVm *vm = host->vms->pdata[i];
        for (guint k = 0; !slot && k < vm->disks->len; k++) {
            SimDiskRef *d = vm->disks->pdata[k];
            if (g_str_equal(d->path, path)) {
                slot = d->slot_id;
                owner = vm;
            }
        }
    }
    if (!slot)
        return MSVM_RETURN_VALUE_FILE_NOT_FOUND;
    for (guint i = 0; !point && i < owner->refpoints->len; i++) {
        SimRefPoint *r = owner->refpoints->pdata[i];
        for (guint k = 0; k < r->rct_ids->len; k++)
            if (g_str_equal(r->rct_ids->pdata[k], limit) &&
                g_str_equal(r->slots->pdata[k], slot))
                point = r;
    }
    if (!point)
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    length = MIN(length, CHANGES_SPAN);
    end = offset + MIN(length, G_MAXUINT64 - offset);
    ranges =
        sim_changed_ranges(owner, slot, point->change_seq, owner->change_seq);
    /* the ranges cut to the span asked about, those left in cut */
    for (guint i = 0; i < ranges->len; i++) {
        const SimRange *r = &g_array_index(ranges, SimRange, i);
        SimRange one = { MAX(r->offset, offset), 0 };
        guint64 to = MIN(r->offset + r->length, end);
        if (one.offset < to) {
            one.length = to - one.offset;
            g_array_append_val(cut, one);
        }
    }
    if (!cut->len) {
        wmi_object_set_nil(out, "ChangedByteOffsets");
        wmi_object_set_nil(out, "ChangedByteLengths");
    }
    for (guint i = 0; i < cut->len; i++)
        add_uint(out, "ChangedByteOffsets",
                 g_array_index(cut, SimRange, i).offset);
    for (guint i = 0; i < cut->len; i++)
        add_uint(out, "ChangedByteLengths",
                 g_array_index(cut, SimRange, i).length);
    add_uint(out, "ProcessedByteLength", end - offset);
    wmi_object_set_nil(out, "Job");
    return MSVM_RETURN_VALUE_COMPLETED;
}

const SimMethod sim_refpoints_methods[] = {
    { "Msvm_ImageManagementService", "GetVirtualDiskChanges",
      get_disk_changes },
    { "Msvm_VirtualSystemSnapshotService", "ConvertToReferencePoint",
      convert_snapshot },
    { "Msvm_VirtualSystemReferencePointService", "CreateReferencePoint",
      create_refpoint },
    { "Msvm_VirtualSystemReferencePointService", "DestroyReferencePoint",
      destroy_refpoint },
    { NULL, NULL, NULL },
};
