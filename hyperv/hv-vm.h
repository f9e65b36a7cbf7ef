/*
 * hv-vm.h: virtual machines on a Hyper-V host: listing, state changes,
 * settings and the disk chains they use
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "hv-job.h"

G_BEGIN_DECLS

/* Msvm_ComputerSystem.Description of a VM (the host has another one) */
#define HV_VM_DESCRIPTION "Microsoft Virtual Machine"

/* Converts every object of a reply (taken, even on failure) to the typed
 * struct of klass. */
GPtrArray *hv_typed_list(const WmiClassDef *klass, GPtrArray *objects,
                         GError **error);

/* Every VM of the host, as Msvm_ComputerSystem (free: wmi_typed_free). */
GPtrArray *hv_vm_list(WsmanClient *client, GError **error);

/* One VM by its GUID (Name); HV_ERROR_NOT_FOUND when there is none. */
Msvm_ComputerSystem *hv_vm_lookup(WsmanClient *client, const char *guid,
                                  GError **error);

WmiEpr *hv_vm_epr(const char *guid);

/* A method of the host's one service of class service, waited for; the
 * job returned when job is not NULL, the method's output when output is
 * not NULL */
gboolean hv_service_call(WsmanClient *client, const char *service,
                         const char *method, WsmanParams *params,
                         const HvJobWait *wait, Msvm_ConcreteJob **job,
                         WmiObject **output, GError **error);
/* A method whose one parameter, param, is target's EPR (taken) */
gboolean hv_service_call_on(WsmanClient *client, const char *service,
                            const char *method, const char *param,
                            WmiEpr *target, const HvJobWait *wait,
                            Msvm_ConcreteJob **job, GError **error);
/* The objects of class result that assoc links to source (taken) */
GPtrArray *hv_associated(WsmanClient *client, const WmiAssocDef *assoc,
                         WmiEpr *source, const WmiClassDef *result,
                         GError **error);
/* A method started and not waited for: job is the job's EPR, NULL when
 * the method was done at once */
gboolean hv_service_start(WsmanClient *client, const char *service,
                          const char *method, WsmanParams *params, WmiEpr **job,
                          GError **error);
/* The one instance of a service class (its EPR), asked once per
 * connection. */
#define HV_IMAGE_SERVICE "Msvm_ImageManagementService"

WmiEpr *hv_service_epr(WsmanClient *client, const char *class_name,
                       GError **error);

/* Msvm_ComputerSystem.RequestStateChange, waiting for its job. */
gboolean hv_vm_request_state(WsmanClient *client, const char *guid,
                             guint16 state, const HvJobWait *wait,
                             GError **error);

/* The VM's own settings (VirtualSystemType System:Realized). */
Msvm_VirtualSystemSettingData *hv_vm_settings(WsmanClient *client,
                                              const char *guid, GError **error);

/* The resources (RASDs of every class, as WmiObject) of a settings
 * object: the VM's or a snapshot's. */
GPtrArray *hv_settings_resources(WsmanClient *client, const char *instance_id,
                                 GError **error);

/* The resources of many settings objects in one query (a few for very
 * many): lowered GUID of each settings object -> its RASDs (WmiObject),
 * an empty list for one that has none. */
GHashTable *hv_settings_resources_of(WsmanClient *client,
                                     GPtrArray *instance_ids, GError **error);

/* Runs job(client, i, data) for i in 0..n-1, as concurrently as it can,
 * each call with a connection of its own (own is the caller's), and
 * returns when all are done. */
typedef void (*HvJob)(WsmanClient *client, guint index, gpointer data);
typedef struct {
    void (*run)(gpointer self, WsmanClient *own, guint n, HvJob job,
                gpointer data);
    gpointer self;
} HvRunner;

/* Disk files' settings by path, case-insensitive: a table that
 * hv_disk_files_read fills, one GetVirtualHardDiskSettingData per file not
 * in it yet, wave by wave from paths to their bases, each wave's reads
 * together through runner (NULL: one after the other on client); a file
 * that cannot be read is kept with the reason. */
GHashTable *hv_disk_files_new(void);
void hv_disk_files_read(WsmanClient *client, const WmiEpr *image_service,
                        GHashTable *files, GPtrArray *paths,
                        const HvRunner *runner);
/* path's chain from the table (borrowed); fails as hv_disk_chain does */
GPtrArray *hv_disk_chain_from(const char *host, GHashTable *files,
                              const char *path, GError **error);

/* A disk file's chain, as Msvm_VirtualHardDiskSettingData: the file
 * first, then each parent up to the base. A parent that cannot be read,
 * or a cycle, fails naming the child and the parent. */
GPtrArray *hv_disk_chain(WsmanClient *client, const WmiEpr *image_service,
                         const char *path, GError **error);

/* GetVirtualHardDiskState of one file: its size on the host and whether
 * a running VM holds it. */
Msvm_VirtualHardDiskState *hv_disk_state(WsmanClient *client,
                                         const WmiEpr *image_service,
                                         const char *path, GError **error);

G_END_DECLS
