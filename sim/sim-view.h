/*
 * sim-view.h: how the parts of hypervsim render the host model as WMI
 * instances (sim-view.c) and answer ASSOCIATORS OF (sim-assoc.c)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "sim-host.h"
#include "sim-wql.h"

G_BEGIN_DECLS

/* Is an instance of instance_class (or a subclass) wanted for wanted? */
gboolean sim_class_is(const char *instance_class, const char *wanted);

WmiObject *sim_render_vm(SimVm *vm);
WmiObject *sim_render_active_vssd(SimHost *host, SimVm *vm);
WmiObject *sim_render_snapshot_vssd(SimHost *host, SimVm *vm, SimSnapshot *s);
/* The resources of a settings object (all, or those of class_name) */
void sim_render_rasds(SimHost *host, const char *class_name, const char *owner,
                      guint64 memory_mb, guint cpus, GPtrArray *disks,
                      GPtrArray *macs, GPtrArray *out);
WmiObject *sim_render_refpoint(SimVm *vm, SimRefPoint *r);
WmiObject *sim_render_group(SimGroup *g);
WmiObject *sim_render_group_snapshot(SimGroupPoint *p);
WmiObject *sim_render_group_refpoint(SimGroup *g, SimGroupPoint *p);
WmiObject *sim_render_named_service(SimHost *host, const char *class_name);

/* What one association answers from one of its ends */
typedef void (*SimAssocFunc)(SimHost *host, WmiObject *src, GPtrArray *out);
typedef struct {
    const WmiAssocDef *assoc;
    int from; /* the end the source stands at */
    SimAssocFunc answer;
} SimAssocAnswer;

/* Every answer hypervsim gives, ended by one with assoc NULL */
extern const SimAssocAnswer sim_assoc_answers[];
/* The instances associated with src, as q asks */
void sim_host_associators(SimHost *host, const WqlQuery *q, WmiObject *src,
                          GPtrArray *out);

/* A datetime as Windows' WinRM sends it: UTC, 0 to 7 fraction digits */
char *sim_format_datetime(GDateTime *dt);

G_END_DECLS
