/*
 * sim-host.h: the Hyper-V host hypervsim stands for
 *
 * The model is typed (VMs, snapshots, disks, jobs); instances of the Msvm
 * classes are rendered from it on demand, so that associations are always
 * what the model says. All access holds host->lock.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "msvm-classes.h"
#include "sim-wql.h"

G_BEGIN_DECLS

#define SIM_MAX_SNAPSHOTS 50

/* One virtual disk slot: the file the owner uses there. */
typedef struct {
    char *slot_id; /* a GUID, stable per VM and slot */
    char *path;    /* POSIX path of the VHDX/AVHDX */
} SimDiskRef;

typedef struct {
    char *id; /* GUID: InstanceID is "Microsoft:<id>" */
    char *name;
    GPtrArray *notes;
    GDateTime *created;
    char *parent_id; /* NULL for a root */
    gboolean is_saved;
    char *type; /* VirtualSystemType */
    guint64 memory_mb;
    guint cpus;
    guint16 vm_state;   /* EnabledState captured */
    GPtrArray *disks;   /* SimDiskRef: the frozen files */
    char *state_file;   /* saved memory state, when is_saved */
    guint8 consistency; /* ConsistencyLevel: 1 application, 2 crash */
    guint64 change_seq; /* the VM's change counter when it was taken */
} SimSnapshot;

/* An RCT reference point: what remains of a recovery checkpoint once it
 * was converted; change tracking continues from change_seq. */
typedef struct {
    char *id; /* GUID: InstanceID is "Microsoft:<id>" */
    GDateTime *created;
    guint8 consistency;
    guint64 change_seq; /* the VM's change counter when it was made */
    GPtrArray *slots;   /* the disk slots it covers */
    GPtrArray *rct_ids; /* one per slot */
} SimRefPoint;

/* A range of a disk the guest wrote, numbered in order. */
typedef struct {
    char *slot_id;
    guint64 offset;
    guint64 length;
    guint64 seq;
} SimChange;

typedef struct {
    char *id; /* GUID, Msvm_ComputerSystem.Name */
    char *name;
    GPtrArray *notes;
    GDateTime *created;
    guint16 state;
    GDateTime *state_changed; /* TimeOfLastStateChange */
    guint16 busy_status;      /* OperationalStatus[1] while busy, or 0 */
    guint32 pid;              /* of its worker process while it runs, or 0 */
    guint16 startup_action;   /* AutomaticStartupAction */
    guint64 memory_mb;
    guint cpus;
    guint16 user_snapshot_type;
    gboolean guest_vss;    /* production checkpoints succeed in the guest */
    GPtrArray *disks;      /* SimDiskRef: the files the VM writes now */
    GPtrArray *macs;       /* MAC addresses of its NICs */
    char *current_id;      /* the snapshot the running state derives from */
    GPtrArray *snapshots;  /* SimSnapshot */
    char *dir;             /* the VM's folder */
    char *last_applied_id; /* the snapshot applied last */
    GPtrArray *refpoints;  /* SimRefPoint */
    GPtrArray *changes;    /* SimChange: what RCT has tracked */
    guint64 change_seq;
} SimVm;

/* A snapshot or reference point of a VM group: one per member VM. */
typedef struct {
    char *id; /* CollectionID */
    char *name;
    GDateTime *created;
    guint16 type; /* snapshot: CollectionSnapshotType */
    guint8 consistency;
    GPtrArray *items; /* per member: snapshot or reference point GUIDs */
} SimGroupPoint;

/* A VM group (Msvm_VirtualSystemCollection). */
typedef struct {
    char *id; /* CollectionID, a GUID */
    char *name;
    GPtrArray *members;   /* VM GUIDs */
    GPtrArray *snapshots; /* SimGroupPoint: Msvm_SnapshotCollection */
    GPtrArray *refpoints; /* SimGroupPoint: Msvm_ReferencePointCollection */
    GDateTime *last_apply_time;
    GPtrArray *last_apply_vms;
    guint8 last_apply_consistency;
} SimGroup;

typedef struct {
    char *id;
    char *class_name; /* Msvm_ConcreteJob or Msvm_StorageJob */
    guint16 type;
    guint16 state;
    guint16 percent;
    guint16 error_code;
    char *error_description;
    GPtrArray *error_messages; /* for GetErrorEx */
    GDateTime *submitted;
    GDateTime *started;
    GDateTime *finished;
    gboolean cancellable;
    gboolean cancel_requested;
    char *affected_class;
    char *affected_key; /* InstanceID, or a VM's Name */
    char *child_path;   /* storage jobs: where a chain broke */
    char *parent_path;
} SimJob;

/* A fault a test asked for: the next job of a type fails or is slow; with
 * vm, only that member's part of a group job fails. */
typedef struct {
    guint16 job_type; /* 0: any */
    char *vm;
    guint16 error_code;
    char *text;
    guint delay_ms;
    guint count;
} SimJobFault;

typedef struct {
    GMutex lock;
    char *name; /* the host's NetBIOS name */
    char *state_dir;
    GPtrArray *vms;  /* SimVm */
    GPtrArray *jobs; /* SimJob */
    GPtrArray *job_faults;
    GPtrArray *groups;         /* SimGroup */
    gboolean crash_next_merge; /* the next merge stops as if cut off */
    guint64 crash_after_bytes; /* ... once it has copied this much */
    guint merge_chunk_ms;      /* a pause after each chunk a merge copies */
    GThreadPool *workers;
    guint job_step_ms; /* pacing of job progress */
    guint32 last_pid;
} SimHost;

SimHost *sim_host_new(const char *name, const char *state_dir);
void sim_host_free(SimHost *host);

/* Windows-looking paths: drive C: stands for the root file system. */
char *sim_path_to_windows(const char *posix);
char *sim_path_from_windows(const char *windows);

SimVm *sim_host_find_vm(SimHost *host, const char *id_or_name);
SimSnapshot *sim_vm_find_snapshot(SimVm *vm, const char *id);
SimSnapshot *sim_host_find_snapshot(SimHost *host, const char *instance_id,
                                    SimVm **vm_out);
SimJob *sim_host_find_job(SimHost *host, const char *id);
SimRefPoint *sim_host_find_refpoint(SimHost *host, const char *instance_id,
                                    SimVm **vm_out);
SimGroup *sim_host_find_group(SimHost *host, const char *id_or_name);
SimGroupPoint *sim_group_find_point(GPtrArray *points, const char *id);
SimGroupPoint *sim_host_find_group_point(SimHost *host, const char *id,
                                         gboolean refpoints,
                                         SimGroup **group_out);

/* Adds a VM with new dynamic disks of disk_mb each. */
SimVm *sim_host_add_vm(SimHost *host, const char *name, guint n_disks,
                       guint64 disk_mb, GError **error);
gboolean sim_host_remove_vm(SimHost *host, const char *id_or_name,
                            GError **error);

SimDiskRef *sim_disk_ref_new(const char *slot_id, const char *path);
void sim_disk_ref_free(SimDiskRef *d);
void sim_snapshot_free(SimSnapshot *s);
void sim_vm_free(SimVm *vm);
void sim_refpoint_free(SimRefPoint *r);
void sim_change_free(SimChange *c);
void sim_group_point_free(SimGroupPoint *p);
SimGroup *sim_group_new(const char *id, const char *name);
void sim_group_free(SimGroup *g);
/* The guest wrote a range: change tracking records it. */
void sim_vm_track_write(SimVm *vm, const char *slot_id, guint64 offset,
                        guint64 length);

/* Methods (sim-ops.c), called with the lock held. Returns the
 * ReturnValue and fills out; a GError is a SOAP fault. */
guint32 sim_invoke(SimHost *host, const WmiObject *target, const char *method,
                   const WmiObject *in, WmiObject *out, GError **error);
/* Starts the worker that runs jobs. */
void sim_host_start(SimHost *host);

/* Rendering and queries (sim-view.c; caller holds the lock) */
GPtrArray *sim_host_instances(SimHost *host, const char *class_name);
GPtrArray *sim_host_query(SimHost *host, const WqlQuery *q, GError **error);
WmiObject *sim_host_get(SimHost *host, const char *class_name,
                        const WmiEpr *selectors, GError **error);
WmiEpr *sim_host_epr_of(SimHost *host, const WmiObject *instance);

/* Persistence (sim-state.c): the model as JSON in state_dir/host.json */
typedef struct _JsonBuilder JsonBuilder;
/* The builder's document, written to path */
gboolean sim_json_write(JsonBuilder *b, const char *path, GError **error);
gboolean sim_host_save(SimHost *host, GError **error);
gboolean sim_host_load(SimHost *host, GError **error);

char *sim_guid_new(void);
/* An InstanceID without its "Microsoft:" prefix */
const char *sim_strip_microsoft(const char *instance_id);

G_END_DECLS
