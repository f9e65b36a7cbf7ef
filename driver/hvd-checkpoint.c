/*
 * hvd-checkpoint.c: libvirt's domain checkpoints on Hyper-V's RCT
 * reference points
 *
 * A checkpoint is a reference point: made from a recovery checkpoint
 * (CreateSnapshot, SnapshotType 32768) with ConvertToReferencePoint, it
 * keeps the position of Resilient Change Tracking in each disk, and
 * nothing else. Name, description, parent, creation time and the domain as
 * it was are the daemon's: one domaincheckpoint document per reference
 * point, STATE/checkpoints/HOST/VMGUID/POINTGUID.xml, written whole or not
 * at all. A point without such a file (the folder was lost, or backup
 * software made it) is named by its GUID until REDEFINE adopts it; a file
 * whose point is gone is dropped.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "hv-refpoint.h"
#include "hvd-checkpoint-xml.h"
#include "hvd-driver-private.h"
#include "hvd-group-xml.h"
#include "hvd-moment.h"

typedef struct {
    HvdMoment m;            /* id: the reference point's InstanceID */
    GStrv rct_ids;          /* per disk, the RCT identifier */
    GStrv disk_ids;         /* per disk, its resource's InstanceID */
    HvdCheckpointDef *meta; /* the daemon's document; NULL: none */
} Ckpt;

typedef struct {
    HvdMomentCache cache; /* of Ckpt */
    /* when a point without metadata was first seen, lower-case InstanceID
     * -> seconds since 1970: its creation time for clients */
    GHashTable *first_seen;
} CheckpointTree;

static void
ckpt_free(gpointer p)
{
    Ckpt *k = p;
    hvd_moment_clear(&k->m);
    g_strfreev(k->rct_ids);
    g_strfreev(k->disk_ids);
    hvd_checkpoint_def_free(k->meta);
    g_free(k);
}

static gpointer
tree_new(void)
{
    CheckpointTree *t = g_new0(CheckpointTree, 1);
    t->cache.moments =
        hvd_moment_tree_new(g_ptr_array_new_with_free_func(ckpt_free));
    t->first_seen =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    return t;
}

void
hvd_checkpoint_tree_free(gpointer p)
{
    CheckpointTree *t = p;
    hvd_moment_tree_free(t->cache.moments);
    g_hash_table_unref(t->first_seen);
    g_free(t);
}

/* The VM's tree (lock held) */
static CheckpointTree *
tree_of(HvdDriver *d, const guchar uuid[16])
{
    return hvd_driver_per_vm(d->checkpoints, uuid, tree_new);
}

static gboolean read_tree(HvdDriver *d, WsmanClient *c, const VmEntry *vm,
                          GError **error);

static const HvdMomentKind kind = {
    HVD_MOMENT_CHECKPOINT,
    G_STRUCT_OFFSET(struct _HvdDriver, checkpoints),
    tree_new,
    read_tree,
};

static gboolean
ensure_tree(HvdDriver *d, const VmEntry *vm, gboolean reread, GError **error)
{
    return hvd_moment_cache_ensure(d, &kind, vm, reread, error);
}

static Ckpt *
resolve_locked(HvdDriver *d, const VmEntry *vm, const char *name,
               CheckpointTree **tree, GError **error)
{
    return (Ckpt *) hvd_moment_cache_resolve(d, &kind, vm, name,
                                             (HvdMomentCache **) tree, error);
}

/* Metadata */

static char *
meta_dir(HvdDriver *d, const VmEntry *vm)
{
    g_autofree char *guid = g_ascii_strdown(vm->guid, -1);
    return hvd_state_path(d, "checkpoints", guid);
}

static char *
meta_path(HvdDriver *d, const VmEntry *vm, const char *point_id)
{
    g_autofree char *dir = meta_dir(d, vm);
    g_autofree char *guid = g_ascii_strdown(hv_instance_guid(point_id), -1);
    g_autofree char *file = g_strconcat(guid, ".xml", NULL);

    return dir ? g_build_filename(dir, file, NULL) : NULL;
}

static gboolean
meta_save(HvdDriver *d, const VmEntry *vm, const char *point_id,
          const HvdCheckpointDef *def, GError **error)
{
    g_autofree char *path = meta_path(d, vm, point_id);
    g_autofree char *xml = hvd_checkpoint_def_format(def, FALSE);
    g_autoptr(GError) local = NULL;

    if (!path || hvd_state_write(path, xml, -1, &local))
        return TRUE;
    hvd_error_set(error, HVD_ERROR_CHECKPOINT, VIR_ERR_OPERATION_FAILED,
                  _("cannot record checkpoint '%s' of domain '%s' in the "
                    "state folder: %s"),
                  def->name, vm->name, local->message);
    return FALSE;
}

static void
meta_remove(HvdDriver *d, const VmEntry *vm, const char *point_id)
{
    g_autofree char *path = meta_path(d, vm, point_id);

    if (path && g_unlink(path) < 0 && errno != ENOENT)
        g_warning("%s: cannot remove %s: %s", hvd_driver_name(d), path,
                  g_strerror(errno));
}

/* Every metadata file of the VM: lower-case point GUID -> definition */
static GHashTable *
meta_load(HvdDriver *d, const VmEntry *vm)
{
    g_autofree char *dir_path = meta_dir(d, vm);
    g_autoptr(GDir) dir = dir_path ? g_dir_open(dir_path, 0, NULL) : NULL;
    GHashTable *out =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                              (GDestroyNotify) hvd_checkpoint_def_free);
    const char *name;

    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *path = g_build_filename(dir_path, name, NULL);
        g_autofree char *text = NULL;
        g_autoptr(GError) local = NULL;
        HvdCheckpointDef *def;

        if (!g_str_has_suffix(name, ".xml"))
            continue;
        def = g_file_get_contents(path, &text, NULL, &local)
                  ? hvd_checkpoint_def_parse(text, &local)
                  : NULL;
        if (def && !def->name) {
            g_set_error(&local, HVD_XML_ERROR, HVD_XML_ERROR_INVALID,
                        _("it has no name"));
            g_clear_pointer(&def, hvd_checkpoint_def_free);
        }
        if (!def) {
            g_warning("%s: checkpoint metadata %s is not readable, left "
                      "alone: %s",
                      hvd_driver_name(d), path, local->message);
            continue;
        }
        g_hash_table_insert(out, g_ascii_strdown(name, strlen(name) - 4), def);
    }
    return out;
}

/* The tree */

static gboolean
is_rct(const Msvm_VirtualSystemReferencePoint *p)
{
    return p->InstanceID &&
           p->ReferencePointType == MSVM_REFERENCE_POINT_TYPE_RCT;
}

/* Reads the VM's reference points and the metadata kept of them; metadata
 * of points gone is dropped, and said so. */
static gboolean
read_tree(HvdDriver *d, WsmanClient *c, const VmEntry *vm, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(GPtrArray) points = hv_refpoint_list(c, vm->guid, &local);
    g_autoptr(GHashTable) metas = NULL;
    g_autoptr(GHashTable) by_name = g_hash_table_new(g_str_hash, g_str_equal);
    GPtrArray *ckpts = g_ptr_array_new_with_free_func(ckpt_free);
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    CheckpointTree *t;
    GHashTableIter it;
    gpointer key, value;

    if (!points) {
        g_ptr_array_unref(ckpts);
        hvd_driver_map_vm_error(d, vm, error, g_steal_pointer(&local));
        return FALSE;
    }
    metas = meta_load(d, vm);
    g_mutex_lock(&d->lock);
    t = tree_of(d, vm->uuid);
    for (guint i = 0; i < points->len; i++) {
        Msvm_VirtualSystemReferencePoint *p = points->pdata[i];
        g_autofree char *guid = NULL;
        Ckpt *k;

        if (!is_rct(p))
            continue;
        guid = g_ascii_strdown(hv_instance_guid(p->InstanceID), -1);
        k = g_new0(Ckpt, 1);
        k->m.id = g_strdup(p->InstanceID);
        k->rct_ids = g_strdupv(p->ResilientChangeTrackingIdentifiers);
        k->disk_ids = g_strdupv(p->VirtualDiskIdentifiers);
        {
            g_autofree char *stolen = NULL;
            g_hash_table_steal_extended(metas, guid, (gpointer *) &stolen,
                                        (gpointer *) &k->meta);
        }
        if (k->meta) {
            k->m.name = g_strdup(k->meta->name);
            k->m.description = g_strdup(k->meta->description);
            k->m.created = k->meta->creation_time;
            k->m.has_metadata = TRUE;
            g_hash_table_insert(by_name, k->m.name, k);
        } else {
            gint64 *seen = g_hash_table_lookup(t->first_seen, guid);
            if (!seen) {
                seen = g_new(gint64, 1);
                *seen = now;
                g_hash_table_insert(t->first_seen, g_strdup(guid), seen);
            }
            k->m.name = g_strdup(hv_instance_guid(p->InstanceID));
            k->m.created = *seen;
        }
        k->m.created_us = k->m.created * G_USEC_PER_SEC;
        g_ptr_array_add(ckpts, k);
    }
    for (guint i = 0; i < ckpts->len; i++) {
        Ckpt *k = ckpts->pdata[i];
        Ckpt *parent = k->meta && k->meta->parent
                           ? g_hash_table_lookup(by_name, k->meta->parent)
                           : NULL;
        if (parent)
            k->m.parent_id = g_strdup(parent->m.id);
    }
    hvd_moment_tree_free(t->cache.moments);
    t->cache.moments = hvd_moment_tree_new(ckpts);
    t->cache.read_at = g_get_monotonic_time();
    g_mutex_unlock(&d->lock);

    g_hash_table_iter_init(&it, metas);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        HvdCheckpointDef *def = value;
        g_info("%s: checkpoint '%s' of domain '%s' is gone from the host "
               "(reference point %s): its metadata is dropped",
               hvd_driver_name(d), def->name, vm->name, (char *) key);
        meta_remove(d, vm, key);
    }
    return TRUE;
}

/* Lookups and lists */

char *
hvd_domain_checkpoint_lookup_by_name(HvdDriver *d, const guchar uuid[16],
                                     const char *name, guint flags,
                                     GError **error)
{
    if (!hvd_check_flags(flags, 0, "hvdDomainCheckpointLookupByName", error))
        return NULL;
    return hvd_moment_lookup(d, &kind, uuid, name, FALSE, error);
}

char *
hvd_domain_checkpoint_get_parent(HvdDriver *d, const guchar uuid[16],
                                 const char *name, guint flags, GError **error)
{
    if (!hvd_check_flags(flags, 0, "hvdDomainCheckpointGetParent", error))
        return NULL;
    return hvd_moment_lookup(d, &kind, uuid, name, TRUE, error);
}

#define LIST_FLAGS                                                             \
    (VIR_DOMAIN_CHECKPOINT_LIST_ROOTS |                                        \
     VIR_DOMAIN_CHECKPOINT_LIST_TOPOLOGICAL |                                  \
     VIR_DOMAIN_CHECKPOINT_LIST_LEAVES | VIR_DOMAIN_CHECKPOINT_LIST_NO_LEAVES)

GPtrArray *
hvd_domain_list_all_checkpoints(HvdDriver *d, const guchar uuid[16],
                                const char *from, guint flags, GError **error)
{
    guint mflags = 0;

    if (!hvd_check_flags(flags, LIST_FLAGS,
                         from ? "hvdDomainCheckpointListAllChildren"
                              : "hvdDomainListAllCheckpoints",
                         error))
        return NULL;
    if (flags & VIR_DOMAIN_CHECKPOINT_LIST_ROOTS)
        mflags |= HVD_MOMENT_LIST_ROOTS;
    if (flags & VIR_DOMAIN_CHECKPOINT_LIST_TOPOLOGICAL)
        mflags |= HVD_MOMENT_LIST_TOPOLOGICAL;
    if (flags & VIR_DOMAIN_CHECKPOINT_LIST_LEAVES)
        mflags |= HVD_MOMENT_LIST_LEAVES;
    if (flags & VIR_DOMAIN_CHECKPOINT_LIST_NO_LEAVES)
        mflags |= HVD_MOMENT_LIST_NO_LEAVES;
    return hvd_moment_list(d, &kind, uuid, from, mflags, NULL, NULL, error);
}

/* XML */

/* The slot of the VM's disks now whose resource is disk_id */
static HvdDiskSlot *
slot_of(GPtrArray *slots, const char *disk_id, guint index)
{
    for (guint i = 0; slots && disk_id && i < slots->len; i++) {
        HvdDiskSlot *s = slots->pdata[i];
        if (s->resource_id && g_ascii_strcasecmp(s->resource_id, disk_id) == 0)
            return s;
    }
    return slots && !disk_id && index < slots->len ? slots->pdata[index] : NULL;
}

/* What a client sees of k (lock held); disks named after slots when the
 * metadata does not name them */
static HvdCheckpointDef *
client_def(const Ckpt *k, GPtrArray *slots)
{
    HvdCheckpointDef *def = hvd_checkpoint_def_new();

    def->name = g_strdup(k->m.label);
    def->description = g_strdup(k->m.description);
    def->parent = k->m.parent ? g_strdup(k->m.parent->label) : NULL;
    def->creation_time = k->m.created;
    def->domain_xml = k->meta ? g_strdup(k->meta->domain_xml) : NULL;
    for (guint i = 0; k->rct_ids && k->rct_ids[i]; i++) {
        const char *disk_id = k->disk_ids && i < g_strv_length(k->disk_ids)
                                  ? k->disk_ids[i]
                                  : NULL;
        HvdDiskSlot *s = slot_of(slots, disk_id, i);
        const char *name = NULL;
        for (guint j = 0; !name && k->meta && j < k->meta->disks->len; j++) {
            HvdCheckpointDiskDef *m = k->meta->disks->pdata[j];
            if (g_strcmp0(m->bitmap, k->rct_ids[i]) == 0)
                name = m->name;
        }
        if (!name && s)
            name = s->target;
        if (name)
            hvd_checkpoint_def_add_disk(def, name, k->rct_ids[i]);
    }
    return def;
}

/* SIZE: what each disk changed since the checkpoint, from the host */
static gboolean
add_sizes(HvdDriver *d, WsmanClient *c, HvdCheckpointDef *def, GPtrArray *slots,
          GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(WmiEpr) img = hv_service_epr(c, HV_IMAGE_SERVICE, &local);
    HvJobWait wait = hvd_driver_job_wait(d);

    for (guint i = 0; img && i < def->disks->len; i++) {
        HvdCheckpointDiskDef *disk = def->disks->pdata[i];
        g_autoptr(GPtrArray) chain = NULL;
        HvdDiskSlot *s = hvd_disk_slot_find(slots, disk->name, FALSE);

        if (!s || !disk->bitmap)
            continue;
        chain = hv_disk_chain(c, img, s->path, &local);
        if (!chain || !hv_disk_changes(
                          c, s->path, disk->bitmap,
                          ((Msvm_VirtualHardDiskSettingData *) chain->pdata[0])
                              ->MaxInternalSize,
                          NULL, &disk->size, &wait, &local))
            break;
        disk->has_size = TRUE;
    }
    if (local) {
        hvd_driver_map_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    return TRUE;
}

#define XML_FLAGS                                                              \
    (VIR_DOMAIN_CHECKPOINT_XML_SECURE | VIR_DOMAIN_CHECKPOINT_XML_NO_DOMAIN |  \
     VIR_DOMAIN_CHECKPOINT_XML_SIZE)

char *
hvd_domain_checkpoint_get_xml_desc(HvdDriver *d, const guchar uuid[16],
                                   const char *name, guint flags,
                                   GError **error)
{
    g_autoptr(VmEntry) vm = NULL;
    g_autoptr(GPtrArray) slots = NULL;
    g_autoptr(HvdCheckpointDef) def = NULL;
    CheckpointTree *t;
    WsmanClient *c;
    Ckpt *k;

    if (!hvd_check_flags(flags, XML_FLAGS, "hvdDomainCheckpointGetXMLDesc",
                         error) ||
        !(vm = hvd_driver_find_vm(d, uuid, error)) ||
        !(k = resolve_locked(d, vm, name, &t, error)))
        return NULL;
    /* the disks of a point the daemon did not make are named by the VM's
     * disks now, which asks the host */
    if (k->meta && !(flags & VIR_DOMAIN_CHECKPOINT_XML_SIZE)) {
        def = client_def(k, NULL);
        g_mutex_unlock(&d->lock);
        return hvd_checkpoint_def_format(
            def, flags & VIR_DOMAIN_CHECKPOINT_XML_NO_DOMAIN);
    }
    g_mutex_unlock(&d->lock);

    c = hvd_driver_client_get(d, error);
    if (!c)
        return NULL;
    slots = hvd_driver_disk_slots(d, c, vm, error);
    if (slots) {
        g_mutex_lock(&d->lock);
        k = (Ckpt *) hvd_moment_tree_find_name(tree_of(d, uuid)->cache.moments,
                                               name);
        def = k ? client_def(k, slots) : NULL;
        g_mutex_unlock(&d->lock);
        if (!def)
            hvd_moment_not_found(&kind, error, name);
    }
    if (def && (flags & VIR_DOMAIN_CHECKPOINT_XML_SIZE) &&
        !add_sizes(d, c, def, slots, error))
        g_clear_pointer(&def, hvd_checkpoint_def_free);
    hvd_driver_client_put(d, c);
    return def ? hvd_checkpoint_def_format(
                     def, flags & VIR_DOMAIN_CHECKPOINT_XML_NO_DOMAIN)
               : NULL;
}

/* Create */

static gboolean
check_disks(const VmEntry *vm, const HvdCheckpointDef *def, GPtrArray *slots,
            GError **error)
{
    for (guint i = 0; i < def->disks->len; i++) {
        HvdCheckpointDiskDef *disk = def->disks->pdata[i];

        if (!hvd_disk_slot_find(slots, disk->name, TRUE)) {
            hvd_error_set(error, HVD_ERROR_CHECKPOINT, VIR_ERR_INVALID_ARG,
                          _("domain '%s' has no disk '%s' (name a target "
                            "such as sda, or a disk's file)"),
                          vm->name, disk->name);
            return FALSE;
        }
        if (disk->skipped) {
            hvd_error_set(error, HVD_ERROR_CHECKPOINT,
                          VIR_ERR_CONFIG_UNSUPPORTED,
                          _("disk '%s' cannot be left out: a Hyper-V "
                            "reference point tracks every disk of the "
                            "domain (leave checkpoint='no' out)"),
                          disk->name);
            return FALSE;
        }
        if (disk->bitmap) {
            hvd_error_set(error, HVD_ERROR_CHECKPOINT,
                          VIR_ERR_CONFIG_UNSUPPORTED,
                          _("the bitmap of disk '%s' cannot be named '%s': "
                            "on Hyper-V it is the RCT identifier the host "
                            "gives (leave bitmap= out)"),
                          disk->name, disk->bitmap);
            return FALSE;
        }
    }
    return TRUE;
}

/* The current checkpoint, the one made last: its point's
 * GUID in STATE/checkpoints/HOST/VM-GUID/current (creation times, in
 * seconds, do not tell two made in one second apart) */
static char *
current_path(HvdDriver *d, const VmEntry *vm)
{
    g_autofree char *dir = meta_dir(d, vm);
    return dir ? g_build_filename(dir, "current", NULL) : NULL;
}

static void
current_set(HvdDriver *d, const VmEntry *vm, const char *point_id)
{
    g_autofree char *path = current_path(d, vm);
    g_autofree char *guid = g_ascii_strdown(hv_instance_guid(point_id), -1);
    g_autoptr(GError) local = NULL;

    if (path && !hvd_state_write(path, guid, -1, &local))
        g_warning("%s: cannot record the current checkpoint of '%s': %s",
                  hvd_driver_name(d), vm->name, local->message);
}

/* The new checkpoint's parent (lock held): the current one while it is
 * there, else the newest with metadata */
static const Ckpt *
newest(HvdDriver *d, const VmEntry *vm, const CheckpointTree *t)
{
    g_autofree char *path = current_path(d, vm);
    g_autofree char *guid = NULL;
    GPtrArray *all = hvd_moment_tree_all(t->cache.moments);
    const Ckpt *best = NULL;

    if (path && g_file_get_contents(path, &guid, NULL, NULL)) {
        best = (const Ckpt *) hvd_moment_tree_find_name(t->cache.moments,
                                                        g_strstrip(guid));
        if (best && best->m.has_metadata)
            return best;
        best = NULL;
    }
    for (guint i = 0; i < all->len; i++) {
        const Ckpt *k = all->pdata[i];
        if (k->m.has_metadata && (!best || k->m.created >= best->m.created))
            best = k;
    }
    return best;
}

/* Converts the recovery checkpoint; a failed conversion removes it */
static Msvm_VirtualSystemReferencePoint *
convert(HvdDriver *d, WsmanClient *c, const VmEntry *vm,
        const char *recovery_id, HvJobWait *wait, GError **error)
{
    g_autoptr(GError) local = NULL;
    Msvm_VirtualSystemReferencePoint *point =
        hv_refpoint_convert(c, recovery_id, wait, &local);

    if (!point) {
        g_autoptr(GError) undo = NULL;
        if (!hv_snapshot_destroy(c, recovery_id, FALSE, wait, &undo))
            g_warning("%s: cannot remove the recovery checkpoint %s of '%s' "
                      "a failed checkpoint left: %s",
                      hvd_driver_name(d), recovery_id, vm->name, undo->message);
        hvd_driver_map_error(error, g_steal_pointer(&local));
    }
    return point;
}

char *
hvd_checkpoint_recovery_new(HvdDriver *d, WsmanClient *c, const VmEntry *vm,
                            gboolean quiesce, HvJobWait *wait, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(Msvm_VirtualSystemSettingData) recovery = hv_snapshot_create(
        c, vm->guid, MSVM_SNAPSHOT_TYPE_RECOVERY,
        quiesce ? MSVM_CONSISTENCY_LEVEL_APPLICATION : 0, wait, &local);

    if (!recovery) {
        hvd_driver_map_error(error, g_steal_pointer(&local));
        return NULL;
    }
    return g_strdup(recovery->InstanceID);
}

/* The metadata of a new point: the disks with their RCT identifiers */
static void
fill_disks(HvdCheckpointDef *def, const Msvm_VirtualSystemReferencePoint *p,
           GPtrArray *slots)
{
    g_ptr_array_set_size(def->disks, 0);
    for (guint i = 0; p->ResilientChangeTrackingIdentifiers &&
                      p->ResilientChangeTrackingIdentifiers[i];
         i++) {
        const char *disk_id =
            p->VirtualDiskIdentifiers &&
                    i < g_strv_length(p->VirtualDiskIdentifiers)
                ? p->VirtualDiskIdentifiers[i]
                : NULL;
        HvdDiskSlot *s = slot_of(slots, disk_id, i);
        if (s)
            hvd_checkpoint_def_add_disk(
                def, s->target, p->ResilientChangeTrackingIdentifiers[i]);
    }
}

static gboolean
check_new_name(const VmEntry *vm, const CheckpointTree *t, const char *name,
               GError **error)
{
    if (!hvd_moment_tree_find_name(t->cache.moments, name) &&
        !hvd_moment_tree_name_taken(t->cache.moments, name))
        return TRUE;
    hvd_error_set(error, HVD_ERROR_CHECKPOINT, VIR_ERR_OPERATION_INVALID,
                  _("domain checkpoint '%s' already exists"), name);
    return FALSE;
}

/* REDEFINE: metadata for a point Hyper-V has, found by name (its label or
 * GUID) or by the RCT identifiers the disks give as bitmaps */
static char *
redefine(HvdDriver *d, const VmEntry *vm, HvdCheckpointDef *def, GError **error)
{
    CheckpointTree *t;
    Ckpt *k = NULL, *parent = NULL;
    g_autofree char *id = NULL;

    if (!def->name) {
        hvd_error_set(error, HVD_ERROR_CHECKPOINT, VIR_ERR_INVALID_ARG,
                      _("a redefined checkpoint must have a name"));
        return NULL;
    }
    if (def->has_domain_uuid && memcmp(def->domain_uuid, vm->uuid, 16) != 0) {
        hvd_error_set(error, HVD_ERROR_CHECKPOINT, VIR_ERR_INVALID_ARG,
                      _("checkpoint '%s' names another domain than '%s'"),
                      def->name, vm->name);
        return NULL;
    }
    if (!ensure_tree(d, vm, TRUE, error))
        return NULL;
    g_mutex_lock(&d->lock);
    t = tree_of(d, vm->uuid);
    k = (Ckpt *) hvd_moment_tree_find_name(t->cache.moments, def->name);
    for (guint i = 0; !k && i < def->disks->len; i++) {
        const char *bitmap =
            ((HvdCheckpointDiskDef *) def->disks->pdata[i])->bitmap;
        GPtrArray *all = hvd_moment_tree_all(t->cache.moments);
        for (guint j = 0; bitmap && !k && j < all->len; j++) {
            Ckpt *o = all->pdata[j];
            if (o->rct_ids &&
                g_strv_contains((const char *const *) o->rct_ids, bitmap))
                k = o;
        }
    }
    if (!k) {
        g_mutex_unlock(&d->lock);
        hvd_error_set(error, HVD_ERROR_CHECKPOINT, VIR_ERR_CONFIG_UNSUPPORTED,
                      _("cannot redefine checkpoint '%s': no reference point "
                        "of domain '%s' has that name, GUID or RCT "
                        "identifier, and only Hyper-V makes reference "
                        "points"),
                      def->name, vm->name);
        return NULL;
    }
    if (!g_str_equal(k->m.name, def->name) &&
        g_ascii_strcasecmp(hv_instance_guid(k->m.id), def->name) != 0 &&
        !check_new_name(vm, t, def->name, error)) {
        g_mutex_unlock(&d->lock);
        return NULL;
    }
    if (def->parent) {
        parent =
            (Ckpt *) hvd_moment_tree_find_name(t->cache.moments, def->parent);
        if (!parent || parent == k || !parent->m.has_metadata ||
            hvd_moment_descends_from(&parent->m, &k->m)) {
            g_mutex_unlock(&d->lock);
            hvd_error_set(error, HVD_ERROR_CHECKPOINT,
                          VIR_ERR_CONFIG_UNSUPPORTED,
                          _("cannot redefine checkpoint '%s' with parent "
                            "'%s': the parent must be another named "
                            "checkpoint of domain '%s', not one of its "
                            "descendants"),
                          def->name, def->parent, vm->name);
            return NULL;
        }
        g_free(def->parent);
        def->parent = g_strdup(parent->m.name);
    }
    /* a GUID name adopts the point under that name */
    if (!k->m.has_metadata &&
        g_ascii_strcasecmp(hv_instance_guid(k->m.id), def->name) == 0) {
        g_free(def->name);
        def->name = g_strdup(hv_instance_guid(k->m.id));
    }
    if (!def->creation_time)
        def->creation_time = k->m.created;
    if (!def->disks->len && k->meta)
        for (guint i = 0; i < k->meta->disks->len; i++) {
            HvdCheckpointDiskDef *m = k->meta->disks->pdata[i];
            hvd_checkpoint_def_add_disk(def, m->name, m->bitmap);
        }
    if (!def->domain_xml && k->meta)
        def->domain_xml = g_strdup(k->meta->domain_xml);
    id = g_strdup(k->m.id);
    g_mutex_unlock(&d->lock);

    if (!meta_save(d, vm, id, def, error) || !ensure_tree(d, vm, TRUE, error))
        return NULL;
    return g_strdup(def->name);
}

#define CREATE_FLAGS                                                           \
    (VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE |                                   \
     VIR_DOMAIN_CHECKPOINT_CREATE_QUIESCE |                                    \
     VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE_VALIDATE)

char *
hvd_domain_checkpoint_create_xml(HvdDriver *d, const guchar uuid[16],
                                 const char *xml, guint flags, GError **error)
{
    g_autoptr(VmEntry) vm = NULL;
    g_autoptr(HvdCheckpointDef) def = NULL;
    g_autoptr(GError) local = NULL;
    g_autoptr(GPtrArray) slots = NULL;
    g_auto(HvdGroupRef) group = { NULL };
    HvJobWait wait = hvd_driver_job_wait(d);
    HvdJobProgress progress;
    WsmanClient *c;
    gboolean ok;

    if (!hvd_check_flags(flags, CREATE_FLAGS, "hvdDomainCheckpointCreateXML",
                         error))
        return NULL;
    if (!hvd_check_requires(
            flags, VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE_VALIDATE,
            VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE, "redefine-validate",
            "redefine", HVD_ERROR_CHECKPOINT, error) ||
        !hvd_check_exclusive(flags, VIR_DOMAIN_CHECKPOINT_CREATE_QUIESCE,
                             VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE, "quiesce",
                             "redefine", HVD_ERROR_CHECKPOINT, error))
        return NULL;
    def = hvd_checkpoint_def_parse(xml, &local);
    if (!def) {
        hvd_error_set(error, HVD_ERROR_CHECKPOINT, VIR_ERR_XML_ERROR, "%s",
                      local->message);
        return NULL;
    }
    if (!d->config->state_dir) {
        hvd_error_set(error, HVD_ERROR_CHECKPOINT, VIR_ERR_OPERATION_INVALID,
                      _("checkpoints need the daemon's state folder "
                        "(--state-dir): Hyper-V keeps no name for a "
                        "reference point"));
        return NULL;
    }
    vm = hvd_driver_find_vm(d, uuid, error);
    if (!vm)
        return NULL;
    /* REDEFINE_VALIDATE: the point found has every bitmap named, as RCT
     * identifiers Hyper-V gives; nothing more to check */
    if (flags & VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE)
        return redefine(d, vm, def, error);
    if (hvd_group_ref_get(def->domain_xml, &group, &local)) {
        if (flags & VIR_DOMAIN_CHECKPOINT_CREATE_QUIESCE) {
            hvd_error_set(error, HVD_ERROR_CHECKPOINT,
                          VIR_ERR_ARGUMENT_UNSUPPORTED,
                          _("flag 'quiesce' is not supported for a group "
                            "checkpoint: Hyper-V takes the consistency of "
                            "the whole group"));
            return NULL;
        }
        return hvd_group_checkpoint_create(d, vm, def, &group, error);
    }
    if (local) {
        hvd_error_set(error, HVD_ERROR_CHECKPOINT, VIR_ERR_XML_ERROR, "%s",
                      local->message);
        return NULL;
    }

    if (!hvd_domain_job_begin(d, vm, VIR_DOMAIN_JOB_OPERATION_UNKNOWN,
                              _("creating checkpoint"), def->name, error))
        return NULL;
    wait = hvd_domain_job_wait(d, vm, &progress);
    c = hvd_driver_client_get(d, error);
    ok = c && (slots = hvd_driver_prepare_checkpoint(d, c, vm, def, error));
    if (ok) {
        g_autofree char *recovery = hvd_checkpoint_recovery_new(
            d, c, vm, flags & VIR_DOMAIN_CHECKPOINT_CREATE_QUIESCE, &wait,
            error);
        ok = recovery && hvd_checkpoint_from_recovery(d, c, vm, def, slots,
                                                      recovery, &wait, error);
    }
    if (c)
        hvd_driver_client_put(d, c);
    hvd_domain_job_end(d, vm, error);
    return ok ? g_strdup(def->name) : NULL;
}

GPtrArray *
hvd_driver_prepare_checkpoint(HvdDriver *d, WsmanClient *c, const VmEntry *vm,
                              HvdCheckpointDef *def, GError **error)
{
    g_autoptr(GPtrArray) slots = NULL;
    gboolean ok;

    if (!def->name)
        def->name = g_strdup_printf("%" G_GINT64_FORMAT,
                                    g_get_real_time() / G_USEC_PER_SEC);
    if (!read_tree(d, c, vm, error))
        return NULL;
    g_mutex_lock(&d->lock);
    ok = check_new_name(vm, tree_of(d, vm->uuid), def->name, error);
    g_mutex_unlock(&d->lock);
    if (!ok || !(slots = hvd_driver_disk_slots(d, c, vm, error)) ||
        !check_disks(vm, def, slots, error))
        return NULL;
    /* the domain as it is when its disks are checkpointed */
    g_free(def->domain_xml);
    def->domain_xml = hvd_domain_get_xml_desc(d, vm->uuid, 0, error);
    return def->domain_xml ? g_steal_pointer(&slots) : NULL;
}

gboolean
hvd_checkpoint_record(HvdDriver *d, WsmanClient *c, const VmEntry *vm,
                      HvdCheckpointDef *def, GPtrArray *slots,
                      const Msvm_VirtualSystemReferencePoint *point,
                      HvJobWait *wait, GError **error)
{
    g_autoptr(GError) local = NULL;
    const Ckpt *parent;

    g_mutex_lock(&d->lock);
    parent = newest(d, vm, tree_of(d, vm->uuid));
    g_free(def->parent);
    def->parent = parent ? g_strdup(parent->m.name) : NULL;
    g_mutex_unlock(&d->lock);
    def->creation_time = g_get_real_time() / G_USEC_PER_SEC;
    fill_disks(def, point, slots);
    if (!meta_save(d, vm, point->InstanceID, def, error)) {
        if (!hv_refpoint_destroy(c, point->InstanceID, vm->guid, wait, &local))
            g_warning("%s: cannot remove reference point %s of '%s': %s",
                      hvd_driver_name(d), point->InstanceID, vm->name,
                      local->message);
        return FALSE;
    }
    current_set(d, vm, point->InstanceID);
    return read_tree(d, c, vm, error);
}

void
hvd_checkpoint_forget(HvdDriver *d, const VmEntry *vm, const char *point_id)
{
    meta_remove(d, vm, point_id);
}

gboolean
hvd_checkpoint_from_recovery(HvdDriver *d, WsmanClient *c, const VmEntry *vm,
                             HvdCheckpointDef *def, GPtrArray *slots,
                             const char *recovery_id, HvJobWait *wait,
                             GError **error)
{
    g_autoptr(Msvm_VirtualSystemReferencePoint) point =
        convert(d, c, vm, recovery_id, wait, error);

    return point &&
           hvd_checkpoint_record(d, c, vm, def, slots, point, wait, error);
}

char *
hvd_checkpoint_point_of(HvdDriver *d, const VmEntry *vm, const char *name,
                        GError **error)
{
    CheckpointTree *t;
    Ckpt *k = resolve_locked(d, vm, name, &t, error);
    char *id;

    if (!k)
        return NULL;
    id = g_strdup(k->m.id);
    g_mutex_unlock(&d->lock);
    return id;
}

gboolean
hvd_checkpoint_group_of(HvdDriver *d, const VmEntry *vm, const char *name,
                        HvdGroupRef *ref, GError **error)
{
    CheckpointTree *t;
    Ckpt *k = resolve_locked(d, vm, name, &t, error);
    gboolean group;

    if (!k)
        return FALSE;
    group = k->meta && hvd_group_ref_get(k->meta->domain_xml, ref, NULL);
    g_mutex_unlock(&d->lock);
    return group;
}

/* Delete */

static void
add_subtree(GPtrArray *out, HvdMoment *m)
{
    for (HvdMoment *k = m->first_child; k; k = k->sibling) {
        add_subtree(out, k);
        g_ptr_array_add(out, g_strdup(k->id));
    }
}

#define DELETE_FLAGS                                                           \
    (VIR_DOMAIN_CHECKPOINT_DELETE_CHILDREN |                                   \
     VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY |                              \
     VIR_DOMAIN_CHECKPOINT_DELETE_CHILDREN_ONLY)

gboolean
hvd_domain_checkpoint_delete(HvdDriver *d, const guchar uuid[16],
                             const char *name, guint flags, GError **error)
{
    g_autoptr(VmEntry) vm = NULL;
    /* InstanceIDs, children before parents */
    g_autoptr(GPtrArray) targets = g_ptr_array_new_with_free_func(g_free);
    /* the children left of a deleted one: InstanceID -> new parent name */
    g_autoptr(GHashTable) orphans =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autofree char *label = NULL;
    gboolean metadata_only = flags & VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY;
    HvJobWait wait = hvd_driver_job_wait(d);
    HvdJobProgress progress;
    g_autoptr(GError) local = NULL;
    CheckpointTree *t;
    WsmanClient *c = NULL;
    gboolean ok = TRUE;
    Ckpt *k;

    if (!hvd_check_flags(flags, DELETE_FLAGS, "hvdDomainCheckpointDelete",
                         error))
        return FALSE;
    if (!hvd_check_exclusive(flags, VIR_DOMAIN_CHECKPOINT_DELETE_CHILDREN,
                             VIR_DOMAIN_CHECKPOINT_DELETE_CHILDREN_ONLY,
                             "children", "children-only", HVD_ERROR_CHECKPOINT,
                             error) ||
        !(vm = hvd_driver_find_vm(d, uuid, error)) ||
        !(k = resolve_locked(d, vm, name, &t, error)))
        return FALSE;
    label = g_strdup(k->m.label);
    if (flags & (VIR_DOMAIN_CHECKPOINT_DELETE_CHILDREN |
                 VIR_DOMAIN_CHECKPOINT_DELETE_CHILDREN_ONLY))
        add_subtree(targets, &k->m);
    if (!(flags & VIR_DOMAIN_CHECKPOINT_DELETE_CHILDREN_ONLY)) {
        g_ptr_array_add(targets, g_strdup(k->m.id));
        /* its children move up to its parent, as libvirt does */
        for (HvdMoment *o = k->m.first_child;
             o && !(flags & VIR_DOMAIN_CHECKPOINT_DELETE_CHILDREN);
             o = o->sibling)
            if (o->has_metadata)
                g_hash_table_insert(
                    orphans, g_strdup(o->id),
                    g_strdup(k->m.parent ? k->m.parent->name : NULL));
    }
    g_mutex_unlock(&d->lock);

    if (!metadata_only) {
        if (!hvd_domain_job_begin(d, vm, VIR_DOMAIN_JOB_OPERATION_UNKNOWN,
                                  _("deleting checkpoint"), label, error))
            return FALSE;
        wait = hvd_domain_job_wait(d, vm, &progress);
        c = hvd_driver_client_get(d, error);
        ok = c != NULL;
    }
    for (guint i = 0; ok && i < targets->len; i++) {
        const char *id = targets->pdata[i];
        if (!metadata_only &&
            !hv_refpoint_destroy(c, id, vm->guid, &wait, &local)) {
            hvd_driver_map_error(error, g_steal_pointer(&local));
            ok = FALSE;
            break;
        }
        meta_remove(d, vm, id);
    }
    /* the children that stay get their new parent, even after a failure
     * part way: their parent may be gone */
    {
        GHashTableIter it;
        gpointer id, parent;
        g_hash_table_iter_init(&it, orphans);
        while (g_hash_table_iter_next(&it, &id, &parent)) {
            g_autoptr(HvdCheckpointDef) meta = NULL;
            g_mutex_lock(&d->lock);
            k = (Ckpt *) hvd_moment_tree_find_id(
                tree_of(d, uuid)->cache.moments, id);
            if (k && k->meta) {
                g_autofree char *doc =
                    hvd_checkpoint_def_format(k->meta, FALSE);
                meta = hvd_checkpoint_def_parse(doc, NULL);
            }
            g_mutex_unlock(&d->lock);
            if (!meta)
                continue;
            g_free(meta->parent);
            meta->parent = g_strdup(parent);
            if (!meta_save(d, vm, id, meta, ok ? error : NULL))
                ok = FALSE;
        }
    }
    if (c) {
        ok = read_tree(d, c, vm, ok ? error : NULL) && ok;
        hvd_driver_client_put(d, c);
    } else {
        ok = ensure_tree(d, vm, TRUE, ok ? error : NULL) && ok;
    }
    if (!metadata_only)
        hvd_domain_job_end(d, vm, ok ? NULL : error);
    return ok;
}
