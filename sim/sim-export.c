/*
 * sim-export.c: what Hyper-V writes when it exports a checkpoint (of one
 * VM with ExportSystemDefinition, of each member of a group with
 * ExportSnapshot)
 *
 * Into DIR/<VM name>/: "Virtual Hard Disks/" holds one VHDX per disk, named
 * after the VM's root disk, with the checkpoint's content (or, for a
 * differential export, only the ranges changed since the base point, zeros
 * included), and "Virtual Machines/<checkpoint GUID>.vmcx" a JSON
 * description of what was exported. An export that fails or is cancelled
 * removes what it wrote.
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

typedef struct {
    char *source; /* the snapshot's frozen file */
    char *target;
    char *slot_id;
    GArray *ranges; /* SimRange; NULL: everything */
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

static gboolean
cancelled(SimHost *host, SimJob *job)
{
    gboolean yes;

    g_mutex_lock(&host->lock);
    yes = job->cancel_requested;
    g_mutex_unlock(&host->lock);
    return yes;
}

static gint
range_cmp(gconstpointer a, gconstpointer b)
{
    guint64 x = ((const SimRange *) a)->offset,
            y = ((const SimRange *) b)->offset;
    return x < y ? -1 : x > y;
}

/* The ranges of slot changed after seq and up to until, in order, with
 * overlapping ones joined. */
GArray *
sim_changed_ranges(SimVm *vm, const char *slot, guint64 after, guint64 until)
{
    GArray *r = g_array_new(FALSE, FALSE, sizeof(SimRange));
    g_autoptr(GArray) raw = g_array_new(FALSE, FALSE, sizeof(SimRange));

    for (guint i = 0; i < vm->changes->len; i++) {
        SimChange *c = vm->changes->pdata[i];
        if (c->seq > after && c->seq <= until &&
            g_str_equal(c->slot_id, slot)) {
            SimRange one = { c->offset,
                             MIN(c->length, G_MAXUINT64 - c->offset) };
            g_array_append_val(raw, one);
        }
    }
    g_array_sort(raw, range_cmp);
    for (guint i = 0; i < raw->len; i++) {
        SimRange *one = &g_array_index(raw, SimRange, i);
        SimRange *last =
            r->len ? &g_array_index(r, SimRange, r->len - 1) : NULL;
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

/* Copies one disk; a cancel of the job stops it */
static gboolean
copy_disk(SimHost *host, SimJob *job, ExportDisk *d, GError **error)
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
    /* a differential export holds little: small blocks, as an AVHDX's */
    if (d->ranges)
        opts.block_size = 2 * 1024 * 1024;
    if (!vhdx_create(d->target, &opts, error))
        return FALSE;
    dst = vhdx_open(d->target, VHDX_OPEN_READ_WRITE, error);
    if (!dst)
        return FALSE;
    for (guint r = 0; r < (d->ranges ? d->ranges->len : 1); r++) {
        SimRange all = { 0, size };
        const SimRange *one =
            d->ranges ? &g_array_index(d->ranges, SimRange, r) : &all;
        guint64 off = one->offset;
        guint64 end = MIN(off + one->length, size);
        while (off < end) {
            gsize n = MIN(end - off, COPY_CHUNK);
            if (cancelled(host, job)) {
                g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                            _("The operation was cancelled."));
                return FALSE;
            }
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
        const SimRange *one = &g_array_index(ranges, SimRange, i);
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
    return sim_json_write(b, path, error);
}

/* The change counter of the base point for a member, or FALSE when the
 * base does not cover that member. */

struct _SimExport {
    GPtrArray *disks; /* ExportDisk */
    GPtrArray *made;  /* files and folders written, deepest last */
    guint64 bytes;    /* what the disks to copy hold */
};

SimExport *
sim_export_new(void)
{
    SimExport *e = g_new0(SimExport, 1);
    e->disks =
        g_ptr_array_new_with_free_func((GDestroyNotify) export_disk_free);
    e->made = g_ptr_array_new_with_free_func(g_free);
    return e;
}

void
sim_export_free(SimExport *e)
{
    if (!e)
        return;
    g_ptr_array_unref(e->disks);
    g_ptr_array_unref(e->made);
    g_free(e);
}

/* Removes what the export wrote, files before their folders */
static void
undo(SimExport *e)
{
    for (guint i = e->made->len; i > 0; i--)
        g_remove(e->made->pdata[i - 1]);
    g_ptr_array_set_size(e->made, 0);
}

/* A folder, remembered when the export made it */
static gboolean
make_dir(SimExport *e, const char *dir, GError **error)
{
    g_autofree char *parent = g_path_get_dirname(dir);

    if (g_file_test(dir, G_FILE_TEST_IS_DIR))
        return TRUE;
    if (!g_str_equal(parent, dir) && !make_dir(e, parent, error))
        return FALSE;
    if (g_mkdir(dir, 0755) < 0) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                    _("Failed to create the export folder '%s'."), dir);
        return FALSE;
    }
    g_ptr_array_add(e->made, g_strdup(dir));
    return TRUE;
}

/* The root disk's file name for a disk of the chain: web1.vhdx for
 * web1_<GUID>.avhdx */
static char *
export_name(const char *path)
{
    g_autofree char *base = g_path_get_basename(path);
    char *dot = strrchr(base, '.');

    if (dot)
        *dot = '\0';
    while (strlen(base) > 37 && base[strlen(base) - 37] == '_' &&
           g_uuid_string_is_valid(base + strlen(base) - 36))
        base[strlen(base) - 37] = '\0';
    return g_strdup_printf("%s.vhdx", base);
}

gboolean
sim_export_plan(SimExport *e, const char *dir, gboolean subdir, SimVm *vm,
                SimSnapshot *s, gboolean copy_storage, const guint64 *since,
                const char *base_id, GError **error)
{
    g_autofree char *vm_dir =
        subdir ? g_build_filename(dir, vm->name, NULL) : g_strdup(dir);
    g_autofree char *vhd_dir =
        g_build_filename(vm_dir, "Virtual Hard Disks", NULL);
    g_autofree char *cfg_dir =
        g_build_filename(vm_dir, "Virtual Machines", NULL);
    g_autofree char *cfg_name = g_strdup_printf("%s.vmcx", s->id);
    g_autofree char *cfg = g_build_filename(cfg_dir, cfg_name, NULL);
    g_autoptr(GPtrArray) vm_disks = g_ptr_array_new();

    for (guint k = 0; copy_storage && k < s->disks->len; k++) {
        SimDiskRef *ref = s->disks->pdata[k];
        g_autofree char *file = export_name(ref->path);
        ExportDisk *d = g_new0(ExportDisk, 1);

        d->source = g_strdup(ref->path);
        d->target = g_build_filename(vhd_dir, file, NULL);
        d->slot_id = g_strdup(ref->slot_id);
        if (since)
            d->ranges =
                sim_changed_ranges(vm, ref->slot_id, *since, s->change_seq);
        g_ptr_array_add(e->disks, d);
        g_ptr_array_add(vm_disks, d);
        if (g_file_test(d->target, G_FILE_TEST_EXISTS)) {
            g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                        _("Failed to export: '%s' exists."), d->target);
            undo(e);
            return FALSE;
        }
    }
    if (!make_dir(e, vhd_dir, error) || !make_dir(e, cfg_dir, error) ||
        !write_description(cfg, vm, s, since ? base_id : NULL, vm_disks,
                           error)) {
        undo(e);
        return FALSE;
    }
    g_ptr_array_add(e->made, g_steal_pointer(&cfg));
    return TRUE;
}

gboolean
sim_export_run(SimExport *e, SimHost *host, SimJob *job, guint from, guint to,
               GError **error)
{
    for (guint i = 0; i < e->disks->len; i++) {
        ExportDisk *d = e->disks->pdata[i];
        GError *local = NULL;

        g_ptr_array_add(e->made, g_strdup(d->target));
        if (cancelled(host, job))
            g_set_error(&local, SIM_ERROR, SIM_ERROR_FAILED,
                        _("The operation was cancelled."));
        if (local || !copy_disk(host, job, d, &local)) {
            if (local->domain == SIM_ERROR)
                g_propagate_error(error, local);
            else {
                g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                            _("Failed to export '%s': %s"), d->source,
                            local->message);
                g_error_free(local);
            }
            undo(e);
            return FALSE;
        }
        sim_job_progress(host, job,
                         from + (to - from) * (i + 1) / e->disks->len);
    }
    return TRUE;
}

/* Msvm_VirtualSystemManagementService.ExportSystemDefinition of one
 * checkpoint (CopySnapshotConfiguration 2 or 3), whole or differential
 * against a reference point or an earlier checkpoint */

/* The GUID an object path names by InstanceID ("...InstanceID=
 * \"Microsoft:GUID\""), or the text itself when it is no path */
static char *
path_guid(const char *path)
{
    g_autofree char *value = sim_path_key(path, "InstanceID");
    return value ? g_strdup(sim_strip_microsoft(value)) : NULL;
}

/* The change counter a differential export starts from (lock held) */
static gboolean
base_seq(SimVm *vm, const char *base_id, guint64 *seq)
{
    for (guint i = 0; i < vm->refpoints->len; i++) {
        SimRefPoint *r = vm->refpoints->pdata[i];
        if (g_ascii_strcasecmp(r->id, base_id) == 0) {
            *seq = r->change_seq;
            return TRUE;
        }
    }
    for (guint i = 0; i < vm->snapshots->len; i++) {
        SimSnapshot *s = vm->snapshots->pdata[i];
        if (g_ascii_strcasecmp(s->id, base_id) == 0) {
            *seq = s->change_seq;
            return TRUE;
        }
    }
    return FALSE;
}

static gboolean
run_export(SimHost *host, SimJob *job, gpointer data, GError **error)
{
    SimTask *t = data;
    g_autoptr(SimExport) e = sim_export_new();
    SimVm *vm;
    SimSnapshot *s = NULL;
    guint64 since = 0;
    gboolean ok;

    sim_job_step(host, job, 5);
    vm = sim_host_find_vm(host, t->vm_id);
    s = vm ? sim_vm_find_snapshot(vm, t->item_id) : NULL;
    if (!s) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_NOT_FOUND,
                    _("The checkpoint to export was deleted."));
        ok = FALSE;
    } else if (t->base_id && !base_seq(vm, t->base_id, &since)) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_NOT_FOUND,
                    _("The base of the differential export was deleted."));
        ok = FALSE;
    } else {
        sim_job_affects(job, "Msvm_ComputerSystem", vm->id);
        ok = sim_export_plan(e, t->directory, t->subdir, vm, s, t->copy_storage,
                             t->base_id ? &since : NULL, t->base_id, error);
    }
    g_mutex_unlock(&host->lock);
    return ok && sim_export_run(e, host, job, 10, 95, error);
}

static gboolean
setting_bool(const WmiObject *o, const char *name, gboolean fallback)
{
    const char *v = wmi_object_text(o, name);
    gboolean b;

    return v && wmi_parse_boolean(v, &b) ? b : fallback;
}

static guint32
export_system(SimHost *host, const WmiObject *target, const char *method,
              const WmiObject *in, WmiObject *out, GError **error)
{
    SimVm *vm = sim_param_vm(host, in, "ComputerSystem");
    const char *settings = sim_param_text(in, "ExportSettingData");
    g_autofree char *dir =
        sim_path_from_windows(sim_param_text(in, "ExportDirectory"));
    g_autoptr(WmiObject) esd = NULL;
    g_autoptr(GError) local = NULL;
    g_autofree char *snapshot = NULL, *base = NULL;
    guint64 conf = 0, seq;
    const char *v;
    SimTask *t;

    if (!vm || !dir || !settings || !*settings)
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    esd = wmi_object_from_cimxml(settings, &local);
    if (!esd ||
        !g_str_equal(esd->class_name, "Msvm_VirtualSystemExportSettingData"))
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    v = wmi_object_text(esd, "CopySnapshotConfiguration");
    if (v && !wmi_parse_unsigned(v, G_MAXUINT8, &conf))
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    /* the export of a VM's running state is not simulated */
    if (conf != MSVM_COPY_SNAPSHOT_CONFIGURATION_ONE &&
        conf != MSVM_COPY_SNAPSHOT_CONFIGURATION_ONE_FOR_BACKUP)
        return MSVM_RETURN_VALUE_MSVM_NOT_SUPPORTED;
    snapshot = path_guid(wmi_object_text(esd, "SnapshotVirtualSystem"));
    if (!snapshot || !sim_vm_find_snapshot(vm, snapshot))
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    base = path_guid(wmi_object_text(esd, "DifferentialBackupBase"));
    if (base && !base_seq(vm, base, &seq))
        return MSVM_RETURN_VALUE_INVALID_PARAMETER;
    t = sim_task_new();
    t->vm_id = g_strdup(vm->id);
    t->item_id = g_steal_pointer(&snapshot);
    t->directory = g_steal_pointer(&dir);
    t->base_id = g_steal_pointer(&base);
    t->copy_storage = setting_bool(esd, "CopyVmStorage", FALSE);
    t->subdir = setting_bool(esd, "CreateVmExportSubdirectory", TRUE);
    sim_out_job(out,
                sim_job_start(host, MSVM_JOB_TYPE_EXPORT, FALSE, run_export, t,
                              (GDestroyNotify) sim_task_free));
    return MSVM_RETURN_VALUE_JOB_STARTED;
}

const SimMethod sim_export_methods[] = {
    { "Msvm_VirtualSystemManagementService", "ExportSystemDefinition",
      export_system },
    { NULL, NULL, NULL },
};
