/*
 * hv-refpoint.h: a VM's RCT reference points on a Hyper-V host
 * (Msvm_VirtualSystemReferencePoint), and the disk ranges changed since one
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "hv-snapshot.h"

G_BEGIN_DECLS

/* The VM's reference points, as Msvm_VirtualSystemReferencePoint */
GPtrArray *hv_refpoint_list(WsmanClient *client, const char *vm_guid,
                            GError **error);

/* ConvertToReferencePoint of a recovery checkpoint: the checkpoint goes
 * (its files merged), the reference point it becomes is returned. */
Msvm_VirtualSystemReferencePoint *hv_refpoint_convert(WsmanClient *client,
                                                      const char *snapshot_id,
                                                      const HvJobWait *wait,
                                                      GError **error);

gboolean hv_refpoint_destroy(WsmanClient *client, const char *instance_id,
                             const char *vm_guid, const HvJobWait *wait,
                             GError **error);

/* GetVirtualDiskChanges of the disk at path since the RCT identifier
 * rct_id, over the whole disk (size bytes): the changed ranges as pairs
 * of guint64 (offset, length) in ranges, and their total in *changed. */
gboolean hv_disk_changes(WsmanClient *client, const char *path,
                         const char *rct_id, guint64 size, GArray *ranges,
                         guint64 *changed, const HvJobWait *wait,
                         GError **error);

/* ExportSystemDefinition of the VM's checkpoint snapshot_id into dir (a
 * path on the host; the disks go to DIR\Virtual Hard Disks), whole or,
 * with base_point_id, only what changed since that reference point;
 * started, not waited for: the job in *job (NULL when done at once). */
gboolean hv_export_start(WsmanClient *client, const char *vm_guid,
                         const char *dir, const char *snapshot_id,
                         const char *base_point_id, WmiEpr **job,
                         GError **error);

G_END_DECLS
