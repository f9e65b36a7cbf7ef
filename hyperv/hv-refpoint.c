/*
 * hv-refpoint.c: a VM's RCT reference points on a Hyper-V host
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>

#include "hv-refpoint.h"

static WmiEpr *
refpoint_epr(const char *instance_id, const char *vm_guid)
{
    return wmi_epr_new_keyed("Msvm_VirtualSystemReferencePoint", "InstanceID",
                             instance_id, "VirtualSystemIdentifier", vm_guid,
                             NULL);
}

GPtrArray *
hv_refpoint_list(WsmanClient *c, const char *vm_guid, GError **error)
{
    return hv_associated(c, &Msvm_ReferencePointOfVirtualSystem_assoc,
                         hv_vm_epr(vm_guid),
                         &Msvm_VirtualSystemReferencePoint_class, error);
}

Msvm_VirtualSystemReferencePoint *
hv_refpoint_convert(WsmanClient *c, const char *snapshot_id,
                    const HvJobWait *wait, GError **error)
{
    g_autoptr(Msvm_ConcreteJob) job = NULL;
    WmiObject *made;

    if (!hv_service_call_on(c, "Msvm_VirtualSystemSnapshotService",
                            "ConvertToReferencePoint", "AffectedSnapshot",
                            hv_settings_epr(snapshot_id), wait, &job, error) ||
        !(made = hv_job_affected_one(c, job,
                                     &Msvm_VirtualSystemReferencePoint_class,
                                     "ConvertToReferencePoint", error)))
        return NULL;
    return wmi_typed_new(&Msvm_VirtualSystemReferencePoint_class, made, error);
}

gboolean
hv_refpoint_destroy(WsmanClient *c, const char *instance_id,
                    const char *vm_guid, const HvJobWait *wait, GError **error)
{
    return hv_service_call_on(c, "Msvm_VirtualSystemReferencePointService",
                              "DestroyReferencePoint", "AffectedReferencePoint",
                              refpoint_epr(instance_id, vm_guid), wait, NULL,
                              error);
}

/* One call, from offset on: what the host processed, and the ranges */
static gboolean
disk_changes_from(WsmanClient *c, const WmiEpr *img, const char *path,
                  const char *rct_id, guint64 offset, guint64 length,
                  guint64 *processed, GArray *ranges, guint64 *changed,
                  const HvJobWait *wait, GError **error)
{
    g_autoptr(WsmanParams) p = wsman_params_new();
    g_autoptr(WmiObject) out = NULL;
    const char *done;
    GPtrArray *offsets, *lengths;
    guint n, m;

    wsman_params_add_text(p, "Path", path);
    wsman_params_add_text(p, "LimitId", rct_id);
    wsman_params_add_uint(p, "ByteOffset", offset);
    wsman_params_add_uint(p, "ByteLength", length);
    out = wsman_invoke(c, img, "GetVirtualDiskChanges", p, error);
    if (!out ||
        !hv_method_result(c, "GetVirtualDiskChanges", out, wait, NULL, error))
        return FALSE;
    done = wmi_object_text(out, "ProcessedByteLength");
    offsets = wmi_object_is_nil(out, "ChangedByteOffsets")
                  ? NULL
                  : wmi_object_values(out, "ChangedByteOffsets");
    lengths = wmi_object_is_nil(out, "ChangedByteLengths")
                  ? NULL
                  : wmi_object_values(out, "ChangedByteLengths");
    n = offsets ? offsets->len : 0;
    m = lengths ? lengths->len : 0;
    if (!done || !wmi_parse_unsigned(done, length, processed) || n != m) {
        g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
                    _("%s: GetVirtualDiskChanges of '%s' answered %u offsets "
                      "and %u lengths for %s bytes processed"),
                    wsman_client_host(c), path, n, m, done ? done : "no");
        return FALSE;
    }
    for (guint i = 0; i < n; i++) {
        guint64 pair[2];
        if (!wmi_parse_unsigned(((WmiValue *) offsets->pdata[i])->text,
                                G_MAXUINT64, &pair[0]) ||
            !wmi_parse_unsigned(((WmiValue *) lengths->pdata[i])->text,
                                G_MAXUINT64, &pair[1])) {
            g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
                        _("%s: GetVirtualDiskChanges of '%s' answered a "
                          "range that is not a number"),
                        wsman_client_host(c), path);
            return FALSE;
        }
        if (ranges)
            g_array_append_vals(ranges, pair, 2);
        *changed += pair[1];
    }
    return TRUE;
}

gboolean
hv_disk_changes(WsmanClient *c, const char *path, const char *rct_id,
                guint64 size, GArray *ranges, guint64 *changed,
                const HvJobWait *wait, GError **error)
{
    g_autoptr(WmiEpr) img =
        hv_service_epr(c, "Msvm_ImageManagementService", error);

    if (!img)
        return FALSE;
    *changed = 0;
    /* the host may answer for a part of the disk at a time */
    for (guint64 offset = 0, processed; offset < size; offset += processed) {
        if (!disk_changes_from(c, img, path, rct_id, offset, size - offset,
                               &processed, ranges, changed, wait, error))
            return FALSE;
        if (processed == 0) {
            g_set_error(
                error, HV_ERROR, HV_ERROR_PARSE,
                _("%s: GetVirtualDiskChanges of '%s' stopped before the end "
                  "of the disk"),
                wsman_client_host(c), path);
            return FALSE;
        }
    }
    return TRUE;
}

gboolean
hv_export_start(WsmanClient *c, const char *vm_guid, const char *dir,
                const char *snapshot_id, const char *base_point_id,
                WmiEpr **job, GError **error)
{
    g_autoptr(WsmanParams) p = wsman_params_new();
    g_autoptr(WmiEpr) vm = hv_vm_epr(vm_guid);
    g_autoptr(Msvm_VirtualSystemExportSettingData) esd =
        wmi_typed_alloc(&Msvm_VirtualSystemExportSettingData_class);

    WMI_TYPED_SET(esd, CopySnapshotConfiguration,
                  MSVM_COPY_SNAPSHOT_CONFIGURATION_ONE_FOR_BACKUP);
    WMI_TYPED_SET(esd, SnapshotVirtualSystem,
                  wmi_epr_path(hv_settings_epr(snapshot_id)));
    if (base_point_id)
        WMI_TYPED_SET(esd, DifferentialBackupBase,
                      wmi_epr_path(refpoint_epr(base_point_id, vm_guid)));
    WMI_TYPED_SET(esd, BackupIntent, MSVM_BACKUP_INTENT_MERGE);
    WMI_TYPED_SET(esd, CopyVmStorage, TRUE);
    WMI_TYPED_SET(esd, CopyVmRuntimeInformation, FALSE);
    WMI_TYPED_SET(esd, CreateVmExportSubdirectory, FALSE);
    wsman_params_add_epr(p, "ComputerSystem", vm);
    wsman_params_add_text(p, "ExportDirectory", dir);
    wsman_params_add_typed(p, "ExportSettingData", esd);
    return hv_service_start(c, "Msvm_VirtualSystemManagementService",
                            "ExportSystemDefinition", p, job, error);
}
