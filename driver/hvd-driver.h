/*
 * hvd-driver.h: libvirt's API on one Hyper-V host
 *
 * One HvdDriver serves every client connection to its host. Each call
 * returns a GError whose code is libvirt's virErrorNumber and whose
 * domain names libvirt's virErrorDomain (hvd_error_vir_domain()); the
 * message is complete and final, Hyper-V's own text included.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "hv-vm.h"

G_BEGIN_DECLS

/* Error domains; codes are virErrorNumber values. */
#define HVD_ERROR_HYPERV     (hvd_error_hyperv_quark())
#define HVD_ERROR_SNAPSHOT   (hvd_error_snapshot_quark())
#define HVD_ERROR_CHECKPOINT (hvd_error_checkpoint_quark())
GQuark hvd_error_hyperv_quark(void);
GQuark hvd_error_snapshot_quark(void);
GQuark hvd_error_checkpoint_quark(void);
int hvd_error_vir_domain(const GError *error);

/* Sets error with libvirt's wording for code ("Domain not found: ..."). */
void hvd_error_set(GError **error, GQuark domain, int code, const char *fmt,
                   ...) G_GNUC_PRINTF(4, 5);
/* libvirt's virCheckFlags: "unsupported flags (0x..) in function ..." */
gboolean hvd_check_flags(guint flags, guint allowed, const char *function,
                         GError **error);
/* FALSE, with libvirt's error, when flags holds both a and b (named as
 * virsh spells them) */
gboolean hvd_check_exclusive(guint flags, guint a, guint b, const char *a_name,
                             const char *b_name, GQuark domain, GError **error);
/* FALSE when flags holds a without b */
gboolean hvd_check_requires(guint flags, guint a, guint b, const char *a_name,
                            const char *b_name, GQuark domain, GError **error);

/* Well inside what a Windows host's WinRM allows one user by default
 * (MaxConcurrentOperationsPerUser 1500, MaxConnections 300) */
#define HVD_DEFAULT_CONNECTIONS 32
#define HVD_MAX_CONNECTIONS     64

typedef struct {
    char *name; /* the name clients use in ?name=hyperv://NAME/ */
    WsmanOptions wsman;
    guint poll_interval_ms; /* 0: 2000 */
    guint job_timeout_ms;   /* 0: hv-job's default */
    /* connections a call may use at once for reads that do not depend on
     * each other; 0: HVD_DEFAULT_CONNECTIONS */
    guint connections;
    /* the daemon's state folder: operations in flight are recorded there
     * so that a restarted daemon can finish or undo them; NULL: none */
    char *state_dir;
} HvdHostConfig;

/* A deep copy; the free wipes the password */
HvdHostConfig *hvd_host_config_copy(const HvdHostConfig *config);
void hvd_host_config_free(HvdHostConfig *config);

typedef struct _HvdDriver HvdDriver;

/* A domain as clients name it. */
typedef struct {
    char *name;
    guchar uuid[16];
    int id; /* -1 when not running */
} HvdDomain;

void hvd_domain_free(HvdDomain *dom);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvdDomain, hvd_domain_free)

/* Lifecycle events: event and detail are virDomainEventType and its
 * detail enum. */
typedef void (*HvdEventFunc)(const HvdDomain *dom, int event, int detail,
                             gpointer data);

/* config is copied. Nothing is sent to the host before the first call. */
HvdDriver *hvd_driver_new(const HvdHostConfig *config);
void hvd_driver_free(HvdDriver *driver);
const char *hvd_driver_name(HvdDriver *driver);

/* Events go to every listener, from whichever thread saw the change; the
 * host is polled for changes while at least one listener is there. data is
 * destroyed once the listener is removed and no event is being delivered
 * to it. */
guint hvd_driver_add_listener(HvdDriver *driver, HvdEventFunc func,
                              gpointer data, GDestroyNotify destroy);
void hvd_driver_remove_listener(HvdDriver *driver, guint id);

/* Connection */
gboolean hvd_driver_connect(HvdDriver *driver, GError **error);
char *hvd_connect_get_hostname(HvdDriver *driver, GError **error);
char *hvd_connect_get_capabilities(HvdDriver *driver, GError **error);
/* Windows' version, as libvirt counts versions */
gboolean hvd_connect_get_version(HvdDriver *driver, guint64 *version,
                                 GError **error);
gboolean hvd_node_get_info(HvdDriver *driver, virNodeInfo *info,
                           GError **error);
/* Requests made to the host so far (benchmarks, budgets). */
guint64 hvd_driver_request_count(HvdDriver *driver);

/* Domains */
GPtrArray *hvd_connect_list_all_domains(HvdDriver *driver, guint flags,
                                        GError **error);
HvdDomain *hvd_domain_lookup_by_name(HvdDriver *driver, const char *name,
                                     GError **error);
HvdDomain *hvd_domain_lookup_by_uuid(HvdDriver *driver, const guchar uuid[16],
                                     GError **error);
HvdDomain *hvd_domain_lookup_by_id(HvdDriver *driver, int id, GError **error);

gboolean hvd_domain_get_info(HvdDriver *driver, const guchar uuid[16],
                             virDomainInfo *info, GError **error);
gboolean hvd_domain_get_state(HvdDriver *driver, const guchar uuid[16],
                              guint flags, int *state, int *reason,
                              GError **error);
char *hvd_domain_get_xml_desc(HvdDriver *driver, const guchar uuid[16],
                              guint flags, GError **error);
gboolean hvd_domain_is_active(HvdDriver *driver, const guchar uuid[16],
                              gboolean *active, GError **error);
gboolean hvd_domain_get_autostart(HvdDriver *driver, const guchar uuid[16],
                                  gboolean *autostart, GError **error);
gboolean hvd_domain_has_managed_save(HvdDriver *driver, const guchar uuid[16],
                                     guint flags, gboolean *has,
                                     GError **error);

/* Lifecycle: each returns once Hyper-V's job is done. */
HvdDomain *hvd_domain_create(HvdDriver *driver, const guchar uuid[16],
                             guint flags, GError **error);
gboolean hvd_domain_shutdown(HvdDriver *driver, const guchar uuid[16],
                             guint flags, GError **error);
gboolean hvd_domain_destroy(HvdDriver *driver, const guchar uuid[16],
                            guint flags, GError **error);
gboolean hvd_domain_suspend(HvdDriver *driver, const guchar uuid[16],
                            GError **error);
gboolean hvd_domain_resume(HvdDriver *driver, const guchar uuid[16],
                           GError **error);

/* Snapshots (hvd-snapshot.c), named as clients see them: the checkpoint's
 * name, or NAME@GUID for a name the VM has more than once; lookups also
 * take the bare GUID. */
char *hvd_domain_snapshot_create_xml(HvdDriver *driver, const guchar uuid[16],
                                     const char *xml, guint flags,
                                     GError **error);
char *hvd_domain_snapshot_get_xml_desc(HvdDriver *driver, const guchar uuid[16],
                                       const char *name, guint flags,
                                       GError **error);
/* The names of the VM's snapshots (from NULL), or of from's children,
 * that the list flags select, each parent before its children. */
GPtrArray *hvd_domain_list_all_snapshots(HvdDriver *driver,
                                         const guchar uuid[16],
                                         const char *from, guint flags,
                                         GError **error);
char *hvd_domain_snapshot_lookup_by_name(HvdDriver *driver,
                                         const guchar uuid[16],
                                         const char *name, guint flags,
                                         GError **error);
/* NULL without an error when there is none and must is FALSE */
char *hvd_domain_snapshot_current(HvdDriver *driver, const guchar uuid[16],
                                  guint flags, gboolean must, GError **error);
char *hvd_domain_snapshot_get_parent(HvdDriver *driver, const guchar uuid[16],
                                     const char *name, guint flags,
                                     GError **error);
gboolean hvd_domain_snapshot_is_current(HvdDriver *driver,
                                        const guchar uuid[16], const char *name,
                                        guint flags, gboolean *current,
                                        GError **error);
gboolean hvd_domain_snapshot_has_metadata(HvdDriver *driver,
                                          const guchar uuid[16],
                                          const char *name, guint flags,
                                          gboolean *has, GError **error);
/* Revert and delete return once Hyper-V's jobs are done and the VM's
 * disk chains have been read back and checked. */
gboolean hvd_domain_revert_to_snapshot(HvdDriver *driver, const guchar uuid[16],
                                       const char *name, guint flags,
                                       GError **error);
gboolean hvd_domain_snapshot_delete(HvdDriver *driver, const guchar uuid[16],
                                    const char *name, guint flags,
                                    GError **error);
/* The repair of a broken chain: SetParentVirtualHardDisk, then the
 * child's chain read back and checked (paths, the child first). */
GPtrArray *hvd_driver_reconnect_parent(HvdDriver *driver, const char *child,
                                       const char *parent, GError **error);
/* VM groups of the host (hvd-group.c) */
typedef enum {
    HVD_GROUP_DEFINE,
    HVD_GROUP_DESTROY,
    HVD_GROUP_RENAME, /* arg: the new name */
    HVD_GROUP_ADD,    /* arg: the member domain's name */
    HVD_GROUP_REMOVE,
} HvdGroupChange;
/* ApplySnapshot of the group snapshot the snapshot name of domain belongs
 * to: every member goes back (Hyper-V refuses while one runs) */
gboolean hvd_group_snapshot_revert(HvdDriver *d, const char *domain,
                                   const char *name, GError **error);
/* The host's groups, one line each: name, id, members */
GPtrArray *hvd_host_groups(HvdDriver *d, GError **error);
/* A change to the host's group name (or id); DEFINE prints the new id */
gboolean hvd_host_group_change(HvdDriver *d, HvdGroupChange change,
                               const char *name, const char *arg,
                               GError **error);

/* Backups (hvd-backup.c): push mode, Hyper-V exporting a recovery
 * checkpoint of the VM */
gboolean hvd_domain_backup_begin(HvdDriver *driver, const guchar uuid[16],
                                 const char *backup_xml,
                                 const char *checkpoint_xml, guint flags,
                                 GError **error);
char *hvd_domain_backup_get_xml_desc(HvdDriver *driver, const guchar uuid[16],
                                     guint flags, GError **error);
gboolean hvd_domain_abort_job(HvdDriver *driver, const guchar uuid[16],
                              guint flags, GError **error);

/* Checkpoints (hvd-checkpoint.c): RCT reference points, named by the
 * daemon's metadata or, without it, by their GUID */
char *hvd_domain_checkpoint_create_xml(HvdDriver *driver, const guchar uuid[16],
                                       const char *xml, guint flags,
                                       GError **error);
char *hvd_domain_checkpoint_get_xml_desc(HvdDriver *driver,
                                         const guchar uuid[16],
                                         const char *name, guint flags,
                                         GError **error);
/* The names of the VM's checkpoints (from NULL), or of from's children */
GPtrArray *hvd_domain_list_all_checkpoints(HvdDriver *driver,
                                           const guchar uuid[16],
                                           const char *from, guint flags,
                                           GError **error);
char *hvd_domain_checkpoint_lookup_by_name(HvdDriver *driver,
                                           const guchar uuid[16],
                                           const char *name, guint flags,
                                           GError **error);
char *hvd_domain_checkpoint_get_parent(HvdDriver *driver, const guchar uuid[16],
                                       const char *name, guint flags,
                                       GError **error);
gboolean hvd_domain_checkpoint_delete(HvdDriver *driver, const guchar uuid[16],
                                      const char *name, guint flags,
                                      GError **error);

/* The snapshot operation running on the VM, if any */
gboolean hvd_domain_get_job_info(HvdDriver *driver, const guchar uuid[16],
                                 virDomainJobInfo *info, GError **error);

/* What GET_JOB_STATS tells of the operation running on a domain, or of
 * the last one with VIR_DOMAIN_JOB_STATS_COMPLETED */
typedef struct {
    int type;      /* virDomainJobType */
    int operation; /* virDomainJobOperation */
    guint64 elapsed_ms;
    gboolean has_data; /* data_*: percent of Hyper-V's job */
    guint64 data_total;
    guint64 data_processed;
    guint64 data_remaining;
    gboolean completed; /* success and error are set */
    gboolean success;
    char *error; /* why a completed job failed, or NULL */
} HvdJobStats;

gboolean hvd_domain_get_job_stats(HvdDriver *driver, const guchar uuid[16],
                                  guint flags, HvdJobStats *stats,
                                  GError **error);

/* Capacity, allocation and physical size of a disk named by its target
 * (sda) or the path of its active file: capacity is the guest's size,
 * physical the active file's size on the host, allocation the size of
 * every file of the chain together */
gboolean hvd_domain_get_block_info(HvdDriver *driver, const guchar uuid[16],
                                   const char *disk, guint flags,
                                   virDomainBlockInfo *info, GError **error);

/* Memory statistics as virDomainMemoryStatStruct: what Hyper-V reports
 * of a running VM; at most max */
gboolean hvd_domain_memory_stats(HvdDriver *driver, const guchar uuid[16],
                                 guint max, guint flags, GArray **stats,
                                 GError **error);

/* The VM's processors, for flags of VIR_DOMAIN_AFFECT_* and
 * VIR_DOMAIN_VCPU_MAXIMUM */
gboolean hvd_domain_get_vcpus_flags(HvdDriver *driver, const guchar uuid[16],
                                    guint flags, int *count, GError **error);

/* Drops a saved VM's saved state (libvirt's managed save image) */
gboolean hvd_domain_managed_save_remove(HvdDriver *driver,
                                        const guchar uuid[16], guint flags,
                                        GError **error);

G_END_DECLS
