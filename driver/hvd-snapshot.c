/*
 * hvd-snapshot.c: libvirt's domain snapshots on Hyper-V checkpoints
 *
 * Hyper-V owns the tree. The driver keeps, per VM, what one enumeration
 * of the VM's settings objects said (every list call reads it anew; other
 * calls take it while it is younger than the poll interval) and, per
 * snapshot, the domain as it was, read when first asked for and kept while
 * no snapshot of the VM goes away (a merge changes the chains below it).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "hv-snapshot.h"
#include "hv-group.h"
#include "hvd-driver-private.h"
#include "hvd-moment.h"
#include "hvd-snapshot-xml.h"

#define HVD_SNAPSHOT_NAME_MAX 100 /* ElementName's limit on Hyper-V */
/* Notes travel in one request, which Windows limits to MaxEnvelopeSizekb
 * (500 KiB by default): even escaped in full, this much fits */
#define HVD_SNAPSHOT_DESCRIPTION_MAX (64 * 1024)

typedef struct {
    HvdMoment m;          /* id, name, label, description, parent */
    gboolean saved;       /* memory captured */
    gboolean live;        /* taken of a running VM, without memory */
    HvdDomainDef *domain; /* NULL until read */
    HvdGroupRef group;    /* the group snapshot it is part of, if any */
} Snap;

typedef struct {
    HvdMomentCache cache; /* of Snap */
    char *current_id;
    char *settings_id; /* the VM's own settings */
    /* while a create runs: the InstanceIDs there were before it; any
     * other is the half-made checkpoint, hidden from clients */
    GHashTable *known;
    /* the snapshots' disk files (hv_disk_files_new): a snapshot's files
     * keep their parents while no snapshot of the VM goes away (only the
     * merge of a delete moves them), so they are kept as long as the
     * snapshots' details are; files_gen counts the times they were
     * dropped */
    GHashTable *files;
    guint files_gen;
} SnapshotTree;

static void
snap_free(gpointer p)
{
    Snap *s = p;
    hvd_moment_clear(&s->m);
    if (s->domain)
        hvd_domain_def_free(s->domain);
    hvd_group_ref_clear(&s->group);
    g_free(s);
}

static HvdMomentTree *
moments_new(GPtrArray *snaps)
{
    return hvd_moment_tree_new(
        snaps ? snaps : g_ptr_array_new_with_free_func(snap_free));
}

void
hvd_snapshot_tree_free(gpointer p)
{
    SnapshotTree *t = p;
    hvd_moment_tree_free(t->cache.moments);
    g_free(t->current_id);
    g_free(t->settings_id);
    if (t->known)
        g_hash_table_unref(t->known);
    if (t->files)
        g_hash_table_unref(t->files);
    g_free(t);
}

/* The VM's tree (lock held), made when first asked for */
static gpointer
tree_new(void)
{
    SnapshotTree *t = g_new0(SnapshotTree, 1);
    t->cache.moments = moments_new(NULL);
    return t;
}

static SnapshotTree *
tree_of(HvdDriver *d, const guchar uuid[16])
{
    return hvd_driver_per_vm(d->snapshots, uuid, tree_new);
}

/* InstanceIDs compare without regard to case, as Windows does. */
static gboolean
same_id(const char *a, const char *b)
{
    return a && b && g_ascii_strcasecmp(a, b) == 0;
}

/* Every snapshot, each after its parent */
static GPtrArray *
all_snaps(const SnapshotTree *t)
{
    return hvd_moment_tree_all(t->cache.moments);
}

static Snap *
snap_by_id(const SnapshotTree *t, const char *id)
{
    return (Snap *) hvd_moment_tree_find_id(t->cache.moments, id);
}

static Snap *
parent_of(const Snap *s)
{
    return (Snap *) s->m.parent;
}

static Snap *
snap_new(const Msvm_VirtualSystemSettingData *v)
{
    Snap *s = g_new0(Snap, 1);
    s->m.id = g_strdup(v->InstanceID);
    s->m.name = g_strdup(v->ElementName ? v->ElementName : "");
    if (v->Notes && v->Notes[0])
        s->m.description = g_strjoinv("\n", v->Notes);
    s->m.created = v->CreationTime ? g_date_time_to_unix(v->CreationTime) : 0;
    s->m.created_us = v->CreationTime
                          ? s->m.created * G_USEC_PER_SEC +
                                g_date_time_get_microsecond(v->CreationTime)
                          : 0;
    s->m.parent_id = hv_settings_path_instance_id(v->Parent);
    /* Hyper-V keeps every checkpoint's metadata */
    s->m.has_metadata = TRUE;
    s->saved = v->IsSaved;
    return s;
}

/* STATE/snapshots/HOST/GUID.taken, or NULL without a state folder */
static char *
taken_path(HvdDriver *d, const VmEntry *vm)
{
    g_autofree char *file = g_strconcat(vm->guid, ".taken", NULL);
    return hvd_state_path(d, "snapshots", file);
}

/* Whether a checkpoint without memory was taken of a running VM: Hyper-V
 * records nothing of it in the checkpoint, so the daemon keeps what it
 * knows in STATE/snapshots/HOST/GUID.taken, one key per checkpoint GUID:
 * "running" or "off". It knows it for the checkpoints it made, and for
 * others when the VM has been running since before the checkpoint's
 * CreationTime (its TimeOfLastStateChange says so). */
#define TAKEN_GROUP "taken"
/* and the group snapshot each is part of: key snapshot GUID, value name,
 * group id, group snapshot id, or empty for none. The daemon records it for
 * what it makes, and asks the host once for the others (made on Windows
 * with Checkpoint-VMGroup, say). */
#define GROUPS_GROUP "groups"

static GKeyFile *
taken_load(HvdDriver *d, const VmEntry *vm)
{
    g_autofree char *path = taken_path(d, vm);
    GKeyFile *kf = g_key_file_new();

    if (path)
        g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, NULL);
    return kf;
}

static void
taken_save(HvdDriver *d, const VmEntry *vm, GKeyFile *kf)
{
    g_autofree char *path = taken_path(d, vm);
    g_autoptr(GError) local = NULL;
    gsize len;
    g_autofree char *data = g_key_file_to_data(kf, &len, NULL);

    if (path && !hvd_state_write(path, data, len, &local))
        g_warning("%s: cannot record the state domain '%s' was in when its "
                  "checkpoints were taken: %s",
                  hvd_driver_name(d), vm->name, local->message);
}

/* Whether some group point recorded for the VM's snapshots is id */
static gboolean
group_point_recorded(GKeyFile *kf, const char *id)
{
    g_auto(GStrv) keys = g_key_file_get_keys(kf, GROUPS_GROUP, NULL, NULL);

    for (guint i = 0; keys && keys[i]; i++) {
        g_auto(GStrv) v =
            g_key_file_get_string_list(kf, GROUPS_GROUP, keys[i], NULL, NULL);
        if (v && g_strv_length(v) == 3 && g_ascii_strcasecmp(v[2], id) == 0)
            return TRUE;
    }
    return FALSE;
}

/* The VM's settings objects, and with groups_too its groups, read side
 * by side */
typedef struct {
    const VmEntry *vm;
    gboolean groups_too;
    GPtrArray *all;
    GError *all_error;
    GPtrArray *groups;
    GError *groups_error;
} TreeRead;

static void
tree_read_job(WsmanClient *c, guint i, gpointer data)
{
    TreeRead *r = data;

    if (i == 0)
        r->all = hv_vm_all_settings(c, r->vm->guid, &r->all_error);
    else
        r->groups = hv_vm_groups(c, r->vm->guid, &r->groups_error);
}

static void
tree_read_clear(TreeRead *r)
{
    g_clear_pointer(&r->all, g_ptr_array_unref);
    g_clear_pointer(&r->groups, g_ptr_array_unref);
    g_clear_error(&r->all_error);
    g_clear_error(&r->groups_error);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(TreeRead, tree_read_clear)

/* Records for each snapshot not known yet the group snapshot it is part
 * of: the VM's groups (read already when r has them), their group
 * checkpoints not recorded yet and their members' parts. Without an
 * answer, it is asked again next time. */
static gboolean
groups_learn(WsmanClient *c, const VmEntry *vm, GPtrArray *snaps, GKeyFile *kf,
             TreeRead *r)
{
    g_autoptr(GHashTable) unknown = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GPtrArray) groups = NULL;
    g_autoptr(GError) local = NULL;
    GHashTableIter iter;
    gpointer left;

    for (guint i = 0; i < snaps->len; i++) {
        const char *guid = hv_instance_guid(((Snap *) snaps->pdata[i])->m.id);
        if (!g_key_file_has_key(kf, GROUPS_GROUP, guid, NULL))
            g_hash_table_add(unknown, (gpointer) guid);
    }
    if (!g_hash_table_size(unknown))
        return FALSE;
    if (r->groups_too) {
        groups = g_steal_pointer(&r->groups);
        local = g_steal_pointer(&r->groups_error);
    } else {
        groups = hv_vm_groups(c, vm->guid, &local);
    }
    for (guint i = 0; groups && i < groups->len; i++) {
        Msvm_VirtualSystemCollection *g = groups->pdata[i];
        g_autoptr(GPtrArray) points = NULL;

        if (!g->CollectionID)
            continue;
        points = hv_group_snapshots(c, g->CollectionID, &local);
        for (guint k = 0; points && k < points->len; k++) {
            Msvm_SnapshotCollection *p = points->pdata[k];
            g_autoptr(GPtrArray) items = NULL;

            if (!p->CollectionID || group_point_recorded(kf, p->CollectionID))
                continue;
            items = hv_group_snapshot_items(c, p->CollectionID, &local);
            for (guint n = 0; items && n < items->len; n++) {
                Msvm_VirtualSystemSettingData *v = items->pdata[n];
                const char *guid =
                    v->InstanceID ? hv_instance_guid(v->InstanceID) : NULL;
                const char *ref[] = { g->ElementName ? g->ElementName : "",
                                      g->CollectionID, p->CollectionID, NULL };
                if (guid && g_hash_table_remove(unknown, guid))
                    g_key_file_set_string_list(kf, GROUPS_GROUP, guid, ref, 3);
            }
            if (!items)
                break;
        }
        if (!points)
            break;
    }
    if (local) {
        g_info("domain '%s': the group snapshots its snapshots are part of "
               "were not read: %s",
               vm->name, local->message);
        return FALSE;
    }
    g_hash_table_iter_init(&iter, unknown);
    while (g_hash_table_iter_next(&iter, &left, NULL))
        g_key_file_set_string_list(kf, GROUPS_GROUP, left, NULL, 0);
    return TRUE;
}

/* Sets each snapshot's live flag and group from the record, or from what
 * the VM's state and the host say; what was learnt that way is recorded
 * (lock not held) */
static void
taken_apply(HvdDriver *d, WsmanClient *c, const VmEntry *vm, GPtrArray *snaps,
            TreeRead *r)
{
    g_autoptr(GKeyFile) kf = taken_load(d, vm);
    gboolean learnt = groups_learn(c, vm, snaps, kf, r);

    for (guint i = 0; i < snaps->len; i++) {
        Snap *s = snaps->pdata[i];
        const char *guid = hv_instance_guid(s->m.id);
        g_autofree char *v = g_key_file_get_string(kf, TAKEN_GROUP, guid, NULL);

        g_auto(GStrv) group =
            g_key_file_get_string_list(kf, GROUPS_GROUP, guid, NULL, NULL);

        if (group && g_strv_length(group) == 3) {
            s->group.name = g_strdup(group[0]);
            s->group.id = g_strdup(group[1]);
            s->group.point = g_strdup(group[2]);
        }
        if (v) {
            s->live = !s->saved && g_str_equal(v, "running");
        } else if (!s->saved && hvd_state_active(vm->enabled_state) &&
                   vm->state_since > 0 && s->m.created_us >= vm->state_since) {
            s->live = TRUE;
            g_key_file_set_string(kf, TAKEN_GROUP, guid, "running");
            learnt = TRUE;
        }
    }
    if (learnt)
        taken_save(d, vm, kf);
}

/* What a create of the daemon knew: the VM's state as it began */
static void
taken_record(HvdDriver *d, const VmEntry *vm, const char *id, gboolean running)
{
    g_autoptr(GKeyFile) kf = taken_load(d, vm);

    g_key_file_set_string(kf, TAKEN_GROUP, hv_instance_guid(id),
                          running ? "running" : "off");
    g_key_file_set_string_list(kf, GROUPS_GROUP, hv_instance_guid(id), NULL, 0);
    taken_save(d, vm, kf);
}

/* Reads the VM's snapshots into the cache: one enumeration; the first
 * time, the VM's groups beside it, which a daemon that has recorded
 * nothing of them yet then asks for */
static gboolean
read_tree(HvdDriver *d, WsmanClient *c, const VmEntry *vm, GError **error)
{
    g_auto(TreeRead) r = { vm };
    HvRunner runner = hvd_driver_runner(d);
    GPtrArray *all;
    g_autoptr(GPtrArray) snaps = g_ptr_array_new_with_free_func(snap_free);
    g_autoptr(HvdMomentTree) moments = NULL;
    g_autoptr(GHashTable) recovery =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autofree char *current = NULL;
    g_autofree char *settings_id = NULL;
    SnapshotTree *t;
    GPtrArray *all_new, *all_old;
    gboolean vanished = FALSE;

    g_mutex_lock(&d->lock);
    r.groups_too = tree_of(d, vm->uuid)->cache.read_at == 0;
    g_mutex_unlock(&d->lock);
    runner.run(runner.self, c, r.groups_too ? 2 : 1, tree_read_job, &r);
    all = r.all;
    if (!all) {
        hvd_driver_map_vm_error(d, vm, error, g_steal_pointer(&r.all_error));
        return FALSE;
    }
    for (guint i = 0; i < all->len; i++) {
        Msvm_VirtualSystemSettingData *v = all->pdata[i];
        if (!v->InstanceID || !v->VirtualSystemType)
            continue;
        if (g_str_equal(v->VirtualSystemType,
                        MSVM_VIRTUAL_SYSTEM_TYPE_SYSTEM_REALIZED)) {
            g_free(current);
            current = hv_settings_path_instance_id(v->Parent);
            g_free(settings_id);
            settings_id = g_strdup(v->InstanceID);
            continue;
        }
        if (g_str_equal(v->VirtualSystemType,
                        MSVM_VIRTUAL_SYSTEM_TYPE_SNAPSHOT_REALIZED))
            g_ptr_array_add(snaps, snap_new(v));
        else if (g_str_equal(v->VirtualSystemType,
                             MSVM_VIRTUAL_SYSTEM_TYPE_SNAPSHOT_RECOVERY))
            g_hash_table_insert(recovery, g_ascii_strdown(v->InstanceID, -1),
                                hv_settings_path_instance_id(v->Parent));
    }
    /* a recovery checkpoint (a checkpoint or backup being made) is no
     * snapshot: what is based on it is based on its parent */
    for (guint i = 0; i <= snaps->len; i++) {
        char **parent = i < snaps->len
                            ? &((Snap *) snaps->pdata[i])->m.parent_id
                            : &current;
        for (guint depth = 0; *parent && depth < 64; depth++) {
            g_autofree char *key = g_ascii_strdown(*parent, -1);
            gpointer up;
            if (!g_hash_table_lookup_extended(recovery, key, NULL, &up))
                break;
            g_free(*parent);
            *parent = g_strdup(up);
        }
    }
    /* a parent that is not listed makes a root */
    moments = moments_new(g_steal_pointer(&snaps));
    all_new = hvd_moment_tree_all(moments);
    taken_apply(d, c, vm, all_new, &r);

    g_mutex_lock(&d->lock);
    t = tree_of(d, vm->uuid);
    all_old = all_snaps(t);
    /* details stay while no snapshot went away */
    for (guint i = 0; i < all_old->len; i++)
        vanished |= !hvd_moment_tree_find_id(
            moments, ((HvdMoment *) all_old->pdata[i])->id);
    for (guint i = 0; !vanished && i < all_new->len; i++) {
        Snap *s = all_new->pdata[i];
        Snap *old = snap_by_id(t, s->m.id);
        if (old)
            s->domain = g_steal_pointer(&old->domain);
    }
    if (vanished) {
        g_clear_pointer(&t->files, g_hash_table_unref);
        t->files_gen++;
    }
    for (guint i = 0; t->known && i < all_new->len; i++) {
        Snap *s = all_new->pdata[i];
        g_autofree char *key = g_ascii_strdown(s->m.id, -1);
        s->m.hidden = !g_hash_table_contains(t->known, key);
    }
    hvd_moment_tree_free(t->cache.moments);
    t->cache.moments = g_steal_pointer(&moments);
    g_free(t->current_id);
    t->current_id = g_steal_pointer(&current);
    g_free(t->settings_id);
    t->settings_id = g_steal_pointer(&settings_id);
    t->cache.read_at = g_get_monotonic_time();
    g_mutex_unlock(&d->lock);
    return TRUE;
}

static const HvdMomentKind kind = {
    HVD_MOMENT_SNAPSHOT,
    G_STRUCT_OFFSET(struct _HvdDriver, snapshots),
    tree_new,
    read_tree,
};

/* Reads the tree when asked to, or when the cache is older than the poll
 * interval. */
static gboolean
ensure_tree(HvdDriver *d, const VmEntry *vm, gboolean reread, GError **error)
{
    return hvd_moment_cache_ensure(d, &kind, vm, reread, error);
}

/* The snapshot a client names (lock held on success, *tree set) */
static Snap *
resolve_locked(HvdDriver *d, const VmEntry *vm, const char *name,
               SnapshotTree **tree, GError **error)
{
    return (Snap *) hvd_moment_cache_resolve(d, &kind, vm, name,
                                             (HvdMomentCache **) tree, error);
}

/* Snapshot handles and list filters */

/* What only snapshots filter on */
static gboolean
snapshot_matches(const HvdMoment *m, gpointer data)
{
    const Snap *s = (const Snap *) m;
    guint flags = GPOINTER_TO_UINT(data);
    guint states = flags & (VIR_DOMAIN_SNAPSHOT_LIST_INACTIVE |
                            VIR_DOMAIN_SNAPSHOT_LIST_ACTIVE |
                            VIR_DOMAIN_SNAPSHOT_LIST_DISK_ONLY);
    guint where = flags & (VIR_DOMAIN_SNAPSHOT_LIST_INTERNAL |
                           VIR_DOMAIN_SNAPSHOT_LIST_EXTERNAL);

    if (states && !(states & (s->saved  ? VIR_DOMAIN_SNAPSHOT_LIST_ACTIVE
                              : s->live ? VIR_DOMAIN_SNAPSHOT_LIST_DISK_ONLY
                                        : VIR_DOMAIN_SNAPSHOT_LIST_INACTIVE)))
        return FALSE;
    /* the VM goes on in new AVHDX files: every checkpoint is external */
    if (where && !(where & VIR_DOMAIN_SNAPSHOT_LIST_EXTERNAL))
        return FALSE;
    return TRUE;
}

/* libvirt's snapshot list flags as the moment tree's */
static guint
moment_flags(guint flags)
{
    static const guint map[][2] = {
        { VIR_DOMAIN_SNAPSHOT_LIST_ROOTS, HVD_MOMENT_LIST_ROOTS },
        { VIR_DOMAIN_SNAPSHOT_LIST_LEAVES, HVD_MOMENT_LIST_LEAVES },
        { VIR_DOMAIN_SNAPSHOT_LIST_NO_LEAVES, HVD_MOMENT_LIST_NO_LEAVES },
        { VIR_DOMAIN_SNAPSHOT_LIST_METADATA, HVD_MOMENT_LIST_METADATA },
        { VIR_DOMAIN_SNAPSHOT_LIST_NO_METADATA, HVD_MOMENT_LIST_NO_METADATA },
        { VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL, HVD_MOMENT_LIST_TOPOLOGICAL },
    };
    guint out = 0;

    for (guint i = 0; i < G_N_ELEMENTS(map); i++)
        if (flags & map[i][0])
            out |= map[i][1];
    return out;
}

#define LIST_FLAGS                                                             \
    (VIR_DOMAIN_SNAPSHOT_LIST_ROOTS | VIR_DOMAIN_SNAPSHOT_LIST_METADATA |      \
     VIR_DOMAIN_SNAPSHOT_LIST_LEAVES | VIR_DOMAIN_SNAPSHOT_LIST_NO_LEAVES |    \
     VIR_DOMAIN_SNAPSHOT_LIST_NO_METADATA |                                    \
     VIR_DOMAIN_SNAPSHOT_LIST_INACTIVE | VIR_DOMAIN_SNAPSHOT_LIST_ACTIVE |     \
     VIR_DOMAIN_SNAPSHOT_LIST_DISK_ONLY | VIR_DOMAIN_SNAPSHOT_LIST_INTERNAL |  \
     VIR_DOMAIN_SNAPSHOT_LIST_EXTERNAL | VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL)

GPtrArray *
hvd_domain_list_all_snapshots(HvdDriver *d, const guchar uuid[16],
                              const char *from, guint flags, GError **error)
{
    if (!hvd_check_flags(flags, LIST_FLAGS,
                         from ? "hvdDomainSnapshotListAllChildren"
                              : "hvdDomainListAllSnapshots",
                         error))
        return NULL;
    return hvd_moment_list(d, &kind, uuid, from, moment_flags(flags),
                           snapshot_matches, GUINT_TO_POINTER(flags), error);
}

char *
hvd_domain_snapshot_lookup_by_name(HvdDriver *d, const guchar uuid[16],
                                   const char *name, guint flags,
                                   GError **error)
{
    if (!hvd_check_flags(flags, 0, "hvdDomainSnapshotLookupByName", error))
        return NULL;
    return hvd_moment_lookup(d, &kind, uuid, name, FALSE, error);
}

char *
hvd_domain_snapshot_current(HvdDriver *d, const guchar uuid[16], guint flags,
                            gboolean must, GError **error)
{
    g_autoptr(VmEntry) vm = NULL;
    char *label = NULL;
    Snap *s;

    if (!hvd_check_flags(flags, 0,
                         must ? "hvdDomainSnapshotCurrent"
                              : "hvdDomainHasCurrentSnapshot",
                         error))
        return NULL;
    vm = hvd_driver_find_vm(d, uuid, error);
    if (!vm || !ensure_tree(d, vm, FALSE, error))
        return NULL;
    g_mutex_lock(&d->lock);
    s = snap_by_id(tree_of(d, uuid), tree_of(d, uuid)->current_id);
    /* a create still running: current is what it was before */
    while (s && s->m.hidden)
        s = parent_of(s);
    if (s)
        label = g_strdup(s->m.label);
    g_mutex_unlock(&d->lock);
    if (!label && must)
        hvd_error_set(error, HVD_ERROR_SNAPSHOT, VIR_ERR_NO_DOMAIN_SNAPSHOT,
                      _("the domain does not have a current snapshot"));
    return label;
}

/* Facts of one snapshot: what the flags ask */
typedef enum {
    FACT_IS_CURRENT,
    FACT_HAS_METADATA,
} SnapFact;

static gboolean
snapshot_fact(HvdDriver *d, const guchar uuid[16], const char *name,
              SnapFact fact, gboolean *yes, GError **error)
{
    g_autoptr(VmEntry) vm = hvd_driver_find_vm(d, uuid, error);
    SnapshotTree *t;
    Snap *s;

    if (!vm || !(s = resolve_locked(d, vm, name, &t, error)))
        return FALSE;
    switch (fact) {
    case FACT_IS_CURRENT:
        *yes = same_id(s->m.id, t->current_id);
        break;
    case FACT_HAS_METADATA:
        *yes = TRUE;
        break;
    }
    g_mutex_unlock(&d->lock);
    return TRUE;
}

char *
hvd_domain_snapshot_get_parent(HvdDriver *d, const guchar uuid[16],
                               const char *name, guint flags, GError **error)
{
    if (!hvd_check_flags(flags, 0, "hvdDomainSnapshotGetParent", error))
        return NULL;
    return hvd_moment_lookup(d, &kind, uuid, name, TRUE, error);
}

gboolean
hvd_domain_snapshot_is_current(HvdDriver *d, const guchar uuid[16],
                               const char *name, guint flags, gboolean *current,
                               GError **error)
{
    return hvd_check_flags(flags, 0, "hvdDomainSnapshotIsCurrent", error) &&
           snapshot_fact(d, uuid, name, FACT_IS_CURRENT, current, error);
}

gboolean
hvd_domain_snapshot_has_metadata(HvdDriver *d, const guchar uuid[16],
                                 const char *name, guint flags, gboolean *has,
                                 GError **error)
{
    return hvd_check_flags(flags, 0, "hvdDomainSnapshotHasMetadata", error) &&
           snapshot_fact(d, uuid, name, FACT_HAS_METADATA, has, error);
}

/* XML */

/* A snapshot's domain from its resources, its disks' files from files
 * (NULL: read now) */
static HvdDomainDef *
domain_from(HvdDriver *d, WsmanClient *c, const VmEntry *vm, GPtrArray *rasds,
            GHashTable *files, GError **error)
{
    g_autoptr(HvdDomainDef) def = hvd_domain_def_new();

    def->name = g_strdup(vm->name);
    memcpy(def->uuid, vm->uuid, 16);
    if (!hvd_driver_fill_domain(d, c, rasds, files, def, error))
        return NULL;
    return g_steal_pointer(&def);
}

static HvdDomainDef *
read_snapshot_domain(HvdDriver *d, WsmanClient *c, const VmEntry *vm,
                     const char *id, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(GPtrArray) rasds = hv_settings_resources(c, id, &local);

    if (!rasds) {
        hvd_driver_map_error(error, g_steal_pointer(&local));
        return NULL;
    }
    return domain_from(d, c, vm, rasds, NULL, error);
}

/* The resources of the snapshots ids names, and the image service's
 * address when the connection does not know it yet, asked side by side */
typedef struct {
    GPtrArray *ids;
    GHashTable *resources;
    GError *error;
    WmiEpr *img;
} DomainsRead;

static void
domains_read_job(WsmanClient *c, guint i, gpointer data)
{
    DomainsRead *r = data;

    if (i == 0)
        r->resources = hv_settings_resources_of(c, r->ids, &r->error);
    else
        r->img = hv_service_epr(c, HV_IMAGE_SERVICE, NULL);
}

/* Reads the domain of every snapshot of the VM whose domain is not read
 * yet: the resources of all of them in one query, then each disk file
 * not known yet once, the files of a wave together. A snapshot left
 * without (its resources not found that way, a file that cannot be read)
 * is read alone afterwards, which says what is wrong. */
static void
read_domains(HvdDriver *d, WsmanClient *c, const VmEntry *vm)
{
    g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GHashTable) resources = NULL;
    g_autoptr(GHashTable) files = NULL;
    g_autoptr(GHashTable) made = g_hash_table_new_full(
        g_str_hash, g_str_equal, NULL, (GDestroyNotify) hvd_domain_def_free);
    g_autoptr(GPtrArray) all = g_ptr_array_new();
    g_autoptr(GError) local = NULL;
    GHashTableIter iter;
    gpointer key, value;
    SnapshotTree *t;
    guint gen;

    g_mutex_lock(&d->lock);
    t = tree_of(d, vm->uuid);
    for (guint i = 0; i < all_snaps(t)->len; i++) {
        Snap *s = all_snaps(t)->pdata[i];
        if (!s->domain)
            g_ptr_array_add(ids, g_strdup(s->m.id));
    }
    files = g_steal_pointer(&t->files);
    gen = t->files_gen;
    g_mutex_unlock(&d->lock);
    if (!files)
        files = hv_disk_files_new();

    if (ids->len) {
        DomainsRead r = { ids };
        HvRunner runner = hvd_driver_runner(d);

        runner.run(runner.self, c,
                   wsman_client_service(c, HV_IMAGE_SERVICE) ? 1 : 2,
                   domains_read_job, &r);
        resources = r.resources;
        local = r.error;
        if (r.img) {
            wsman_client_set_service(c, HV_IMAGE_SERVICE, r.img);
            wmi_epr_free(r.img);
        }
    }
    if (resources) {
        g_hash_table_iter_init(&iter, resources);
        while (g_hash_table_iter_next(&iter, NULL, &value))
            g_ptr_array_extend(all, value, NULL, NULL);
        if (!hvd_driver_read_files(d, c, files, all, NULL))
            g_clear_pointer(&resources, g_hash_table_unref);
    } else if (local) {
        g_debug("%s: the snapshots of '%s' are read one by one: %s",
                hvd_driver_name(d), vm->name, local->message);
    }
    if (resources) {
        g_hash_table_iter_init(&iter, resources);
        while (g_hash_table_iter_next(&iter, &key, &value)) {
            GPtrArray *rasds = value;
            HvdDomainDef *def =
                rasds->len ? domain_from(d, c, vm, rasds, files, NULL) : NULL;

            if (def)
                g_hash_table_insert(made, key, def);
        }
    }

    g_mutex_lock(&d->lock);
    t = tree_of(d, vm->uuid);
    for (guint i = 0; i < ids->len; i++) {
        g_autofree char *guid =
            g_ascii_strdown(hv_instance_guid(ids->pdata[i]), -1);
        Snap *s = snap_by_id(t, ids->pdata[i]);
        if (s && !s->domain && g_hash_table_contains(made, guid))
            g_hash_table_steal_extended(made, guid, NULL,
                                        (gpointer *) &s->domain);
    }
    if (t->files_gen == gen && !t->files)
        t->files = g_steal_pointer(&files);
    g_mutex_unlock(&d->lock);
}

/* The snapshot's XML (lock held, domain read) */
static char *
format_snapshot(const SnapshotTree *t, const Snap *s)
{
    g_autoptr(HvdSnapshotDef) def = hvd_snapshot_def_new();
    const Snap *p = parent_of(s);
    char *xml;

    def->name = g_strdup(s->m.label);
    def->description = g_strdup(s->m.description);
    def->state = s->saved  ? HVD_SNAPSHOT_STATE_RUNNING
                 : s->live ? HVD_SNAPSHOT_STATE_DISK_SNAPSHOT
                           : HVD_SNAPSHOT_STATE_SHUTOFF;
    def->creation_time = s->m.created;
    def->parent = p ? g_strdup(p->m.label) : NULL;
    def->memory =
        s->saved ? HVD_SNAPSHOT_MEMORY_INTERNAL : HVD_SNAPSHOT_MEMORY_NO;
    for (guint i = 0; s->domain && i < s->domain->disks->len; i++)
        hvd_snapshot_def_add_disk(
            def, ((HvdDiskDef *) s->domain->disks->pdata[i])->target,
            "external");
    def->domain = s->domain;
    if (s->domain)
        s->domain->group = s->group.id ? &s->group : NULL;
    xml = hvd_snapshot_def_format(def);
    def->domain = NULL;
    return xml;
}

char *
hvd_domain_snapshot_get_xml_desc(HvdDriver *d, const guchar uuid[16],
                                 const char *name, guint flags, GError **error)
{
    g_autoptr(VmEntry) vm = NULL;
    g_autofree char *id = NULL;
    g_autoptr(HvdDomainDef) domain = NULL;
    gboolean failed = FALSE;
    SnapshotTree *t;
    WsmanClient *c;
    Snap *s;
    char *xml;

    if (!hvd_check_flags(flags, VIR_DOMAIN_SNAPSHOT_XML_SECURE,
                         "hvdDomainSnapshotGetXMLDesc", error) ||
        !(vm = hvd_driver_find_vm(d, uuid, error)) ||
        !(s = resolve_locked(d, vm, name, &t, error)))
        return NULL;
    if (s->domain) {
        xml = format_snapshot(t, s);
        g_mutex_unlock(&d->lock);
        return xml;
    }
    id = g_strdup(s->m.id);
    g_mutex_unlock(&d->lock);

    c = hvd_driver_client_get(d, error);
    if (!c)
        return NULL;
    read_domains(d, c, vm);
    g_mutex_lock(&d->lock);
    s = snap_by_id(tree_of(d, uuid), id);
    if (s && s->domain) {
        xml = format_snapshot(tree_of(d, uuid), s);
        g_mutex_unlock(&d->lock);
        hvd_driver_client_put(d, c);
        return xml;
    }
    g_mutex_unlock(&d->lock);
    /* a delete merging the VM's files meanwhile moves the chain between
     * two reads of it: a snapshot still there is read again */
    for (guint wait_ms = 200;; wait_ms *= 2) {
        g_autoptr(GError) local = NULL;
        gboolean there;

        domain = read_snapshot_domain(d, c, vm, id, &local);
        if (domain || wait_ms > 3200 || !read_tree(d, c, vm, NULL)) {
            failed = !domain;
            if (failed)
                g_propagate_error(error, g_steal_pointer(&local));
            break;
        }
        g_mutex_lock(&d->lock);
        there = snap_by_id(tree_of(d, uuid), id) != NULL;
        g_mutex_unlock(&d->lock);
        if (!there)
            break; /* deleted meanwhile: said below */
        g_debug("%s: reading snapshot '%s' again: %s", hvd_driver_name(d), name,
                local->message);
        g_usleep(wait_ms * 1000);
    }
    hvd_driver_client_put(d, c);
    if (failed)
        return NULL;
    g_mutex_lock(&d->lock);
    t = tree_of(d, uuid);
    s = snap_by_id(t, id);
    if (!s) {
        g_mutex_unlock(&d->lock);
        hvd_moment_not_found(&kind, error, name);
        return NULL;
    }
    if (!s->domain && !domain) {
        g_mutex_unlock(&d->lock);
        hvd_moment_not_found(&kind, error, name);
        return NULL;
    }
    if (!s->domain)
        s->domain = g_steal_pointer(&domain);
    xml = format_snapshot(t, s);
    g_mutex_unlock(&d->lock);
    return xml;
}

/* Operations: one at a time per VM, each ending with a re-read of the tree
 * and a check of every link of the VM's disk chains. */

/* The re-read that ends an operation: the tree, the VM's state, and each
 * of the VM's disks with its whole chain. */
static gboolean
reread(HvdDriver *d, WsmanClient *c, const VmEntry *vm, const char *what,
       GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(GPtrArray) rasds = NULL;
    g_autoptr(HvdDomainDef) def = hvd_domain_def_new();
    g_autofree char *settings_id = NULL;

    if (!read_tree(d, c, vm, error) ||
        !hvd_driver_refresh_vm(d, c, vm, NULL, error))
        return FALSE;
    g_mutex_lock(&d->lock);
    settings_id = g_strdup(tree_of(d, vm->uuid)->settings_id);
    g_mutex_unlock(&d->lock);
    if (!settings_id)
        return TRUE;
    rasds = hv_settings_resources(c, settings_id, &local);
    if (!rasds) {
        hvd_driver_map_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    if (!hvd_driver_add_disks(d, c, rasds, def, &local)) {
        hvd_error_set(error, HVD_ERROR_SNAPSHOT, VIR_ERR_OPERATION_FAILED,
                      _("%s, but a disk of domain '%s' is no longer "
                        "consistent: %s"),
                      what, vm->name, local->message);
        return FALSE;
    }
    return TRUE;
}

/* Create */

static gboolean
refuse_flag(guint flags, guint flag, const char *name, const char *why,
            GError **error)
{
    if (!(flags & flag))
        return TRUE;
    hvd_error_set(error, HVD_ERROR_SNAPSHOT, VIR_ERR_INVALID_ARG,
                  _("flag %s is not supported: %s"), name, why);
    return FALSE;
}

static gboolean
check_description(const char *name, const char *description, GError **error)
{
    gsize len = description ? strlen(description) : 0;

    if (len <= HVD_SNAPSHOT_DESCRIPTION_MAX)
        return TRUE;
    hvd_error_set(error, HVD_ERROR_SNAPSHOT, VIR_ERR_INVALID_ARG,
                  _("the description of snapshot '%s' is %zu bytes; a "
                    "Hyper-V host takes at most %d in one request"),
                  name, len, HVD_SNAPSHOT_DESCRIPTION_MAX);
    return FALSE;
}

static void
xml_error(GError **error, GError *local)
{
    hvd_error_set(error, HVD_ERROR_SNAPSHOT, VIR_ERR_XML_ERROR, "%s",
                  local->message);
}

/* REDEFINE: only a checkpoint Hyper-V has; its description can change. */
static char *
redefine(HvdDriver *d, const VmEntry *vm, const HvdSnapshotDef *def,
         guint flags, GError **error)
{
    g_autofree char *id = NULL;
    g_autofree char *label = NULL;
    g_autofree char *old_description = NULL;
    const char *description = def->description ? def->description : "";
    SnapshotTree *t;
    Snap *s, *p;
    WsmanClient *c;
    gboolean ok;
    HvJobWait wait = hvd_driver_job_wait(d);
    g_autoptr(GError) local = NULL;

    if (!def->name) {
        hvd_error_set(error, HVD_ERROR_SNAPSHOT, VIR_ERR_INVALID_ARG,
                      _("a redefined snapshot must have a name"));
        return NULL;
    }
    if (def->has_domain_uuid && def->domain &&
        memcmp(def->domain->uuid, vm->uuid, 16) != 0) {
        hvd_error_set(error, HVD_ERROR_SNAPSHOT, VIR_ERR_INVALID_ARG,
                      _("snapshot '%s' names another domain than '%s'"),
                      def->name, vm->name);
        return NULL;
    }
    if (!check_description(def->name, description, error))
        return NULL;
    s = resolve_locked(d, vm, def->name, &t, &local);
    if (!s && local->code != VIR_ERR_NO_DOMAIN_SNAPSHOT) {
        g_propagate_error(error, g_steal_pointer(&local));
        return NULL;
    }
    if (!s) {
        hvd_error_set(error, HVD_ERROR_SNAPSHOT, VIR_ERR_CONFIG_UNSUPPORTED,
                      _("cannot redefine snapshot '%s': domain '%s' has no "
                        "such checkpoint, and only Hyper-V makes checkpoints"),
                      def->name, vm->name);
        return NULL;
    }
    p = parent_of(s);
    if (def->parent && (!p || !g_str_equal(p->m.label, def->parent))) {
        hvd_error_set(error, HVD_ERROR_SNAPSHOT, VIR_ERR_CONFIG_UNSUPPORTED,
                      _("cannot redefine snapshot '%s': its parent on "
                        "Hyper-V is %s%s%s, not '%s'"),
                      s->m.label, p ? "'" : "", p ? p->m.label : _("none"),
                      p ? "'" : "", def->parent);
        g_mutex_unlock(&d->lock);
        return NULL;
    }
    if ((flags & VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT) &&
        !same_id(t->current_id, s->m.id)) {
        hvd_error_set(error, HVD_ERROR_SNAPSHOT, VIR_ERR_CONFIG_UNSUPPORTED,
                      _("cannot make snapshot '%s' current: Hyper-V makes a "
                        "checkpoint current only by applying it (use "
                        "snapshot-revert)"),
                      s->m.label);
        g_mutex_unlock(&d->lock);
        return NULL;
    }
    id = g_strdup(s->m.id);
    label = g_strdup(s->m.label);
    old_description = g_strdup(s->m.description ? s->m.description : "");
    g_mutex_unlock(&d->lock);
    if (g_str_equal(old_description, description))
        return g_steal_pointer(&label);

    c = hvd_driver_client_get(d, error);
    if (!c)
        return NULL;
    ok = hv_settings_modify(c, id, NULL, description, 0, &wait, &local) &&
         read_tree(d, c, vm, error);
    hvd_driver_client_put(d, c);
    if (local)
        hvd_driver_map_error(error, g_steal_pointer(&local));
    return ok ? g_steal_pointer(&label) : NULL;
}

/* Whatever the VM's checkpoint type, a disk-only request is a production
 * checkpoint (QUIESCE: with no fallback to a standard one); the type is
 * set for the one checkpoint and put back as it was. */
static Msvm_VirtualSystemSettingData *
take_checkpoint(HvdDriver *d, WsmanClient *c, const VmEntry *vm, guint flags,
                HvJobWait *wait, gboolean *unknown, GError **error)
{
    g_autoptr(Msvm_VirtualSystemSettingData) made = NULL;
    g_autoptr(Msvm_VirtualSystemSettingData) own = NULL;
    g_autoptr(GError) local = NULL;
    guint16 user_type = 0, wanted = 0;

    if (flags & (VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE |
                 VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY)) {
        /* read now: the cache may be older than a change on the host */
        own = hv_vm_settings(c, vm->guid, &local);
        if (!own) {
            hvd_driver_map_error(error, g_steal_pointer(&local));
            return NULL;
        }
        user_type = wanted = own->UserSnapshotType;
        if (flags & VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE)
            wanted = MSVM_USER_SNAPSHOT_TYPE_PRODUCTION_ONLY;
        else if (user_type != MSVM_USER_SNAPSHOT_TYPE_PRODUCTION_ONLY)
            wanted = MSVM_USER_SNAPSHOT_TYPE_PRODUCTION;
    }
    if (wanted != user_type &&
        !hv_settings_modify(c, own->InstanceID, NULL, NULL, wanted, wait,
                            &local)) {
        hvd_driver_map_error(error, g_steal_pointer(&local));
        return NULL;
    }
    made = hv_snapshot_create(c, vm->guid, MSVM_SNAPSHOT_TYPE_FULL, 0, wait,
                              &local);
    *unknown = !made && hv_error_outcome_unknown(local);
    if (wanted != user_type) {
        g_autoptr(GError) undo = NULL;
        if (!hv_settings_modify(c, own->InstanceID, NULL, NULL, user_type, wait,
                                &undo))
            g_warning("%s: the checkpoint type of '%s' could not be set back "
                      "to %u: %s",
                      hvd_driver_name(d), vm->name, user_type, undo->message);
    }
    /* a production checkpoint that fell back to a standard one keeps the
     * disks only, as asked */
    if (made && made->IsSaved &&
        (flags & VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY) &&
        !hv_snapshot_clear_state(c, made->InstanceID, wait, &local))
        g_clear_pointer(&made, wmi_typed_free);
    if (!made)
        hvd_driver_map_error(error, g_steal_pointer(&local));
    return g_steal_pointer(&made);
}

/* NAME@GUID is how duplicates are shown: a name of that form would be
 * taken for another checkpoint's label. */
static gboolean
looks_like_label(const char *name)
{
    const char *at = strrchr(name, '@');
    return at && g_uuid_string_is_valid(at + 1);
}

static gboolean
check_new_name(HvdDriver *d, const VmEntry *vm, const char *name,
               GError **error)
{
    gboolean taken = FALSE, blank = TRUE;
    SnapshotTree *t;

    if (g_utf8_strlen(name, -1) > HVD_SNAPSHOT_NAME_MAX) {
        hvd_error_set(error, HVD_ERROR_SNAPSHOT, VIR_ERR_INVALID_ARG,
                      _("snapshot name '%.20s...' is %ld characters long; "
                        "Hyper-V takes at most %d"),
                      name, g_utf8_strlen(name, -1), HVD_SNAPSHOT_NAME_MAX);
        return FALSE;
    }
    for (const char *p = name; *p; p = g_utf8_next_char(p)) {
        gunichar ch = g_utf8_get_char(p);
        if (g_unichar_iscntrl(ch)) {
            hvd_error_set(error, HVD_ERROR_SNAPSHOT, VIR_ERR_INVALID_ARG,
                          _("snapshot name '%s' contains a control character "
                            "(U+%04X); Hyper-V Manager shows one line"),
                          name, ch);
            return FALSE;
        }
        blank &= g_unichar_isspace(ch);
    }
    if (blank) {
        hvd_error_set(error, HVD_ERROR_SNAPSHOT, VIR_ERR_INVALID_ARG,
                      _("a snapshot name must not be empty or only spaces"));
        return FALSE;
    }
    if (looks_like_label(name)) {
        hvd_error_set(error, HVD_ERROR_SNAPSHOT, VIR_ERR_INVALID_ARG,
                      _("snapshot name '%s' ends in @GUID, the form that "
                        "names one of several checkpoints sharing a name; "
                        "choose another name"),
                      name);
        return FALSE;
    }
    if (!ensure_tree(d, vm, FALSE, error))
        return FALSE;
    g_mutex_lock(&d->lock);
    t = tree_of(d, vm->uuid);
    taken = hvd_moment_tree_name_taken(t->cache.moments, name);
    g_mutex_unlock(&d->lock);
    if (taken)
        hvd_error_set(error, HVD_ERROR_SNAPSHOT, VIR_ERR_OPERATION_INVALID,
                      _("domain snapshot '%s' already exists"), name);
    return !taken;
}

/* The checkpoints of the VM the cache knows now, to be told from the one
 * a create makes; they stay visible while the new one is hidden. */
static void
create_begin(HvdDriver *d, const VmEntry *vm)
{
    SnapshotTree *t;

    g_mutex_lock(&d->lock);
    t = tree_of(d, vm->uuid);
    if (t->known)
        g_hash_table_unref(t->known);
    t->known = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < all_snaps(t)->len; i++)
        g_hash_table_add(
            t->known,
            g_ascii_strdown(((HvdMoment *) all_snaps(t)->pdata[i])->id, -1));
    g_mutex_unlock(&d->lock);
}

static void
create_end(HvdDriver *d, const VmEntry *vm)
{
    SnapshotTree *t;

    g_mutex_lock(&d->lock);
    t = tree_of(d, vm->uuid);
    g_clear_pointer(&t->known, g_hash_table_unref);
    for (guint i = 0; i < all_snaps(t)->len; i++)
        ((HvdMoment *) all_snaps(t)->pdata[i])->hidden = FALSE;
    g_mutex_unlock(&d->lock);
}

/* Creates in flight, recorded in the state folder: a daemon stopped
 * between CreateSnapshot and the naming step leaves a checkpoint under
 * Hyper-V's default name, which the next daemon removes. One key file per
 * VM, STATE/ops/HOST/GUID.create, written whole or not at all. */

static char *
journal_dir(HvdDriver *d)
{
    return hvd_state_path(d, "ops", NULL);
}

static char *
journal_path(HvdDriver *d, const VmEntry *vm)
{
    g_autofree char *file = g_strconcat(vm->guid, ".create", NULL);
    return hvd_state_path(d, "ops", file);
}

static gboolean
journal_begin(HvdDriver *d, const VmEntry *vm, const char *name, GError **error)
{
    g_autofree char *path = journal_path(d, vm);
    g_autoptr(GKeyFile) kf = NULL;
    g_autoptr(GPtrArray) known = g_ptr_array_new();
    g_autoptr(GError) local = NULL;
    g_autofree char *data = NULL;
    GHashTableIter it;
    gpointer key;
    gsize len;

    if (!path)
        return TRUE;
    kf = g_key_file_new();
    g_key_file_set_string(kf, "create", "domain", vm->name);
    g_key_file_set_string(kf, "create", "name", name);
    g_mutex_lock(&d->lock);
    g_hash_table_iter_init(&it, tree_of(d, vm->uuid)->known);
    while (g_hash_table_iter_next(&it, &key, NULL))
        g_ptr_array_add(known, key);
    g_key_file_set_string_list(kf, "create", "known",
                               (const char *const *) known->pdata, known->len);
    g_mutex_unlock(&d->lock);
    data = g_key_file_to_data(kf, &len, NULL);
    if (!hvd_state_write(path, data, len, &local)) {
        hvd_error_set(error, HVD_ERROR_SNAPSHOT, VIR_ERR_OPERATION_FAILED,
                      _("cannot record the create of snapshot '%s' in the "
                        "state folder %s: %s"),
                      name, d->config->state_dir, local->message);
        return FALSE;
    }
    return TRUE;
}

static void
journal_end(HvdDriver *d, const VmEntry *vm)
{
    g_autofree char *path = journal_path(d, vm);

    if (path && g_unlink(path) < 0 && errno != ENOENT)
        g_warning("cannot remove %s: %s", path, g_strerror(errno));
}

/* Hyper-V names a checkpoint "VM - (date - time)" until it is renamed */
static gboolean
default_name(const VmEntry *vm, const char *name)
{
    g_autofree char *prefix = g_strconcat(vm->name, " - (", NULL);
    return g_str_has_prefix(name, prefix) && g_str_has_suffix(name, ")");
}

static void
recover_create(HvdDriver *d, WsmanClient *c, const char *path, const char *guid)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) local = NULL;
    g_autoptr(VmEntry) vm = NULL;
    g_autoptr(GPtrArray) undo = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) known = NULL;
    g_autofree char *name = NULL;
    HvJobWait wait = hvd_driver_job_wait(d);
    guchar uuid[16];
    SnapshotTree *t;

    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &local) ||
        !(name = g_key_file_get_string(kf, "create", "name", &local)) ||
        !(known =
              g_key_file_get_string_list(kf, "create", "known", NULL, NULL)) ||
        !hvd_uuid_parse(guid, uuid)) {
        g_warning("%s: dropped, it does not read as a create: %s", path,
                  local ? local->message : guid);
        g_unlink(path);
        return;
    }
    vm = hvd_driver_find_vm(d, uuid, NULL);
    if (!vm || !read_tree(d, c, vm, &local)) {
        if (vm) {
            g_warning("%s: left for later, the host cannot be read: %s", path,
                      local->message);
            return;
        }
        g_info("%s: the domain is gone from the host", path);
        g_unlink(path);
        return;
    }
    g_mutex_lock(&d->lock);
    t = tree_of(d, vm->uuid);
    for (guint i = 0; i < all_snaps(t)->len; i++) {
        Snap *s = all_snaps(t)->pdata[i];
        g_autofree char *id = g_ascii_strdown(s->m.id, -1);
        if (g_strv_contains((const char *const *) known, id))
            continue;
        if (g_str_equal(s->m.name, name))
            g_info("%s: the create of snapshot '%s' of '%s' had finished",
                   hvd_driver_name(d), name, vm->name);
        else if (default_name(vm, s->m.name))
            g_ptr_array_add(undo, g_strdup(s->m.id));
    }
    g_mutex_unlock(&d->lock);
    for (guint i = 0; i < undo->len; i++) {
        g_autoptr(GError) err = NULL;
        if (hv_snapshot_destroy(c, undo->pdata[i], FALSE, &wait, &err))
            g_info("%s: removed the checkpoint %s of '%s' that a stopped "
                   "create of snapshot '%s' had left unnamed",
                   hvd_driver_name(d), (char *) undo->pdata[i], vm->name, name);
        else
            g_warning("%s: cannot remove the unnamed checkpoint %s of '%s': "
                      "%s",
                      hvd_driver_name(d), (char *) undo->pdata[i], vm->name,
                      err->message);
    }
    if (undo->len)
        read_tree(d, c, vm, NULL);
    g_unlink(path);
}

void
hvd_snapshot_recover(HvdDriver *d)
{
    g_autofree char *dir = journal_dir(d);
    g_autoptr(GDir) ops = dir ? g_dir_open(dir, 0, NULL) : NULL;
    const char *file;
    WsmanClient *c;

    if (!ops)
        return;
    c = hvd_driver_client_get(d, NULL);
    if (!c)
        return;
    while ((file = g_dir_read_name(ops))) {
        g_autofree char *path = g_build_filename(dir, file, NULL);
        g_autofree char *guid = NULL;
        /* a record a daemon was stopped in the middle of writing */
        if (strstr(file, ".create.")) {
            g_unlink(path);
            continue;
        }
        if (!g_str_has_suffix(file, ".create"))
            continue;
        guid = g_strndup(file, strlen(file) - strlen(".create"));
        recover_create(d, c, path, guid);
    }
    hvd_driver_client_put(d, c);
}

/* What the host says of a change whose answer was lost: re-read, a few
 * times with a growing pause since the job goes on without its caller,
 * until done() holds. */
typedef gboolean (*TreeCheck)(const SnapshotTree *t, gpointer data);

static gboolean
host_shows(HvdDriver *d, WsmanClient *c, const VmEntry *vm, TreeCheck done,
           gpointer data)
{
    for (guint wait_ms = 250; wait_ms <= 4000; wait_ms *= 2) {
        gboolean yes;

        g_usleep(wait_ms * 1000);
        if (!read_tree(d, c, vm, NULL))
            continue;
        g_mutex_lock(&d->lock);
        yes = done(tree_of(d, vm->uuid), data);
        g_mutex_unlock(&d->lock);
        if (yes)
            return TRUE;
    }
    return FALSE;
}

static gboolean
is_current(const SnapshotTree *t, gpointer id)
{
    return same_id(t->current_id, id);
}

static gboolean
is_gone(const SnapshotTree *t, gpointer id)
{
    return !snap_by_id(t, id);
}

/* One checkpoint that was not there before the create: the create's
 * (two are not the create's alone to tell) */
static gboolean
one_new(const SnapshotTree *t, gpointer data)
{
    char **id = data;
    const Snap *found = NULL;

    for (guint i = 0; i < all_snaps(t)->len; i++) {
        const Snap *s = all_snaps(t)->pdata[i];
        if (s->m.hidden && found)
            return FALSE;
        if (s->m.hidden)
            found = s;
    }
    if (found)
        *id = g_strdup(found->m.id);
    return found != NULL;
}

/* After a CreateSnapshot whose answer was lost: the host, read again,
 * says whether a checkpoint was made. Its InstanceID, or NULL. */
static char *
find_made(HvdDriver *d, WsmanClient *c, const VmEntry *vm)
{
    char *id = NULL;

    host_shows(d, c, vm, one_new, &id);
    return id;
}

/* The name and description a create gives its checkpoint; when the
 * answer is lost, the host read again says whether they were set. */
static gboolean
name_checkpoint(HvdDriver *d, WsmanClient *c, const VmEntry *vm, const char *id,
                const char *name, const char *description, HvJobWait *wait,
                GError **error)
{
    g_autoptr(GError) local = NULL;
    gboolean named = FALSE;
    Snap *s;

    if (hv_settings_modify(c, id, name, description, 0, wait, &local))
        return TRUE;
    if (!hv_error_outcome_unknown(local) || !read_tree(d, c, vm, NULL)) {
        hvd_driver_map_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    g_mutex_lock(&d->lock);
    s = snap_by_id(tree_of(d, vm->uuid), id);
    named =
        s && g_str_equal(s->m.name, name) &&
        g_strcmp0(s->m.description ? s->m.description : "", description) == 0;
    g_mutex_unlock(&d->lock);
    if (!named)
        hvd_driver_map_error(error, g_steal_pointer(&local));
    return named;
}

/* A step after CreateSnapshot failed: the checkpoint goes again, so that
 * a failed create leaves nothing behind. */
static void
undo_create(HvdDriver *d, WsmanClient *c, const VmEntry *vm, const char *id,
            HvJobWait *wait, GError **error)
{
    g_autoptr(GError) local = NULL;

    if (hv_snapshot_destroy(c, id, FALSE, wait, &local)) {
        g_prefix_error(error, _("the checkpoint Hyper-V made was removed "
                                "again: "));
        return;
    }
    g_warning("%s: the half-made checkpoint %s of '%s' could not be removed: "
              "%s",
              hvd_driver_name(d), id, vm->name, local->message);
    g_prefix_error(error,
                   _("the checkpoint Hyper-V made (%s) could not be removed "
                     "(%s): "),
                   hv_instance_guid(id), local->message);
}

/* A group snapshot: one standard checkpoint of the whole group
 * (CreateSnapshot of the collection, type 1), each member's part named as
 * asked and recorded as the group's */
static char *
group_snapshot(HvdDriver *d, const VmEntry *vm, const HvdSnapshotDef *def,
               const HvdGroupRef *want, guint flags, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(GPtrArray) items = NULL;
    g_autoptr(GPtrArray) members = NULL;
    g_autofree char *name = NULL;
    g_autofree char *snapshot = NULL;
    const char *description = def->description ? def->description : "";
    HvJobWait wait = hvd_driver_job_wait(d);
    HvdGroupOp *op = NULL;
    WsmanClient *c;
    gboolean ok;

    if (flags & (VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY |
                 VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE |
                 VIR_DOMAIN_SNAPSHOT_CREATE_HALT)) {
        hvd_error_set(error, HVD_ERROR_SNAPSHOT, VIR_ERR_ARGUMENT_UNSUPPORTED,
                      _("flags 'disk-only', 'quiesce' and 'halt' are not "
                        "supported for a group snapshot: each member's "
                        "checkpoint type decides"));
        return NULL;
    }
    name = def->name ? g_strdup(def->name)
                     : g_strdup_printf("%" G_GINT64_FORMAT,
                                       g_get_real_time() / G_USEC_PER_SEC);
    if (!check_description(name, description, error) ||
        !(c = hvd_driver_client_get(d, error)))
        return NULL;
    op = hvd_group_op_begin(d, c, vm, want, NULL,
                            VIR_DOMAIN_JOB_OPERATION_SNAPSHOT,
                            _("creating snapshot"), name, error);
    ok = op != NULL;
    members = ok ? hvd_group_op_members(op) : NULL;
    for (guint i = 0; ok && i < members->len; i++)
        ok = check_new_name(d, members->pdata[i], name, error);
    if (ok) {
        snapshot = hv_group_snapshot_create(
            c, hvd_group_op_id(op), MSVM_COLLECTION_SNAPSHOT_TYPE_STANDARD,
            &wait, &local);
        items = snapshot ? hv_group_snapshot_items(c, snapshot, &local) : NULL;
        ok = items != NULL;
        if (!ok) {
            hvd_driver_map_error(error, g_steal_pointer(&local));
            g_prefix_error(error, _("the group snapshot of '%s' failed: "),
                           hvd_group_op_name(op));
        }
    }
    for (guint i = 0; ok && i < items->len; i++) {
        Msvm_VirtualSystemSettingData *v = items->pdata[i];
        const char *group[] = { hvd_group_op_name(op), hvd_group_op_id(op),
                                snapshot, NULL };
        VmEntry *owner = NULL;

        for (guint k = 0; k < members->len; k++)
            if (g_ascii_strcasecmp(((VmEntry *) members->pdata[k])->guid,
                                   v->VirtualSystemIdentifier) == 0)
                owner = members->pdata[k];
        ok = hv_settings_modify(c, v->InstanceID, name, description, 0, &wait,
                                &local);
        if (!ok) {
            hvd_driver_map_error(error, g_steal_pointer(&local));
        } else if (owner) {
            g_autoptr(GKeyFile) kf = taken_load(d, owner);
            g_key_file_set_string(
                kf, TAKEN_GROUP, hv_instance_guid(v->InstanceID),
                hvd_state_active(owner->enabled_state) ? "running" : "off");
            g_key_file_set_string_list(
                kf, GROUPS_GROUP, hv_instance_guid(v->InstanceID), group, 3);
            taken_save(d, owner, kf);
        }
    }
    if (!ok && snapshot)
        hvd_group_op_drop(op, c, snapshot, &wait);
    for (guint i = 0; members && i < members->len; i++)
        read_tree(d, c, members->pdata[i], NULL);
    hvd_driver_client_put(d, c);
    hvd_group_op_end(op, ok ? NULL : error);
    return ok ? g_steal_pointer(&name) : NULL;
}

gboolean
hvd_group_snapshot_revert(HvdDriver *d, const char *domain, const char *name,
                          GError **error)
{
    g_autoptr(HvdDomain) dom = hvd_domain_lookup_by_name(d, domain, error);
    g_autoptr(VmEntry) vm =
        dom ? hvd_driver_find_vm(d, dom->uuid, error) : NULL;
    g_autoptr(GPtrArray) members = NULL;
    g_autoptr(GError) local = NULL;
    g_auto(HvdGroupRef) group = { NULL };
    HvJobWait wait = hvd_driver_job_wait(d);
    HvdGroupOp *op = NULL;
    SnapshotTree *t;
    WsmanClient *c;
    Snap *s;
    gboolean ok;

    if (!vm || !(s = resolve_locked(d, vm, name, &t, error)))
        return FALSE;
    group.name = g_strdup(s->group.name);
    group.id = g_strdup(s->group.id);
    group.point = g_strdup(s->group.point);
    g_mutex_unlock(&d->lock);
    if (!group.point) {
        hvd_error_set(error, HVD_ERROR_SNAPSHOT, VIR_ERR_OPERATION_INVALID,
                      _("snapshot '%s' of domain '%s' is no part of a group "
                        "snapshot"),
                      name, vm->name);
        return FALSE;
    }
    if (!(c = hvd_driver_client_get(d, error)))
        return FALSE;
    op = hvd_group_op_begin(d, c, vm, &group, NULL,
                            VIR_DOMAIN_JOB_OPERATION_SNAPSHOT_REVERT,
                            _("reverting to snapshot"), name, error);
    ok = op && hv_group_snapshot_apply(c, group.point, &wait, &local);
    if (op && !ok) {
        hvd_driver_map_error(error, g_steal_pointer(&local));
        g_prefix_error(error, _("the group snapshot of '%s' was not applied: "),
                       group.name);
    }
    members = op ? hvd_group_op_members(op) : NULL;
    for (guint i = 0; members && i < members->len; i++) {
        VmEntry *m = members->pdata[i];
        read_tree(d, c, m, NULL);
        hvd_driver_refresh_vm(d, c, m, NULL, NULL);
    }
    hvd_driver_client_put(d, c);
    hvd_group_op_end(op, ok ? NULL : error);
    return ok;
}

#define CREATE_FLAGS                                                           \
    (VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE |                                     \
     VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT | VIR_DOMAIN_SNAPSHOT_CREATE_HALT |    \
     VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY |                                    \
     VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE | VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC |  \
     VIR_DOMAIN_SNAPSHOT_CREATE_LIVE | VIR_DOMAIN_SNAPSHOT_CREATE_VALIDATE)

char *
hvd_domain_snapshot_create_xml(HvdDriver *d, const guchar uuid[16],
                               const char *xml, guint flags, GError **error)
{
    g_autoptr(VmEntry) vm = NULL;
    g_autoptr(HvdSnapshotDef) def = NULL;
    g_autoptr(GError) local = NULL;
    g_autoptr(Msvm_VirtualSystemSettingData) made = NULL;
    g_autofree char *name = NULL;
    g_autofree char *made_id = NULL;
    g_autofree char *what = NULL;
    g_autofree char *label = NULL;
    g_auto(HvdGroupRef) group = { NULL };
    const char *description;
    HvJobWait wait = hvd_driver_job_wait(d);
    WsmanClient *c;
    gboolean ok, unknown = FALSE;
    guint16 state;

    if (!refuse_flag(flags, VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA,
                     "VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA",
                     _("Hyper-V keeps every checkpoint's metadata"), error) ||
        !refuse_flag(flags, VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT,
                     "VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT",
                     _("Hyper-V makes a checkpoint's disk files itself"),
                     error) ||
        !hvd_check_flags(flags, CREATE_FLAGS, "hvdDomainSnapshotCreateXML",
                         error))
        return NULL;
    if (!hvd_check_requires(flags, VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT,
                            VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE, "current",
                            "redefine", HVD_ERROR_SNAPSHOT, error))
        return NULL;
    def = hvd_snapshot_def_parse(xml, &local);
    if (!def) {
        xml_error(error, local);
        return NULL;
    }
    vm = hvd_driver_find_vm(d, uuid, error);
    if (!vm)
        return NULL;
    if (flags & VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE)
        return redefine(d, vm, def, flags, error);
    if (hvd_group_ref_get(def->domain_xml, &group, &local))
        return group_snapshot(d, vm, def, &group, flags, error);
    if (local) {
        xml_error(error, local);
        return NULL;
    }

    if ((def->disks && def->disks->len > 0) || def->memory) {
        hvd_error_set(error, HVD_ERROR_SNAPSHOT, VIR_ERR_CONFIG_UNSUPPORTED,
                      _("Hyper-V chooses a checkpoint's disks and memory by "
                        "its checkpoint type: leave <disks> and <memory> out "
                        "(use the disk-only flag for a checkpoint without "
                        "memory)"));
        return NULL;
    }
    name = def->name ? g_strdup(def->name)
                     : g_strdup_printf("%" G_GINT64_FORMAT,
                                       g_get_real_time() / G_USEC_PER_SEC);
    description = def->description ? def->description : "";
    if (!check_description(name, description, error) ||
        !check_new_name(d, vm, name, error) ||
        !hvd_domain_job_begin(d, vm, VIR_DOMAIN_JOB_OPERATION_SNAPSHOT,
                              _("creating snapshot"), name, error))
        return NULL;

    c = hvd_driver_client_get(d, error);
    if (!c) {
        hvd_domain_job_end(d, vm, error);
        return NULL;
    }
    /* the state the checkpoint is taken in, as the host has it now: it
     * may have changed since the VM list was read */
    state = vm->enabled_state;
    hvd_driver_refresh_vm(d, c, vm, &state, NULL);
    create_begin(d, vm);
    if (!journal_begin(d, vm, name, error)) {
        create_end(d, vm);
        hvd_driver_client_put(d, c);
        hvd_domain_job_end(d, vm, error);
        return NULL;
    }
    made = take_checkpoint(d, c, vm, flags, &wait, &unknown, error);
    if (made) {
        made_id = g_strdup(made->InstanceID);
    } else if (unknown) {
        made_id = find_made(d, c, vm);
        if (made_id) {
            g_info("%s: CreateSnapshot of '%s' made %s though its answer "
                   "was lost",
                   hvd_driver_name(d), vm->name, made_id);
            g_clear_error(error);
        }
    }
    ok = made_id &&
         name_checkpoint(d, c, vm, made_id, name, description, &wait, error);
    if (ok)
        taken_record(d, vm, made_id, hvd_state_active(state));
    if (made_id && !ok)
        undo_create(d, c, vm, made_id, &wait, error);
    if (ok && (flags & VIR_DOMAIN_SNAPSHOT_CREATE_HALT)) {
        g_autoptr(VmEntry) now = hvd_driver_find_vm(d, uuid, error);
        ok = now && (!hvd_state_active(now->enabled_state) ||
                     hvd_driver_change_state(
                         d, now, MSVM_REQUESTED_STATE_TURN_OFF,
                         VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT, error));
    }
    create_end(d, vm);
    journal_end(d, vm);
    what = g_strdup_printf(_("snapshot '%s' was created"), name);
    if (ok)
        ok = reread(d, c, vm, what, error);
    else
        read_tree(d, c, vm, NULL);
    hvd_driver_client_put(d, c);
    hvd_domain_job_end(d, vm, error);
    if (!ok)
        return NULL;
    g_mutex_lock(&d->lock);
    {
        Snap *s = snap_by_id(tree_of(d, uuid), made_id);
        label = g_strdup(s ? s->m.label : name);
    }
    g_mutex_unlock(&d->lock);
    return g_steal_pointer(&label);
}

/* Revert */

/* The state reason of a domain a revert left in its present state */
static int
from_snapshot_reason(HvdDriver *d, const guchar uuid[16])
{
    g_autoptr(VmEntry) vm = hvd_driver_find_vm(d, uuid, NULL);

    if (!vm)
        return -1;
    if (hvd_state_paused(vm->enabled_state))
        return VIR_DOMAIN_PAUSED_FROM_SNAPSHOT;
    if (hvd_state_active(vm->enabled_state))
        return VIR_DOMAIN_RUNNING_FROM_SNAPSHOT;
    if (hvd_state_saved(vm->enabled_state))
        return -1; /* saved, as Hyper-V's own Saved state says */
    return VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT;
}

#define REVERT_FLAGS                                                           \
    (VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING | VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED |  \
     VIR_DOMAIN_SNAPSHOT_REVERT_FORCE)

gboolean
hvd_domain_revert_to_snapshot(HvdDriver *d, const guchar uuid[16],
                              const char *name, guint flags, GError **error)
{
    g_autoptr(VmEntry) vm = NULL;
    g_autofree char *id = NULL;
    g_autofree char *label = NULL;
    g_autofree char *what = NULL;
    g_autoptr(GError) local = NULL;
    HvJobWait wait = hvd_driver_job_wait(d);
    HvdJobProgress progress;
    gboolean saved, ok, start;
    SnapshotTree *t;
    WsmanClient *c;
    Snap *s;

    if (!hvd_check_flags(flags, REVERT_FLAGS, "hvdDomainRevertToSnapshot",
                         error))
        return FALSE;
    if (!hvd_check_exclusive(flags, VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING,
                             VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED, "running",
                             "paused", HVD_ERROR_SNAPSHOT, error) ||
        !(vm = hvd_driver_find_vm(d, uuid, error)) ||
        !(s = resolve_locked(d, vm, name, &t, error)))
        return FALSE;
    id = g_strdup(s->m.id);
    label = g_strdup(s->m.label);
    saved = s->saved;
    g_mutex_unlock(&d->lock);

    /* libvirt's rules for what needs FORCE: every Hyper-V checkpoint
     * carries the VM's configuration, so only starting a memoryless
     * snapshot in a running domain and dropping a saved state (Hyper-V's
     * form of managed save) for a memoryless snapshot are risky; a
     * running domain reverted to a memoryless snapshot just stops */
    if (!(flags & VIR_DOMAIN_SNAPSHOT_REVERT_FORCE) && !saved) {
        if (hvd_state_active(vm->enabled_state) &&
            (flags & (VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING |
                      VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED))) {
            hvd_error_set(error, HVD_ERROR_SNAPSHOT,
                          VIR_ERR_SNAPSHOT_REVERT_RISKY,
                          _("must respawn guest to start inactive snapshot "
                            "'%s' of domain '%s'"),
                          label, vm->name);
            return FALSE;
        }
        if (hvd_state_saved(vm->enabled_state)) {
            hvd_error_set(error, HVD_ERROR_SNAPSHOT,
                          VIR_ERR_SNAPSHOT_REVERT_RISKY,
                          _("snapshot '%s' has no memory state: removal of "
                            "the saved state of domain '%s' is strongly "
                            "recommended to avoid corruption"),
                          label, vm->name);
            return FALSE;
        }
    }
    if (!hvd_domain_job_begin(d, vm, VIR_DOMAIN_JOB_OPERATION_SNAPSHOT_REVERT,
                              _("reverting to snapshot"), label, error))
        return FALSE;
    wait = hvd_domain_job_wait(d, vm, &progress);
    ok = !hvd_state_active(vm->enabled_state) ||
         hvd_driver_change_state(d, vm, MSVM_REQUESTED_STATE_TURN_OFF,
                                 VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT, error);
    c = ok ? hvd_driver_client_get(d, error) : NULL;
    if (c) {
        ok = hv_snapshot_apply(c, id, &wait, &local);
        /* the answer was lost: the VM's current checkpoint says */
        if (!ok && hv_error_outcome_unknown(local))
            ok = host_shows(d, c, vm, is_current, id);
        if (!ok)
            hvd_driver_map_error(error, g_steal_pointer(&local));
    } else {
        ok = FALSE;
    }
    start = flags & (VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING |
                     VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED)
                ? TRUE
                : saved;
    if (ok && start)
        ok = hvd_driver_change_state(d, vm, MSVM_REQUESTED_STATE_START,
                                     VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT,
                                     error);
    if (ok && (flags & VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED))
        ok = hvd_driver_change_state(d, vm, MSVM_REQUESTED_STATE_PAUSE,
                                     VIR_DOMAIN_EVENT_SUSPENDED_FROM_SNAPSHOT,
                                     error);
    what = g_strdup_printf(_("domain '%s' was reverted to snapshot '%s'"),
                           vm->name, label);
    ok = ok && reread(d, c, vm, what, error);
    if (ok)
        hvd_driver_set_reason(d, vm->uuid, from_snapshot_reason(d, vm->uuid));
    hvd_driver_client_put(d, c);
    hvd_domain_job_end(d, vm, error);
    return ok;
}

/* Delete */

#define DELETE_FLAGS                                                           \
    (VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN |                                     \
     VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY)

gboolean
hvd_domain_snapshot_delete(HvdDriver *d, const guchar uuid[16],
                           const char *name, guint flags, GError **error)
{
    g_autoptr(VmEntry) vm = NULL;
    g_autoptr(GPtrArray) targets = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *label = NULL;
    g_autofree char *what = NULL;
    g_autoptr(GError) local = NULL;
    HvJobWait wait = hvd_driver_job_wait(d);
    HvdJobProgress progress;
    gboolean ok = TRUE;
    SnapshotTree *t;
    WsmanClient *c;
    Snap *s;

    if (flags & VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY) {
        hvd_error_set(error, HVD_ERROR_SNAPSHOT, VIR_ERR_CONFIG_UNSUPPORTED,
                      _("deleting only a snapshot's metadata is not possible "
                        "on Hyper-V: a checkpoint's metadata and its disk "
                        "files go together"));
        return FALSE;
    }
    if (!hvd_check_flags(flags, DELETE_FLAGS, "hvdDomainSnapshotDelete", error))
        return FALSE;
    if (!hvd_check_exclusive(flags, VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN,
                             VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY,
                             "children", "children-only", HVD_ERROR_SNAPSHOT,
                             error) ||
        !(vm = hvd_driver_find_vm(d, uuid, error)) ||
        !(s = resolve_locked(d, vm, name, &t, error)))
        return FALSE;
    label = g_strdup(s->m.label);
    if (flags & VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY) {
        for (HvdMoment *k = s->m.first_child; k; k = k->sibling)
            g_ptr_array_add(targets, g_strdup(k->id));
    } else {
        g_ptr_array_add(targets, g_strdup(s->m.id));
    }
    g_mutex_unlock(&d->lock);

    if (!hvd_domain_job_begin(d, vm, VIR_DOMAIN_JOB_OPERATION_SNAPSHOT_DELETE,
                              _("deleting snapshot"), label, error))
        return FALSE;
    wait = hvd_domain_job_wait(d, vm, &progress);
    c = hvd_driver_client_get(d, error);
    ok = c != NULL;
    for (guint i = 0; ok && i < targets->len; i++) {
        ok = hv_snapshot_destroy(c, targets->pdata[i],
                                 flags &
                                     (VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN |
                                      VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY),
                                 &wait, &local);
        /* the answer was lost: a checkpoint gone from the host was
         * deleted (Hyper-V takes it off the VM before it merges) */
        if (!ok && hv_error_outcome_unknown(local))
            ok = host_shows(d, c, vm, is_gone, targets->pdata[i]);
        if (!ok)
            hvd_driver_map_error(error, g_steal_pointer(&local));
        g_clear_error(&local);
    }
    what = g_strdup_printf(_("snapshot '%s' was deleted"), label);
    ok = ok && reread(d, c, vm, what, error);
    hvd_driver_client_put(d, c);
    hvd_domain_job_end(d, vm, error);
    return ok;
}

GPtrArray *
hvd_driver_reconnect_parent(HvdDriver *d, const char *child, const char *parent,
                            GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(WmiEpr) img = NULL;
    g_autoptr(GPtrArray) chain = NULL;
    GPtrArray *paths = NULL;
    HvJobWait wait = hvd_driver_job_wait(d);
    WsmanClient *c = hvd_driver_client_get(d, error);

    if (!c)
        return NULL;
    if (hv_disk_set_parent(c, child, parent, &wait, &local) &&
        (img = hv_service_epr(c, HV_IMAGE_SERVICE, &local)))
        chain = hv_disk_chain(c, img, child, &local);
    hvd_driver_client_put(d, c);
    if (!chain) {
        hvd_driver_map_error(error, g_steal_pointer(&local));
        return NULL;
    }
    paths = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < chain->len; i++)
        g_ptr_array_add(
            paths,
            g_strdup(
                ((Msvm_VirtualHardDiskSettingData *) chain->pdata[i])->Path));
    return paths;
}
