/*
 * hv-group.c: VM groups on a Hyper-V host
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>

#include "hv-group.h"

static WmiEpr *
group_epr(const char *group_id)
{
    return wmi_epr_new_keyed("Msvm_VirtualSystemCollection", "CollectionID",
                             group_id, NULL);
}

static WmiEpr *
snapshot_epr(const char *snapshot_id)
{
    return wmi_epr_new_keyed("Msvm_SnapshotCollection", "CollectionID",
                             snapshot_id, NULL);
}

static WmiEpr *
refpoint_epr(const char *point_id, const char *group_id)
{
    return wmi_epr_new_keyed("Msvm_ReferencePointCollection", "CollectionID",
                             point_id, "VirtualSystemCollectionId", group_id,
                             NULL);
}

GPtrArray *
hv_group_list(WsmanClient *c, GError **error)
{
    return hv_typed_list(
        &Msvm_VirtualSystemCollection_class,
        wsman_enumerate(c, "SELECT * FROM Msvm_VirtualSystemCollection", FALSE,
                        error),
        error);
}

GPtrArray *
hv_vm_groups(WsmanClient *c, const char *vm_guid, GError **error)
{
    return hv_associated(c, &Msvm_CollectedVirtualSystems_assoc,
                         hv_vm_epr(vm_guid),
                         &Msvm_VirtualSystemCollection_class, error);
}

GPtrArray *
hv_group_members(WsmanClient *c, const char *group_id, GError **error)
{
    return hv_associated(c, &Msvm_CollectedVirtualSystems_assoc,
                         group_epr(group_id), &Msvm_ComputerSystem_class,
                         error);
}

GPtrArray *
hv_group_snapshots(WsmanClient *c, const char *group_id, GError **error)
{
    return hv_associated(c, &Msvm_SnapshotOfVirtualSystemCollection_assoc,
                         group_epr(group_id), &Msvm_SnapshotCollection_class,
                         error);
}

GPtrArray *
hv_group_snapshot_items(WsmanClient *c, const char *snapshot_id, GError **error)
{
    return hv_associated(c, &Msvm_CollectedSnapshots_assoc,
                         snapshot_epr(snapshot_id),
                         &Msvm_VirtualSystemSettingData_class, error);
}

GPtrArray *
hv_group_refpoint_items(WsmanClient *c, const char *point_id,
                        const char *group_id, GError **error)
{
    return hv_associated(c, &Msvm_CollectedReferencePoints_assoc,
                         refpoint_epr(point_id, group_id),
                         &Msvm_VirtualSystemReferencePoint_class, error);
}

/* The CollectionID of the one object of klass a job affected */
static char *
affected_id(WsmanClient *c, Msvm_ConcreteJob *job, const WmiClassDef *klass,
            const char *method, GError **error)
{
    g_autoptr(WmiObject) made =
        hv_job_affected_one(c, job, klass, method, error);

    return made ? g_strdup(wmi_object_text(made, "CollectionID")) : NULL;
}

#define MANAGEMENT "Msvm_CollectionManagementService"
#define SNAPSHOTS  "Msvm_CollectionSnapshotService"

char *
hv_group_define(WsmanClient *c, const char *name, const HvJobWait *wait,
                GError **error)
{
    g_autoptr(WsmanParams) p = wsman_params_new();
    g_autoptr(WmiObject) out = NULL;
    g_autoptr(Msvm_ConcreteJob) job = NULL;
    const WmiEpr *defined;
    const char *id;

    wsman_params_add_text(p, "Name", name);
    wsman_params_add_uint(p, "Type", 0);
    if (!hv_service_call(c, MANAGEMENT, "DefineCollection", p, wait, &job, &out,
                         error))
        return NULL;
    defined = wmi_object_epr(out, "DefinedCollection");
    id = defined ? wmi_epr_get_selector(defined, "CollectionID") : NULL;
    if (id)
        return g_strdup(id);
    /* no DefinedCollection: the job says what it made */
    return affected_id(c, job, &Msvm_VirtualSystemCollection_class,
                       "DefineCollection", error);
}

gboolean
hv_group_destroy(WsmanClient *c, const char *group_id, const HvJobWait *wait,
                 GError **error)
{
    g_autoptr(WsmanParams) p = wsman_params_new();
    g_autoptr(WmiEpr) g = group_epr(group_id);

    wsman_params_add_epr(p, "Collection", g);
    return hv_service_call(c, MANAGEMENT, "DestroyCollection", p, wait, NULL,
                           NULL, error);
}

gboolean
hv_group_rename(WsmanClient *c, const char *group_id, const char *name,
                const HvJobWait *wait, GError **error)
{
    g_autoptr(WsmanParams) p = wsman_params_new();
    g_autoptr(WmiEpr) g = group_epr(group_id);

    wsman_params_add_epr(p, "Collection", g);
    wsman_params_add_text(p, "NewName", name);
    return hv_service_call(c, MANAGEMENT, "RenameCollection", p, wait, NULL,
                           NULL, error);
}

gboolean
hv_group_member(WsmanClient *c, const char *group_id, const char *vm_guid,
                gboolean add, const HvJobWait *wait, GError **error)
{
    g_autoptr(WsmanParams) p = wsman_params_new();
    g_autoptr(WmiEpr) g = group_epr(group_id);
    g_autoptr(WmiEpr) vm = hv_vm_epr(vm_guid);

    wsman_params_add_epr(p, "Member", vm);
    wsman_params_add_epr(p, "Collection", g);
    return hv_service_call(c, MANAGEMENT, add ? "AddMember" : "RemoveMember", p,
                           wait, NULL, NULL, error);
}

char *
hv_group_snapshot_create(WsmanClient *c, const char *group_id, guint16 type,
                         const HvJobWait *wait, GError **error)
{
    g_autoptr(WsmanParams) p = wsman_params_new();
    g_autoptr(WmiEpr) g = group_epr(group_id);
    g_autoptr(Msvm_ConcreteJob) job = NULL;

    wsman_params_add_epr(p, "Collection", g);
    wsman_params_add_text(p, "SnapshotSettings", "");
    wsman_params_add_uint(p, "SnapshotType", type);
    if (!hv_service_call(c, SNAPSHOTS, "CreateSnapshot", p, wait, &job, NULL,
                         error))
        return NULL;
    return affected_id(c, job, &Msvm_SnapshotCollection_class, "CreateSnapshot",
                       error);
}

char *
hv_group_snapshot_convert(WsmanClient *c, const char *snapshot_id,
                          const HvJobWait *wait, GError **error)
{
    g_autoptr(Msvm_ConcreteJob) job = NULL;

    if (!hv_service_call_on(c, SNAPSHOTS, "ConvertToReferencePoint",
                            "AffectedSnapshotCollection",
                            snapshot_epr(snapshot_id), wait, &job, error))
        return NULL;
    return affected_id(c, job, &Msvm_ReferencePointCollection_class,
                       "ConvertToReferencePoint", error);
}

gboolean
hv_group_snapshot_destroy(WsmanClient *c, const char *snapshot_id,
                          const HvJobWait *wait, GError **error)
{
    return hv_service_call_on(c, SNAPSHOTS, "DestroySnapshot",
                              "AffectedSnapshotCollection",
                              snapshot_epr(snapshot_id), wait, NULL, error);
}

gboolean
hv_group_snapshot_apply(WsmanClient *c, const char *snapshot_id,
                        const HvJobWait *wait, GError **error)
{
    return hv_service_call_on(c, SNAPSHOTS, "ApplySnapshot",
                              "SnapshotCollection", snapshot_epr(snapshot_id),
                              wait, NULL, error);
}

gboolean
hv_group_export_start(WsmanClient *c, const char *snapshot_id, const char *dir,
                      const char *base_id, const char *group_id, WmiEpr **job,
                      GError **error)
{
    g_autoptr(WsmanParams) p = wsman_params_new();
    g_autoptr(WmiEpr) s = snapshot_epr(snapshot_id);
    g_autoptr(Msvm_CollectionSnapshotExportSettingData) esd =
        wmi_typed_alloc(&Msvm_CollectionSnapshotExportSettingData_class);

    WMI_TYPED_SET(esd, CopyVmStorage, TRUE);
    if (base_id)
        WMI_TYPED_SET(esd, DifferentialBackupBase,
                      wmi_epr_path(refpoint_epr(base_id, group_id)));
    wsman_params_add_epr(p, "SnapshotCollection", s);
    wsman_params_add_text(p, "ExportDirectory", dir);
    wsman_params_add_typed(p, "ExportSettingData", esd);
    return hv_service_start(c, SNAPSHOTS, "ExportSnapshot", p, job, error);
}
