/*
 * hvd-group.c: Hyper-V's VM groups (Msvm_VirtualSystemCollection) through
 * libvirt
 *
 * A group checkpoint is one recovery checkpoint of the whole group
 * (Msvm_CollectionSnapshotService.CreateSnapshot, type 2), converted into
 * a group reference point: each member then has a reference point, and so
 * a libvirt checkpoint, of the one name, whose <domain><metadata> names
 * the group and the group point (hvd-group-xml.h). It is asked for by a
 * checkpoint-create whose <domain> carries the group element. Hyper-V
 * takes the members together or not at all; the daemon records every
 * member's metadata or, failing that, removes every member's point.
 *
 * The groups themselves are managed on Windows (New-VMGroup) or with
 * virthypervd's --group-* commands (hvd_host_group_*).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "hv-group.h"
#include "hvd-checkpoint-xml.h"
#include "hvd-driver-private.h"
#include "hvd-group-xml.h"

/* The group a name or CollectionID names among the host's groups, or
 * among those of the domain vm names */
static Msvm_VirtualSystemCollection *
pick(GPtrArray *groups, const char *name, const char *id, const char *vm,
     GError **error)
{
    Msvm_VirtualSystemCollection *found = NULL;
    guint n = 0;

    for (guint i = 0; groups && i < groups->len; i++) {
        Msvm_VirtualSystemCollection *g = groups->pdata[i];
        if ((id && g->CollectionID &&
             g_ascii_strcasecmp(g->CollectionID, id) == 0) ||
            (!id && g_strcmp0(g->ElementName, name) == 0)) {
            found = g;
            n++;
        }
    }
    if (n == 1)
        return found;
    if (n > 1 && vm)
        hvd_error_set(error, HVD_ERROR_HYPERV, VIR_ERR_INVALID_ARG,
                      _("%u groups of domain '%s' are called '%s': name one "
                        "by its id"),
                      n, vm, name);
    else if (n > 1)
        hvd_error_set(error, HVD_ERROR_HYPERV, VIR_ERR_INVALID_ARG,
                      _("%u groups on the host are called '%s': name one by "
                        "its id"),
                      n, name);
    else if (vm)
        hvd_error_set(error, HVD_ERROR_HYPERV, VIR_ERR_INVALID_ARG,
                      _("domain '%s' is in no group '%s'"), vm, id ? id : name);
    else
        hvd_error_set(error, HVD_ERROR_HYPERV, VIR_ERR_INVALID_ARG,
                      _("there is no group '%s' on the host"), id ? id : name);
    return NULL;
}

/* Management, for virthypervd's --group-* commands */

static Msvm_VirtualSystemCollection *
host_group(WsmanClient *c, GPtrArray **groups, const char *name, GError **error)
{
    g_autoptr(GError) local = NULL;

    *groups = hv_group_list(c, &local);
    if (!*groups) {
        hvd_driver_map_error(error, g_steal_pointer(&local));
        return NULL;
    }
    /* a name that is a GUID may be the group's id */
    if (g_uuid_string_is_valid(name)) {
        g_autoptr(GError) by_id = NULL;
        Msvm_VirtualSystemCollection *g =
            pick(*groups, NULL, name, NULL, &by_id);
        if (g)
            return g;
    }
    return pick(*groups, name, NULL, NULL, error);
}

GPtrArray *
hvd_host_groups(HvdDriver *d, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(GPtrArray) groups = NULL;
    GPtrArray *lines = g_ptr_array_new_with_free_func(g_free);
    WsmanClient *c = hvd_driver_client_get(d, error);

    if (!c) {
        g_ptr_array_unref(lines);
        return NULL;
    }
    groups = hv_group_list(c, &local);
    for (guint i = 0; groups && i < groups->len; i++) {
        Msvm_VirtualSystemCollection *g = groups->pdata[i];
        g_autoptr(GPtrArray) members =
            hv_group_members(c, g->CollectionID, &local);
        g_autoptr(GString) names = g_string_new(NULL);
        for (guint k = 0; members && k < members->len; k++)
            g_string_append_printf(
                names, "%s%s", k ? "," : "",
                ((Msvm_ComputerSystem *) members->pdata[k])->ElementName);
        if (!members)
            break;
        g_ptr_array_add(lines, g_strdup_printf("%s\t%s\t%s", g->ElementName,
                                               g->CollectionID, names->str));
    }
    hvd_driver_client_put(d, c);
    if (local) {
        hvd_driver_map_error(error, g_steal_pointer(&local));
        g_ptr_array_unref(lines);
        return NULL;
    }
    return lines;
}

gboolean
hvd_host_group_change(HvdDriver *d, HvdGroupChange change, const char *name,
                      const char *arg, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(GPtrArray) groups = NULL;
    g_autofree char *id = NULL;
    HvJobWait wait = hvd_driver_job_wait(d);
    Msvm_VirtualSystemCollection *g = NULL;
    g_autoptr(VmEntry) vm = NULL;
    WsmanClient *c;
    gboolean ok = FALSE;

    if (change == HVD_GROUP_ADD || change == HVD_GROUP_REMOVE) {
        g_autoptr(HvdDomain) dom = hvd_domain_lookup_by_name(d, arg, error);
        if (!dom || !(vm = hvd_driver_find_vm(d, dom->uuid, error)))
            return FALSE;
    }
    c = hvd_driver_client_get(d, error);
    if (!c)
        return FALSE;
    if (change == HVD_GROUP_DEFINE) {
        id = hv_group_define(c, name, &wait, &local);
        ok = id != NULL;
        if (ok)
            g_print("%s\n", id);
    } else if ((g = host_group(c, &groups, name, error))) {
        switch (change) {
        case HVD_GROUP_DESTROY:
            ok = hv_group_destroy(c, g->CollectionID, &wait, &local);
            break;
        case HVD_GROUP_RENAME:
            ok = hv_group_rename(c, g->CollectionID, arg, &wait, &local);
            break;
        case HVD_GROUP_ADD:
        case HVD_GROUP_REMOVE:
            ok = hv_group_member(c, g->CollectionID, vm->guid,
                                 change == HVD_GROUP_ADD, &wait, &local);
            break;
        case HVD_GROUP_DEFINE:
            break;
        }
    }
    hvd_driver_client_put(d, c);
    if (local)
        hvd_driver_map_error(error, g_steal_pointer(&local));
    return ok;
}

/* An operation on a whole group: every member's domain job, and, for a
 * group checkpoint, every member's checkpoint prepared */

typedef struct {
    VmEntry *vm;
    HvdCheckpointDef *def; /* the member's checkpoint, or NULL */
    GPtrArray *slots;
    gboolean job;   /* its domain job begun */
    char *point_id; /* its reference point, once recorded */
} Member;

struct _HvdGroupOp {
    HvdDriver *d;
    char *group_id;
    char *group_name;
    GPtrArray *members; /* Member */
};

static void
member_free(gpointer p)
{
    Member *m = p;
    hvd_vm_entry_free(m->vm);
    hvd_checkpoint_def_free(m->def);
    if (m->slots)
        g_ptr_array_unref(m->slots);
    g_free(m->point_id);
    g_free(m);
}

/* A copy of def for a member: its name and description, the domain the
 * member has */
static HvdCheckpointDef *
member_def(const HvdCheckpointDef *def, gboolean asker)
{
    HvdCheckpointDef *m = hvd_checkpoint_def_new();

    m->name = g_strdup(def->name);
    m->description = g_strdup(def->description);
    for (guint i = 0; asker && i < def->disks->len; i++) {
        HvdCheckpointDiskDef *d = def->disks->pdata[i];
        HvdCheckpointDiskDef *c =
            hvd_checkpoint_def_add_disk(m, d->name, d->bitmap);
        c->skipped = d->skipped;
    }
    return m;
}

void
hvd_group_op_end(HvdGroupOp *op, GError **error)
{
    if (!op)
        return;
    for (guint i = 0; op->members && i < op->members->len; i++) {
        Member *m = op->members->pdata[i];
        if (m->job)
            hvd_domain_job_end(op->d, m->vm, error);
    }
    g_ptr_array_unref(op->members);
    g_free(op->group_id);
    g_free(op->group_name);
    g_free(op);
}

HvdGroupOp *
hvd_group_op_begin(HvdDriver *d, WsmanClient *c, const VmEntry *asker,
                   const HvdGroupRef *want, const HvdCheckpointDef *def,
                   int operation, const char *verb, const char *what,
                   GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(GPtrArray) groups = hv_vm_groups(c, asker->guid, &local);
    g_autoptr(GPtrArray) found = NULL;
    Msvm_VirtualSystemCollection *g;
    HvdGroupOp *op;

    if (!groups) {
        hvd_driver_map_error(error, g_steal_pointer(&local));
        return NULL;
    }
    if (!(g = pick(groups, want->name, want->id, asker->name, error)))
        return NULL;
    found = hv_group_members(c, g->CollectionID, &local);
    if (!found) {
        hvd_driver_map_error(error, g_steal_pointer(&local));
        return NULL;
    }
    op = g_new0(HvdGroupOp, 1);
    op->d = d;
    op->group_id = g_strdup(g->CollectionID);
    op->group_name = g_strdup(g->ElementName);
    op->members = g_ptr_array_new_with_free_func(member_free);
    for (guint i = 0; i < found->len; i++) {
        Msvm_ComputerSystem *cs = found->pdata[i];
        Member *m = g_new0(Member, 1);
        guchar uuid[16];

        g_ptr_array_add(op->members, m);
        if (!cs->Name || !hvd_uuid_parse(cs->Name, uuid) ||
            !(m->vm = hvd_driver_find_vm(d, uuid, error)))
            break;
        if (!hvd_domain_job_begin(d, m->vm, operation, verb, what, error))
            break;
        m->job = TRUE;
        if (!def)
            continue;
        m->def = member_def(def, g_str_equal(m->vm->guid, asker->guid));
        if (!(m->slots =
                  hvd_driver_prepare_checkpoint(d, c, m->vm, m->def, error))) {
            g_prefix_error(error, _("member '%s': "), m->vm->name);
            break;
        }
    }
    if (error && *error) {
        hvd_group_op_end(op, error);
        return NULL;
    }
    return op;
}

GPtrArray *
hvd_group_op_members(const HvdGroupOp *op)
{
    GPtrArray *out = g_ptr_array_new();
    for (guint i = 0; i < op->members->len; i++)
        g_ptr_array_add(out, ((Member *) op->members->pdata[i])->vm);
    return out;
}

const char *
hvd_group_op_id(const HvdGroupOp *op)
{
    return op->group_id;
}

const char *
hvd_group_op_name(const HvdGroupOp *op)
{
    return op->group_name;
}

void
hvd_group_op_set_abort(HvdGroupOp *op, GCancellable *abort)
{
    for (guint i = 0; i < op->members->len; i++)
        hvd_domain_job_set_abort(op->d, ((Member *) op->members->pdata[i])->vm,
                                 abort);
}

void
hvd_group_op_progress(guint percent, gpointer data)
{
    HvdGroupOp *op = data;

    for (guint i = 0; i < op->members->len; i++) {
        HvdJobProgress p = { .driver = op->d };
        memcpy(p.uuid, ((Member *) op->members->pdata[i])->vm->uuid, 16);
        hvd_domain_job_progress(percent, &p);
    }
}

char *
hvd_group_op_snapshot(HvdGroupOp *op, WsmanClient *c, HvJobWait *wait,
                      GError **error)
{
    g_autoptr(GError) local = NULL;
    char *snapshot = hv_group_snapshot_create(
        c, op->group_id, MSVM_COLLECTION_SNAPSHOT_TYPE_RECOVERY, wait, &local);

    if (!snapshot) {
        hvd_driver_map_error(error, g_steal_pointer(&local));
        g_prefix_error(error, _("the group checkpoint of '%s' failed: "),
                       op->group_name);
    }
    return snapshot;
}

void
hvd_group_op_drop(HvdGroupOp *op, WsmanClient *c, const char *snapshot,
                  HvJobWait *wait)
{
    g_autoptr(GError) local = NULL;

    if (!hv_group_snapshot_destroy(c, snapshot, wait, &local))
        g_warning("%s: cannot remove the group recovery checkpoint %s of "
                  "'%s': %s",
                  hvd_driver_name(op->d), snapshot, op->group_name,
                  local->message);
}

/* What a failed group checkpoint made goes again: every member's point */
static void
undo(HvdGroupOp *op, WsmanClient *c, GPtrArray *points, HvJobWait *wait)
{
    for (guint i = 0; points && i < points->len; i++) {
        Msvm_VirtualSystemReferencePoint *p = points->pdata[i];
        g_autoptr(GError) local = NULL;
        if (!hv_refpoint_destroy(c, p->InstanceID, p->VirtualSystemIdentifier,
                                 wait, &local))
            g_warning("%s: cannot remove reference point %s a failed group "
                      "checkpoint left: %s",
                      hvd_driver_name(op->d), p->InstanceID, local->message);
    }
    for (guint i = 0; i < op->members->len; i++) {
        Member *m = op->members->pdata[i];
        if (m->point_id)
            hvd_checkpoint_forget(op->d, m->vm, m->point_id);
    }
}

gboolean
hvd_group_op_checkpoint(HvdGroupOp *op, WsmanClient *c, const char *snapshot,
                        HvJobWait *wait, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(GPtrArray) points = NULL;
    g_autofree char *point =
        hv_group_snapshot_convert(c, snapshot, wait, &local);
    gboolean ok = TRUE;

    if (!point)
        hvd_group_op_drop(op, c, snapshot, wait);
    else
        points = hv_group_refpoint_items(c, point, op->group_id, &local);
    if (!points) {
        hvd_driver_map_error(error, g_steal_pointer(&local));
        g_prefix_error(error, _("the group checkpoint of '%s' failed: "),
                       op->group_name);
        return FALSE;
    }
    for (guint i = 0; ok && i < op->members->len; i++) {
        Member *m = op->members->pdata[i];
        HvdGroupRef ref = { op->group_name, op->group_id, point };
        Msvm_VirtualSystemReferencePoint *mine = NULL;
        char *domain;

        for (guint k = 0; k < points->len; k++) {
            Msvm_VirtualSystemReferencePoint *p = points->pdata[k];
            if (p->VirtualSystemIdentifier &&
                g_ascii_strcasecmp(p->VirtualSystemIdentifier, m->vm->guid) ==
                    0)
                mine = p;
        }
        if (!mine) {
            hvd_error_set(error, HVD_ERROR_HYPERV, VIR_ERR_OPERATION_FAILED,
                          _("the group checkpoint of '%s' has no reference "
                            "point of member '%s'"),
                          op->group_name, m->vm->name);
            ok = FALSE;
            break;
        }
        domain = hvd_group_ref_set(m->def->domain_xml, &ref);
        g_free(m->def->domain_xml);
        m->def->domain_xml = domain;
        ok = hvd_checkpoint_record(op->d, c, m->vm, m->def, m->slots, mine,
                                   wait, error);
        if (ok)
            m->point_id = g_strdup(mine->InstanceID);
    }
    if (!ok)
        undo(op, c, points, wait);
    return ok;
}

char *
hvd_group_checkpoint_create(HvdDriver *d, const VmEntry *vm,
                            HvdCheckpointDef *def, const HvdGroupRef *want,
                            GError **error)
{
    g_autofree char *snapshot = NULL;
    HvJobWait wait = hvd_driver_job_wait(d);
    WsmanClient *c = hvd_driver_client_get(d, error);
    HvdGroupOp *op = NULL;
    gboolean ok;

    if (!c)
        return NULL;
    if (!def->name)
        def->name = g_strdup_printf("%" G_GINT64_FORMAT,
                                    g_get_real_time() / G_USEC_PER_SEC);
    op = hvd_group_op_begin(d, c, vm, want, def,
                            VIR_DOMAIN_JOB_OPERATION_UNKNOWN,
                            _("creating checkpoint"), def->name, error);
    ok = op && (snapshot = hvd_group_op_snapshot(op, c, &wait, error)) &&
         hvd_group_op_checkpoint(op, c, snapshot, &wait, error);
    hvd_driver_client_put(d, c);
    hvd_group_op_end(op, ok ? NULL : error);
    return ok ? g_strdup(def->name) : NULL;
}
