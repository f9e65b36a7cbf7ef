/*
 * sim-host.c: the host model: its VMs, checkpoints, reference points,
 * groups and jobs, and how they are found
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
    g_clear_pointer(&s->notes, g_ptr_array_unref);
    g_clear_pointer(&s->created, g_date_time_unref);
    g_free(s->parent_id);
    g_free(s->type);
    g_clear_pointer(&s->disks, g_ptr_array_unref);
    g_free(s->state_file);
    g_free(s);
}

void
sim_refpoint_free(SimRefPoint *r)
{
    g_free(r->id);
    g_clear_pointer(&r->created, g_date_time_unref);
    g_clear_pointer(&r->slots, g_ptr_array_unref);
    g_clear_pointer(&r->rct_ids, g_ptr_array_unref);
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
    g_clear_pointer(&p->items, g_ptr_array_unref);
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
    g_clear_pointer(&g->members, g_ptr_array_unref);
    g_clear_pointer(&g->snapshots, g_ptr_array_unref);
    g_clear_pointer(&g->refpoints, g_ptr_array_unref);
    g_clear_pointer(&g->last_apply_time, g_date_time_unref);
    g_clear_pointer(&g->last_apply_vms, g_ptr_array_unref);
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

void
sim_vm_free(SimVm *vm)
{
    g_free(vm->id);
    g_free(vm->name);
    g_clear_pointer(&vm->notes, g_ptr_array_unref);
    g_clear_pointer(&vm->created, g_date_time_unref);
    g_clear_pointer(&vm->state_changed, g_date_time_unref);
    g_clear_pointer(&vm->disks, g_ptr_array_unref);
    g_clear_pointer(&vm->macs, g_ptr_array_unref);
    g_free(vm->current_id);
    g_clear_pointer(&vm->snapshots, g_ptr_array_unref);
    g_free(vm->dir);
    g_free(vm->last_applied_id);
    g_clear_pointer(&vm->refpoints, g_ptr_array_unref);
    g_clear_pointer(&vm->changes, g_ptr_array_unref);
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
    g_free(f->vm);
    g_free(f);
}

SimHost *
sim_host_new(const char *name, const char *state_dir)
{
    SimHost *host = g_new0(SimHost, 1);
    g_mutex_init(&host->lock);
    host->name = g_strdup(name);
    host->state_dir = g_canonicalize_filename(state_dir, NULL);
    host->vms = g_ptr_array_new_with_free_func((GDestroyNotify) sim_vm_free);
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

const char *
sim_strip_microsoft(const char *instance_id)
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
    const char *id = sim_strip_microsoft(instance_id);

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
    const char *id = instance_id ? sim_strip_microsoft(instance_id) : "";

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
        sim_vm_free(vm);
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
            sim_vm_free(vm);
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
