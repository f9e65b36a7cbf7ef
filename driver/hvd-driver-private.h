/*
 * hvd-driver-private.h: what the parts of the driver share
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "hvd-checkpoint-xml.h"
#include "hvd-domain-xml.h"
#include "hvd-driver.h"
#include "hvd-group-xml.h"
#include "hvd-moment.h"
#include "hvd-workers.h"

G_BEGIN_DECLS

/* What the driver knows of one virtual machine */
typedef struct {
    char *guid; /* as the host spells it */
    guchar uuid[16];
    char *name;
    guint16 enabled_state;
    guint32 pid;
    gboolean have_settings;
    guint64 memory_mb;
    guint vcpus;
    guint16 startup_action;
    gboolean seen; /* in the last listing */
    /* the state reason the driver knows, for as long as the VM stays in
     * the state it was seen in then; -1: the state's usual one */
    int reason;
    /* TimeOfLastStateChange, microseconds since 1970; 0: not known */
    gint64 state_since;
} VmEntry;

void hvd_vm_entry_free(gpointer entry);
VmEntry *hvd_vm_entry_copy(const VmEntry *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmEntry, hvd_vm_entry_free)

struct _HvdDriver {
    HvdHostConfig *config;
    GAsyncQueue *idle; /* WsmanClient: one per worker at a time */
    GMutex lock;       /* everything below */
    GPtrArray *clients;
    GHashTable *services;  /* the host's services, as wsman_services_new */
    GHashTable *vms;       /* uuid bytes -> VmEntry */
    gint64 listed_at;      /* monotonic time of the last listing, 0: never */
    GHashTable *hints;     /* uuid bytes -> event detail of a pending change */
    GHashTable *listeners; /* id -> Listener */
    guint next_listener;
    struct Poller *poller;
    GCond wake;
    char *hostname;
    virNodeInfo node;
    guint64 version;
    gboolean have_node;
    GHashTable *snapshots;   /* uuid bytes -> SnapshotTree (hvd-snapshot.c) */
    GHashTable *jobs;        /* uuid bytes -> HvdDomainJob (hvd-domain-job.c) */
    GHashTable *checkpoints; /* uuid bytes -> CheckpointTree */
    GHashTable *backups;     /* uuid bytes -> Backup (hvd-backup.c) */
    GMutex refresh_lock;     /* one listing at a time, so events keep order */
    HvdWorkers *helpers;     /* reading what a fan-out gives them */
    gboolean recovered;      /* the state folder's operations looked at */
};

gboolean hvd_state_active(guint16 enabled_state);
gboolean hvd_state_paused(guint16 enabled_state);
gboolean hvd_state_saved(guint16 enabled_state);
int hvd_vm_entry_id(const VmEntry *e);
HvdDomain *hvd_vm_entry_domain(const VmEntry *e);

/* A connection to the host for the calling thread; give it back. */
WsmanClient *hvd_driver_client_get(HvdDriver *d, GError **error);
void hvd_driver_client_put(HvdDriver *d, WsmanClient *c);
HvJobWait hvd_driver_job_wait(HvdDriver *d);
/* Takes hv (hyperv/'s error) and sets error as libvirt sees it. */
void hvd_driver_map_error(GError **error, GError *hv);
/* The same for a query about vm: the host not finding it means the domain
 * is gone (libvirt's no-domain error, the VM list read again next) */
void hvd_driver_map_vm_error(HvdDriver *d, const VmEntry *vm, GError **error,
                             GError *hv);

/* Whether what was read at read_at (monotonic; 0: never) is younger than
 * the poll interval (lock held) */
gboolean hvd_driver_is_recent(HvdDriver *d, gint64 read_at);

/* A copy of the cache's entry of a VM (refreshed when it is old). */
VmEntry *hvd_driver_find_vm(HvdDriver *d, const guchar uuid[16],
                            GError **error);
/* Re-reads one VM after the driver changed it; *enabled_state, when
 * asked for, is the state the host gave. */
gboolean hvd_driver_refresh_vm(HvdDriver *d, WsmanClient *c, const VmEntry *vm,
                               guint16 *enabled_state, GError **error);
/* Records why the VM is in the state it is now seen in (after a revert:
 * FROM_SNAPSHOT); the next change of state forgets it. */
void hvd_driver_set_reason(HvdDriver *d, const guchar uuid[16], int reason);
/* RequestStateChange; hint is the detail of the event it causes, or -1. */
gboolean hvd_driver_change_state(HvdDriver *d, const VmEntry *e,
                                 guint16 requested, int hint, GError **error);
/* The disks of a settings object's resources, with their chains */
gboolean hvd_driver_add_disks(HvdDriver *d, WsmanClient *c, GPtrArray *rasds,
                              HvdDomainDef *def, GError **error);
/* Reads into files (hv_disk_files_new) the disk files that resources
 * (RASDs) name and their parents, each file not there yet once, the reads
 * of a wave together */
gboolean hvd_driver_read_files(HvdDriver *d, WsmanClient *c, GHashTable *files,
                               GPtrArray *rasds, GError **error);
/* The disks, with their chains, from the files read */
gboolean hvd_driver_disks_from(HvdDriver *d, GPtrArray *rasds,
                               GHashTable *files, HvdDomainDef *def,
                               GError **error);
/* Spreads independent reads over the host's connections */
HvRunner hvd_driver_runner(HvdDriver *d);
char *hvd_format_mac(const char *hyperv);

/* A disk of a VM as it is now: its target, its resource's InstanceID,
 * the file the VM writes */
typedef struct {
    char *target;
    char *resource_id;
    char *path;
} HvdDiskSlot;

/* The slot whose target is name, or with by_path whose file is */
HvdDiskSlot *hvd_disk_slot_find(GPtrArray *slots, const char *name,
                                gboolean by_path);
void hvd_disk_slot_free(gpointer slot);
GPtrArray *hvd_driver_disk_slots(HvdDriver *d, WsmanClient *c,
                                 const VmEntry *vm, GError **error);

/* The state folder: STATE/KIND/HOST/NAME, or NULL without one */
char *hvd_state_path(HvdDriver *d, const char *kind, const char *name);
/* Written whole or not at all: a temporary file, fsync, rename */
gboolean hvd_state_write(const char *path, const char *data, gssize len,
                         GError **error);
/* Memory, processors, NICs and disks of a settings object's resources;
 * the disks' files from files, or read now when it is NULL */
gboolean hvd_driver_fill_domain(HvdDriver *d, WsmanClient *c, GPtrArray *rasds,
                                GHashTable *files, HvdDomainDef *def,
                                GError **error);

/* What table (keyed by UUID bytes) keeps for a VM, made with make when
 * first asked for (lock held) */
gpointer hvd_driver_per_vm(GHashTable *table, const guchar uuid[16],
                           gpointer (*make)(void));

/* hvd-domain-job.c: the one operation of the driver running on a VM */
typedef struct _HvdDomainJob HvdDomainJob;
void hvd_domain_job_free(gpointer job);
/* Starts the VM's job: operation is a virDomainJobOperation; verb and
 * what tell other clients what is busy ("deleting snapshot", its name).
 * FALSE, "domain is busy", while another job runs. */
gboolean hvd_domain_job_begin(HvdDriver *d, const VmEntry *vm, int operation,
                              const char *verb, const char *what,
                              GError **error);
/* The running job can be aborted: ABORT_JOB cancels abort and waits for
 * the job's end */
void hvd_domain_job_set_abort(HvdDriver *d, const VmEntry *vm,
                              GCancellable *abort);
/* Ends it; error: what it failed with, or NULL or unset for success */
void hvd_domain_job_end(HvdDriver *d, const VmEntry *vm, GError **error);

/* For HvJobWait.progress: Hyper-V's PercentComplete into the VM's job */
typedef struct {
    HvdDriver *driver;
    guchar uuid[16];
} HvdJobProgress;
void hvd_domain_job_progress(guint percent, gpointer progress);
/* The driver's wait for Hyper-V's jobs (hvd_driver_job_wait), their
 * progress going into vm's job through progress, which lives as long as
 * the wait */
HvJobWait hvd_domain_job_wait(HvdDriver *d, const VmEntry *vm,
                              HvdJobProgress *progress);

/* hvd-group.c: VM groups */
/* An operation on the whole group want names, of which asker is a member:
 * every member's domain job begun (refused as busy when one is) and, with
 * def, every member's checkpoint prepared; ended with its jobs */
typedef struct _HvdGroupOp HvdGroupOp;
HvdGroupOp *hvd_group_op_begin(HvdDriver *d, WsmanClient *c,
                               const VmEntry *asker, const HvdGroupRef *want,
                               const HvdCheckpointDef *def, int operation,
                               const char *verb, const char *what,
                               GError **error);
void hvd_group_op_end(HvdGroupOp *op, GError **error);
const char *hvd_group_op_id(const HvdGroupOp *op);
/* The members' VmEntry, owned by op */
GPtrArray *hvd_group_op_members(const HvdGroupOp *op);
const char *hvd_group_op_name(const HvdGroupOp *op);
/* ABORT_JOB of any member cancels abort */
void hvd_group_op_set_abort(HvdGroupOp *op, GCancellable *abort);
/* For HvJobWait.progress: every member's job */
void hvd_group_op_progress(guint percent, gpointer op);
/* A recovery checkpoint of the group: its CollectionID */
char *hvd_group_op_snapshot(HvdGroupOp *op, WsmanClient *c, HvJobWait *wait,
                            GError **error);
/* It removed again */
void hvd_group_op_drop(HvdGroupOp *op, WsmanClient *c, const char *snapshot,
                       HvJobWait *wait);
/* It converted to a group reference point, every member's checkpoint
 * recorded (or none) */
gboolean hvd_group_op_checkpoint(HvdGroupOp *op, WsmanClient *c,
                                 const char *snapshot, HvJobWait *wait,
                                 GError **error);
/* The checkpoint def of a member of the group want names, taken of the
 * whole group */
char *hvd_group_checkpoint_create(HvdDriver *d, const VmEntry *vm,
                                  HvdCheckpointDef *def,
                                  const HvdGroupRef *want, GError **error);

/* hvd-moments.c: what snapshots and checkpoints share. Each kind keeps,
 * per VM, a struct that starts with HvdMomentCache. */
typedef struct {
    HvdMomentTree *moments;
    gint64 read_at; /* monotonic; 0: never */
} HvdMomentCache;

typedef enum {
    HVD_MOMENT_SNAPSHOT,
    HVD_MOMENT_CHECKPOINT,
} HvdMomentKindId;

typedef struct {
    HvdMomentKindId id; /* what errors call it */
    glong table;        /* G_STRUCT_OFFSET of its GHashTable in the driver */
    gpointer (*make)(void); /* a VM's new struct */
    /* reads the VM's moments from the host into its struct */
    gboolean (*read)(HvdDriver *d, WsmanClient *c, const VmEntry *vm,
                     GError **error);
} HvdMomentKind;

/* "no domain snapshot (checkpoint) with matching name" */
void hvd_moment_not_found(const HvdMomentKind *k, GError **error,
                          const char *name);

/* The VM's struct (lock held), made when first asked for */
HvdMomentCache *hvd_moment_cache_of(HvdDriver *d, const HvdMomentKind *k,
                                    const guchar uuid[16]);
/* Reads the VM's moments when asked to or when older than the poll
 * interval */
gboolean hvd_moment_cache_ensure(HvdDriver *d, const HvdMomentKind *k,
                                 const VmEntry *vm, gboolean reread,
                                 GError **error);
/* The moment a client names (lock held on success, *cache set); a name
 * the cache does not know is looked for once more on the host */
HvdMoment *hvd_moment_cache_resolve(HvdDriver *d, const HvdMomentKind *k,
                                    const VmEntry *vm, const char *name,
                                    HvdMomentCache **cache, GError **error);
/* The label of the moment a client names, or of its parent */
char *hvd_moment_lookup(HvdDriver *d, const HvdMomentKind *k,
                        const guchar uuid[16], const char *name,
                        gboolean parent, GError **error);
/* The labels of the VM's moments (from NULL) or of from's children, as the
 * shared flags (HvdMomentListFlags) and filter keep them */
GPtrArray *hvd_moment_list(HvdDriver *d, const HvdMomentKind *k,
                           const guchar uuid[16], const char *from, guint flags,
                           HvdMomentFilter filter, gpointer data,
                           GError **error);

/* hvd-snapshot.c */
void hvd_snapshot_tree_free(gpointer tree);
/* hvd-backup.c */
void hvd_backup_free(gpointer backup);
/* Aborts the backups running, waiting for each to end (at shutdown) */
void hvd_backup_stop_all(HvdDriver *d);
/* hvd-checkpoint.c */
void hvd_checkpoint_tree_free(gpointer tree);
/* What a new checkpoint needs before its point is made: a name (the time,
 * when def has none) no other has, disks the VM has, the domain as it is
 * now. The VM's disks, or NULL. */
GPtrArray *hvd_driver_prepare_checkpoint(HvdDriver *d, WsmanClient *c,
                                         const VmEntry *vm,
                                         HvdCheckpointDef *def, GError **error);
/* A recovery checkpoint of the VM: its InstanceID */
char *hvd_checkpoint_recovery_new(HvdDriver *d, WsmanClient *c,
                                  const VmEntry *vm, gboolean quiesce,
                                  HvJobWait *wait, GError **error);
/* The recovery checkpoint converted into the checkpoint def describes,
 * whose parent is the newest one; its metadata recorded */
gboolean hvd_checkpoint_from_recovery(HvdDriver *d, WsmanClient *c,
                                      const VmEntry *vm, HvdCheckpointDef *def,
                                      GPtrArray *slots, const char *recovery_id,
                                      HvJobWait *wait, GError **error);
/* The metadata of a new point recorded: its disks, its parent (the newest
 * checkpoint), its creation time; a point whose metadata cannot be written
 * is destroyed again */
gboolean hvd_checkpoint_record(HvdDriver *d, WsmanClient *c, const VmEntry *vm,
                               HvdCheckpointDef *def, GPtrArray *slots,
                               const Msvm_VirtualSystemReferencePoint *point,
                               HvJobWait *wait, GError **error);
/* The metadata of a point removed */
void hvd_checkpoint_forget(HvdDriver *d, const VmEntry *vm,
                           const char *point_id);
/* Whether the checkpoint a client names is a member's part of a group
 * checkpoint, filling ref (error unset when it is not found either way:
 * FALSE with error set) */
gboolean hvd_checkpoint_group_of(HvdDriver *d, const VmEntry *vm,
                                 const char *name, HvdGroupRef *ref,
                                 GError **error);
/* The reference point's InstanceID of the checkpoint a client names */
char *hvd_checkpoint_point_of(HvdDriver *d, const VmEntry *vm, const char *name,
                              GError **error);
/* Finishes or undoes the creates a stopped daemon recorded in the state
 * folder, saying what it did in the log. */
void hvd_snapshot_recover(HvdDriver *d);

G_END_DECLS
