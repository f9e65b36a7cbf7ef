/*
 * sim-assoc.c: the associations of the host model, each answered from the
 * end msvm.schema gives it (reference §4)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "sim-view.h"

/* The objects a source names */

static SimVm *
vm_of(SimHost *host, WmiObject *src)
{
    return sim_host_find_vm(host, wmi_object_text(src, "Name"));
}

/* A settings object: a checkpoint's (*snap set) or a VM's own */
static SimVm *
settings_of(SimHost *host, WmiObject *src, SimSnapshot **snap)
{
    const char *iid = wmi_object_text(src, "InstanceID");
    const char *id = sim_strip_microsoft(iid ? iid : "");
    SimVm *vm = NULL;

    *snap = sim_host_find_snapshot(host, id, &vm);
    return *snap ? vm : sim_host_find_vm(host, id);
}

static SimRefPoint *
refpoint_of(SimHost *host, WmiObject *src, SimVm **vm)
{
    return sim_host_find_refpoint(host, wmi_object_text(src, "InstanceID"), vm);
}

static SimGroup *
group_of(SimHost *host, WmiObject *src)
{
    return sim_host_find_group(host, wmi_object_text(src, "CollectionID"));
}

static SimGroupPoint *
group_point_of(SimHost *host, WmiObject *src, gboolean refpoints, SimGroup **g)
{
    return sim_host_find_group_point(host, wmi_object_text(src, "CollectionID"),
                                     refpoints, g);
}

static void
add_vssd_of(SimHost *host, const char *id, GPtrArray *out)
{
    SimVm *owner = NULL;
    SimSnapshot *s = sim_host_find_snapshot(host, id, &owner);
    SimVm *vm = s ? NULL : sim_host_find_vm(host, sim_strip_microsoft(id));

    if (s)
        g_ptr_array_add(out, sim_render_snapshot_vssd(host, owner, s));
    else if (vm)
        g_ptr_array_add(out, sim_render_active_vssd(host, vm));
}

static gboolean
contains_id(GPtrArray *ids, const char *id)
{
    for (guint i = 0; i < ids->len; i++)
        if (g_ascii_strcasecmp(ids->pdata[i], id) == 0)
            return TRUE;
    return FALSE;
}

/* The group points (snapshots or reference points) that hold an item. */
static void
add_group_points_with(SimHost *host, const char *item, gboolean refpoints,
                      GPtrArray *out)
{
    for (guint i = 0; i < host->groups->len; i++) {
        SimGroup *g = host->groups->pdata[i];
        GPtrArray *points = refpoints ? g->refpoints : g->snapshots;
        for (guint k = 0; k < points->len; k++) {
            SimGroupPoint *p = points->pdata[k];
            if (contains_id(p->items, item))
                g_ptr_array_add(out, refpoints ? sim_render_group_refpoint(g, p)
                                               : sim_render_group_snapshot(p));
        }
    }
}

/* From a virtual machine */

static void
vm_settings(SimHost *host, WmiObject *src, GPtrArray *out)
{
    SimVm *vm = vm_of(host, src);
    if (vm)
        g_ptr_array_add(out, sim_render_active_vssd(host, vm));
}

static void
vm_snapshots(SimHost *host, WmiObject *src, GPtrArray *out)
{
    SimVm *vm = vm_of(host, src);
    for (guint i = 0; vm && i < vm->snapshots->len; i++)
        g_ptr_array_add(
            out, sim_render_snapshot_vssd(host, vm, vm->snapshots->pdata[i]));
}

static void
vm_current_snapshot(SimHost *host, WmiObject *src, GPtrArray *out)
{
    SimVm *vm = vm_of(host, src);
    if (vm && vm->current_id)
        add_vssd_of(host, vm->current_id, out);
}

static void
vm_last_applied(SimHost *host, WmiObject *src, GPtrArray *out)
{
    SimVm *vm = vm_of(host, src);
    if (vm && vm->last_applied_id)
        add_vssd_of(host, vm->last_applied_id, out);
}

static void
vm_refpoints(SimHost *host, WmiObject *src, GPtrArray *out)
{
    SimVm *vm = vm_of(host, src);
    for (guint i = 0; vm && i < vm->refpoints->len; i++)
        g_ptr_array_add(out, sim_render_refpoint(vm, vm->refpoints->pdata[i]));
}

static void
vm_groups(SimHost *host, WmiObject *src, GPtrArray *out)
{
    SimVm *vm = vm_of(host, src);
    for (guint i = 0; vm && i < host->groups->len; i++) {
        SimGroup *g = host->groups->pdata[i];
        if (contains_id(g->members, vm->id))
            g_ptr_array_add(out, sim_render_group(g));
    }
}

/* The snapshot service affects every VM and every checkpoint */
static void
affected_service(SimHost *host, WmiObject *src, GPtrArray *out)
{
    SimSnapshot *s = NULL;
    gboolean affected =
        sim_class_is(src->class_name, "Msvm_ComputerSystem")
            ? vm_of(host, src) != NULL
        : sim_class_is(src->class_name, "Msvm_VirtualSystemSettingData")
            ? settings_of(host, src, &s) && s
            : FALSE;

    if (affected)
        g_ptr_array_add(out, sim_render_named_service(
                                 host, "Msvm_VirtualSystemSnapshotService"));
}

static void
service_affects(SimHost *host, WmiObject *src, GPtrArray *out)
{
    for (guint i = 0; i < host->vms->len; i++) {
        SimVm *vm = host->vms->pdata[i];
        g_ptr_array_add(out, sim_render_vm(vm));
        for (guint k = 0; k < vm->snapshots->len; k++)
            g_ptr_array_add(out, sim_render_snapshot_vssd(
                                     host, vm, vm->snapshots->pdata[k]));
    }
}

/* From a settings object */

static void
settings_resources(SimHost *host, WmiObject *src, GPtrArray *out)
{
    SimSnapshot *s;
    SimVm *vm = settings_of(host, src, &s);

    if (s)
        sim_render_rasds(host, NULL, s->id, s->memory_mb, s->cpus, s->disks,
                         NULL, out);
    else if (vm)
        sim_render_rasds(host, NULL, vm->id, vm->memory_mb, vm->cpus, vm->disks,
                         vm->macs, out);
}

static void
snapshot_vm(SimHost *host, WmiObject *src, GPtrArray *out)
{
    SimSnapshot *s;
    SimVm *vm = settings_of(host, src, &s);
    if (s)
        g_ptr_array_add(out, sim_render_vm(vm));
}

static void
applied_vm(SimHost *host, WmiObject *src, GPtrArray *out)
{
    SimSnapshot *s;
    SimVm *vm = settings_of(host, src, &s);
    if (s && g_strcmp0(vm->last_applied_id, s->id) == 0)
        g_ptr_array_add(out, sim_render_vm(vm));
}

static void
settings_vm(SimHost *host, WmiObject *src, GPtrArray *out)
{
    SimSnapshot *s;
    SimVm *vm = settings_of(host, src, &s);
    if (vm && !s)
        g_ptr_array_add(out, sim_render_vm(vm));
}

static void
snapshot_groups(SimHost *host, WmiObject *src, GPtrArray *out)
{
    SimSnapshot *s;
    if (settings_of(host, src, &s) && s)
        add_group_points_with(host, s->id, FALSE, out);
}

/* The checkpoint a settings object is based on: a checkpoint's parent, or
 * the VM's current checkpoint for its own settings */
static void
settings_parent(SimHost *host, WmiObject *src, GPtrArray *out)
{
    SimSnapshot *s;
    SimVm *vm = settings_of(host, src, &s);
    const char *parent = s ? s->parent_id : vm ? vm->current_id : NULL;

    if (parent)
        add_vssd_of(host, parent, out);
}

/* What is based on a checkpoint: its children, and the VM's own settings
 * when it is the current one */
static void
settings_children(SimHost *host, WmiObject *src, GPtrArray *out)
{
    SimSnapshot *s;
    SimVm *vm = settings_of(host, src, &s);

    if (!s)
        return;
    for (guint i = 0; i < vm->snapshots->len; i++) {
        SimSnapshot *c = vm->snapshots->pdata[i];
        if (g_strcmp0(c->parent_id, s->id) == 0)
            g_ptr_array_add(out, sim_render_snapshot_vssd(host, vm, c));
    }
    if (g_strcmp0(vm->current_id, s->id) == 0)
        g_ptr_array_add(out, sim_render_active_vssd(host, vm));
}

/* From a reference point */

static void
refpoint_vm(SimHost *host, WmiObject *src, GPtrArray *out)
{
    SimVm *vm = NULL;
    if (refpoint_of(host, src, &vm))
        g_ptr_array_add(out, sim_render_vm(vm));
}

static void
refpoint_groups(SimHost *host, WmiObject *src, GPtrArray *out)
{
    SimVm *vm = NULL;
    SimRefPoint *r = refpoint_of(host, src, &vm);
    if (r)
        add_group_points_with(host, r->id, TRUE, out);
}

/* From a VM group and its points */

static void
group_members(SimHost *host, WmiObject *src, GPtrArray *out)
{
    SimGroup *g = group_of(host, src);
    for (guint i = 0; g && i < g->members->len; i++) {
        SimVm *vm = sim_host_find_vm(host, g->members->pdata[i]);
        if (vm)
            g_ptr_array_add(out, sim_render_vm(vm));
    }
}

static void
group_snapshots(SimHost *host, WmiObject *src, GPtrArray *out)
{
    SimGroup *g = group_of(host, src);
    for (guint i = 0; g && i < g->snapshots->len; i++)
        g_ptr_array_add(out, sim_render_group_snapshot(g->snapshots->pdata[i]));
}

static void
group_refpoints(SimHost *host, WmiObject *src, GPtrArray *out)
{
    SimGroup *g = group_of(host, src);
    for (guint i = 0; g && i < g->refpoints->len; i++)
        g_ptr_array_add(out,
                        sim_render_group_refpoint(g, g->refpoints->pdata[i]));
}

static void
point_group(SimHost *host, WmiObject *src, gboolean refpoints, GPtrArray *out)
{
    SimGroup *g = NULL;
    if (group_point_of(host, src, refpoints, &g))
        g_ptr_array_add(out, sim_render_group(g));
}

static void
snapshot_collection_group(SimHost *host, WmiObject *src, GPtrArray *out)
{
    point_group(host, src, FALSE, out);
}

static void
refpoint_collection_group(SimHost *host, WmiObject *src, GPtrArray *out)
{
    point_group(host, src, TRUE, out);
}

static void
snapshot_collection_members(SimHost *host, WmiObject *src, GPtrArray *out)
{
    SimGroup *g = NULL;
    SimGroupPoint *p = group_point_of(host, src, FALSE, &g);
    for (guint i = 0; p && i < p->items->len; i++)
        add_vssd_of(host, p->items->pdata[i], out);
}

static void
refpoint_collection_members(SimHost *host, WmiObject *src, GPtrArray *out)
{
    SimGroup *g = NULL;
    SimGroupPoint *p = group_point_of(host, src, TRUE, &g);
    for (guint i = 0; p && i < p->items->len; i++) {
        SimVm *vm = NULL;
        SimRefPoint *r = sim_host_find_refpoint(host, p->items->pdata[i], &vm);
        if (r)
            g_ptr_array_add(out, sim_render_refpoint(vm, r));
    }
}

/* From a job: what it made or changed */
static void
job_affected(SimHost *host, WmiObject *src, GPtrArray *out)
{
    SimJob *j = sim_host_find_job(host, wmi_object_text(src, "InstanceID"));
    const char *cls = j ? j->affected_class : NULL;
    const char *key = j ? j->affected_key : NULL;
    SimVm *vm = NULL;
    SimGroup *g = NULL;

    if (!key)
        return;
    if (g_str_equal(cls, "Msvm_VirtualSystemSettingData")) {
        add_vssd_of(host, key, out);
    } else if (g_str_equal(cls, "Msvm_ComputerSystem")) {
        if ((vm = sim_host_find_vm(host, key)))
            g_ptr_array_add(out, sim_render_vm(vm));
    } else if (g_str_equal(cls, "Msvm_VirtualSystemReferencePoint")) {
        SimRefPoint *r = sim_host_find_refpoint(host, key, &vm);
        if (r)
            g_ptr_array_add(out, sim_render_refpoint(vm, r));
    } else if (g_str_equal(cls, "Msvm_VirtualSystemCollection")) {
        if ((g = sim_host_find_group(host, key)))
            g_ptr_array_add(out, sim_render_group(g));
    } else {
        gboolean rp = g_str_equal(cls, "Msvm_ReferencePointCollection");
        SimGroupPoint *p = sim_host_find_group_point(host, key, rp, &g);
        if (p)
            g_ptr_array_add(out, rp ? sim_render_group_refpoint(g, p)
                                    : sim_render_group_snapshot(p));
    }
}

/* Each association from each end hypervsim answers it from; where the
 * second end is missing, Windows has nothing to answer there either (the
 * job is found from what it affected by no client) */
const SimAssocAnswer sim_assoc_answers[] = {
    { &Msvm_SettingsDefineState_assoc, 0, vm_settings },
    { &Msvm_SettingsDefineState_assoc, 1, settings_vm },
    { &Msvm_SnapshotOfVirtualSystem_assoc, 0, vm_snapshots },
    { &Msvm_SnapshotOfVirtualSystem_assoc, 1, snapshot_vm },
    { &Msvm_MostCurrentSnapshotInBranch_assoc, 0, vm_current_snapshot },
    { &Msvm_LastAppliedSnapshot_assoc, 1, vm_last_applied },
    { &Msvm_LastAppliedSnapshot_assoc, 0, applied_vm },
    { &Msvm_ElementSettingData_assoc, 0, vm_settings },
    { &Msvm_ElementSettingData_assoc, 1, settings_vm },
    { &Msvm_ServiceAffectsElement_assoc, 0, affected_service },
    { &Msvm_ServiceAffectsElement_assoc, 1, service_affects },
    { &Msvm_ReferencePointOfVirtualSystem_assoc, 0, vm_refpoints },
    { &Msvm_ReferencePointOfVirtualSystem_assoc, 1, refpoint_vm },
    { &Msvm_CollectedVirtualSystems_assoc, 1, vm_groups },
    { &Msvm_CollectedVirtualSystems_assoc, 0, group_members },
    { &Msvm_CollectedReferencePoints_assoc, 1, refpoint_groups },
    { &Msvm_CollectedReferencePoints_assoc, 0, refpoint_collection_members },
    { &Msvm_CollectedSnapshots_assoc, 1, snapshot_groups },
    { &Msvm_CollectedSnapshots_assoc, 0, snapshot_collection_members },
    { &Msvm_SnapshotOfVirtualSystemCollection_assoc, 0, group_snapshots },
    { &Msvm_SnapshotOfVirtualSystemCollection_assoc, 1,
      snapshot_collection_group },
    { &Msvm_ReferencePointOfVirtualSystemCollection_assoc, 0, group_refpoints },
    { &Msvm_ReferencePointOfVirtualSystemCollection_assoc, 1,
      refpoint_collection_group },
    { &Msvm_VirtualSystemSettingDataComponent_assoc, 0, settings_resources },
    { &Msvm_ParentChildSettingData_assoc, 1, settings_parent },
    { &Msvm_ParentChildSettingData_assoc, 0, settings_children },
    { &Msvm_AffectedJobElement_assoc, 1, job_affected },
    { NULL, 0, NULL },
};

void
sim_host_associators(SimHost *host, const WqlQuery *q, WmiObject *src,
                     GPtrArray *out)
{
    for (const SimAssocAnswer *a = sim_assoc_answers; a->assoc; a++) {
        const WmiAssocEnd *from = &a->assoc->ends[a->from];
        const WmiAssocEnd *to = &a->assoc->ends[1 - a->from];

        if ((q->assoc_class &&
             g_ascii_strcasecmp(q->assoc_class, a->assoc->klass->name)) ||
            !sim_class_is(src->class_name, from->klass->name) ||
            (q->role && g_ascii_strcasecmp(q->role, from->role)) ||
            (q->result_role && g_ascii_strcasecmp(q->result_role, to->role)))
            continue;
        a->answer(host, src, out);
    }
}
