/*
 * sim-view.c: the WMI view of the host model: each Msvm instance rendered
 * from the model when asked for, found by class and keys, and the queries
 * over them
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "sim-view.h"

char *
sim_format_datetime(GDateTime *dt)
{
    g_autoptr(GDateTime) utc = g_date_time_to_utc(dt);
    g_autofree char *secs = g_date_time_format(utc, "%Y-%m-%dT%H:%M:%S");
    /* as WinRM writes them: 100 ns ticks, trailing zeros left out (0 to 7
     * digits) */
    g_autofree char *ticks =
        g_strdup_printf("%07d", g_date_time_get_microsecond(utc) * 10);
    gsize n = strlen(ticks);

    while (n > 0 && ticks[n - 1] == '0')
        ticks[--n] = '\0';
    return g_strdup_printf("%s%s%sZ", secs, n ? "." : "", ticks);
}

#define PROCESSOR_GUID "B637F346-6A0E-4DEC-AF52-BD70CB80A21D"
#define MEMORY_GUID    "4764334D-E001-4176-82EE-5594EC9B530E"
#define VHD_SUBTYPE    "Microsoft:Hyper-V:Virtual Hard Disk"

/* Rendering */

static void
set(WmiObject *o, const char *name, const char *text)
{
    if (text)
        wmi_object_add_text(o, name, text);
    else
        wmi_object_set_nil(o, name);
}

static void setf(WmiObject *o, const char *name, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static void
setf(WmiObject *o, const char *name, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *s = NULL;
    va_start(ap, fmt);
    s = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    wmi_object_add_text(o, name, s);
}

static void
set_datetime(WmiObject *o, const char *name, GDateTime *dt)
{
    WmiValue *v = g_new0(WmiValue, 1);
    if (!dt) {
        wmi_object_set_nil(o, name);
        g_free(v);
        return;
    }
    v->kind = WMI_VALUE_DATETIME;
    v->text = sim_format_datetime(dt);
    wmi_object_add_value(o, name, v);
}

static void
set_interval(WmiObject *o, const char *name, GTimeSpan span)
{
    WmiValue *v = g_new0(WmiValue, 1);
    v->kind = WMI_VALUE_INTERVAL;
    v->text = g_strdup_printf("P%" G_GINT64_FORMAT "DT%dH%dM%d.%06dS",
                              span / G_TIME_SPAN_DAY,
                              (int) (span / G_TIME_SPAN_HOUR % 24),
                              (int) (span / G_TIME_SPAN_MINUTE % 60),
                              (int) (span / G_TIME_SPAN_SECOND % 60),
                              (int) (span % G_TIME_SPAN_SECOND));
    wmi_object_add_value(o, name, v);
}

static void
set_strings(WmiObject *o, const char *name, GPtrArray *values)
{
    if (!values || values->len == 0) {
        wmi_object_set_nil(o, name);
        return;
    }
    for (guint i = 0; i < values->len; i++)
        wmi_object_add_text(o, name, values->pdata[i]);
}

static char *
vssd_path(SimHost *host, const char *id)
{
    return g_strdup_printf("\\\\%s\\root\\virtualization\\v2:Msvm_VirtualSystem"
                           "SettingData.InstanceID=\"Microsoft:%s\"",
                           host->name, id);
}

static WmiObject *
render_host_system(SimHost *host)
{
    WmiObject *o = wmi_object_new("Msvm_ComputerSystem");
    set(o, "Caption", "Hosting Computer System");
    set(o, "CreationClassName", "Msvm_ComputerSystem");
    set(o, "Description", "Microsoft Hosting Computer System");
    set(o, "ElementName", host->name);
    setf(o, "EnabledState", "%u", MSVM_ENABLED_STATE_ENABLED);
    set(o, "Name", host->name);
    set(o, "OperationalStatus", "2");
    return o;
}

/* root\cimv2: the machine the simulated host runs on */
static void
render_machine(SimHost *host, GPtrArray *out)
{
    WmiObject *o = wmi_object_new("Win32_ComputerSystem");
    set(o, "DNSHostName", host->name);
    set(o, "Domain", "WORKGROUP");
    set(o, "Manufacturer", "hypervsim");
    set(o, "Model", "Simulated Hyper-V host");
    set(o, "Name", host->name);
    set(o, "NumberOfLogicalProcessors", "8");
    set(o, "NumberOfProcessors", "1");
    set(o, "TotalPhysicalMemory", "17179869184");
    g_ptr_array_add(out, o);

    o = wmi_object_new("Win32_OperatingSystem");
    set(o, "BuildNumber", "20348");
    set(o, "Caption", "Microsoft Windows Server 2022 Datacenter");
    set(o, "Name",
        "Microsoft Windows Server 2022 Datacenter|C:\\Windows|"
        "\\Device\\Harddisk0\\Partition2");
    set(o, "Version", "10.0.20348");
    g_ptr_array_add(out, o);

    o = wmi_object_new("Win32_Processor");
    set(o, "DeviceID", "CPU0");
    set(o, "Manufacturer", "GenuineIntel");
    set(o, "MaxClockSpeed", "2400");
    set(o, "Name", "Intel(R) Xeon(R) CPU E5-2640 v4 @ 2.40GHz");
    set(o, "NumberOfCores", "4");
    set(o, "NumberOfLogicalProcessors", "8");
    g_ptr_array_add(out, o);
}

WmiObject *
sim_render_vm(SimVm *vm)
{
    WmiObject *o = wmi_object_new("Msvm_ComputerSystem");
    set(o, "Caption", "Virtual Machine");
    set(o, "CreationClassName", "Msvm_ComputerSystem");
    set(o, "Description", "Microsoft Virtual Machine");
    set(o, "ElementName", vm->name);
    setf(o, "EnabledState", "%u", vm->state);
    setf(o, "HealthState", "%u", 5);
    set_datetime(o, "InstallDate", vm->created);
    set(o, "Name", vm->id);
    setf(o, "OnTimeInMilliseconds", "%u",
         vm->state == MSVM_ENABLED_STATE_ENABLED ? 60000u : 0u);
    set(o, "OperationalStatus", "2");
    if (vm->busy_status)
        setf(o, "OperationalStatus", "%u", vm->busy_status);
    setf(o, "ProcessID", "%u", vm->pid);
    setf(o, "RequestedState", "%u", 12);
    set_datetime(o, "TimeOfLastStateChange",
                 vm->state_changed ? vm->state_changed : vm->created);
    return o;
}

static void
render_vssd_common(SimHost *host, WmiObject *o, const char *id,
                   const char *name, GPtrArray *notes, GDateTime *created,
                   const char *parent_id, const char *type, SimVm *vm)
{
    g_autofree char *parent = parent_id ? vssd_path(host, parent_id) : NULL;
    g_autofree char *root = vm->dir ? sim_path_to_windows(vm->dir) : NULL;
    set(o, "Caption", "Virtual Machine Settings");
    set(o, "ConfigurationDataRoot", root); /* a Windows path, as all are */
    set(o, "ConfigurationID", id);
    set_datetime(o, "CreationTime", created);
    set(o, "ElementName", name);
    setf(o, "InstanceID", "Microsoft:%s", id);
    set_strings(o, "Notes", notes);
    set(o, "Parent", parent);
    setf(o, "UserSnapshotType", "%u", vm->user_snapshot_type);
    setf(o, "AutomaticStartupAction", "%u", vm->startup_action);
    set(o, "Version", "9.0");
    set(o, "VirtualSystemIdentifier", vm->id);
    set(o, "VirtualSystemSubType", "Microsoft:Hyper-V:SubType:2");
    set(o, "VirtualSystemType", type);
}

WmiObject *
sim_render_active_vssd(SimHost *host, SimVm *vm)
{
    WmiObject *o = wmi_object_new("Msvm_VirtualSystemSettingData");
    render_vssd_common(host, o, vm->id, vm->name, vm->notes, vm->created,
                       vm->current_id, MSVM_VIRTUAL_SYSTEM_TYPE_SYSTEM_REALIZED,
                       vm);
    set(o, "Description", "Active settings for the virtual machine");
    set(o, "IsSaved",
        vm->state == MSVM_ENABLED_STATE_OFFLINE ? "true" : "false");
    return o;
}

WmiObject *
sim_render_snapshot_vssd(SimHost *host, SimVm *vm, SimSnapshot *s)
{
    WmiObject *o = wmi_object_new("Msvm_VirtualSystemSettingData");
    render_vssd_common(host, o, s->id, s->name, s->notes, s->created,
                       s->parent_id, s->type, vm);
    set(o, "Description", "Snapshot settings for the virtual machine");
    set(o, "IsSaved", s->is_saved ? "true" : "false");
    return o;
}

void
sim_render_rasds(SimHost *host, const char *class_name, const char *owner,
                 guint64 memory_mb, guint cpus, GPtrArray *disks,
                 GPtrArray *macs, GPtrArray *out)
{
    WmiObject *o;

    if (!class_name || g_str_equal(class_name, "Msvm_ProcessorSettingData")) {
        o = wmi_object_new("Msvm_ProcessorSettingData");
        set(o, "ElementName", "Processor");
        setf(o, "InstanceID", "Microsoft:%s\\" PROCESSOR_GUID "\\0", owner);
        set(o, "Limit", "100000");
        set(o, "Reservation", "0");
        setf(o, "ResourceType", "%u", MSVM_RESOURCE_TYPE_PROCESSOR);
        setf(o, "VirtualQuantity", "%u", cpus);
        set(o, "Weight", "100");
        g_ptr_array_add(out, o);
    }
    if (!class_name || g_str_equal(class_name, "Msvm_MemorySettingData")) {
        o = wmi_object_new("Msvm_MemorySettingData");
        set(o, "DynamicMemoryEnabled", "false");
        set(o, "ElementName", "Memory");
        setf(o, "InstanceID", "Microsoft:%s\\" MEMORY_GUID, owner);
        setf(o, "Limit", "%" G_GUINT64_FORMAT, memory_mb);
        setf(o, "Reservation", "%" G_GUINT64_FORMAT, memory_mb);
        setf(o, "ResourceType", "%u", MSVM_RESOURCE_TYPE_MEMORY);
        setf(o, "VirtualQuantity", "%" G_GUINT64_FORMAT, memory_mb);
        g_ptr_array_add(out, o);
    }
    if (!class_name ||
        g_str_equal(class_name, "Msvm_StorageAllocationSettingData")) {
        for (guint i = 0; i < disks->len; i++) {
            SimDiskRef *d = disks->pdata[i];
            g_autofree char *win = sim_path_to_windows(d->path);
            o = wmi_object_new("Msvm_StorageAllocationSettingData");
            setf(o, "AddressOnParent", "%u", i);
            set(o, "ElementName", "Hard Disk Image");
            set(o, "HostResource", win);
            setf(o, "InstanceID", "Microsoft:%s\\%s\\0\\0\\L", owner,
                 d->slot_id);
            setf(o, "ResourceType", "%u", MSVM_RESOURCE_TYPE_LOGICAL_DISK);
            set(o, "ResourceSubType", VHD_SUBTYPE);
            g_ptr_array_add(out, o);
        }
    }
    if (macs &&
        (!class_name ||
         g_str_equal(class_name, "Msvm_SyntheticEthernetPortSettingData"))) {
        for (guint i = 0; i < macs->len; i++) {
            o = wmi_object_new("Msvm_SyntheticEthernetPortSettingData");
            set(o, "Address", macs->pdata[i]);
            set(o, "ElementName", "Network Adapter");
            setf(o, "InstanceID", "Microsoft:%s\\NIC%u", owner, i);
            setf(o, "ResourceType", "%u", MSVM_RESOURCE_TYPE_ETHERNET);
            set(o, "ResourceSubType",
                "Microsoft:Hyper-V:Synthetic Ethernet Port");
            set(o, "StaticMacAddress", "false");
            g_ptr_array_add(out, o);
        }
    }
}

static WmiObject *
render_job(SimJob *j)
{
    WmiObject *o = wmi_object_new(j->class_name);
    const char *type = wmi_valuemap_text(&msvm_valuemap_JobType, j->type);
    GDateTime *end = j->finished;
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();

    set(o, "Cancellable", j->cancellable ? "true" : "false");
    set(o, "Caption", type ? type : "Job");
    set(o, "DeleteOnCompletion", "false");
    set(o, "Description", type ? type : "Job");
    set_interval(
        o, "ElapsedTime",
        j->started ? g_date_time_difference(end ? end : now, j->started) : 0);
    set(o, "ElementName", type ? type : "Job");
    setf(o, "ErrorCode", "%u", j->error_code);
    set(o, "ErrorDescription", j->error_description);
    set(o, "ErrorSummaryDescription", j->error_description);
    set(o, "InstanceID", j->id);
    setf(o, "JobState", "%u", j->state);
    set(o, "JobStatus",
        j->state == MSVM_JOB_STATE_COMPLETED
            ? "Job completed successfully"
            : wmi_valuemap_text(&msvm_valuemap_JobState, j->state));
    setf(o, "JobType", "%u", j->type);
    set(o, "OperationalStatus", j->error_code ? "6" : "2");
    setf(o, "PercentComplete", "%u", j->percent);
    set_datetime(o, "StartTime", j->started);
    set(o, "StatusDescriptions", j->error_code ? "Error" : "OK");
    set_interval(o, "TimeBeforeRemoval", 5 * G_TIME_SPAN_MINUTE);
    set_datetime(o, "TimeOfLastStateChange", end ? end : j->submitted);
    set_datetime(o, "TimeSubmitted", j->submitted);
    if (g_str_equal(j->class_name, "Msvm_StorageJob")) {
        g_autofree char *c =
            j->child_path ? sim_path_to_windows(j->child_path) : NULL;
        g_autofree char *p =
            j->parent_path ? sim_path_to_windows(j->parent_path) : NULL;
        set(o, "Child", c);
        set(o, "Parent", p);
    }
    return o;
}

WmiObject *
sim_render_refpoint(SimVm *vm, SimRefPoint *r)
{
    WmiObject *o = wmi_object_new("Msvm_VirtualSystemReferencePoint");
    set(o, "Caption", "Reference point");
    setf(o, "ConsistencyLevel", "%u", r->consistency);
    set(o, "ElementName", "Reference point");
    set(o, "HasAssociatedData", "false");
    setf(o, "InstanceID", "Microsoft:%s", r->id);
    setf(o, "ReferencePointType", "%u", MSVM_REFERENCE_POINT_TYPE_RCT);
    set_strings(o, "ResilientChangeTrackingIdentifiers", r->rct_ids);
    for (guint i = 0; i < r->slots->len; i++)
        setf(o, "VirtualDiskIdentifiers", "Microsoft:%s\\%s\\0\\0\\L", vm->id,
             (char *) r->slots->pdata[i]);
    if (!r->slots->len)
        wmi_object_set_nil(o, "VirtualDiskIdentifiers");
    set(o, "VirtualSystemIdentifier", vm->id);
    return o;
}

/* A collection's first properties, in the host's order */
static WmiObject *
collection(const char *class_name, const char *caption, const char *id)
{
    WmiObject *o = wmi_object_new(class_name);
    set(o, "Caption", caption);
    set(o, "CollectionID", id);
    return o;
}

WmiObject *
sim_render_group(SimGroup *g)
{
    WmiObject *o = collection("Msvm_VirtualSystemCollection",
                              "Virtual machine group", g->id);
    set(o, "ElementName", g->name);
    setf(o, "LastApplyConsistencyLevel", "%u", g->last_apply_consistency);
    set_datetime(o, "LastApplyTime", g->last_apply_time);
    set_strings(o, "LastApplyVirtualMachineIds", g->last_apply_vms);
    return o;
}

WmiObject *
sim_render_group_snapshot(SimGroupPoint *p)
{
    WmiObject *o = collection("Msvm_SnapshotCollection",
                              "Virtual machine group checkpoint", p->id);
    set(o, "ElementName", p->name);
    return o;
}

WmiObject *
sim_render_group_refpoint(SimGroup *g, SimGroupPoint *p)
{
    WmiObject *o = collection("Msvm_ReferencePointCollection",
                              "Virtual machine group reference point", p->id);
    setf(o, "ConsistencyLevel", "%u", p->consistency);
    set(o, "ElementName", p->name);
    set(o, "HasAssociatedLog", "false");
    setf(o, "ReferencePointType", "%u", p->type);
    set(o, "VirtualSystemCollectionId", g->id);
    return o;
}

static WmiObject *
render_service(SimHost *host, const char *class_name, const char *name)
{
    WmiObject *o = wmi_object_new(class_name);
    set(o, "CreationClassName", class_name);
    set(o, "ElementName", name);
    set(o, "Name", name);
    set(o, "SystemCreationClassName", "Msvm_ComputerSystem");
    set(o, "SystemName", host->name);
    return o;
}

static const struct {
    const char *class_name;
    const char *name;
} services[] = {
    { "Msvm_VirtualSystemManagementService", "vmms" },
    { "Msvm_VirtualSystemSnapshotService", "vssnapsvc" },
    { "Msvm_ImageManagementService", "vhdsvc" },
    { "Msvm_VirtualSystemReferencePointService", "vsrefpointsvc" },
    { "Msvm_CollectionManagementService", "vmcollectionmgmtsvc" },
    { "Msvm_CollectionSnapshotService", "vmcollectionsnapshotsvc" },
};

WmiObject *
sim_render_named_service(SimHost *host, const char *class_name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(services); i++)
        if (g_str_equal(services[i].class_name, class_name))
            return render_service(host, class_name, services[i].name);
    g_return_val_if_reached(NULL);
}

/* Is an instance of klass (or a subclass) wanted for class_name? */
gboolean
sim_class_is(const char *instance_class, const char *wanted)
{
    const WmiClassDef *k = wmi_class_lookup(instance_class);
    if (g_ascii_strcasecmp(instance_class, wanted) == 0)
        return TRUE;
    for (; k; k = k->parent)
        if (g_ascii_strcasecmp(k->name, wanted) == 0)
            return TRUE;
    return FALSE;
}

/* Whether objects rendered as produced (or a subclass) can answer for
 * wanted: one is the other's ancestor */
static gboolean
may_be(const char *produced, const char *wanted)
{
    return sim_class_is(produced, wanted) || sim_class_is(wanted, produced);
}

static gboolean
in_scope(GHashTable *scope, const char *id)
{
    g_autofree char *guid = NULL;

    if (!scope)
        return TRUE;
    guid = sim_guid_in(id);
    return guid && g_hash_table_contains(scope, guid);
}

/* Whether one of items (structs whose first member is their GUID: a
 * checkpoint, a reference point, a group point) is named in scope */
static gboolean
any_in_scope(GHashTable *scope, GPtrArray *items)
{
    for (guint k = 0; k < items->len; k++)
        if (in_scope(scope, *(const char **) items->pdata[k]))
            return TRUE;
    return FALSE;
}

/* Whether anything of vm (itself, its checkpoints, reference points) is
 * named in scope */
static gboolean
vm_in_scope(GHashTable *scope, SimVm *vm)
{
    return in_scope(scope, vm->id) || any_in_scope(scope, vm->snapshots) ||
           any_in_scope(scope, vm->refpoints);
}

static gboolean
group_in_scope(GHashTable *scope, SimGroup *g)
{
    return in_scope(scope, g->id) || any_in_scope(scope, g->snapshots) ||
           any_in_scope(scope, g->refpoints);
}

static GPtrArray *instances_in(SimHost *host, const char *class_name,
                               GHashTable *scope);

GPtrArray *
sim_host_instances(SimHost *host, const char *class_name)
{
    return instances_in(host, class_name, NULL);
}

/* Only what can be of class_name and, with a scope, what belongs to one
 * of its GUIDs is rendered: a query's cost follows what it asks for, not
 * the size of the host */
static GPtrArray *
instances_in(SimHost *host, const char *class_name, GHashTable *scope)
{
    GPtrArray *out =
        g_ptr_array_new_with_free_func((GDestroyNotify) wmi_object_free);
    GPtrArray *all =
        g_ptr_array_new_with_free_func((GDestroyNotify) wmi_object_free);
    gboolean systems = may_be("Msvm_ComputerSystem", class_name);
    gboolean settings = may_be("Msvm_VirtualSystemSettingData", class_name);
    gboolean rasds = may_be("CIM_ResourceAllocationSettingData", class_name);
    gboolean refpoints = may_be("Msvm_VirtualSystemReferencePoint", class_name);

    if (systems && !scope)
        g_ptr_array_add(all, render_host_system(host));
    if (!scope)
        render_machine(host, all); /* three small objects */
    for (guint i = 0; !scope && i < G_N_ELEMENTS(services); i++)
        if (may_be(services[i].class_name, class_name))
            g_ptr_array_add(all, render_service(host, services[i].class_name,
                                                services[i].name));
    for (guint i = 0; i < host->vms->len; i++) {
        SimVm *vm = host->vms->pdata[i];
        /* a worker process (vmwp.exe) runs while the VM is not off */
        if (vm->state == MSVM_ENABLED_STATE_DISABLED)
            vm->pid = 0;
        else if (!vm->pid)
            vm->pid = host->last_pid += 4;
        if (scope && !vm_in_scope(scope, vm))
            continue;
        if (systems)
            g_ptr_array_add(all, sim_render_vm(vm));
        if (settings)
            g_ptr_array_add(all, sim_render_active_vssd(host, vm));
        if (rasds)
            sim_render_rasds(host, NULL, vm->id, vm->memory_mb, vm->cpus,
                             vm->disks, vm->macs, all);
        for (guint k = 0; (settings || rasds) && k < vm->snapshots->len; k++) {
            SimSnapshot *s = vm->snapshots->pdata[k];
            if (settings)
                g_ptr_array_add(all, sim_render_snapshot_vssd(host, vm, s));
            if (rasds)
                sim_render_rasds(host, NULL, s->id, s->memory_mb, s->cpus,
                                 s->disks, NULL, all);
        }
        for (guint k = 0; refpoints && k < vm->refpoints->len; k++)
            g_ptr_array_add(all,
                            sim_render_refpoint(vm, vm->refpoints->pdata[k]));
    }
    for (guint i = 0; i < host->groups->len; i++) {
        SimGroup *g = host->groups->pdata[i];
        if (scope && !group_in_scope(scope, g))
            continue;
        if (may_be("Msvm_VirtualSystemCollection", class_name))
            g_ptr_array_add(all, sim_render_group(g));
        for (guint k = 0; may_be("Msvm_SnapshotCollection", class_name) &&
                          k < g->snapshots->len;
             k++)
            g_ptr_array_add(all,
                            sim_render_group_snapshot(g->snapshots->pdata[k]));
        for (guint k = 0; may_be("Msvm_ReferencePointCollection", class_name) &&
                          k < g->refpoints->len;
             k++)
            g_ptr_array_add(
                all, sim_render_group_refpoint(g, g->refpoints->pdata[k]));
    }
    for (guint i = 0;
         may_be("Msvm_ConcreteJob", class_name) && i < host->jobs->len; i++)
        if (in_scope(scope, ((SimJob *) host->jobs->pdata[i])->id))
            g_ptr_array_add(all, render_job(host->jobs->pdata[i]));

    for (guint i = 0; i < all->len; i++) {
        WmiObject *o = all->pdata[i];
        if (sim_class_is(o->class_name, class_name)) {
            g_ptr_array_add(out, o);
            all->pdata[i] = NULL;
        }
    }
    g_ptr_array_unref(all);
    return out;
}

/* Key matching, as Windows does it: names and values case-insensitive, a
 * partial key set accepted when it names exactly one instance. */
static gboolean
keys_match(const WmiObject *o, GPtrArray *names, GPtrArray *values)
{
    for (guint i = 0; i < names->len; i++) {
        const char *have = wmi_object_text(o, names->pdata[i]);
        if (!have || g_ascii_strcasecmp(have, values->pdata[i]) != 0)
            return FALSE;
    }
    return TRUE;
}

WmiObject *
sim_host_get(SimHost *host, const char *class_name, const WmiEpr *sel,
             GError **error)
{
    GPtrArray *names = sel->selector_names, *values = sel->selector_values;
    g_autoptr(GHashTable) scope = NULL;
    g_autoptr(GPtrArray) all = NULL;
    guint n = 0, at = 0;

    for (guint i = 0; i < names->len && !scope; i++) {
        char *guid = (g_ascii_strcasecmp(names->pdata[i], "InstanceID") == 0 ||
                      g_ascii_strcasecmp(names->pdata[i], "Name") == 0 ||
                      g_ascii_strcasecmp(names->pdata[i], "CollectionID") == 0)
                         ? sim_guid_in(values->pdata[i])
                         : NULL;
        if (guid) {
            scope =
                g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
            g_hash_table_add(scope, guid);
        }
    }
    all = instances_in(host, class_name, scope);

    for (guint i = 0; i < all->len; i++)
        if (keys_match(all->pdata[i], names, values)) {
            n++;
            at = i;
        }
    if (n != 1) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_NOT_FOUND,
                    _("%u instances of %s match the selectors"), n, class_name);
        return NULL;
    }
    return g_ptr_array_steal_index(all, at);
}

WmiEpr *
sim_host_epr_of(SimHost *host, const WmiObject *inst)
{
    const WmiClassDef *k = wmi_class_lookup(inst->class_name);
    WmiEpr *epr = wmi_epr_new(inst->class_name);

    for (guint i = 0; k && i < k->n_props; i++)
        if (k->props[i].key)
            wmi_epr_add_selector(epr, k->props[i].name,
                                 wmi_object_text(inst, k->props[i].name));
    return epr;
}

GPtrArray *
sim_host_query(SimHost *host, const WqlQuery *q, GError **error)
{
    GPtrArray *out;

    if (!q->associators) {
        if (!wmi_class_lookup(q->class_name)) {
            g_set_error(error, SIM_ERROR, SIM_ERROR_QUERY,
                        _("invalid class: %s"), q->class_name);
            return NULL;
        }
        g_autoptr(GHashTable) scope = wql_scope(q);
        out = instances_in(host, q->class_name, scope);
        for (guint i = out->len; i > 0; i--)
            if (!wql_matches(q, out->pdata[i - 1]))
                g_ptr_array_remove_index(out, i - 1);
        return out;
    } else {
        g_autoptr(WmiObject) src = NULL;
        GPtrArray *all =
            g_ptr_array_new_with_free_func((GDestroyNotify) wmi_object_free);

        src = sim_host_get(host, q->source->class_name, q->source, error);
        if (!src) {
            g_ptr_array_unref(all);
            return NULL;
        }
        sim_host_associators(host, q, src, all);
        out = g_ptr_array_new_with_free_func((GDestroyNotify) wmi_object_free);
        for (guint i = 0; i < all->len; i++) {
            WmiObject *o = all->pdata[i];
            if (!q->result_class ||
                sim_class_is(o->class_name, q->result_class)) {
                g_ptr_array_add(out, o);
                all->pdata[i] = NULL;
            }
        }
        g_ptr_array_unref(all);
        return out;
    }
}
