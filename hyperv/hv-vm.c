/*
 * hv-vm.c: virtual machines on a Hyper-V host
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

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

/* The first object of list, which it takes, or NULL: when list is NULL
 * (error set), or empty, when error says so with fmt as not found */
static gpointer first_found(GPtrArray *list, GError **error, const char *fmt,
                            ...) G_GNUC_PRINTF(3, 4);

static gpointer
first_found(GPtrArray *list, GError **error, const char *fmt, ...)
{
    gpointer first = NULL;
    va_list ap;

    if (!list)
        return NULL;
    if (list->len) {
        first = g_ptr_array_steal_index(list, 0);
    } else {
        va_start(ap, fmt);
        g_propagate_error(
            error, g_error_new_valist(HV_ERROR, HV_ERROR_NOT_FOUND, fmt, ap));
        va_end(ap);
    }
    g_ptr_array_unref(list);
    return first;
}

Msvm_ComputerSystem *
hv_vm_lookup(WsmanClient *c, const char *guid, GError **error)
{
    g_autofree char *q = wmi_wql_quote(guid);
    g_autofree char *wql =
        g_strdup_printf("SELECT * FROM Msvm_ComputerSystem WHERE Description = "
                        "'" HV_VM_DESCRIPTION "' AND Name = %s",
                        q);
    GPtrArray *vms =
        hv_typed_list(&Msvm_ComputerSystem_class,
                      wsman_enumerate(c, wql, FALSE, error), error);

    return first_found(vms, error, _("%s: no virtual machine has the GUID %s"),
                       wsman_client_host(c), guid);
}

WmiEpr *
hv_vm_epr(const char *guid)
{
    return wmi_epr_new_keyed("Msvm_ComputerSystem", "CreationClassName",
                             "Msvm_ComputerSystem", "Name", guid, NULL);
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

gboolean
hv_service_call_on(WsmanClient *c, const char *service, const char *method,
                   const char *param, WmiEpr *target, const HvJobWait *wait,
                   Msvm_ConcreteJob **job, GError **error)
{
    g_autoptr(WsmanParams) p = wsman_params_new();
    g_autoptr(WmiEpr) owned = target;

    wsman_params_add_epr(p, param, owned);
    return hv_service_call(c, service, method, p, wait, job, NULL, error);
}

GPtrArray *
hv_associated(WsmanClient *c, const WmiAssocDef *assoc, WmiEpr *source,
              const WmiClassDef *result, GError **error)
{
    g_autoptr(WmiEpr) owned = source;
    g_autofree char *wql = wmi_associators_wql(assoc, owned, result, NULL);

    return hv_typed_list(result, wsman_enumerate(c, wql, FALSE, error), error);
}

gboolean
hv_service_start(WsmanClient *c, const char *service, const char *method,
                 WsmanParams *p, WmiEpr **job, GError **error)
{
    g_autoptr(WmiEpr) svc = hv_service_epr(c, service, error);
    g_autoptr(WmiObject) out = NULL;
    const WmiEpr *started;

    *job = NULL;
    if (!svc)
        return FALSE;
    out = wsman_invoke(c, svc, method, p, error);
    if (!out || !hv_method_started(c, method, out, &started, error))
        return FALSE;
    *job = started ? wmi_epr_copy(started) : NULL;
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
    GPtrArray *r =
        hv_associated(c, &Msvm_SettingsDefineState_assoc, hv_vm_epr(guid),
                      &Msvm_VirtualSystemSettingData_class, error);

    return first_found(r, error,
                       _("%s: the virtual machine %s has no settings"),
                       wsman_client_host(c), guid);
}

GPtrArray *
hv_settings_resources(WsmanClient *c, const char *instance_id, GError **error)
{
    g_autoptr(WmiEpr) settings = hv_settings_epr(instance_id);
    g_autofree char *wql = wmi_associators_wql(
        &Msvm_VirtualSystemSettingDataComponent_assoc, settings, NULL, NULL);
    return wsman_enumerate(c, wql, FALSE, error);
}

/* "Microsoft:GUID\\..." -> "guid" */
static char *
owner_of(const char *rasd_id)
{
    const char *colon = rasd_id ? strchr(rasd_id, ':') : NULL;
    const char *slash = colon ? strchr(colon, '\\') : NULL;
    g_autofree char *guid =
        slash ? g_strndup(colon + 1, slash - colon - 1) : NULL;
    return guid ? g_ascii_strdown(guid, -1) : NULL;
}

#define SETTINGS_PER_QUERY 64

GHashTable *
hv_settings_resources_of(WsmanClient *c, GPtrArray *instance_ids,
                         GError **error)
{
    g_autoptr(GHashTable) out = g_hash_table_new_full(
        g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);

    for (guint i = 0; i < instance_ids->len; i += SETTINGS_PER_QUERY) {
        g_autoptr(GString) wql = g_string_new(
            "SELECT * FROM CIM_ResourceAllocationSettingData WHERE ");
        g_autoptr(GPtrArray) found = NULL;
        guint terms = 0;

        for (guint k = i; k < MIN(i + SETTINGS_PER_QUERY, instance_ids->len);
             k++) {
            g_autofree char *guid =
                g_ascii_strdown(hv_instance_guid(instance_ids->pdata[k]), -1);
            /* only GUIDs go in: nothing to quote */
            if (!g_uuid_string_is_valid(guid))
                continue;
            g_string_append_printf(wql,
                                   "%sInstanceID LIKE 'Microsoft:%s\\\\%%'",
                                   terms++ ? " OR " : "", guid);
            g_hash_table_insert(out, g_steal_pointer(&guid),
                                g_ptr_array_new_with_free_func(
                                    (GDestroyNotify) wmi_object_free));
        }
        if (!terms)
            continue;
        found = wsman_enumerate(c, wql->str, FALSE, error);
        if (!found)
            return NULL;
        for (guint k = 0; k < found->len; k++) {
            WmiObject *o = found->pdata[k];
            g_autofree char *owner = owner_of(wmi_object_text(o, "InstanceID"));
            GPtrArray *list = owner ? g_hash_table_lookup(out, owner) : NULL;
            if (list) {
                g_ptr_array_add(list, o);
                found->pdata[k] = NULL;
            }
        }
    }
    return g_steal_pointer(&out);
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

typedef struct {
    Msvm_VirtualHardDiskSettingData *settings; /* NULL: error says why */
    GError *error;
} DiskFile;

static void
disk_file_free(gpointer p)
{
    DiskFile *f = p;
    wmi_typed_free(f->settings);
    g_clear_error(&f->error);
    g_free(f);
}

GHashTable *
hv_disk_files_new(void)
{
    return g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                 disk_file_free);
}

static DiskFile *
file_of(GHashTable *files, const char *path)
{
    g_autofree char *key = g_ascii_strdown(path, -1);
    return g_hash_table_lookup(files, key);
}

typedef struct {
    const WmiEpr *img;
    GPtrArray *wave; /* paths */
    DiskFile **read;
} Wave;

static void
read_one(WsmanClient *c, guint i, gpointer data)
{
    Wave *w = data;
    DiskFile *f = g_new0(DiskFile, 1);

    f->settings = disk_settings(c, w->img, w->wave->pdata[i], &f->error);
    w->read[i] = f;
}

static void
add_unknown(GHashTable *files, GHashTable *queued, GPtrArray *wave,
            const char *path)
{
    g_autofree char *key = NULL;

    if (!path || !*path)
        return;
    key = g_ascii_strdown(path, -1);
    if (g_hash_table_contains(files, key) || g_hash_table_contains(queued, key))
        return;
    g_ptr_array_add(wave, g_strdup(path));
    g_hash_table_add(queued, g_steal_pointer(&key));
}

void
hv_disk_files_read(WsmanClient *c, const WmiEpr *img, GHashTable *files,
                   GPtrArray *paths, const HvRunner *runner)
{
    g_autoptr(GHashTable) queued =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GPtrArray) wave = g_ptr_array_new_with_free_func(g_free);

    for (guint i = 0; i < paths->len; i++)
        add_unknown(files, queued, wave, paths->pdata[i]);
    while (wave->len) {
        g_autoptr(GPtrArray) next = g_ptr_array_new_with_free_func(g_free);
        g_autofree DiskFile **read = g_new0(DiskFile *, wave->len);
        Wave w = { img, wave, read };

        if (runner)
            runner->run(runner->self, c, wave->len, read_one, &w);
        else
            for (guint i = 0; i < wave->len; i++)
                read_one(c, i, &w);
        g_hash_table_remove_all(queued);
        for (guint i = 0; i < wave->len; i++)
            g_hash_table_insert(files, g_ascii_strdown(wave->pdata[i], -1),
                                read[i]);
        for (guint i = 0; i < wave->len; i++)
            if (read[i]->settings)
                add_unknown(files, queued, next, read[i]->settings->ParentPath);
        g_ptr_array_unref(wave);
        wave = g_steal_pointer(&next);
    }
}

GPtrArray *
hv_disk_chain_from(const char *host, GHashTable *files, const char *path,
                   GError **error)
{
    g_autoptr(GPtrArray) chain = g_ptr_array_new();
    const char *next = path;

    while (next && *next) {
        DiskFile *f = file_of(files, next);
        const GError *why = f ? f->error : NULL;

        for (guint i = 0; i < chain->len; i++) {
            Msvm_VirtualHardDiskSettingData *seen = chain->pdata[i];
            if (same_path(seen->Path ? seen->Path : "", next)) {
                g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
                            _("%s: the disk chain of %s loops back to %s"),
                            host, path, next);
                return NULL;
            }
        }
        if (!f || !f->settings) {
            GQuark domain = why ? why->domain : HV_ERROR;
            int code = why ? why->code : HV_ERROR_NOT_FOUND;
            const char *text = why ? why->message : _("not read");
            if (chain->len == 0) {
                g_set_error(error, domain, code,
                            _("the disk %s cannot be read: %s"), path, text);
            } else {
                Msvm_VirtualHardDiskSettingData *child =
                    chain->pdata[chain->len - 1];
                g_set_error(error, domain, code,
                            _("the disk chain of %s is broken: %s names the "
                              "parent %s, which cannot be read: %s"),
                            path, child->Path, next, text);
            }
            return NULL;
        }
        g_ptr_array_add(chain, f->settings);
        next = f->settings->ParentPath;
    }
    return g_steal_pointer(&chain);
}

GPtrArray *
hv_disk_chain(WsmanClient *c, const WmiEpr *img, const char *path,
              GError **error)
{
    g_autoptr(GHashTable) files = hv_disk_files_new();
    g_autoptr(GPtrArray) paths = g_ptr_array_new();
    g_autoptr(GPtrArray) chain = NULL;
    GPtrArray *out;

    g_ptr_array_add(paths, (gpointer) path);
    hv_disk_files_read(c, img, files, paths, NULL);
    chain = hv_disk_chain_from(wsman_client_host(c), files, path, error);
    if (!chain)
        return NULL;
    /* the caller owns what it gets: taken out of the table */
    out = g_ptr_array_new_with_free_func(wmi_typed_free);
    for (guint i = 0; i < chain->len; i++) {
        Msvm_VirtualHardDiskSettingData *l = chain->pdata[i];
        g_ptr_array_add(out, l);
        file_of(files, l->Path)->settings = NULL;
    }
    return out;
}
