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

static void
put_refpoints(JsonBuilder *b, GPtrArray *refpoints)
{
    json_builder_set_member_name(b, "refpoints");
    json_builder_begin_array(b);
    for (guint i = 0; i < refpoints->len; i++) {
        SimRefPoint *r = refpoints->pdata[i];
        json_builder_begin_object(b);
        put_string(b, "id", r->id);
        put_time(b, "created", r->created);
        put_int(b, "consistency", r->consistency);
        put_int(b, "change_seq", (gint64) r->change_seq);
        put_strings(b, "slots", r->slots);
        put_strings(b, "rct_ids", r->rct_ids);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

static void
put_changes(JsonBuilder *b, GPtrArray *changes)
{
    json_builder_set_member_name(b, "changes");
    json_builder_begin_array(b);
    for (guint i = 0; i < changes->len; i++) {
        SimChange *c = changes->pdata[i];
        json_builder_begin_object(b);
        put_string(b, "slot", c->slot_id);
        put_int(b, "offset", (gint64) c->offset);
        put_int(b, "length", (gint64) c->length);
        put_int(b, "seq", (gint64) c->seq);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

static void
put_group_points(JsonBuilder *b, const char *name, GPtrArray *points)
{
    json_builder_set_member_name(b, name);
    json_builder_begin_array(b);
    for (guint i = 0; i < points->len; i++) {
        SimGroupPoint *p = points->pdata[i];
        json_builder_begin_object(b);
        put_string(b, "id", p->id);
        put_string(b, "name", p->name);
        put_time(b, "created", p->created);
        put_int(b, "type", p->type);
        put_int(b, "consistency", p->consistency);
        put_strings(b, "items", p->items);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

static void
put_groups(JsonBuilder *b, GPtrArray *groups)
{
    json_builder_set_member_name(b, "groups");
    json_builder_begin_array(b);
    for (guint i = 0; i < groups->len; i++) {
        SimGroup *g = groups->pdata[i];
        json_builder_begin_object(b);
        put_string(b, "id", g->id);
        put_string(b, "name", g->name);
        put_strings(b, "members", g->members);
        put_group_points(b, "snapshots", g->snapshots);
        put_group_points(b, "refpoints", g->refpoints);
        if (g->last_apply_time)
            put_time(b, "last_apply_time", g->last_apply_time);
        put_strings(b, "last_apply_vms", g->last_apply_vms);
        put_int(b, "last_apply_consistency", g->last_apply_consistency);
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
        put_time(b, "state_changed", vm->state_changed);
        put_int(b, "memory_mb", (gint64) vm->memory_mb);
        put_int(b, "cpus", vm->cpus);
        put_int(b, "user_snapshot_type", vm->user_snapshot_type);
        put_int(b, "startup_action", vm->startup_action);
        json_builder_set_member_name(b, "guest_vss");
        json_builder_add_boolean_value(b, vm->guest_vss);
        put_string(b, "dir", vm->dir);
        put_string(b, "current", vm->current_id);
        put_string(b, "last_applied", vm->last_applied_id);
        put_int(b, "change_seq", (gint64) vm->change_seq);
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
            put_int(b, "consistency", s->consistency);
            put_int(b, "change_seq", (gint64) s->change_seq);
            put_disks(b, s->disks);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        put_refpoints(b, vm->refpoints);
        put_changes(b, vm->changes);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    put_groups(b, host->groups);
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

static JsonArray *
get_array(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);
    return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

static gint64
get_int(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);
    return n && JSON_NODE_HOLDS_VALUE(n) ? json_node_get_int(n) : 0;
}

static GPtrArray *
get_refpoints(JsonObject *o)
{
    GPtrArray *out =
        g_ptr_array_new_with_free_func((GDestroyNotify) sim_refpoint_free);
    JsonArray *a = get_array(o, "refpoints");

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *ro = json_array_get_object_element(a, i);
        SimRefPoint *r = g_new0(SimRefPoint, 1);
        r->id = g_strdup(get_string(ro, "id"));
        r->created = get_time(ro, "created");
        r->consistency = get_int(ro, "consistency");
        r->change_seq = get_int(ro, "change_seq");
        r->slots = get_strings(ro, "slots");
        r->rct_ids = get_strings(ro, "rct_ids");
        g_ptr_array_add(out, r);
    }
    return out;
}

static GPtrArray *
get_changes(JsonObject *o)
{
    GPtrArray *out =
        g_ptr_array_new_with_free_func((GDestroyNotify) sim_change_free);
    JsonArray *a = get_array(o, "changes");

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *co = json_array_get_object_element(a, i);
        SimChange *c = g_new0(SimChange, 1);
        c->slot_id = g_strdup(get_string(co, "slot"));
        c->offset = get_int(co, "offset");
        c->length = get_int(co, "length");
        c->seq = get_int(co, "seq");
        g_ptr_array_add(out, c);
    }
    return out;
}

static void
get_group_points(JsonObject *o, const char *name, GPtrArray *out)
{
    JsonArray *a = get_array(o, name);

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *po = json_array_get_object_element(a, i);
        SimGroupPoint *p = g_new0(SimGroupPoint, 1);
        p->id = g_strdup(get_string(po, "id"));
        p->name = g_strdup(get_string(po, "name"));
        p->created = get_time(po, "created");
        p->type = get_int(po, "type");
        p->consistency = get_int(po, "consistency");
        p->items = get_strings(po, "items");
        g_ptr_array_add(out, p);
    }
}

static gboolean
get_groups(SimHost *host, JsonObject *root, const char *path, GError **error)
{
    JsonArray *a = get_array(root, "groups");

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        SimGroup *g;

        if (!o || !get_string(o, "id") || !get_string(o, "name")) {
            g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                        _("%s: group %u lacks an id or name"), path, i);
            return FALSE;
        }
        g = sim_group_new(get_string(o, "id"), get_string(o, "name"));
        g_ptr_array_unref(g->members);
        g->members = get_strings(o, "members");
        get_group_points(o, "snapshots", g->snapshots);
        get_group_points(o, "refpoints", g->refpoints);
        if (get_string(o, "last_apply_time"))
            g->last_apply_time = get_time(o, "last_apply_time");
        g_ptr_array_unref(g->last_apply_vms);
        g->last_apply_vms = get_strings(o, "last_apply_vms");
        g->last_apply_consistency = get_int(o, "last_apply_consistency");
        g_ptr_array_add(host->groups, g);
    }
    return TRUE;
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
        vm->state_changed = get_time(o, "state_changed");
        vm->memory_mb = json_object_get_int_member(o, "memory_mb");
        vm->cpus = json_object_get_int_member(o, "cpus");
        vm->user_snapshot_type =
            json_object_get_int_member(o, "user_snapshot_type");
        vm->startup_action = json_object_get_int_member_with_default(
            o, "startup_action", MSVM_AUTOMATIC_STARTUP_ACTION_RESTART);
        vm->guest_vss = json_object_get_boolean_member(o, "guest_vss");
        vm->dir = g_strdup(get_string(o, "dir"));
        vm->current_id = g_strdup(get_string(o, "current"));
        vm->last_applied_id = g_strdup(get_string(o, "last_applied"));
        vm->change_seq = get_int(o, "change_seq");
        vm->refpoints = get_refpoints(o);
        vm->changes = get_changes(o);
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
            s->consistency = get_int(so, "consistency");
            s->change_seq = get_int(so, "change_seq");
            s->disks = get_disks(so);
            g_ptr_array_add(vm->snapshots, s);
        }
        g_ptr_array_add(host->vms, vm);
    }
    return get_groups(host, root, path, error);
}
