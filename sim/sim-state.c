/*
 * sim-state.c: the host model saved as JSON (state_dir/host.json),
 * replaced atomically after every change
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <json-glib/json-glib.h>

#include "sim-host.h"

static void
put_strings(JsonBuilder *b, const char *name, GPtrArray *values)
{
    json_builder_set_member_name(b, name);
    json_builder_begin_array(b);
    for (guint i = 0; i < values->len; i++)
        json_builder_add_string_value(b, values->pdata[i]);
    json_builder_end_array(b);
}

static void
put_string(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    if (value)
        json_builder_add_string_value(b, value);
    else
        json_builder_add_null_value(b);
}

static void
put_int(JsonBuilder *b, const char *name, gint64 value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, value);
}

static void
put_time(JsonBuilder *b, const char *name, GDateTime *dt)
{
    g_autofree char *s = g_date_time_format_iso8601(dt);
    put_string(b, name, s);
}

static void
put_disks(JsonBuilder *b, GPtrArray *disks)
{
    json_builder_set_member_name(b, "disks");
    json_builder_begin_array(b);
    for (guint i = 0; i < disks->len; i++) {
        SimDiskRef *d = disks->pdata[i];
        json_builder_begin_object(b);
        put_string(b, "slot", d->slot_id);
        put_string(b, "path", d->path);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

gboolean
sim_host_save(SimHost *host, GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *data = NULL;
    g_autofree char *path =
        g_build_filename(host->state_dir, "host.json", NULL);

    json_builder_begin_object(b);
    put_string(b, "name", host->name);
    json_builder_set_member_name(b, "vms");
    json_builder_begin_array(b);
    for (guint i = 0; i < host->vms->len; i++) {
        SimVm *vm = host->vms->pdata[i];
        json_builder_begin_object(b);
        put_string(b, "id", vm->id);
        put_string(b, "name", vm->name);
        put_strings(b, "notes", vm->notes);
        put_time(b, "created", vm->created);
        put_int(b, "state", vm->state);
        put_int(b, "memory_mb", (gint64) vm->memory_mb);
        put_int(b, "cpus", vm->cpus);
        put_int(b, "user_snapshot_type", vm->user_snapshot_type);
        json_builder_set_member_name(b, "guest_vss");
        json_builder_add_boolean_value(b, vm->guest_vss);
        put_string(b, "dir", vm->dir);
        put_string(b, "current", vm->current_id);
        put_disks(b, vm->disks);
        put_strings(b, "macs", vm->macs);
        json_builder_set_member_name(b, "snapshots");
        json_builder_begin_array(b);
        for (guint k = 0; k < vm->snapshots->len; k++) {
            SimSnapshot *s = vm->snapshots->pdata[k];
            json_builder_begin_object(b);
            put_string(b, "id", s->id);
            put_string(b, "name", s->name);
            put_strings(b, "notes", s->notes);
            put_time(b, "created", s->created);
            put_string(b, "parent", s->parent_id);
            json_builder_set_member_name(b, "is_saved");
            json_builder_add_boolean_value(b, s->is_saved);
            put_string(b, "type", s->type);
            put_int(b, "memory_mb", (gint64) s->memory_mb);
            put_int(b, "cpus", s->cpus);
            put_int(b, "vm_state", s->vm_state);
            put_string(b, "state_file", s->state_file);
            put_disks(b, s->disks);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);

    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    data = json_generator_to_data(gen, NULL);
    return g_file_set_contents(path, data, -1, error);
}

static const char *
get_string(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);
    return n && JSON_NODE_HOLDS_VALUE(n) ? json_node_get_string(n) : NULL;
}

static GPtrArray *
get_strings(JsonObject *o, const char *name)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    JsonArray *a = json_object_has_member(o, name)
                       ? json_object_get_array_member(o, name)
                       : NULL;
    for (guint i = 0; a && i < json_array_get_length(a); i++)
        g_ptr_array_add(out, g_strdup(json_array_get_string_element(a, i)));
    return out;
}

static GDateTime *
get_time(JsonObject *o, const char *name)
{
    const char *s = get_string(o, name);
    GDateTime *dt = s ? g_date_time_new_from_iso8601(s, NULL) : NULL;
    return dt ? dt : g_date_time_new_now_utc();
}

static GPtrArray *
get_disks(JsonObject *o)
{
    GPtrArray *out =
        g_ptr_array_new_with_free_func((GDestroyNotify) sim_disk_ref_free);
    JsonArray *a = json_object_get_array_member(o, "disks");

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *d = json_array_get_object_element(a, i);
        g_ptr_array_add(out, sim_disk_ref_new(get_string(d, "slot"),
                                              get_string(d, "path")));
    }
    return out;
}

gboolean
sim_host_load(SimHost *host, GError **error)
{
    g_autofree char *path =
        g_build_filename(host->state_dir, "host.json", NULL);
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *root;
    JsonArray *vms;

    if (!g_file_test(path, G_FILE_TEST_EXISTS))
        return TRUE;
    if (!json_parser_load_from_file(parser, path, error))
        return FALSE;
    root = json_node_get_object(json_parser_get_root(parser));
    if (!root || !json_object_has_member(root, "vms")) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                    _("%s is not a hypervsim state file"), path);
        return FALSE;
    }
    vms = json_object_get_array_member(root, "vms");
    for (guint i = 0; i < json_array_get_length(vms); i++) {
        JsonObject *o = json_array_get_object_element(vms, i);
        JsonArray *snaps = json_object_get_array_member(o, "snapshots");
        SimVm *vm;

        if (!get_string(o, "id") || !get_string(o, "name") ||
            !get_string(o, "dir")) {
            g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                        _("%s: virtual machine %u lacks an id, name or "
                          "folder"),
                        path, i);
            return FALSE;
        }
        vm = g_new0(SimVm, 1);
        vm->id = g_strdup(get_string(o, "id"));
        vm->name = g_strdup(get_string(o, "name"));
        vm->notes = get_strings(o, "notes");
        vm->created = get_time(o, "created");
        vm->state = json_object_get_int_member(o, "state");
        vm->memory_mb = json_object_get_int_member(o, "memory_mb");
        vm->cpus = json_object_get_int_member(o, "cpus");
        vm->user_snapshot_type =
            json_object_get_int_member(o, "user_snapshot_type");
        vm->guest_vss = json_object_get_boolean_member(o, "guest_vss");
        vm->dir = g_strdup(get_string(o, "dir"));
        vm->current_id = g_strdup(get_string(o, "current"));
        vm->disks = get_disks(o);
        vm->macs = get_strings(o, "macs");
        vm->snapshots =
            g_ptr_array_new_with_free_func((GDestroyNotify) sim_snapshot_free);
        for (guint k = 0; snaps && k < json_array_get_length(snaps); k++) {
            JsonObject *so = json_array_get_object_element(snaps, k);
            SimSnapshot *s = g_new0(SimSnapshot, 1);
            s->id = g_strdup(get_string(so, "id"));
            s->name = g_strdup(get_string(so, "name"));
            s->notes = get_strings(so, "notes");
            s->created = get_time(so, "created");
            s->parent_id = g_strdup(get_string(so, "parent"));
            s->is_saved = json_object_get_boolean_member(so, "is_saved");
            s->type = g_strdup(get_string(so, "type"));
            s->memory_mb = json_object_get_int_member(so, "memory_mb");
            s->cpus = json_object_get_int_member(so, "cpus");
            s->vm_state = json_object_get_int_member(so, "vm_state");
            s->state_file = g_strdup(get_string(so, "state_file"));
            s->disks = get_disks(so);
            g_ptr_array_add(vm->snapshots, s);
        }
        g_ptr_array_add(host->vms, vm);
    }
    return TRUE;
}
