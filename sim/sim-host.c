/*
 * sim-host.c: the host model, its Msvm instances and associations, and
 * its persistence
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "sim-host.h"
#include "vhdx.h"

#define PROCESSOR_GUID "B637F346-6A0E-4DEC-AF52-BD70CB80A21D"
#define MEMORY_GUID    "4764334D-E001-4176-82EE-5594EC9B530E"
#define VHD_SUBTYPE    "Microsoft:Hyper-V:Virtual Hard Disk"

char *
sim_guid_new(void)
{
    g_autofree char *g = g_uuid_string_random();
    return g_ascii_strup(g, -1);
}

char *
sim_path_to_windows(const char *posix)
{
    char *w = g_strconcat("C:", posix, NULL);
    g_strdelimit(w, "/", '\\');
    return w;
}

char *
sim_path_from_windows(const char *windows)
{
    char *p;
    if (!windows || !g_ascii_isalpha(windows[0]) || windows[1] != ':')
        return NULL;
    p = g_strdup(windows + 2);
    g_strdelimit(p, "\\", '/');
    return p;
}

void
sim_disk_ref_free(SimDiskRef *d)
{
    g_free(d->slot_id);
    g_free(d->path);
    g_free(d);
}

SimDiskRef *
sim_disk_ref_new(const char *slot_id, const char *path)
{
    SimDiskRef *d = g_new0(SimDiskRef, 1);
    d->slot_id = g_strdup(slot_id);
    d->path = g_strdup(path);
    return d;
}

void
sim_snapshot_free(SimSnapshot *s)
{
    g_free(s->id);
    g_free(s->name);
    g_ptr_array_unref(s->notes);
    g_clear_pointer(&s->created, g_date_time_unref);
    g_free(s->parent_id);
    g_free(s->type);
    g_ptr_array_unref(s->disks);
    g_free(s->state_file);
    g_free(s);
}

void
sim_refpoint_free(SimRefPoint *r)
{
    g_free(r->id);
    g_clear_pointer(&r->created, g_date_time_unref);
    g_ptr_array_unref(r->slots);
    g_ptr_array_unref(r->rct_ids);
    g_free(r);
}

void
sim_change_free(SimChange *c)
{
    g_free(c->slot_id);
    g_free(c);
}

void
sim_group_point_free(SimGroupPoint *p)
{
    g_free(p->id);
    g_free(p->name);
    g_clear_pointer(&p->created, g_date_time_unref);
    g_ptr_array_unref(p->items);
    g_free(p);
}

SimGroup *
sim_group_new(const char *id, const char *name)
{
    SimGroup *g = g_new0(SimGroup, 1);
    g->id = g_strdup(id);
    g->name = g_strdup(name);
    g->members = g_ptr_array_new_with_free_func(g_free);
    g->snapshots =
        g_ptr_array_new_with_free_func((GDestroyNotify) sim_group_point_free);
    g->refpoints =
        g_ptr_array_new_with_free_func((GDestroyNotify) sim_group_point_free);
    g->last_apply_vms = g_ptr_array_new_with_free_func(g_free);
    return g;
}

void
sim_group_free(SimGroup *g)
{
    g_free(g->id);
    g_free(g->name);
    g_ptr_array_unref(g->members);
    g_ptr_array_unref(g->snapshots);
    g_ptr_array_unref(g->refpoints);
    g_clear_pointer(&g->last_apply_time, g_date_time_unref);
    g_ptr_array_unref(g->last_apply_vms);
    g_free(g);
}

void
sim_vm_track_write(SimVm *vm, const char *slot_id, guint64 offset,
                   guint64 length)
{
    SimChange *c;

    c = g_new0(SimChange, 1);
    c->slot_id = g_strdup(slot_id);
    c->offset = offset;
    c->length = length;
    c->seq = ++vm->change_seq;
    g_ptr_array_add(vm->changes, c);
}

static void
vm_free(SimVm *vm)
{
    g_free(vm->id);
    g_free(vm->name);
    g_ptr_array_unref(vm->notes);
    g_clear_pointer(&vm->created, g_date_time_unref);
    g_clear_pointer(&vm->state_changed, g_date_time_unref);
    g_ptr_array_unref(vm->disks);
    g_ptr_array_unref(vm->macs);
    g_free(vm->current_id);
    g_ptr_array_unref(vm->snapshots);
    g_free(vm->dir);
    g_free(vm->last_applied_id);
    g_ptr_array_unref(vm->refpoints);
    g_ptr_array_unref(vm->changes);
    g_free(vm);
}

static void
job_free(SimJob *j)
{
    g_free(j->id);
    g_free(j->class_name);
    g_free(j->error_description);
    g_ptr_array_unref(j->error_messages);
    g_clear_pointer(&j->submitted, g_date_time_unref);
    g_clear_pointer(&j->started, g_date_time_unref);
    g_clear_pointer(&j->finished, g_date_time_unref);
    g_free(j->affected_class);
    g_free(j->affected_key);
    g_free(j->child_path);
    g_free(j->parent_path);
    g_free(j);
}

static void
job_fault_free(SimJobFault *f)
{
    g_free(f->text);
    g_free(f);
}

SimHost *
sim_host_new(const char *name, const char *state_dir)
{
    SimHost *host = g_new0(SimHost, 1);
    g_mutex_init(&host->lock);
    host->name = g_strdup(name);
    host->state_dir = g_canonicalize_filename(state_dir, NULL);
    host->vms = g_ptr_array_new_with_free_func((GDestroyNotify) vm_free);
    host->jobs = g_ptr_array_new_with_free_func((GDestroyNotify) job_free);
    host->job_faults =
        g_ptr_array_new_with_free_func((GDestroyNotify) job_fault_free);
    host->groups =
        g_ptr_array_new_with_free_func((GDestroyNotify) sim_group_free);
    host->job_step_ms = 20;
    return host;
}

void
sim_host_free(SimHost *host)
{
    if (!host)
        return;
    if (host->workers)
        g_thread_pool_free(host->workers, FALSE, TRUE);
    g_ptr_array_unref(host->vms);
    g_ptr_array_unref(host->jobs);
    g_ptr_array_unref(host->job_faults);
    g_ptr_array_unref(host->groups);
    g_free(host->name);
    g_free(host->state_dir);
    g_mutex_clear(&host->lock);
    g_free(host);
}

SimVm *
sim_host_find_vm(SimHost *host, const char *id_or_name)
{
    for (guint i = 0; i < host->vms->len; i++) {
        SimVm *vm = host->vms->pdata[i];
        if (g_ascii_strcasecmp(vm->id, id_or_name) == 0)
            return vm;
    }
    for (guint i = 0; i < host->vms->len; i++) {
        SimVm *vm = host->vms->pdata[i];
        if (g_str_equal(vm->name, id_or_name))
            return vm;
    }
    return NULL;
}

static const char *
strip_microsoft(const char *instance_id)
{
    return g_str_has_prefix(instance_id, "Microsoft:")
               ? instance_id + strlen("Microsoft:")
               : instance_id;
}

SimSnapshot *
sim_vm_find_snapshot(SimVm *vm, const char *id)
{
    for (guint i = 0; id && i < vm->snapshots->len; i++) {
        SimSnapshot *s = vm->snapshots->pdata[i];
        if (g_ascii_strcasecmp(s->id, id) == 0)
            return s;
    }
    return NULL;
}

SimSnapshot *
sim_host_find_snapshot(SimHost *host, const char *instance_id, SimVm **vm_out)
{
    const char *id = strip_microsoft(instance_id);

    for (guint i = 0; i < host->vms->len; i++) {
        SimSnapshot *s = sim_vm_find_snapshot(host->vms->pdata[i], id);
        if (s) {
            if (vm_out)
                *vm_out = host->vms->pdata[i];
            return s;
        }
    }
    return NULL;
}

SimJob *
sim_host_find_job(SimHost *host, const char *id)
{
    for (guint i = 0; i < host->jobs->len; i++) {
        SimJob *j = host->jobs->pdata[i];
        if (g_ascii_strcasecmp(j->id, id) == 0)
            return j;
    }
    return NULL;
}

SimRefPoint *
sim_host_find_refpoint(SimHost *host, const char *instance_id, SimVm **vm_out)
{
    const char *id = instance_id ? strip_microsoft(instance_id) : "";

    for (guint i = 0; i < host->vms->len; i++) {
        SimVm *vm = host->vms->pdata[i];
        for (guint k = 0; k < vm->refpoints->len; k++) {
            SimRefPoint *r = vm->refpoints->pdata[k];
            if (g_ascii_strcasecmp(r->id, id) == 0) {
                if (vm_out)
                    *vm_out = vm;
                return r;
            }
        }
    }
    return NULL;
}

SimGroup *
sim_host_find_group(SimHost *host, const char *id_or_name)
{
    for (guint i = 0; id_or_name && i < host->groups->len; i++) {
        SimGroup *g = host->groups->pdata[i];
        if (g_ascii_strcasecmp(g->id, id_or_name) == 0)
            return g;
    }
    for (guint i = 0; id_or_name && i < host->groups->len; i++) {
        SimGroup *g = host->groups->pdata[i];
        if (g_str_equal(g->name, id_or_name))
            return g;
    }
    return NULL;
}

SimGroupPoint *
sim_group_find_point(GPtrArray *points, const char *id)
{
    for (guint i = 0; id && i < points->len; i++) {
        SimGroupPoint *p = points->pdata[i];
        if (g_ascii_strcasecmp(p->id, id) == 0)
            return p;
    }
    return NULL;
}

SimGroupPoint *
sim_host_find_group_point(SimHost *host, const char *id, gboolean refpoints,
                          SimGroup **group_out)
{
    for (guint i = 0; i < host->groups->len; i++) {
        SimGroup *g = host->groups->pdata[i];
        SimGroupPoint *p =
            sim_group_find_point(refpoints ? g->refpoints : g->snapshots, id);
        if (p) {
            if (group_out)
                *group_out = g;
            return p;
        }
    }
    return NULL;
}

static char *
random_mac(void)
{
    return g_strdup_printf("00155D%02X%02X%02X", g_random_int_range(0, 256),
                           g_random_int_range(0, 256),
                           g_random_int_range(0, 256));
}

SimVm *
sim_host_add_vm(SimHost *host, const char *name, guint n_disks, guint64 disk_mb,
                GError **error)
{
    SimVm *vm;
    GError *local = NULL;

    if (sim_host_find_vm(host, name)) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_INVALID,
                    _("a virtual machine named '%s' exists already"), name);
        return NULL;
    }
    vm = g_new0(SimVm, 1);
    vm->id = sim_guid_new();
    vm->name = g_strdup(name);
    vm->notes = g_ptr_array_new_with_free_func(g_free);
    vm->created = g_date_time_new_now_utc();
    vm->state = MSVM_ENABLED_STATE_DISABLED;
    vm->state_changed = g_date_time_ref(vm->created);
    vm->memory_mb = 1024;
    vm->cpus = 2;
    vm->user_snapshot_type = MSVM_USER_SNAPSHOT_TYPE_PRODUCTION;
    vm->startup_action = MSVM_AUTOMATIC_STARTUP_ACTION_RESTART;
    vm->guest_vss = TRUE;
    vm->disks =
        g_ptr_array_new_with_free_func((GDestroyNotify) sim_disk_ref_free);
    vm->macs = g_ptr_array_new_with_free_func(g_free);
    vm->snapshots =
        g_ptr_array_new_with_free_func((GDestroyNotify) sim_snapshot_free);
    vm->refpoints =
        g_ptr_array_new_with_free_func((GDestroyNotify) sim_refpoint_free);
    vm->changes =
        g_ptr_array_new_with_free_func((GDestroyNotify) sim_change_free);
    vm->dir =
        g_build_filename(host->state_dir, "Virtual Hard Disks", name, NULL);
    g_ptr_array_add(vm->macs, random_mac());
    if (g_mkdir_with_parents(vm->dir, 0755) < 0) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                    _("cannot create %s: %s"), vm->dir, g_strerror(errno));
        vm_free(vm);
        return NULL;
    }
    for (guint i = 0; i < n_disks; i++) {
        g_autofree char *file = i == 0 ? g_strdup_printf("%s.vhdx", name)
                                       : g_strdup_printf("%s_%u.vhdx", name, i);
        g_autofree char *path = g_build_filename(vm->dir, file, NULL);
        g_autofree char *slot = sim_guid_new();
        VhdxCreateOptions opts = { .virtual_size = disk_mb << 20 };

        if (!vhdx_create(path, &opts, &local)) {
            g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED, "%s",
                        local->message);
            g_error_free(local);
            vm_free(vm);
            return NULL;
        }
        g_ptr_array_add(vm->disks, sim_disk_ref_new(slot, path));
    }
    g_ptr_array_add(host->vms, vm);
    return vm;
}

gboolean
sim_host_remove_vm(SimHost *host, const char *id_or_name, GError **error)
{
    SimVm *vm = sim_host_find_vm(host, id_or_name);

    if (!vm) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_NOT_FOUND,
                    _("no virtual machine '%s'"), id_or_name);
        return FALSE;
    }
    /* it leaves its groups; their points keep what other members had */
    for (guint i = 0; i < host->groups->len; i++) {
        SimGroup *g = host->groups->pdata[i];
        for (guint k = g->members->len; k > 0; k--)
            if (g_ascii_strcasecmp(g->members->pdata[k - 1], vm->id) == 0)
                g_ptr_array_remove_index(g->members, k - 1);
    }
    g_ptr_array_remove(host->vms, vm);
    return TRUE;
}

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
    v->text = g_date_time_format_iso8601(dt);
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

static WmiObject *
render_vm(SimVm *vm)
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
    set(o, "Caption", "Virtual Machine Settings");
    set(o, "ConfigurationDataRoot", vm->dir);
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

static WmiObject *
render_active_vssd(SimHost *host, SimVm *vm)
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

static WmiObject *
render_snapshot_vssd(SimHost *host, SimVm *vm, SimSnapshot *s)
{
    WmiObject *o = wmi_object_new("Msvm_VirtualSystemSettingData");
    render_vssd_common(host, o, s->id, s->name, s->notes, s->created,
                       s->parent_id, s->type, vm);
    set(o, "Description", "Snapshot settings for the virtual machine");
    set(o, "IsSaved", s->is_saved ? "true" : "false");
    return o;
}

static void
render_rasds(SimHost *host, const char *class_name, const char *owner,
             guint64 memory_mb, guint cpus, GPtrArray *disks, GPtrArray *macs,
             GPtrArray *out)
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

static WmiObject *
render_refpoint(SimVm *vm, SimRefPoint *r)
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

static WmiObject *
render_group(SimGroup *g)
{
    WmiObject *o = wmi_object_new("Msvm_VirtualSystemCollection");
    set(o, "Caption", "Virtual machine group");
    set(o, "CollectionID", g->id);
    set(o, "ElementName", g->name);
    setf(o, "LastApplyConsistencyLevel", "%u", g->last_apply_consistency);
    set_datetime(o, "LastApplyTime", g->last_apply_time);
    set_strings(o, "LastApplyVirtualMachineIds", g->last_apply_vms);
    return o;
}

static WmiObject *
render_group_snapshot(SimGroupPoint *p)
{
    WmiObject *o = wmi_object_new("Msvm_SnapshotCollection");
    set(o, "Caption", "Virtual machine group checkpoint");
    set(o, "CollectionID", p->id);
    set(o, "ElementName", p->name);
    return o;
}

static WmiObject *
render_group_refpoint(SimGroup *g, SimGroupPoint *p)
{
    WmiObject *o = wmi_object_new("Msvm_ReferencePointCollection");
    set(o, "Caption", "Virtual machine group reference point");
    set(o, "CollectionID", p->id);
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

static WmiObject *
render_named_service(SimHost *host, const char *class_name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(services); i++)
        if (g_str_equal(services[i].class_name, class_name))
            return render_service(host, class_name, services[i].name);
    g_return_val_if_reached(NULL);
}

/* Is an instance of klass (or a subclass) wanted for class_name? */
static gboolean
class_is(const char *instance_class, const char *wanted)
{
    const WmiClassDef *k = wmi_class_lookup(instance_class);
    if (g_ascii_strcasecmp(instance_class, wanted) == 0)
        return TRUE;
    for (; k; k = k->parent)
        if (g_ascii_strcasecmp(k->name, wanted) == 0)
            return TRUE;
    return FALSE;
}

GPtrArray *
sim_host_instances(SimHost *host, const char *class_name)
{
    GPtrArray *out =
        g_ptr_array_new_with_free_func((GDestroyNotify) wmi_object_free);
    GPtrArray *all =
        g_ptr_array_new_with_free_func((GDestroyNotify) wmi_object_free);

    g_ptr_array_add(all, render_host_system(host));
    render_machine(host, all);
    for (guint i = 0; i < G_N_ELEMENTS(services); i++)
        g_ptr_array_add(all, render_service(host, services[i].class_name,
                                            services[i].name));
    for (guint i = 0; i < host->vms->len; i++) {
        SimVm *vm = host->vms->pdata[i];
        /* a worker process (vmwp.exe) runs while the VM is not off */
        if (vm->state == MSVM_ENABLED_STATE_DISABLED)
            vm->pid = 0;
        else if (!vm->pid)
            vm->pid = host->last_pid += 4;
        g_ptr_array_add(all, render_vm(vm));
        g_ptr_array_add(all, render_active_vssd(host, vm));
        render_rasds(host, NULL, vm->id, vm->memory_mb, vm->cpus, vm->disks,
                     vm->macs, all);
        for (guint k = 0; k < vm->snapshots->len; k++) {
            SimSnapshot *s = vm->snapshots->pdata[k];
            g_ptr_array_add(all, render_snapshot_vssd(host, vm, s));
            render_rasds(host, NULL, s->id, s->memory_mb, s->cpus, s->disks,
                         NULL, all);
        }
        for (guint k = 0; k < vm->refpoints->len; k++)
            g_ptr_array_add(all, render_refpoint(vm, vm->refpoints->pdata[k]));
    }
    for (guint i = 0; i < host->groups->len; i++) {
        SimGroup *g = host->groups->pdata[i];
        g_ptr_array_add(all, render_group(g));
        for (guint k = 0; k < g->snapshots->len; k++)
            g_ptr_array_add(all, render_group_snapshot(g->snapshots->pdata[k]));
        for (guint k = 0; k < g->refpoints->len; k++)
            g_ptr_array_add(all,
                            render_group_refpoint(g, g->refpoints->pdata[k]));
    }
    for (guint i = 0; i < host->jobs->len; i++)
        g_ptr_array_add(all, render_job(host->jobs->pdata[i]));

    for (guint i = 0; i < all->len; i++) {
        WmiObject *o = all->pdata[i];
        if (class_is(o->class_name, class_name)) {
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
        const char *have = NULL;
        for (guint k = 0; k < o->names->len && !have; k++)
            if (g_ascii_strcasecmp(o->names->pdata[k], names->pdata[i]) == 0)
                have = wmi_object_text(o, o->names->pdata[k]);
        if (!have || g_ascii_strcasecmp(have, values->pdata[i]) != 0)
            return FALSE;
    }
    return TRUE;
}

static WmiObject *
find_one(SimHost *host, const char *class_name, GPtrArray *names,
         GPtrArray *values, GError **error)
{
    g_autoptr(GPtrArray) all = sim_host_instances(host, class_name);
    guint n = 0, at = 0;

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

WmiObject *
sim_host_get(SimHost *host, const char *class_name, const WmiEpr *sel,
             GError **error)
{
    return find_one(host, class_name, sel->selector_names, sel->selector_values,
                    error);
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

/* Associations (reference §4), from the model */

static void
add_vssd_of(SimHost *host, const char *id, GPtrArray *out)
{
    SimVm *owner = NULL;
    SimSnapshot *s = sim_host_find_snapshot(host, id, &owner);
    SimVm *vm = s ? NULL : sim_host_find_vm(host, strip_microsoft(id));

    if (s)
        g_ptr_array_add(out, render_snapshot_vssd(host, owner, s));
    else if (vm)
        g_ptr_array_add(out, render_active_vssd(host, vm));
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
            if (!contains_id(p->items, item))
                continue;
            g_ptr_array_add(out, refpoints ? render_group_refpoint(g, p)
                                           : render_group_snapshot(p));
        }
    }
}

static void
associators(SimHost *host, const WqlQuery *q, WmiObject *src, GPtrArray *out)
{
    const char *assoc = q->assoc_class ? q->assoc_class : "";
    gboolean any = !*assoc;
    const char *cls = src->class_name;

#define ASSOC(name) (any || g_ascii_strcasecmp(assoc, name) == 0)

    if (class_is(cls, "Msvm_ComputerSystem")) {
        SimVm *vm = sim_host_find_vm(host, wmi_object_text(src, "Name"));
        if (!vm)
            return;
        if (ASSOC("Msvm_SettingsDefineState"))
            g_ptr_array_add(out, render_active_vssd(host, vm));
        if (ASSOC("Msvm_SnapshotOfVirtualSystem"))
            for (guint i = 0; i < vm->snapshots->len; i++)
                g_ptr_array_add(out, render_snapshot_vssd(
                                         host, vm, vm->snapshots->pdata[i]));
        if (ASSOC("Msvm_MostCurrentSnapshotInBranch") && vm->current_id)
            add_vssd_of(host, vm->current_id, out);
        if (ASSOC("Msvm_LastAppliedSnapshot") && vm->last_applied_id)
            add_vssd_of(host, vm->last_applied_id, out);
        if (ASSOC("Msvm_ElementSettingData"))
            g_ptr_array_add(out, render_active_vssd(host, vm));
        if (ASSOC("Msvm_ServiceAffectsElement"))
            g_ptr_array_add(
                out, render_named_service(host,
                                          "Msvm_VirtualSystemSnapshotService"));
        if (ASSOC("Msvm_ReferencePointOfVirtualSystem"))
            for (guint i = 0; i < vm->refpoints->len; i++)
                g_ptr_array_add(out,
                                render_refpoint(vm, vm->refpoints->pdata[i]));
        if (ASSOC("Msvm_CollectedVirtualSystems"))
            for (guint i = 0; i < host->groups->len; i++) {
                SimGroup *g = host->groups->pdata[i];
                if (contains_id(g->members, vm->id))
                    g_ptr_array_add(out, render_group(g));
            }
    } else if (class_is(cls, "Msvm_VirtualSystemReferencePoint")) {
        SimVm *vm = NULL;
        SimRefPoint *r = sim_host_find_refpoint(
            host, wmi_object_text(src, "InstanceID"), &vm);
        if (!r)
            return;
        if (ASSOC("Msvm_ReferencePointOfVirtualSystem"))
            g_ptr_array_add(out, render_vm(vm));
        if (ASSOC("Msvm_CollectedReferencePoints"))
            add_group_points_with(host, r->id, TRUE, out);
    } else if (class_is(cls, "Msvm_VirtualSystemCollection")) {
        SimGroup *g =
            sim_host_find_group(host, wmi_object_text(src, "CollectionID"));
        if (!g)
            return;
        if (ASSOC("Msvm_CollectedVirtualSystems"))
            for (guint i = 0; i < g->members->len; i++) {
                SimVm *vm = sim_host_find_vm(host, g->members->pdata[i]);
                if (vm)
                    g_ptr_array_add(out, render_vm(vm));
            }
        if (ASSOC("Msvm_SnapshotOfVirtualSystemCollection"))
            for (guint i = 0; i < g->snapshots->len; i++)
                g_ptr_array_add(out,
                                render_group_snapshot(g->snapshots->pdata[i]));
        if (ASSOC("Msvm_ReferencePointOfVirtualSystemCollection"))
            for (guint i = 0; i < g->refpoints->len; i++)
                g_ptr_array_add(
                    out, render_group_refpoint(g, g->refpoints->pdata[i]));
    } else if (class_is(cls, "Msvm_SnapshotCollection") ||
               class_is(cls, "Msvm_ReferencePointCollection")) {
        gboolean rp = class_is(cls, "Msvm_ReferencePointCollection");
        SimGroup *g = NULL;
        SimGroupPoint *p = sim_host_find_group_point(
            host, wmi_object_text(src, "CollectionID"), rp, &g);
        if (!p)
            return;
        if (ASSOC(rp ? "Msvm_ReferencePointOfVirtualSystemCollection"
                     : "Msvm_SnapshotOfVirtualSystemCollection"))
            g_ptr_array_add(out, render_group(g));
        if (ASSOC(rp ? "Msvm_CollectedReferencePoints"
                     : "Msvm_CollectedSnapshots"))
            for (guint i = 0; i < p->items->len; i++) {
                SimVm *vm = NULL;
                SimRefPoint *r =
                    rp ? sim_host_find_refpoint(host, p->items->pdata[i], &vm)
                       : NULL;
                if (r)
                    g_ptr_array_add(out, render_refpoint(vm, r));
                else if (!rp)
                    add_vssd_of(host, p->items->pdata[i], out);
            }
    } else if (class_is(cls, "Msvm_VirtualSystemSettingData")) {
        const char *id = strip_microsoft(wmi_object_text(src, "InstanceID"));
        SimVm *vm = NULL;
        SimSnapshot *s = sim_host_find_snapshot(host, id, &vm);
        gboolean want_parent =
            !q->result_role ||
            g_ascii_strcasecmp(q->result_role, "Antecedent") == 0;
        gboolean want_children =
            !q->result_role ||
            g_ascii_strcasecmp(q->result_role, "Dependent") == 0;

        if (!s)
            vm = sim_host_find_vm(host, id);
        if (!vm)
            return;
        if (ASSOC("Msvm_VirtualSystemSettingDataComponent")) {
            if (s)
                render_rasds(host, NULL, s->id, s->memory_mb, s->cpus, s->disks,
                             NULL, out);
            else
                render_rasds(host, NULL, vm->id, vm->memory_mb, vm->cpus,
                             vm->disks, vm->macs, out);
        }
        if (ASSOC("Msvm_SnapshotOfVirtualSystem") && s)
            g_ptr_array_add(out, render_vm(vm));
        if (ASSOC("Msvm_LastAppliedSnapshot") && s &&
            g_strcmp0(vm->last_applied_id, s->id) == 0)
            g_ptr_array_add(out, render_vm(vm));
        if (ASSOC("Msvm_CollectedSnapshots") && s)
            add_group_points_with(host, s->id, FALSE, out);
        if (ASSOC("Msvm_ElementSettingData") && !s)
            g_ptr_array_add(out, render_vm(vm));
        if (ASSOC("Msvm_ServiceAffectsElement") && s)
            g_ptr_array_add(
                out, render_named_service(host,
                                          "Msvm_VirtualSystemSnapshotService"));
        if (ASSOC("Msvm_SettingsDefineState") && !s)
            g_ptr_array_add(out, render_vm(vm));
        if (ASSOC("Msvm_ParentChildSettingData")) {
            const char *parent = s ? s->parent_id : vm->current_id;
            if (want_parent && parent)
                add_vssd_of(host, parent, out);
            if (want_children && s) {
                for (guint i = 0; i < vm->snapshots->len; i++) {
                    SimSnapshot *c = vm->snapshots->pdata[i];
                    if (g_strcmp0(c->parent_id, s->id) == 0)
                        g_ptr_array_add(out, render_snapshot_vssd(host, vm, c));
                }
                if (g_strcmp0(vm->current_id, s->id) == 0)
                    g_ptr_array_add(out, render_active_vssd(host, vm));
            }
        }
    } else if (class_is(cls, "Msvm_VirtualSystemSnapshotService")) {
        /* the service affects every VM and every checkpoint */
        if (!ASSOC("Msvm_ServiceAffectsElement"))
            return;
        for (guint i = 0; i < host->vms->len; i++) {
            SimVm *vm = host->vms->pdata[i];
            g_ptr_array_add(out, render_vm(vm));
            for (guint k = 0; k < vm->snapshots->len; k++)
                g_ptr_array_add(out, render_snapshot_vssd(
                                         host, vm, vm->snapshots->pdata[k]));
        }
    } else if (class_is(cls, "Msvm_ConcreteJob")) {
        SimJob *j = sim_host_find_job(host, wmi_object_text(src, "InstanceID"));
        if (!j || !j->affected_key || !ASSOC("Msvm_AffectedJobElement"))
            return;
        if (g_str_equal(j->affected_class, "Msvm_VirtualSystemSettingData")) {
            add_vssd_of(host, j->affected_key, out);
        } else if (g_str_equal(j->affected_class, "Msvm_ComputerSystem")) {
            SimVm *vm = sim_host_find_vm(host, j->affected_key);
            if (vm)
                g_ptr_array_add(out, render_vm(vm));
        } else if (g_str_equal(j->affected_class,
                               "Msvm_VirtualSystemReferencePoint")) {
            SimVm *vm = NULL;
            SimRefPoint *r = sim_host_find_refpoint(host, j->affected_key, &vm);
            if (r)
                g_ptr_array_add(out, render_refpoint(vm, r));
        } else if (g_str_equal(j->affected_class,
                               "Msvm_VirtualSystemCollection")) {
            SimGroup *g = sim_host_find_group(host, j->affected_key);
            if (g)
                g_ptr_array_add(out, render_group(g));
        } else {
            gboolean rp =
                g_str_equal(j->affected_class, "Msvm_ReferencePointCollection");
            SimGroup *g = NULL;
            SimGroupPoint *p =
                sim_host_find_group_point(host, j->affected_key, rp, &g);
            if (p)
                g_ptr_array_add(out, rp ? render_group_refpoint(g, p)
                                        : render_group_snapshot(p));
        }
    }
#undef ASSOC
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
        out = sim_host_instances(host, q->class_name);
        for (guint i = out->len; i > 0; i--)
            if (!wql_matches(q, out->pdata[i - 1]))
                g_ptr_array_remove_index(out, i - 1);
        return out;
    } else {
        g_autoptr(WmiObject) src = NULL;
        GPtrArray *all =
            g_ptr_array_new_with_free_func((GDestroyNotify) wmi_object_free);

        src = find_one(host, q->source_class, q->source_keys, q->source_values,
                       error);
        if (!src) {
            g_ptr_array_unref(all);
            return NULL;
        }
        associators(host, q, src, all);
        out = g_ptr_array_new_with_free_func((GDestroyNotify) wmi_object_free);
        for (guint i = 0; i < all->len; i++) {
            WmiObject *o = all->pdata[i];
            if (!q->result_class || class_is(o->class_name, q->result_class)) {
                g_ptr_array_add(out, o);
                all->pdata[i] = NULL;
            }
        }
        g_ptr_array_unref(all);
        return out;
    }
}
