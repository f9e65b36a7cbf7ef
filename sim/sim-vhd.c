/*
 * sim-vhd.c: Msvm_ImageManagementService of hypervsim: reading, checking,
 * creating, reconnecting and merging virtual hard disk files
 *
 * Paths come and go in Windows form (C:\...); drive C: is the root file
 * system. Work on files runs in Msvm_StorageJob jobs.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "sim-ops.h"
#include "vhdx.h"

/* Msvm_StorageJob.JobType */
enum {
    STORAGE_JOB_UNKNOWN = 0,
    STORAGE_JOB_CREATE = 1,
    STORAGE_JOB_MERGE = 5,
    STORAGE_JOB_VALIDATE = 9,
};

/* The image a query's Path names, opened to read: 0, or the ReturnValue
 * for a file that is not there or not a virtual hard disk */
static guint32
open_path(const WmiObject *in, char **path, VhdxImage **img)
{
    *path = sim_path_from_windows(sim_param_text(in, "Path"));
    if (!*path || !g_file_test(*path, G_FILE_TEST_EXISTS))
        return MSVM_RETURN_VALUE_FILE_NOT_FOUND;
    *img = vhdx_open(*path, VHDX_OPEN_READ_ONLY, NULL);
    return *img ? 0 : MSVM_RETURN_VALUE_MSVM_FAILED;
}

/* A query's answer: one embedded instance in param, no job */
static guint32
answer(WmiObject *out, const char *param, const WmiObject *instance)
{
    g_autofree char *xml = wmi_object_to_cimxml(instance);

    wmi_object_add_text(out, param, xml);
    wmi_object_set_nil(out, "Job");
    return MSVM_RETURN_VALUE_COMPLETED;
}

static guint32
get_vhd_setting_data(SimHost *host, const WmiObject *target, const char *method,
                     const WmiObject *in, WmiObject *out, GError **error)
{
    g_autofree char *path = NULL;
    g_autoptr(VhdxImage) img = NULL;
    g_autoptr(WmiObject) sd = wmi_object_new("Msvm_VirtualHardDiskSettingData");
    g_autofree char *win = NULL, *parent_win = NULL;
    g_autofree char *parent = NULL, *disk_id = NULL;
    const VhdxInfo *info;
    char num[32];
    guint32 ret = open_path(in, &path, &img);

    if (ret)
        return ret;
    info = vhdx_get_info(img);
    win = sim_path_to_windows(path);
    parent = sim_image_parent(img, path);
    parent_win = parent ? sim_path_to_windows(parent) : NULL;
    disk_id = vhdx_guid_to_string(&info->virtual_disk_id);
    wmi_object_add_text(
        sd, "BlockSize",
        (g_snprintf(num, sizeof(num), "%u", info->block_size), num));
    wmi_object_add_text(sd, "Format", "3");
    wmi_object_add_text(sd, "InstanceID", win);
    wmi_object_add_text(
        sd, "LogicalSectorSize",
        (g_snprintf(num, sizeof(num), "%u", info->logical_sector_size), num));
    wmi_object_add_text(
        sd, "MaxInternalSize",
        (g_snprintf(num, sizeof(num), "%" G_GUINT64_FORMAT, info->virtual_size),
         num));
    if (info->parent_linkage)
        wmi_object_add_text(sd, "ParentIdentifier", info->parent_linkage);
    if (parent_win)
        wmi_object_add_text(sd, "ParentPath", parent_win);
    wmi_object_add_text(sd, "Path", win);
    wmi_object_add_text(
        sd, "PhysicalSectorSize",
        (g_snprintf(num, sizeof(num), "%u", info->physical_sector_size), num));
    wmi_object_add_text(sd, "Type",
                        info->type == VHDX_DISK_FIXED     ? "2"
                        : info->type == VHDX_DISK_DYNAMIC ? "3"
                                                          : "4");
    wmi_object_add_text(sd, "VirtualDiskId", disk_id);
    return answer(out, "SettingData", sd);
}

/* A running or paused VM holds its disks and their parents open (the
 * host's lock is held) */
static gboolean
in_use(SimHost *host, const char *path)
{
    gboolean used = FALSE;

    for (guint i = 0; !used && i < host->vms->len; i++) {
        SimVm *vm = host->vms->pdata[i];
        if (vm->state != MSVM_ENABLED_STATE_ENABLED &&
            vm->state != MSVM_ENABLED_STATE_QUIESCE)
            continue;
        for (guint k = 0; !used && k < vm->disks->len; k++) {
            g_autofree char *file =
                g_strdup(((SimDiskRef *) vm->disks->pdata[k])->path);
            for (guint depth = 0; file && !used && depth < 64; depth++) {
                char *parent;
                used = g_str_equal(file, path);
                parent = sim_disk_parent(file);
                g_free(file);
                file = parent;
            }
        }
    }
    return used;
}

/* Msvm_VirtualHardDiskState: FileSize is the file's length on the host;
 * MinInternalSize, which Windows works out from the partitions inside,
 * is here the end of the last payload block the file itself holds, the
 * least a shrink could keep without losing data */
static guint32
get_vhd_state(SimHost *host, const WmiObject *target, const char *method,
              const WmiObject *in, WmiObject *out, GError **error)
{
    g_autoptr(WmiObject) st = wmi_object_new("Msvm_VirtualHardDiskState");
    g_autoptr(VhdxImage) img = NULL;
    g_autofree char *path = NULL;
    const VhdxInfo *info;
    guint64 min = 0;
    GStatBuf sb;
    char num[32];
    guint32 ret = open_path(in, &path, &img);

    if (ret)
        return ret;
    if (g_stat(path, &sb) != 0)
        return MSVM_RETURN_VALUE_FILE_NOT_FOUND;
    info = vhdx_get_info(img);
    for (guint64 b = info->payload_blocks; b > 0; b--) {
        VhdxBlockState state = vhdx_get_block_state(img, b - 1);
        if (state == VHDX_BLOCK_FULLY_PRESENT ||
            state == VHDX_BLOCK_PARTIALLY_PRESENT) {
            min = MIN(b * info->block_size, info->virtual_size);
            break;
        }
    }
    wmi_object_add_text(st, "Alignment", "1");
    g_snprintf(num, sizeof(num), "%" G_GUINT64_FORMAT, (guint64) sb.st_size);
    wmi_object_add_text(st, "FileSize", num);
    wmi_object_add_text(st, "FragmentationPercentage", "0");
    wmi_object_add_text(st, "InUse", in_use(host, path) ? "TRUE" : "FALSE");
    g_snprintf(num, sizeof(num), "%" G_GUINT64_FORMAT, min);
    wmi_object_add_text(st, "MinInternalSize", num);
    g_snprintf(num, sizeof(num), "%u", info->physical_sector_size);
    wmi_object_add_text(st, "PhysicalSectorSize", num);
    return answer(out, "State", st);
}

static gboolean
run_validate(SimHost *host, SimJob *job, gpointer data, GError **error)
{
    const char *path = data;
    GError *local = NULL;
    VhdxImage *img =
        vhdx_open(path, VHDX_OPEN_READ_ONLY | VHDX_OPEN_CHAIN, &local);

    if (img) {
        vhdx_free(img);
        return TRUE;
    }
    g_mutex_lock(&host->lock);
    job->child_path = g_strdup(path);
    job->parent_path = sim_disk_parent(path);
    g_mutex_unlock(&host->lock);
    g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                _("The chain of virtual hard disks is broken: %s"),
                local->message);
    g_error_free(local);
    return FALSE;
}

static guint32
validate_vhd(SimHost *host, const WmiObject *target, const char *method,
             const WmiObject *in, WmiObject *out, GError **error)
{
    char *path = sim_path_from_windows(sim_param_text(in, "Path"));

    if (!path || !g_file_test(path, G_FILE_TEST_EXISTS)) {
        g_free(path);
        return MSVM_RETURN_VALUE_FILE_NOT_FOUND;
    }
    sim_out_job(out, sim_job_start(host, STORAGE_JOB_VALIDATE, TRUE,
                                   run_validate, path, g_free));
    return MSVM_RETURN_VALUE_JOB_STARTED;
}

/* Which VM runs on a file, directly or through its chain. */
static SimVm *
running_user_of(SimHost *host, const char *path)
{
    for (guint i = 0; i < host->vms->len; i++) {
        SimVm *vm = host->vms->pdata[i];
        if (!sim_vm_is_running(vm))
            continue;
        for (guint k = 0; k < vm->disks->len; k++) {
            g_autofree char *p =
                g_strdup(((SimDiskRef *) vm->disks->pdata[k])->path);
            guint depth = 0;
            while (p && depth++ < 64) {
                char *up;
                if (g_str_equal(p, path))
                    return vm;
                up = sim_disk_parent(p);
                g_free(p);
                p = up;
            }
        }
    }
    return NULL;
}

/* Does a checkpoint keep this file as its frozen disk? */
static gboolean
frozen_by_snapshot(SimHost *host, const char *path)
{
    for (guint i = 0; i < host->vms->len; i++) {
        SimVm *vm = host->vms->pdata[i];
        for (guint k = 0; k < vm->snapshots->len; k++) {
            SimSnapshot *s = vm->snapshots->pdata[k];
            for (guint n = 0; n < s->disks->len; n++)
                if (g_str_equal(((SimDiskRef *) s->disks->pdata[n])->path,
                                path))
                    return TRUE;
        }
    }
    return FALSE;
}

/* The settings object given as embedded CIM-XML, or a ReturnValue. */
static WmiObject *
setting_data(const WmiObject *in, guint32 *ret, GError **error)
{
    const char *text = sim_param_text(in, "VirtualDiskSettingData");
    WmiObject *sd;

    *ret = MSVM_RETURN_VALUE_INVALID_PARAMETER;
    if (!text)
        return NULL;
    sd = wmi_object_from_cimxml(text, error);
    if (sd && !g_str_equal(sd->class_name, "Msvm_VirtualHardDiskSettingData")) {
        wmi_object_free(sd);
        return NULL;
    }
    if (!sd)
        *ret = 0; /* the fault says what was wrong */
    return sd;
}

static guint64
text_uint(const WmiObject *o, const char *name, guint64 fallback)
{
    guint64 v;
    return sim_param_uint(o, name, G_MAXUINT64, &v) ? v : fallback;
}

/* CreateVirtualHardDisk */

static gboolean
run_create_vhd(SimHost *host, SimJob *job, gpointer data, GError **error)
{
    SimTask *c = data;
    GError *local = NULL;
    gboolean ok;

    sim_job_progress(host, job, 30);
    if (g_file_test(c->path, G_FILE_TEST_EXISTS)) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                    _("Failed to create the virtual hard disk '%s': the file "
                      "exists."),
                    c->path);
        return FALSE;
    }
    if (c->other)
        ok = vhdx_create_differencing(c->path, c->other, c->opts.block_size,
                                      &local);
    else
        ok = vhdx_create(c->path, &c->opts, &local);
    if (!ok) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                    _("Failed to create the virtual hard disk '%s': %s"),
                    c->path, local->message);
        g_error_free(local);
        return FALSE;
    }
    return TRUE;
}

static guint32
create_vhd(SimHost *host, const WmiObject *target, const char *method,
           const WmiObject *in, WmiObject *out, GError **error)
{
    g_autoptr(WmiObject) sd = NULL;
    SimTask *c;
    guint64 type, format;
    guint32 ret;

    sd = setting_data(in, &ret, error);
    if (!sd)
        return ret;
    type = text_uint(sd, "Type", 0);
    format = text_uint(sd, "Format", MSVM_VHD_FORMAT_VHDX);
    if (format != MSVM_VHD_FORMAT_VHDX)
        return MSVM_RETURN_VALUE_MSVM_NOT_SUPPORTED; /* only VHDX here */
    c = sim_task_new();
    c->path = sim_path_from_windows(wmi_object_text(sd, "Path"));
    c->opts.virtual_size = text_uint(sd, "MaxInternalSize", 0);
    c->opts.block_size = text_uint(sd, "BlockSize", 0);
    c->opts.logical_sector_size = text_uint(sd, "LogicalSectorSize", 0);
    c->opts.physical_sector_size = text_uint(sd, "PhysicalSectorSize", 0);
    c->opts.fixed = type == MSVM_VHD_TYPE_FIXED;
    if (type == MSVM_VHD_TYPE_DIFFERENCING)
        c->other = sim_path_from_windows(wmi_object_text(sd, "ParentPath"));
    if (!c->path ||
        (type != MSVM_VHD_TYPE_FIXED && type != MSVM_VHD_TYPE_DYNAMIC &&
         type != MSVM_VHD_TYPE_DIFFERENCING) ||
        (type == MSVM_VHD_TYPE_DIFFERENCING ? !c->other
                                            : !c->opts.virtual_size)) {
        sim_task_free(c);
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    }
    if (c->other && !g_file_test(c->other, G_FILE_TEST_EXISTS)) {
        sim_task_free(c);
        return MSVM_RETURN_VALUE_FILE_NOT_FOUND;
    }
    sim_out_job(out,
                sim_job_start(host, STORAGE_JOB_CREATE, TRUE, run_create_vhd, c,
                              (GDestroyNotify) sim_task_free));
    return MSVM_RETURN_VALUE_JOB_STARTED;
}

/* Reconnecting a child to a parent (SetParentVirtualHardDisk, and
 * SetVirtualHardDiskSettingData with a new ParentPath) */

static gboolean
run_reparent(SimHost *host, SimJob *job, gpointer data, GError **error)
{
    SimTask *r = data;
    g_autoptr(VhdxImage) child = NULL;
    g_autoptr(VhdxImage) parent = NULL;
    g_autofree char *parent_guid = NULL;
    GError *local = NULL;
    const char *linkage;

    sim_job_progress(host, job, 30);
    parent = vhdx_open(r->other, VHDX_OPEN_READ_ONLY, &local);
    child = parent ? vhdx_open(r->path, VHDX_OPEN_READ_WRITE, &local) : NULL;
    if (!child)
        goto failed;
    if (vhdx_get_info(child)->type != VHDX_DISK_DIFFERENCING) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                    _("'%s' is not a differencing disk."), r->path);
        return FALSE;
    }
    /* the child records which state of its parent it was made on */
    parent_guid = vhdx_guid_to_string(&vhdx_get_info(parent)->data_write_guid);
    linkage = vhdx_get_info(child)->parent_linkage;
    if (linkage && linkage[0] == '{')
        linkage++;
    if (!r->ignore_id_mismatch &&
        (!linkage ||
         g_ascii_strncasecmp(linkage, parent_guid, strlen(parent_guid)) != 0)) {
        g_mutex_lock(&host->lock);
        job->child_path = g_strdup(r->path);
        job->parent_path = g_strdup(r->other);
        g_mutex_unlock(&host->lock);
        g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                    _("Failed to set the parent of '%s': the identifier of "
                      "'%s' (%s) does not match the one the child was made "
                      "from (%s)."),
                    r->path, r->other, parent_guid,
                    vhdx_get_info(child)->parent_linkage
                        ? vhdx_get_info(child)->parent_linkage
                        : "");
        return FALSE;
    }
    g_clear_pointer(&parent, vhdx_free);
    if (vhdx_set_parent(child, r->other, &local) &&
        vhdx_close(g_steal_pointer(&child), &local))
        return TRUE;

failed:
    g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                _("Failed to set the parent of '%s': %s"), r->path,
                local->message);
    g_error_free(local);
    return FALSE;
}

/* Starts a job on two existing files the first of which no running VM
 * uses; takes both paths. */
static guint32
start_two_file_job(SimHost *host, guint16 type, SimJobRun run, char *path,
                   char *other, gboolean ignore_id_mismatch, WmiObject *out)
{
    SimTask *t = sim_task_new();
    guint32 ret = MSVM_RETURN_VALUE_JOB_STARTED;

    t->path = path;
    t->other = other;
    t->ignore_id_mismatch = ignore_id_mismatch;
    if (!path || !other || g_str_equal(path, other))
        ret = MSVM_RETURN_VALUE_INVALID_PARAMETER;
    else if (!g_file_test(path, G_FILE_TEST_EXISTS) ||
             !g_file_test(other, G_FILE_TEST_EXISTS))
        ret = MSVM_RETURN_VALUE_FILE_NOT_FOUND;
    else if (running_user_of(host, path)) /* it must be offline */
        ret = MSVM_RETURN_VALUE_SYSTEM_IN_USE;
    if (ret != MSVM_RETURN_VALUE_JOB_STARTED) {
        sim_task_free(t);
        return ret;
    }
    sim_out_job(out, sim_job_start(host, type, TRUE, run, t,
                                   (GDestroyNotify) sim_task_free));
    return ret;
}

static guint32
set_vhd_setting_data(SimHost *host, const WmiObject *target, const char *method,
                     const WmiObject *in, WmiObject *out, GError **error)
{
    g_autoptr(WmiObject) sd = NULL;
    g_autoptr(VhdxImage) img = NULL;
    g_autofree char *path = NULL, *parent = NULL, *disk_id = NULL;
    g_autofree char *new_parent = NULL;
    const char *want_id;
    const VhdxInfo *info;
    gboolean other_change = FALSE;
    guint32 ret;

    sd = setting_data(in, &ret, error);
    if (!sd)
        return ret;
    path = sim_path_from_windows(wmi_object_text(sd, "Path"));
    if (!path || !g_file_test(path, G_FILE_TEST_EXISTS))
        return MSVM_RETURN_VALUE_FILE_NOT_FOUND;
    img = vhdx_open(path, VHDX_OPEN_READ_ONLY, NULL);
    if (!img)
        return MSVM_RETURN_VALUE_MSVM_FAILED;
    info = vhdx_get_info(img);
    parent = sim_disk_parent(path);
    disk_id = vhdx_guid_to_string(&info->virtual_disk_id);

    want_id = wmi_object_text(sd, "VirtualDiskId");
    if (want_id && g_ascii_strcasecmp(want_id, disk_id) != 0)
        other_change = TRUE;
    if (wmi_object_text(sd, "PhysicalSectorSize") &&
        text_uint(sd, "PhysicalSectorSize", 0) != info->physical_sector_size)
        other_change = TRUE;
    if (parent && wmi_object_text(sd, "ParentPath")) {
        new_parent = sim_path_from_windows(wmi_object_text(sd, "ParentPath"));
        if (!new_parent)
            return MSVM_RETURN_VALUE_INVALID_PARAMETER;
        if (g_str_equal(new_parent, parent))
            g_clear_pointer(&new_parent, g_free);
    }
    /* one setting per call, as the documentation says */
    if (other_change && new_parent)
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    if (other_change)
        return MSVM_RETURN_VALUE_MSVM_NOT_SUPPORTED;
    if (!new_parent) {
        wmi_object_set_nil(out, "Job");
        return MSVM_RETURN_VALUE_COMPLETED;
    }
    g_clear_pointer(&img, vhdx_free);
    return start_two_file_job(host, STORAGE_JOB_UNKNOWN, run_reparent,
                              g_steal_pointer(&path),
                              g_steal_pointer(&new_parent), FALSE, out);
}

static guint32
set_parent_vhd(SimHost *host, const WmiObject *target, const char *method,
               const WmiObject *in, WmiObject *out, GError **error)
{
    const char *ignore = sim_param_text(in, "IgnoreIDMismatch");
    return start_two_file_job(
        host, STORAGE_JOB_UNKNOWN, run_reparent,
        sim_path_from_windows(sim_param_text(in, "ChildPath")),
        sim_path_from_windows(sim_param_text(in, "ParentPath")),
        ignore && g_ascii_strcasecmp(ignore, "true") == 0, out);
}

/* MergeVirtualHardDisk: the source and every file up to the destination
 * are merged down, one level at a time, and removed. */

static gboolean
run_merge_vhd(SimHost *host, SimJob *job, gpointer data, GError **error)
{
    SimTask *m = data;
    g_autofree char *file = g_strdup(m->path);
    gboolean ok = TRUE;

    sim_job_step(host, job, 5);
    if (frozen_by_snapshot(host, m->other)) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                    _("'%s' belongs to a checkpoint: merging into it would "
                      "change the checkpoint."),
                    m->other);
        ok = FALSE;
    }
    while (ok && !g_str_equal(file, m->other)) {
        g_autofree char *parent = sim_disk_parent(file);
        if (!parent) {
            g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                        _("'%s' is not an ancestor of '%s'."), m->other,
                        m->path);
            ok = FALSE;
            break;
        }
        if (frozen_by_snapshot(host, file)) {
            g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                        _("'%s' belongs to a checkpoint and cannot be "
                          "merged."),
                        file);
            ok = FALSE;
            break;
        }
        ok = sim_merge_file(host, job, file, error);
        if (ok) {
            /* a VM that used the file uses what it went into (the files
             * of checkpoints were refused above) */
            for (guint i = 0; i < host->vms->len; i++)
                sim_vm_replace_references(host->vms->pdata[i], file, parent);
            g_unlink(file);
            g_free(file);
            file = g_steal_pointer(&parent);
        }
    }
    sim_host_save(host, NULL);
    g_mutex_unlock(&host->lock);
    return ok;
}

static guint32
merge_vhd(SimHost *host, const WmiObject *target, const char *method,
          const WmiObject *in, WmiObject *out, GError **error)
{
    return start_two_file_job(
        host, STORAGE_JOB_MERGE, run_merge_vhd,
        sim_path_from_windows(sim_param_text(in, "SourcePath")),
        sim_path_from_windows(sim_param_text(in, "DestinationPath")), FALSE,
        out);
}

const SimMethod sim_vhd_methods[] = {
    { "Msvm_ImageManagementService", "GetVirtualHardDiskSettingData",
      get_vhd_setting_data },
    { "Msvm_ImageManagementService", "GetVirtualHardDiskState", get_vhd_state },
    { "Msvm_ImageManagementService", "ValidateVirtualHardDisk", validate_vhd },
    { "Msvm_ImageManagementService", "CreateVirtualHardDisk", create_vhd },
    { "Msvm_ImageManagementService", "SetVirtualHardDiskSettingData",
      set_vhd_setting_data },
    { "Msvm_ImageManagementService", "SetParentVirtualHardDisk",
      set_parent_vhd },
    { "Msvm_ImageManagementService", "MergeVirtualHardDisk", merge_vhd },
    { NULL, NULL, NULL },
};
