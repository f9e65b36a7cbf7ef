/*
 * hv-snapshot.c: a VM's snapshots through Msvm_VirtualSystemSnapshotService
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "hv-snapshot.h"

GPtrArray *
hv_vm_all_settings(WsmanClient *c, const char *guid, GError **error)
{
    g_autofree char *q = wmi_wql_quote(guid);
    g_autofree char *wql =
        g_strdup_printf("SELECT * FROM Msvm_VirtualSystemSettingData WHERE "
                        "VirtualSystemIdentifier = %s",
                        q);
    return hv_typed_list(&Msvm_VirtualSystemSettingData_class,
                         wsman_enumerate(c, wql, FALSE, error), error);
}

char *
hv_settings_path_instance_id(const char *path)
{
    const char *key = "InstanceID=";
    const char *p;
    gsize len;

    if (!path || !(p = strstr(path, "Msvm_VirtualSystemSettingData.")) ||
        !(p = strstr(p, key)))
        return NULL;
    p += strlen(key);
    if (*p != '"' && *p != '\'')
        return NULL;
    len = strcspn(p + 1, *p == '"' ? "\"" : "'");
    if (p[1 + len] != *p || len == 0)
        return NULL;
    return g_strndup(p + 1, len);
}

const char *
hv_instance_guid(const char *instance_id)
{
    return g_str_has_prefix(instance_id, "Microsoft:")
               ? instance_id + strlen("Microsoft:")
               : instance_id;
}

WmiEpr *
hv_settings_epr(const char *instance_id)
{
    return wmi_epr_new_keyed("Msvm_VirtualSystemSettingData", "InstanceID",
                             instance_id, NULL);
}

#define SNAPSHOTS "Msvm_VirtualSystemSnapshotService"

Msvm_VirtualSystemSettingData *
hv_snapshot_create(WsmanClient *c, const char *vm_guid, guint16 type,
                   guint8 consistency, const HvJobWait *wait, GError **error)
{
    g_autoptr(WsmanParams) p = wsman_params_new();
    g_autoptr(WmiEpr) vm = hv_vm_epr(vm_guid);
    g_autoptr(Msvm_ConcreteJob) job = NULL;
    WmiObject *o;

    wsman_params_add_epr(p, "AffectedSystem", vm);
    if (consistency) {
        g_autoptr(Msvm_VirtualSystemSnapshotSettingData) s =
            wmi_typed_alloc(&Msvm_VirtualSystemSnapshotSettingData_class);
        WMI_TYPED_SET(s, ConsistencyLevel, consistency);
        WMI_TYPED_SET(s, IgnoreNonSnapshottableDisks, TRUE);
        wsman_params_add_typed(p, "SnapshotSettings", s);
    } else {
        wsman_params_add_text(p, "SnapshotSettings", "");
    }
    wsman_params_add_uint(p, "SnapshotType", type);
    if (!hv_service_call(c, SNAPSHOTS, "CreateSnapshot", p, wait, &job, NULL,
                         error) ||
        !(o = hv_job_affected_one(c, job, &Msvm_VirtualSystemSettingData_class,
                                  "CreateSnapshot", error)))
        return NULL;
    return wmi_typed_new(&Msvm_VirtualSystemSettingData_class, o, error);
}

gboolean
hv_settings_modify(WsmanClient *c, const char *instance_id, const char *name,
                   const char *description, guint16 user_snapshot_type,
                   const HvJobWait *wait, GError **error)
{
    g_autoptr(WsmanParams) p = wsman_params_new();
    g_autoptr(Msvm_VirtualSystemSettingData) s =
        wmi_typed_alloc(&Msvm_VirtualSystemSettingData_class);

    WMI_TYPED_SET(s, InstanceID, g_strdup(instance_id));
    if (name)
        WMI_TYPED_SET(s, ElementName, g_strdup(name));
    /* an empty description is one empty line, not none */
    if (description)
        WMI_TYPED_SET(s, Notes,
                      description[0] ? g_strsplit(description, "\n", -1)
                                     : g_strdupv((char *[]){ "", NULL }));
    if (user_snapshot_type)
        WMI_TYPED_SET(s, UserSnapshotType, user_snapshot_type);
    wsman_params_add_typed(p, "SystemSettings", s);
    return hv_service_call(c, "Msvm_VirtualSystemManagementService",
                           "ModifySystemSettings", p, wait, NULL, NULL, error);
}

/* A method of the snapshot service whose one parameter, param, names the
 * snapshot */
static gboolean
snapshot_call(WsmanClient *c, const char *method, const char *param,
              const char *instance_id, const HvJobWait *wait, GError **error)
{
    return hv_service_call_on(c, SNAPSHOTS, method, param,
                              hv_settings_epr(instance_id), wait, NULL, error);
}

gboolean
hv_snapshot_apply(WsmanClient *c, const char *instance_id,
                  const HvJobWait *wait, GError **error)
{
    return snapshot_call(c, "ApplySnapshot", "Snapshot", instance_id, wait,
                         error);
}

gboolean
hv_snapshot_destroy(WsmanClient *c, const char *instance_id, gboolean tree,
                    const HvJobWait *wait, GError **error)
{
    return tree ? snapshot_call(c, "DestroySnapshotTree", "SnapshotSettingData",
                                instance_id, wait, error)
                : snapshot_call(c, "DestroySnapshot", "AffectedSnapshot",
                                instance_id, wait, error);
}

gboolean
hv_snapshot_clear_state(WsmanClient *c, const char *instance_id,
                        const HvJobWait *wait, GError **error)
{
    return snapshot_call(c, "ClearSnapshotState", "SnapshotSettingData",
                         instance_id, wait, error);
}

gboolean
hv_disk_set_parent(WsmanClient *c, const char *child, const char *parent,
                   const HvJobWait *wait, GError **error)
{
    g_autoptr(WsmanParams) p = wsman_params_new();

    wsman_params_add_text(p, "ChildPath", child);
    wsman_params_add_text(p, "ParentPath", parent);
    wsman_params_add_text(p, "IgnoreIDMismatch", "false");
    return hv_service_call(c, "Msvm_ImageManagementService",
                           "SetParentVirtualHardDisk", p, wait, NULL, NULL,
                           error);
}
