/*
 * hv-vm.c: virtual machines on a Hyper-V host
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>

#include "hv-snapshot.h"
#include "hv-vm.h"

GPtrArray *
hv_typed_list(const WmiClassDef *klass, GPtrArray *objects, GError **error)
{
    g_autoptr(GPtrArray) out = NULL;

    if (!objects)
        return NULL;
    out = g_ptr_array_new_full(objects->len, wmi_typed_free);
    for (guint i = 0; i < objects->len; i++) {
        gpointer t = wmi_typed_new(klass, objects->pdata[i], error);
        objects->pdata[i] = NULL; /* taken, even on failure */
        if (!t) {
            g_ptr_array_unref(objects);
            return NULL;
        }
        g_ptr_array_add(out, t);
    }
    g_ptr_array_unref(objects);
    return g_steal_pointer(&out);
}

GPtrArray *
hv_vm_list(WsmanClient *c, GError **error)
{
    return hv_typed_list(
        &Msvm_ComputerSystem_class,
        wsman_enumerate(c,
                        "SELECT * FROM Msvm_ComputerSystem WHERE "
                        "Description = '" HV_VM_DESCRIPTION "'",
                        FALSE, error),
        error);
}

Msvm_ComputerSystem *
hv_vm_lookup(WsmanClient *c, const char *guid, GError **error)
{
    g_autofree char *q = wmi_wql_quote(guid);
    g_autofree char *wql =
        g_strdup_printf("SELECT * FROM Msvm_ComputerSystem WHERE Description = "
                        "'" HV_VM_DESCRIPTION "' AND Name = %s",
                        q);
    g_autoptr(GPtrArray) vms =
        hv_typed_list(&Msvm_ComputerSystem_class,
                      wsman_enumerate(c, wql, FALSE, error), error);

    if (!vms)
        return NULL;
    if (vms->len == 0) {
        g_set_error(error, HV_ERROR, HV_ERROR_NOT_FOUND,
                    _("%s: no virtual machine has the GUID %s"),
                    wsman_client_host(c), guid);
        return NULL;
    }
    return g_ptr_array_steal_index(vms, 0);
}

WmiEpr *
hv_vm_epr(const char *guid)
{
    WmiEpr *e = wmi_epr_new("Msvm_ComputerSystem");
    wmi_epr_add_selector(e, "CreationClassName", "Msvm_ComputerSystem");
    wmi_epr_add_selector(e, "Name", guid);
    return e;
}

gboolean
hv_service_call(WsmanClient *c, const char *service, const char *method,
                WsmanParams *p, const HvJobWait *wait, Msvm_ConcreteJob **job,
                WmiObject **output, GError **error)
{
    g_autoptr(WmiEpr) svc = hv_service_epr(c, service, error);
    g_autoptr(WmiObject) out = NULL;

    if (!svc)
        return FALSE;
    out = wsman_invoke(c, svc, method, p, error);
    if (!out || !hv_method_result(c, method, out, wait, job, error))
        return FALSE;
    if (output)
        *output = g_steal_pointer(&out);
    return TRUE;
}

WmiEpr *
hv_service_epr(WsmanClient *c, const char *class_name, GError **error)
{
    g_autofree char *wql = g_strdup_printf("SELECT * FROM %s", class_name);
    const WmiEpr *known = wsman_client_service(c, class_name);
    g_autoptr(GPtrArray) r = NULL;

    if (known)
        return wmi_epr_copy(known);
    r = wsman_enumerate(c, wql, TRUE, error);
    if (!r)
        return NULL;
    if (r->len != 1) {
        g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
                    _("%s: %u instances of %s, one was expected"),
                    wsman_client_host(c), r->len, class_name);
        return NULL;
    }
    wsman_client_set_service(c, class_name, r->pdata[0]);
    return g_ptr_array_steal_index(r, 0);
}

gboolean
hv_vm_request_state(WsmanClient *c, const char *guid, guint16 state,
                    const HvJobWait *wait, GError **error)
{
    g_autoptr(WmiEpr) vm = hv_vm_epr(guid);
    g_autoptr(WsmanParams) p = wsman_params_new();
    g_autoptr(WmiObject) out = NULL;
    const char *name = wmi_valuemap_text(&msvm_valuemap_RequestedState, state);
    g_autofree char *what =
        g_strdup_printf("RequestStateChange(%s)", name ? name : "?");

    wsman_params_add_uint(p, "RequestedState", state);
    out = wsman_invoke(c, vm, "RequestStateChange", p, error);
    return out && hv_method_result(c, what, out, wait, NULL, error);
}

Msvm_VirtualSystemSettingData *
hv_vm_settings(WsmanClient *c, const char *guid, GError **error)
{
    g_autoptr(WmiEpr) vm = hv_vm_epr(guid);
    g_autofree char *wql =
        wmi_associators_wql(&Msvm_SettingsDefineState_assoc, vm,
                            &Msvm_VirtualSystemSettingData_class, NULL);
    g_autoptr(GPtrArray) r =
        hv_typed_list(&Msvm_VirtualSystemSettingData_class,
                      wsman_enumerate(c, wql, FALSE, error), error);

    if (!r)
        return NULL;
    if (r->len == 0) {
        g_set_error(error, HV_ERROR, HV_ERROR_NOT_FOUND,
                    _("%s: the virtual machine %s has no settings"),
                    wsman_client_host(c), guid);
        return NULL;
    }
    return g_ptr_array_steal_index(r, 0);
}

GPtrArray *
hv_settings_resources(WsmanClient *c, const char *instance_id, GError **error)
{
    g_autoptr(WmiEpr) settings = hv_settings_epr(instance_id);
    g_autofree char *wql = wmi_associators_wql(
        &Msvm_VirtualSystemSettingDataComponent_assoc, settings, NULL, NULL);
    return wsman_enumerate(c, wql, FALSE, error);
}

/* An image service method that takes a Path and answers one embedded
 * instance in the output parameter param */
static gpointer
image_query(WsmanClient *c, const WmiEpr *img, const char *method,
            const char *path, const char *param, const WmiClassDef *klass,
            GError **error)
{
    g_autoptr(WsmanParams) p = wsman_params_new();
    g_autoptr(WmiObject) out = NULL;
    WmiObject *obj;
    const char *text;

    wsman_params_add_text(p, "Path", path);
    out = wsman_invoke(c, img, method, p, error);
    if (!out || !hv_method_result(c, method, out, NULL, NULL, error))
        return NULL;
    text = wmi_object_text(out, param);
    if (!text) {
        g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
                    _("%s: %s returned no %s for %s"), wsman_client_host(c),
                    method, param, path);
        return NULL;
    }
    obj = wmi_object_from_cimxml(text, error);
    return obj ? wmi_typed_new(klass, obj, error) : NULL;
}

static Msvm_VirtualHardDiskSettingData *
disk_settings(WsmanClient *c, const WmiEpr *img, const char *path,
              GError **error)
{
    return image_query(c, img, "GetVirtualHardDiskSettingData", path,
                       "SettingData", &Msvm_VirtualHardDiskSettingData_class,
                       error);
}

Msvm_VirtualHardDiskState *
hv_disk_state(WsmanClient *c, const WmiEpr *img, const char *path,
              GError **error)
{
    return image_query(c, img, "GetVirtualHardDiskState", path, "State",
                       &Msvm_VirtualHardDiskState_class, error);
}

/* Windows paths compare without regard to case. */
static gboolean
same_path(const char *a, const char *b)
{
    return g_ascii_strcasecmp(a, b) == 0;
}

GPtrArray *
hv_disk_chain(WsmanClient *c, const WmiEpr *img, const char *path,
              GError **error)
{
    g_autoptr(GPtrArray) chain = g_ptr_array_new_with_free_func(wmi_typed_free);
    const char *next = path;

    while (next && *next) {
        Msvm_VirtualHardDiskSettingData *d;
        g_autoptr(GError) local = NULL;

        for (guint i = 0; i < chain->len; i++) {
            Msvm_VirtualHardDiskSettingData *seen = chain->pdata[i];
            if (same_path(seen->Path ? seen->Path : "", next)) {
                g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
                            _("%s: the disk chain of %s loops back to %s"),
                            wsman_client_host(c), path, next);
                return NULL;
            }
        }
        d = disk_settings(c, img, next, &local);
        if (!d) {
            if (chain->len == 0) {
                g_set_error(error, local->domain, local->code,
                            _("the disk %s cannot be read: %s"), path,
                            local->message);
            } else {
                Msvm_VirtualHardDiskSettingData *child =
                    chain->pdata[chain->len - 1];
                g_set_error(error, local->domain, local->code,
                            _("the disk chain of %s is broken: %s names the "
                              "parent %s, which cannot be read: %s"),
                            path, child->Path, next, local->message);
            }
            return NULL;
        }
        g_ptr_array_add(chain, d);
        next = d->ParentPath;
    }
    return g_steal_pointer(&chain);
}
