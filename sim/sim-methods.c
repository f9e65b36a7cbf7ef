/*
 * sim-methods.c: which function of hypervsim serves which method of
 * which class. Every method msvm.schema declares is either in one of the
 * services' tables or listed here as not served, with the reason; the
 * test suite checks that (test-sim.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>

#include "sim-ops.h"

static const SimMethod *const tables[] = {
    sim_ops_methods,    sim_groups_methods, sim_refpoints_methods,
    sim_export_methods, sim_vhd_methods,
};

/* Declared in the schema for the client's sake, not served: a call gets
 * the fault Windows gives a method it does not implement */
static const struct {
    const char *class_name, *method, *reason;
} not_served[] = {
    { "Msvm_ConcreteJob", "GetError",
      "GetErrorEx replaces it on Windows Server 2012 and later" },
    { "Msvm_VirtualSystemManagementService", "DefineSystem",
      "VMs are made through the control interface" },
    { "Msvm_VirtualSystemManagementService", "DestroySystem",
      "VMs are removed through the control interface" },
    { "Msvm_VirtualSystemManagementService", "AddResourceSettings",
      "a VM's devices are fixed when it is made" },
    { "Msvm_VirtualSystemManagementService", "ModifyResourceSettings",
      "a VM's devices are fixed when it is made" },
    { "Msvm_VirtualSystemReferencePointService", "ExportReferencePoint",
      "the export of a reference point is not simulated yet" },
};

SimMethodFunc
sim_method_find(const char *class_name, const char *method)
{
    const WmiClassDef *k = wmi_class_lookup(class_name);

    /* the class, then each parent: a Msvm_StorageJob is a job */
    for (const char *name = class_name; name;) {
        for (guint t = 0; t < G_N_ELEMENTS(tables); t++)
            for (const SimMethod *m = tables[t]; m->class_name; m++)
                if (g_str_equal(m->class_name, name) &&
                    g_str_equal(m->method, method))
                    return m->func;
        k = k ? k->parent : NULL;
        name = k ? k->name : NULL;
    }
    return NULL;
}

const char *
sim_method_not_served(const char *class_name, const char *method)
{
    for (guint i = 0; i < G_N_ELEMENTS(not_served); i++)
        if (g_str_equal(not_served[i].class_name, class_name) &&
            g_str_equal(not_served[i].method, method))
            return not_served[i].reason;
    return NULL;
}

guint32
sim_invoke(SimHost *host, const WmiObject *target, const char *method,
           const WmiObject *in, WmiObject *out, GError **error)
{
    SimMethodFunc f = sim_method_find(target->class_name, method);

    if (!f) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_INVALID,
                    _("The method %s of %s is not implemented by this host"),
                    method, target->class_name);
        return 0;
    }
    return f(host, target, method, in, out, error);
}
