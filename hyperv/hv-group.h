/*
 * hv-group.h: VM groups on a Hyper-V host (Msvm_VirtualSystemCollection)
 * and their group checkpoints, reference points and exports
 * (Msvm_CollectionManagementService, Msvm_CollectionSnapshotService)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "hv-refpoint.h"

G_BEGIN_DECLS

/* Every VM group of the host, as Msvm_VirtualSystemCollection */
GPtrArray *hv_group_list(WsmanClient *client, GError **error);
/* The groups a VM belongs to */
GPtrArray *hv_vm_groups(WsmanClient *client, const char *vm_guid,
                        GError **error);
/* A group's members, as Msvm_ComputerSystem */
GPtrArray *hv_group_members(WsmanClient *client, const char *group_id,
                            GError **error);

/* Msvm_CollectionManagementService. define returns the new group's
 * CollectionID. */
char *hv_group_define(WsmanClient *client, const char *name,
                      const HvJobWait *wait, GError **error);
gboolean hv_group_destroy(WsmanClient *client, const char *group_id,
                          const HvJobWait *wait, GError **error);
gboolean hv_group_rename(WsmanClient *client, const char *group_id,
                         const char *name, const HvJobWait *wait,
                         GError **error);
/* AddMember (add) or RemoveMember */
gboolean hv_group_member(WsmanClient *client, const char *group_id,
                         const char *vm_guid, gboolean add,
                         const HvJobWait *wait, GError **error);

/* CreateSnapshot of the group, type MSVM_COLLECTION_SNAPSHOT_TYPE_*: the
 * group checkpoint's CollectionID */
char *hv_group_snapshot_create(WsmanClient *client, const char *group_id,
                               guint16 type, const HvJobWait *wait,
                               GError **error);
/* ConvertToReferencePoint of a recovery group checkpoint: the group
 * reference point's CollectionID */
char *hv_group_snapshot_convert(WsmanClient *client, const char *snapshot_id,
                                const HvJobWait *wait, GError **error);
gboolean hv_group_snapshot_destroy(WsmanClient *client, const char *snapshot_id,
                                   const HvJobWait *wait, GError **error);
gboolean hv_group_snapshot_apply(WsmanClient *client, const char *snapshot_id,
                                 const HvJobWait *wait, GError **error);
/* A group's group checkpoints, as Msvm_SnapshotCollection */
GPtrArray *hv_group_snapshots(WsmanClient *client, const char *group_id,
                              GError **error);
/* The members' checkpoints of a group checkpoint (settings objects) or
 * the members' reference points of a group reference point */
GPtrArray *hv_group_snapshot_items(WsmanClient *client, const char *snapshot_id,
                                   GError **error);
GPtrArray *hv_group_refpoint_items(WsmanClient *client, const char *point_id,
                                   const char *group_id, GError **error);
/* ExportSnapshot of a group checkpoint into dir, whole or since the group
 * reference point base_id; started, not waited for */
gboolean hv_group_export_start(WsmanClient *client, const char *snapshot_id,
                               const char *dir, const char *base_id,
                               const char *group_id, WmiEpr **job,
                               GError **error);

G_END_DECLS
