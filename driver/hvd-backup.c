/*
 * hvd-backup.c: libvirt's backup API (push mode) on Hyper-V's export
 *
 * A backup is a recovery checkpoint of the VM that Hyper-V exports with
 * ExportSystemDefinition (CopySnapshotConfiguration 3: one checkpoint, for
 * backup), whole or, with <incremental>, only what changed since that
 * checkpoint's reference point. Once exported, the recovery checkpoint
 * becomes the new checkpoint when a checkpoint XML was given, and goes
 * otherwise. Hyper-V writes one folder, DIR\Virtual Hard Disks\NAME.vhdx
 * with NAME the name of the disk's root file; a disk's libvirt target is
 * that file, so every disk's target must name one DIR. Without targets,
 * DIR is BACKUPS\VM-TIME beside the VM's first disk.
 *
 * The export runs on a thread of its own; domjobinfo shows its progress
 * and domjobabort cancels it, after which Hyper-V removes what it wrote
 * and the recovery checkpoint goes.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "hv-refpoint.h"
#include "hvd-backup-xml.h"
#include "hvd-checkpoint-xml.h"
#include "hv-group.h"
#include "hvd-driver-private.h"

typedef struct {
    HvdDriver *d;
    VmEntry *vm;
    HvdBackupDef *def;            /* with every disk's target */
    HvdCheckpointDef *checkpoint; /* to make of it, or NULL */
    GPtrArray *slots;             /* HvdDiskSlot: the VM's disks */
    char *recovery_id;            /* the recovery checkpoint exported */
    WmiEpr *export_job;
    GCancellable *abort;
    GThread *thread;
    gboolean running;
    /* a group backup: the group's operation and its recovery checkpoint,
     * exported with ExportSnapshot */
    HvdGroupOp *group;
    char *group_snapshot;
} Backup;

void
hvd_backup_free(gpointer p)
{
    Backup *b = p;

    if (b->thread)
        g_thread_join(b->thread);
    hvd_vm_entry_free(b->vm);
    hvd_backup_def_free(b->def);
    hvd_checkpoint_def_free(b->checkpoint);
    if (b->slots)
        g_ptr_array_unref(b->slots);
    g_free(b->recovery_id);
    g_free(b->group_snapshot);
    if (b->export_job)
        wmi_epr_free(b->export_job);
    g_clear_object(&b->abort);
    g_free(b);
}

static void refuse(GError **error, int code, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static void
refuse(GError **error, int code, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    hvd_error_set(error, HVD_ERROR_HYPERV, code, "%s", msg);
}

/* Windows paths: the folder and the last part */
static char *
win_dirname(const char *path)
{
    const char *sep = strrchr(path, '\\');
    return sep ? g_strndup(path, sep - path) : g_strdup("");
}

static const char *
win_basename(const char *path)
{
    const char *sep = strrchr(path, '\\');
    return sep ? sep + 1 : path;
}

/* The file Hyper-V exports a disk to: named after its root file
 * (web1_<GUID>.avhdx is web1.vhdx) */
static char *
export_name(const char *path)
{
    g_autofree char *base = g_strdup(win_basename(path));
    char *dot = strrchr(base, '.');
    gsize n;

    if (dot)
        *dot = '\0';
    while ((n = strlen(base)) > 37 && base[n - 37] == '_' &&
           g_uuid_string_is_valid(base + n - 36))
        base[n - 37] = '\0';
    return g_strdup_printf("%s.vhdx", base);
}

#define VHD_FOLDER "Virtual Hard Disks"

/* Why Hyper-V's export cannot write disk as the XML asks, or NULL */
static char *
disk_refusal(const HvdBackupDiskDef *disk)
{
    if (disk->skipped)
        return g_strdup_printf(_("disk '%s' cannot be left out of the backup: "
                                 "Hyper-V exports every disk of the domain "
                                 "(leave backup='no' out)"),
                               disk->name);
    if (disk->type && !g_str_equal(disk->type, "file"))
        return g_strdup_printf(_("disk '%s' cannot be backed up to a %s: "
                                 "Hyper-V exports files (use type='file')"),
                               disk->name, disk->type);
    if (disk->driver)
        return g_strdup_printf(_("disk '%s' cannot be backed up as %s: "
                                 "Hyper-V exports VHDX files (leave <driver> "
                                 "out)"),
                               disk->name, disk->driver);
    return NULL;
}

/* The export folder the disks' targets name, checking each; without
 * targets, one beside the first disk. Fills in every disk. */
static char *
export_folder(const VmEntry *vm, HvdBackupDef *def, GPtrArray *slots,
              const char *group, GError **error)
{
    g_autofree char *dir = NULL;

    for (guint i = 0; i < def->disks->len; i++) {
        HvdBackupDiskDef *disk = def->disks->pdata[i];
        g_autofree char *why = NULL;

        if (!hvd_disk_slot_find(slots, disk->name, FALSE)) {
            refuse(error, VIR_ERR_INVALID_ARG,
                   _("domain '%s' has no disk '%s' (name a target such as "
                     "sda)"),
                   vm->name, disk->name);
            return NULL;
        }
        why = disk_refusal(disk);
        if (why) {
            refuse(error, VIR_ERR_CONFIG_UNSUPPORTED, "%s", why);
            return NULL;
        }
    }
    /* then each disk of the VM, one the XML leaves out as the defaults say */
    for (guint i = 0; i < slots->len; i++) {
        HvdDiskSlot *s = slots->pdata[i];
        g_autofree char *file = export_name(s->path);
        HvdBackupDiskDef *disk = NULL;
        g_autofree char *want = NULL;
        g_autofree char *vhd_dir = NULL;

        for (guint j = 0; !disk && j < def->disks->len; j++)
            if (g_str_equal(((HvdBackupDiskDef *) def->disks->pdata[j])->name,
                            s->target))
                disk = def->disks->pdata[j];
        if (!disk)
            disk = hvd_backup_def_add_disk(def, s->target);
        if (!disk->target) {
            if (!dir) {
                g_autoptr(GDateTime) now = g_date_time_new_now_utc();
                g_autofree char *stamp =
                    g_date_time_format(now, "%Y%m%d-%H%M%S");
                g_autofree char *where = win_dirname(s->path);
                dir = group ? g_strdup_printf("%s\\Backups\\%s-%s\\%s", where,
                                              group, stamp, vm->name)
                            : g_strdup_printf("%s\\Backups\\%s-%s", where,
                                              vm->name, stamp);
            }
            disk->target = g_strdup_printf("%s\\" VHD_FOLDER "\\%s", dir, file);
        }
        g_free(disk->type);
        disk->type = g_strdup("file");
        vhd_dir = win_dirname(disk->target);
        if (!dir && g_ascii_strcasecmp(win_basename(vhd_dir), VHD_FOLDER) == 0)
            dir = win_dirname(vhd_dir);
        want =
            dir ? g_strdup_printf("%s\\" VHD_FOLDER "\\%s", dir, file) : NULL;
        if (!want || g_ascii_strcasecmp(want, disk->target) != 0) {
            refuse(error, VIR_ERR_CONFIG_UNSUPPORTED,
                   _("disk '%s' cannot be backed up to '%s': Hyper-V writes "
                     "it to DIR\\Virtual Hard Disks\\%s, DIR one folder "
                     "for every disk (give targets of that form, or none)"),
                   disk->name, disk->target, file);
            return NULL;
        }
    }
    return g_steal_pointer(&dir);
}

/* <incremental>, the same for every disk */
static gboolean
check_incremental(HvdBackupDef *def, GError **error)
{
    for (guint i = 0; i < def->disks->len; i++) {
        HvdBackupDiskDef *disk = def->disks->pdata[i];
        const char *since =
            disk->incremental ? disk->incremental : def->incremental;
        gboolean full =
            disk->backup_mode && g_str_equal(disk->backup_mode, "full");

        if ((full && def->incremental) || g_strcmp0(since, def->incremental) ||
            (disk->backup_mode && !full && !since)) {
            if (since && !full)
                refuse(error, VIR_ERR_CONFIG_UNSUPPORTED,
                       _("disk '%s' cannot be backed up since '%s': Hyper-V "
                         "exports every disk the same way, whole or since one "
                         "checkpoint"),
                       disk->name, since);
            else
                refuse(error, VIR_ERR_CONFIG_UNSUPPORTED,
                       _("disk '%s' cannot be backed up whole: Hyper-V "
                         "exports every disk the same way, whole or since one "
                         "checkpoint"),
                       disk->name);
            return FALSE;
        }
    }
    for (guint i = 0; i < def->disks->len; i++) {
        HvdBackupDiskDef *disk = def->disks->pdata[i];
        g_free(disk->backup_mode);
        disk->backup_mode = g_strdup(def->incremental ? "incremental" : "full");
        g_free(disk->incremental);
        disk->incremental = g_strdup(def->incremental);
    }
    return TRUE;
}

/* The export, waited for on the backup's thread, then what follows it */
static gpointer
backup_run(gpointer data)
{
    Backup *b = data;
    HvdDriver *d = b->d;
    HvdJobProgress progress;
    HvJobWait wait = hvd_domain_job_wait(d, b->vm, &progress);
    HvJobWait after = hvd_driver_job_wait(d);
    g_autoptr(Msvm_ConcreteJob) job = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) local = NULL;
    WsmanClient *c = hvd_driver_client_get(d, &error);

    if (b->group) {
        wait.progress = hvd_group_op_progress;
        wait.progress_data = b->group;
    }
    wait.cancellable = b->abort;
    if (c && b->export_job) {
        job = hv_job_wait(c, b->export_job, &wait, &local);
        /* asked to stop: Hyper-V removes what it wrote as the job ends */
        if (!job && g_error_matches(local, HV_ERROR, HV_ERROR_CANCELLED)) {
            g_clear_error(&local);
            job = hv_job_wait(c, b->export_job, &after, &local);
            g_clear_pointer(&job, wmi_typed_free);
            g_clear_error(&local);
            hvd_error_set(&error, HVD_ERROR_HYPERV, VIR_ERR_OPERATION_ABORTED,
                          _("the backup of domain '%s' was aborted"),
                          b->vm->name);
        } else if (!job) {
            hvd_driver_map_error(&error, g_steal_pointer(&local));
        }
    }
    if (c && b->group) {
        if (!error && b->checkpoint)
            hvd_group_op_checkpoint(b->group, c, b->group_snapshot, &after,
                                    &error);
        else
            hvd_group_op_drop(b->group, c, b->group_snapshot, &after);
    } else if (c && !error && b->checkpoint) {
        hvd_checkpoint_from_recovery(d, c, b->vm, b->checkpoint, b->slots,
                                     b->recovery_id, &after, &error);
    } else if (c &&
               !hv_snapshot_destroy(c, b->recovery_id, FALSE, &after, &local)) {
        g_warning("%s: cannot remove the recovery checkpoint %s of '%s' a "
                  "backup left: %s",
                  hvd_driver_name(d), b->recovery_id, b->vm->name,
                  local->message);
    }
    if (c)
        hvd_driver_client_put(d, c);
    if (error)
        g_info("%s: backup of '%s': %s", hvd_driver_name(d), b->vm->name,
               error->message);
    g_mutex_lock(&d->lock);
    b->running = FALSE;
    g_mutex_unlock(&d->lock);
    if (b->group)
        hvd_group_op_end(g_steal_pointer(&b->group), &error);
    else
        hvd_domain_job_end(d, b->vm, &error);
    return NULL;
}

static void
start(HvdDriver *d, const VmEntry *vm, Backup *b)
{
    b->d = d;
    b->vm = hvd_vm_entry_copy(vm);
    b->running = TRUE;
    g_mutex_lock(&d->lock);
    /* the backup before this one has ended: its job is over */
    g_hash_table_replace(d->backups, g_memdup2(vm->uuid, 16), b);
    b->thread = g_thread_new("backup", backup_run, b);
    g_mutex_unlock(&d->lock);
}

/* A member's backup that is the group's: one ExportSnapshot of a recovery
 * checkpoint of the group, each member into DIR\MEMBER; base: the group
 * reference point an incremental one is taken since */
static gboolean
group_backup(HvdDriver *d, const VmEntry *vm, HvdBackupDef *def,
             HvdCheckpointDef *checkpoint, const HvdGroupRef *want,
             const char *base, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(GPtrArray) slots = NULL;
    g_autoptr(WmiEpr) export_job = NULL;
    g_autofree char *dir = NULL, *group_dir = NULL, *snapshot = NULL;
    HvJobWait wait = hvd_driver_job_wait(d);
    WsmanClient *c = hvd_driver_client_get(d, error);
    HvdGroupOp *op = NULL;
    Backup *b;
    gboolean ok;

    if (!c) {
        hvd_backup_def_free(def);
        hvd_checkpoint_def_free(checkpoint);
        return FALSE;
    }
    if (checkpoint && !checkpoint->name)
        checkpoint->name = g_strdup_printf("%" G_GINT64_FORMAT,
                                           g_get_real_time() / G_USEC_PER_SEC);
    op = hvd_group_op_begin(d, c, vm, want, checkpoint,
                            VIR_DOMAIN_JOB_OPERATION_BACKUP, _("backing up"),
                            vm->name, error);
    ok = op && (slots = hvd_driver_disk_slots(d, c, vm, error)) &&
         (dir = export_folder(vm, def, slots, hvd_group_op_name(op), error));
    if (ok && g_ascii_strcasecmp(win_basename(dir), vm->name) != 0) {
        refuse(error, VIR_ERR_CONFIG_UNSUPPORTED,
               _("the targets of '%s' are in '%s': a group backup writes each "
                 "member to DIR\\MEMBER\\Virtual Hard Disks, so the folder "
                 "must be called '%s'"),
               vm->name, dir, vm->name);
        ok = FALSE;
    }
    if (ok) {
        group_dir = win_dirname(dir);
        ok = (snapshot = hvd_group_op_snapshot(op, c, &wait, error)) != NULL;
    }
    if (ok &&
        !hv_group_export_start(c, snapshot, group_dir, base,
                               hvd_group_op_id(op), &export_job, &local)) {
        hvd_driver_map_error(error, g_steal_pointer(&local));
        hvd_group_op_drop(op, c, snapshot, &wait);
        ok = FALSE;
    }
    hvd_driver_client_put(d, c);
    if (!ok) {
        hvd_group_op_end(op, error);
        hvd_backup_def_free(def);
        hvd_checkpoint_def_free(checkpoint);
        return FALSE;
    }
    b = g_new0(Backup, 1);
    b->abort = g_cancellable_new();
    hvd_group_op_set_abort(op, b->abort);
    b->def = def;
    b->checkpoint = checkpoint;
    b->group = op;
    b->group_snapshot = g_steal_pointer(&snapshot);
    b->export_job = g_steal_pointer(&export_job);
    start(d, vm, b);
    return TRUE;
}

/* The group a backup is of: the one its new checkpoint names, or the one
 * of the group checkpoint it is incremental since (*base: that group's
 * point) */
static gboolean
backup_group(HvdDriver *d, const VmEntry *vm, const HvdBackupDef *def,
             const HvdCheckpointDef *checkpoint, HvdGroupRef *want, char **base,
             GError **error)
{
    g_autoptr(GError) local = NULL;
    g_auto(HvdGroupRef) since = { NULL };
    gboolean asked =
        checkpoint && hvd_group_ref_get(checkpoint->domain_xml, want, &local);
    gboolean incremental =
        def->incremental &&
        hvd_checkpoint_group_of(d, vm, def->incremental, &since, error);

    if (local) {
        hvd_error_set(error, HVD_ERROR_CHECKPOINT, VIR_ERR_XML_ERROR, "%s",
                      local->message);
        return FALSE;
    }
    if (error && *error)
        return FALSE;
    if (asked && incremental && g_strcmp0(want->id, since.id) &&
        g_strcmp0(want->name, since.name)) {
        refuse(error, VIR_ERR_CONFIG_UNSUPPORTED,
               _("checkpoint '%s' is of group '%s', not of the group the new "
                 "checkpoint names"),
               def->incremental, since.name);
        return FALSE;
    }
    if (incremental) {
        *base = g_steal_pointer(&since.point);
        if (!asked) {
            hvd_group_ref_clear(want);
            want->name = g_steal_pointer(&since.name);
            want->id = g_steal_pointer(&since.id);
        }
    }
    return asked || incremental;
}

/* backupBegin's arguments, parsed and checked */
static gboolean
begin_args(const char *backup_xml, const char *checkpoint_xml, guint flags,
           HvdBackupDef **def, HvdCheckpointDef **checkpoint, GError **error)
{
    g_autoptr(GError) local = NULL;

    if (flags & VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL) {
        refuse(error, VIR_ERR_ARGUMENT_UNSUPPORTED,
               _("flag 'reuse-external' is not supported: Hyper-V's export "
                 "writes new files and refuses existing ones"));
        return FALSE;
    }
    if (!hvd_check_flags(flags, 0, "hvdDomainBackupBegin", error))
        return FALSE;
    *def = hvd_backup_def_parse(backup_xml, &local);
    if (!*def) {
        refuse(error, VIR_ERR_XML_ERROR, "%s", local->message);
        return FALSE;
    }
    if ((*def)->pull) {
        refuse(error, VIR_ERR_CONFIG_UNSUPPORTED,
               _("pull mode (an NBD server) is not possible on Hyper-V: its "
                 "export writes files on the host; use push mode"));
        return FALSE;
    }
    if (!check_incremental(*def, error))
        return FALSE;
    if (checkpoint_xml &&
        !(*checkpoint = hvd_checkpoint_def_parse(checkpoint_xml, &local))) {
        hvd_error_set(error, HVD_ERROR_CHECKPOINT, VIR_ERR_XML_ERROR, "%s",
                      local->message);
        return FALSE;
    }
    return TRUE;
}

/* Exports a VM alone (its job begun): the recovery checkpoint, made with
 * the checkpoint asked for if any, then the export from base; the backup
 * takes def and checkpoint when it starts */
static gboolean
start_export(HvdDriver *d, const VmEntry *vm, HvdBackupDef **def,
             HvdCheckpointDef **checkpoint, const char *base, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(GPtrArray) slots = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *recovery = NULL;
    g_autoptr(WmiEpr) export_job = NULL;
    HvJobWait wait = hvd_driver_job_wait(d);
    WsmanClient *c;
    Backup *b;
    gboolean ok;

    c = hvd_driver_client_get(d, error);
    ok = c != NULL;
    if (ok && *checkpoint)
        ok = (slots = hvd_driver_prepare_checkpoint(d, c, vm, *checkpoint,
                                                    error)) != NULL;
    else if (ok)
        ok = (slots = hvd_driver_disk_slots(d, c, vm, error)) != NULL;
    ok =
        ok && (dir = export_folder(vm, *def, slots, NULL, error)) &&
        (recovery = hvd_checkpoint_recovery_new(d, c, vm, FALSE, &wait, error));
    if (ok && !hv_export_start(c, vm->guid, dir, recovery, base, &export_job,
                               &local)) {
        hvd_driver_map_error(error, g_steal_pointer(&local));
        if (!hv_snapshot_destroy(c, recovery, FALSE, &wait, &local))
            g_warning("%s: cannot remove the recovery checkpoint %s of '%s': "
                      "%s",
                      hvd_driver_name(d), recovery, vm->name, local->message);
        ok = FALSE;
    }
    if (c)
        hvd_driver_client_put(d, c);
    if (!ok)
        return FALSE;

    b = g_new0(Backup, 1);
    b->def = g_steal_pointer(def);
    b->checkpoint = g_steal_pointer(checkpoint);
    b->slots = g_steal_pointer(&slots);
    b->recovery_id = g_steal_pointer(&recovery);
    b->export_job = g_steal_pointer(&export_job);
    b->abort = g_cancellable_new();
    hvd_domain_job_set_abort(d, vm, b->abort);
    start(d, vm, b);
    return TRUE;
}

gboolean
hvd_domain_backup_begin(HvdDriver *d, const guchar uuid[16],
                        const char *backup_xml, const char *checkpoint_xml,
                        guint flags, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(HvdBackupDef) def = NULL;
    g_autoptr(HvdCheckpointDef) checkpoint = NULL;
    g_autoptr(VmEntry) vm = NULL;
    g_autofree char *base = NULL;
    g_auto(HvdGroupRef) group = { NULL };

    if (!begin_args(backup_xml, checkpoint_xml, flags, &def, &checkpoint,
                    error))
        return FALSE;
    vm = hvd_driver_find_vm(d, uuid, error);
    if (!vm)
        return FALSE;
    if (backup_group(d, vm, def, checkpoint, &group, &base, &local))
        return group_backup(d, vm, g_steal_pointer(&def),
                            g_steal_pointer(&checkpoint), &group, base, error);
    if (local) {
        g_propagate_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    if (def->incremental &&
        !(base = hvd_checkpoint_point_of(d, vm, def->incremental, error)))
        return FALSE;
    if (!hvd_domain_job_begin(d, vm, VIR_DOMAIN_JOB_OPERATION_BACKUP,
                              _("backing up"), vm->name, error))
        return FALSE;
    if (!start_export(d, vm, &def, &checkpoint, base, error)) {
        hvd_domain_job_end(d, vm, error);
        return FALSE;
    }
    return TRUE;
}

char *
hvd_domain_backup_get_xml_desc(HvdDriver *d, const guchar uuid[16], guint flags,
                               GError **error)
{
    g_autoptr(VmEntry) vm = NULL;
    Backup *b;
    char *xml = NULL;

    if (!hvd_check_flags(flags, 0, "hvdDomainBackupGetXMLDesc", error) ||
        !(vm = hvd_driver_find_vm(d, uuid, error)))
        return NULL;
    g_mutex_lock(&d->lock);
    b = g_hash_table_lookup(d->backups, uuid);
    if (b && b->running)
        xml = hvd_backup_def_format(b->def);
    g_mutex_unlock(&d->lock);
    if (!xml)
        hvd_error_set(error, HVD_ERROR_HYPERV, VIR_ERR_NO_DOMAIN_BACKUP,
                      _("no domain backup job is active on domain '%s'"),
                      vm->name);
    return xml;
}

void
hvd_backup_stop_all(HvdDriver *d)
{
    g_autoptr(GPtrArray) threads = g_ptr_array_new();
    GHashTableIter it;
    gpointer value;

    g_mutex_lock(&d->lock);
    g_hash_table_iter_init(&it, d->backups);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        Backup *b = value;
        if (b->thread) {
            g_cancellable_cancel(b->abort);
            g_ptr_array_add(threads, g_steal_pointer(&b->thread));
        }
    }
    g_mutex_unlock(&d->lock);
    for (guint i = 0; i < threads->len; i++)
        g_thread_join(threads->pdata[i]);
}
