/*
 * hv-snapshot.h: a VM's snapshots (checkpoints) on a Hyper-V host, through
 * Msvm_VirtualSystemSnapshotService
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "hv-vm.h"

G_BEGIN_DECLS

/* Every settings object of a VM in one enumeration: its own (System:
 * Realized) and one per snapshot of every type, as
 * Msvm_VirtualSystemSettingData. */
GPtrArray *hv_vm_all_settings(WsmanClient *client, const char *guid,
                              GError **error);

/* The InstanceID a settings object path names (a VSSD's Parent):
 * \\HOST\root\virtualization\v2:Msvm_VirtualSystemSettingData.InstanceID=
 * "Microsoft:GUID"; NULL when path names no settings object. */
char *hv_settings_path_instance_id(const char *path);

/* The GUID of an InstanceID "Microsoft:GUID" (the same text without the
 * prefix otherwise). */
const char *hv_instance_guid(const char *instance_id);

WmiEpr *hv_settings_epr(const char *instance_id);

/* CreateSnapshot of type (MSVM_SNAPSHOT_TYPE_*), consistency 0 leaving it
 * to the host; returns the new snapshot once the job is done. */
Msvm_VirtualSystemSettingData *
hv_snapshot_create(WsmanClient *client, const char *vm_guid, guint16 type,
                   guint8 consistency, const HvJobWait *wait, GError **error);

/* ModifySystemSettings of a settings object (a snapshot's or a VM's):
 * sets what is given (name, notes joined by newlines in description,
 * user_snapshot_type when not 0). */
gboolean hv_settings_modify(WsmanClient *client, const char *instance_id,
                            const char *name, const char *description,
                            guint16 user_snapshot_type, const HvJobWait *wait,
                            GError **error);

gboolean hv_snapshot_apply(WsmanClient *client, const char *instance_id,
                           const HvJobWait *wait, GError **error);

/* DestroySnapshot, or DestroySnapshotTree with tree (the snapshot and
 * everything below it); returns when the merge is done. */
gboolean hv_snapshot_destroy(WsmanClient *client, const char *instance_id,
                             gboolean tree, const HvJobWait *wait,
                             GError **error);

/* ClearSnapshotState: the snapshot keeps its disks and loses its memory. */
gboolean hv_snapshot_clear_state(WsmanClient *client, const char *instance_id,
                                 const HvJobWait *wait, GError **error);

/* Msvm_ImageManagementService.SetParentVirtualHardDisk: reconnects a
 * differencing disk to its parent file. */
gboolean hv_disk_set_parent(WsmanClient *client, const char *child,
                            const char *parent, const HvJobWait *wait,
                            GError **error);

G_END_DECLS
