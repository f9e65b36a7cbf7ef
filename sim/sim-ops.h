/*
 * sim-ops.h: what the method files of hypervsim share: jobs, parameters,
 * and the per-VM snapshot operations that VM groups repeat per member
 *
 * All functions are called with host->lock held; the ones that do long
 * disk work drop it meanwhile and take it again before they return.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "sim-host.h"
#include "vhdx.h"

G_BEGIN_DECLS

typedef gboolean (*SimJobRun)(SimHost *host, SimJob *job, gpointer data,
                              GError **error);

/* Creates a job and queues its work on the host's worker. */
SimJob *sim_job_start(SimHost *host, guint16 type, gboolean storage,
                      SimJobRun run, gpointer data, GDestroyNotify free_data);
/* Called without the lock, from a job's work. */
void sim_job_progress(SimHost *host, SimJob *job, guint percent);
/* The same, then the host's lock taken for the step's work */
void sim_job_step(SimHost *host, SimJob *job, guint percent);
/* Whether a test asked vm's part of job to fail (lock held): error says
 * how */
gboolean sim_member_fault(SimHost *host, const SimJob *job, const SimVm *vm,
                          GError **error);
/* What the job made or changed, for its AffectedElement: the class and
 * the object's id (a VM's Name, a checkpoint's or reference point's
 * InstanceID with or without "Microsoft:", a CollectionID) */
void sim_job_affects(SimJob *job, const char *class_name, const char *id);

/* What a job needs to find its objects again from the worker, by id, and
 * the values it was given; each job uses the fields it needs. */
typedef struct {
    char *vm_id;
    char *group_id;
    char *item_id;   /* the snapshot or point worked on */
    char *directory; /* an export's */
    char *base_id;   /* what an export is differential against, or NULL */
    char *path;      /* a disk created, a child, a merge's source */
    char *other;     /* a parent, a merge's destination */
    guint16 value;   /* a SnapshotType, an EnabledState ... */
    guint8 consistency;
    gboolean copy_storage;
    gboolean subdir;
    gboolean ignore_id_mismatch;
    gboolean tree; /* a snapshot's whole subtree */
    VhdxCreateOptions opts;
} SimTask;

SimTask *sim_task_new(void);
/* A job on one VM: the VM and a value or two */
SimTask *sim_vm_task_new(SimVm *vm, guint16 value, guint8 consistency);
void sim_task_free(SimTask *t);
/* sim_job_step, then the VM t works on, or NULL with error set when it
 * went while the job waited (the lock is held either way) */
SimVm *sim_job_step_vm(SimHost *host, SimJob *job, guint percent,
                       const SimTask *t, GError **error);
/* The same for the checkpoint id and its VM (*vm) */
SimSnapshot *sim_job_step_snapshot(SimHost *host, SimJob *job, guint percent,
                                   const char *id, SimVm **vm, GError **error);

void sim_out_job(WmiObject *out, SimJob *job);
/* Starts a job on t (taken) for a method, its output naming the job and
 * the resulting parameter, if any, nil until the job ends */
guint32 sim_start_task(SimHost *host, WmiObject *out, guint16 type,
                       SimJobRun run, SimTask *t, const char *resulting);
/* The value of key in a WMI object path (root\...:Class.Key="value",...),
 * unescaped; the text itself when it names no key; NULL when empty */
char *sim_path_key(const char *path, const char *key);
/* The VM a reference parameter names, or NULL */
SimVm *sim_param_vm(SimHost *host, const WmiObject *in, const char *name);
/* A selector of a reference parameter, or NULL */
const char *sim_param_selector(const WmiObject *in, const char *name,
                               const char *selector);
const char *sim_param_text(const WmiObject *in, const char *name);
const WmiEpr *sim_param_epr(const WmiObject *in, const char *name);
gboolean sim_param_uint(const WmiObject *in, const char *name, guint64 max,
                        guint64 *out);

gboolean sim_vm_is_running(SimVm *vm);
/* Every disk of the VM and its snapshots that was from is now to */
void sim_vm_replace_references(SimVm *vm, const char *from, const char *to);
/* Sets EnabledState; a change moves TimeOfLastStateChange to now */
void sim_vm_set_state(SimVm *vm, guint16 state);
/* ConsistencyLevel from an embedded Msvm_VirtualSystemSnapshotSettingData;
 * 0 when the caller left it to the host, FALSE when it does not parse */
gboolean sim_settings_consistency(const char *settings, guint8 *out);

/* Freezes the VM's disks into a new snapshot (type: SnapshotType) */
SimSnapshot *sim_take_snapshot(SimHost *host, SimVm *vm, guint16 type,
                               guint8 consistency, GError **error);
/* Removes a snapshot and merges its disks as Hyper-V does */
gboolean sim_destroy_snapshot(SimHost *host, SimJob *job, SimVm *vm,
                              SimSnapshot *s, GError **error);
/* Puts the VM on fresh children of the snapshot's disks */
gboolean sim_apply_snapshot(SimHost *host, SimVm *vm, SimSnapshot *s,
                            GError **error);
/* A recovery snapshot becomes an RCT reference point */
SimRefPoint *sim_convert_snapshot(SimHost *host, SimJob *job, SimVm *vm,
                                  SimSnapshot *s, GError **error);
void sim_destroy_refpoint(SimHost *host, SimVm *vm, SimRefPoint *r);
/* One checkpoint of every member of g, type MSVM_COLLECTION_SNAPSHOT_TYPE_*,
 * all or none (lock held); job, when there is one, is told which member
 * failed and why */
SimGroupPoint *sim_group_take(SimHost *host, SimGroup *g, guint16 type,
                              guint8 consistency, SimJob *job, GError **error);
/* A snapshot or reference point that goes leaves its group's points */
void sim_leave_group_points(SimHost *host, const char *id, gboolean refpoint);

/* The parent file of a differencing disk, or NULL */
char *sim_disk_parent(const char *path);
/* The same, of a file open as img */
char *sim_image_parent(VhdxImage *img, const char *path);
/* Merges a child into its parent, with the job's progress */
gboolean sim_merge_file(SimHost *host, SimJob *job, const char *child,
                        GError **error);

/* A method of a class, as hypervsim serves it: the ReturnValue, out
 * filled in; a GError is a SOAP fault. Called with the host's lock held. */
/* Reference points (sim-refpoints.c) */
gboolean sim_is_recovery(SimSnapshot *s);

/* Exports (sim-export.c) */
typedef struct {
    guint64 offset;
    guint64 length;
} SimRange;
/* The ranges of slot the guest changed after change counter after and up
 * to until, in order, overlapping ones joined */
GArray *sim_changed_ranges(SimVm *vm, const char *slot, guint64 after,
                           guint64 until);
typedef struct _SimExport SimExport;
SimExport *sim_export_new(void);
void sim_export_free(SimExport *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SimExport, sim_export_free)
/* Plans the export of checkpoint s of vm into dir/<VM name>/, or dir
 * itself without subdir (lock held):
 * differential when since (the base's change counter) is given, base_id
 * recorded in the description; the folders and description are written
 * now, the disks by sim_export_run. */
gboolean sim_export_plan(SimExport *e, const char *dir, gboolean subdir,
                         SimVm *vm, SimSnapshot *s, gboolean copy_storage,
                         const guint64 *since, const char *base_id,
                         GError **error);
/* Copies the planned disks (lock not held), the job's progress going from
 * from to to; on failure or cancel, removes everything the export wrote */
gboolean sim_export_run(SimExport *e, SimHost *host, SimJob *job, guint from,
                        guint to, GError **error);

typedef guint32 (*SimMethodFunc)(SimHost *host, const WmiObject *target,
                                 const char *method, const WmiObject *in,
                                 WmiObject *out, GError **error);

typedef struct {
    const char *class_name; /* a subclass's instances are served too */
    const char *method;
    SimMethodFunc func;
} SimMethod;

/* Each service's methods, ended by a NULL class (sim-ops.c: checkpoints,
 * VM state, settings and jobs; sim-groups.c: reference points and VM
 * groups; sim-vhd.c: the image service) */
extern const SimMethod sim_ops_methods[];
extern const SimMethod sim_groups_methods[];
extern const SimMethod sim_refpoints_methods[];
extern const SimMethod sim_export_methods[];
extern const SimMethod sim_vhd_methods[];

/* The function serving method on an instance of class_name, or NULL */
SimMethodFunc sim_method_find(const char *class_name, const char *method);
/* Why hypervsim does not serve a method the schema declares, or NULL
 * when it serves it (or the schema does not declare it) */
const char *sim_method_not_served(const char *class_name, const char *method);

G_END_DECLS
