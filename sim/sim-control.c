/*
 * sim-control.c: hypervsim's control interface for tests and demos, JSON
 * over HTTP at /control on the same server
 *
 *   {"op": "add-vm", "name": N, "disks": 1, "disk_mb": 64, "state": "off"}
 *   {"op": "remove-vm", "name": N}
 *   {"op": "set-vm", "name": N, "state": "running", "guest_vss": false,
 *    "user_snapshot_type": 5, "autostart": true}
 *   {"op": "write", "vm": N, "disk": 0, "offset": 1048576, "text": T}
 *   {"op": "read", "vm": N, "disk": 0, "offset": 1048576, "length": 64}
 *   {"op": "snapshot", "vm": N, "name": S}     (a standard checkpoint taken
 *                                               on the host, as Hyper-V
 *                                               Manager would)
 *   {"op": "group-snapshot", "group": G, "name": S}
 *                                          (a standard group checkpoint
 *                                           taken on the host, as
 *                                           Checkpoint-VMGroup would)
 *   {"op": "fail-job", "job_type": 70, "error_code": 32768, "text": T,
 *    "count": 1, "delay_ms": 0, "vm": N}   (vm: only that member's part of
 *                                          a group job)
 *   {"op": "move-file", "from": P, "to": P}    (inside the state folder)
 *   {"op": "crash-merge", "after_bytes": 0}    (the next merge stops there)
 *   {"op": "slow-merge", "ms": 500}            (a pause after each chunk
 *                                               every merge copies)
 *   {"op": "http-fault", "fault": "drop" | "500" | "malformed" | "delay",
 *    "ms": 0 (of a delay), "count": 1,
 *    "action": "Get", "class": "Msvm_ConcreteJob", "method": M,
 *    "after": false}                        (the next matching requests;
 *                                            after: carried out, answer lost)
 *   {"op": "clear-faults"}                     (the HTTP faults not used yet)
 *   {"op": "latency", "ms": 200}
 *   {"op": "counters"}
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "sim-ops.h"
#include "sim-server.h"
#include "vhdx.h"

static const struct {
    const char *name;
    guint16 state;
} states[] = {
    { "running", MSVM_ENABLED_STATE_ENABLED },
    { "off", MSVM_ENABLED_STATE_DISABLED },
    { "saved", MSVM_ENABLED_STATE_OFFLINE },
    { "paused", MSVM_ENABLED_STATE_QUIESCE },
};

static gboolean
parse_state(const char *name, guint16 *out)
{
    for (gsize i = 0; i < G_N_ELEMENTS(states); i++)
        if (g_strcmp0(name, states[i].name) == 0) {
            *out = states[i].state;
            return TRUE;
        }
    return FALSE;
}

static gint64
member_int(JsonObject *o, const char *name, gint64 fallback)
{
    return json_object_has_member(o, name) ? json_object_get_int_member(o, name)
                                           : fallback;
}

/* "ms": a duration from 0 to max */
static gboolean
member_ms(JsonObject *o, guint max, guint *ms, GError **error)
{
    gint64 v = member_int(o, "ms", 0);

    if (v < 0 || v > max) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_INVALID,
                    _("'ms' must be between 0 and %u"), max);
        return FALSE;
    }
    *ms = v;
    return TRUE;
}

static const char *
member_string(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);
    return n && JSON_NODE_HOLDS_VALUE(n) &&
                   json_node_get_value_type(n) == G_TYPE_STRING
               ? json_node_get_string(n)
               : NULL;
}

/* A name changed when one is given */
static void
set_name(char **field, const char *name)
{
    if (name) {
        g_free(*field);
        *field = g_strdup(name);
    }
}

/* The answer of a request that made or changed the object id, saved */
static gboolean
answer_id(SimHost *host, JsonBuilder *b, const char *id, GError **error)
{
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, id);
    return sim_host_save(host, error);
}

static SimDiskRef *
disk_of(SimHost *host, JsonObject *o, SimVm **vm_out, GError **error)
{
    SimVm *vm = sim_host_find_vm(host, member_string(o, "vm") ?: "");
    gint64 i = member_int(o, "disk", 0);

    if (!vm || i < 0 || i >= vm->disks->len) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_NOT_FOUND,
                    _("no such virtual machine or disk"));
        return NULL;
    }
    if (vm_out)
        *vm_out = vm;
    return vm->disks->pdata[i];
}

static gboolean
op_write(SimHost *host, JsonObject *o, JsonBuilder *b, GError **error)
{
    SimVm *vm = NULL;
    SimDiskRef *d = disk_of(host, o, &vm, error);
    const char *text = member_string(o, "text");
    gint64 offset = member_int(o, "offset", 0);
    VhdxImage *img;

    if (!d)
        return FALSE;
    if (!text) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_INVALID,
                    _("'text' is missing"));
        return FALSE;
    }
    img = vhdx_open(d->path, VHDX_OPEN_READ_WRITE | VHDX_OPEN_CHAIN, error);
    if (!img)
        return FALSE;
    if (offset < 0 || !vhdx_write(img, text, strlen(text), offset, error)) {
        if (offset < 0)
            g_set_error(error, SIM_ERROR, SIM_ERROR_INVALID,
                        _("'offset' must not be negative"));
        vhdx_free(img);
        return FALSE;
    }
    sim_vm_track_write(vm, d->slot_id, offset, strlen(text));
    return vhdx_close(img, error) && sim_host_save(host, error);
}

static gboolean
op_group_snapshot(SimHost *host, JsonObject *o, JsonBuilder *b, GError **error)
{
    const char *group = member_string(o, "group");
    const char *name = member_string(o, "name");
    SimGroup *g = sim_host_find_group(host, group ? group : "");
    SimGroupPoint *p;

    if (!g) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_NOT_FOUND,
                    _("no VM group '%s'"), group ? group : "");
        return FALSE;
    }
    p = sim_group_take(host, g, MSVM_COLLECTION_SNAPSHOT_TYPE_STANDARD, 0, NULL,
                       error);
    if (!p)
        return FALSE;
    for (guint i = 0; name && i < p->items->len; i++) {
        SimSnapshot *s = sim_host_find_snapshot(host, p->items->pdata[i], NULL);
        if (s)
            set_name(&s->name, name);
    }
    set_name(&p->name, name);
    return answer_id(host, b, p->id, error);
}

static gboolean
op_read(SimHost *host, JsonObject *o, JsonBuilder *b, GError **error)
{
    SimDiskRef *d = disk_of(host, o, NULL, error);
    gint64 len = member_int(o, "length", 64);
    g_autoptr(VhdxImage) img = NULL;
    g_autofree char *buf = NULL;

    if (!d)
        return FALSE;
    if (len < 0 || len > 1 << 20) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_INVALID,
                    _("'length' must be between 0 and 1 MiB"));
        return FALSE;
    }
    img = vhdx_open(d->path, VHDX_OPEN_READ_ONLY | VHDX_OPEN_CHAIN, error);
    buf = g_malloc0(len + 1);
    if (!img || !vhdx_read(img, buf, len, member_int(o, "offset", 0), error))
        return FALSE;
    json_builder_set_member_name(b, "text");
    json_builder_add_string_value(b, buf);
    return TRUE;
}

/* A path of the host, in Windows or POSIX form, inside its state folder:
 * the control interface moves no other files. */
static char *
host_file(SimHost *host, JsonObject *o, const char *name, GError **error)
{
    const char *given = member_string(o, name);
    g_autofree char *posix = NULL;
    g_autofree char *prefix = g_strconcat(host->state_dir, "/", NULL);
    char *path;

    if (!given) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_INVALID, _("'%s' is missing"),
                    name);
        return NULL;
    }
    posix = sim_path_from_windows(given); /* NULL: not C:\... */
    if (!posix)
        posix = g_strdup(given);
    path = g_canonicalize_filename(posix, host->state_dir);
    if (!g_str_has_prefix(path, prefix)) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_INVALID,
                    _("'%s' is outside the host's folder %s"), given,
                    host->state_dir);
        g_free(path);
        return NULL;
    }
    return path;
}

/* Moves a file behind Hyper-V's back, as a user might: a parent moved
 * away breaks the chains below it. */
static gboolean
op_move_file(SimHost *host, JsonObject *o, GError **error)
{
    g_autofree char *from = host_file(host, o, "from", error);
    g_autofree char *to = from ? host_file(host, o, "to", error) : NULL;
    g_autofree char *dir = NULL;

    if (!to)
        return FALSE;
    dir = g_path_get_dirname(to);
    if (g_mkdir_with_parents(dir, 0755) < 0 || g_rename(from, to) < 0) {
        int e = errno;
        g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                    _("cannot move %s to %s: %s"), from, to, g_strerror(e));
        return FALSE;
    }
    return TRUE;
}

static gboolean
control_op(SimServer *srv, SimHost *host, JsonObject *o, JsonBuilder *b,
           GError **error)
{
    const char *op = member_string(o, "op");
    const char *name = member_string(o, "name");
    SimVm *vm;
    guint16 state;

    if (g_strcmp0(op, "add-vm") == 0) {
        if (!name) {
            g_set_error(error, SIM_ERROR, SIM_ERROR_INVALID,
                        _("'name' is missing"));
            return FALSE;
        }
        vm = sim_host_add_vm(host, name, member_int(o, "disks", 1),
                             member_int(o, "disk_mb", 64), error);
        if (!vm)
            return FALSE;
        if (parse_state(member_string(o, "state"), &state))
            sim_vm_set_state(vm, state);
        return answer_id(host, b, vm->id, error);
    }
    if (g_strcmp0(op, "remove-vm") == 0)
        return sim_host_remove_vm(host, name ? name : "", error) &&
               sim_host_save(host, error);
    if (g_strcmp0(op, "set-vm") == 0) {
        vm = sim_host_find_vm(host, name ? name : "");
        if (!vm) {
            g_set_error(error, SIM_ERROR, SIM_ERROR_NOT_FOUND,
                        _("no virtual machine '%s'"), name ? name : "");
            return FALSE;
        }
        if (json_object_has_member(o, "state")) {
            if (!parse_state(member_string(o, "state"), &state)) {
                g_set_error(error, SIM_ERROR, SIM_ERROR_INVALID,
                            _("'state' is one of running, off, saved, "
                              "paused"));
                return FALSE;
            }
            sim_vm_set_state(vm, state);
        }
        if (json_object_has_member(o, "guest_vss"))
            vm->guest_vss = json_object_get_boolean_member(o, "guest_vss");
        if (json_object_has_member(o, "autostart"))
            vm->startup_action = json_object_get_boolean_member(o, "autostart")
                                     ? MSVM_AUTOMATIC_STARTUP_ACTION_ALWAYS
                                     : MSVM_AUTOMATIC_STARTUP_ACTION_NONE;
        if (json_object_has_member(o, "user_snapshot_type"))
            vm->user_snapshot_type =
                json_object_get_int_member(o, "user_snapshot_type");
        return sim_host_save(host, error);
    }
    if (g_strcmp0(op, "write") == 0)
        return op_write(host, o, b, error);
    if (g_strcmp0(op, "read") == 0)
        return op_read(host, o, b, error);
    if (g_strcmp0(op, "snapshot") == 0) {
        const char *vm_name = member_string(o, "vm");
        SimSnapshot *s;
        vm = sim_host_find_vm(host, vm_name ? vm_name : "");
        if (!vm) {
            g_set_error(error, SIM_ERROR, SIM_ERROR_NOT_FOUND,
                        _("no virtual machine '%s'"), vm_name ? vm_name : "");
            return FALSE;
        }
        s = sim_take_snapshot(host, vm, MSVM_SNAPSHOT_TYPE_FULL, 0, error);
        if (!s)
            return FALSE;
        set_name(&s->name, name);
        return answer_id(host, b, s->id, error);
    }
    if (g_strcmp0(op, "group-snapshot") == 0)
        return op_group_snapshot(host, o, b, error);
    if (g_strcmp0(op, "fail-job") == 0) {
        SimJobFault *f = g_new0(SimJobFault, 1);
        f->job_type = member_int(o, "job_type", 0);
        f->error_code = member_int(o, "error_code", 32768);
        f->text = g_strdup(member_string(o, "text"));
        f->vm = g_strdup(member_string(o, "vm"));
        f->count = MAX(1, member_int(o, "count", 1));
        f->delay_ms = member_int(o, "delay_ms", 0);
        if (json_object_has_member(o, "delay_ms") &&
            !json_object_has_member(o, "error_code"))
            f->error_code = 0; /* only slow */
        g_ptr_array_add(host->job_faults, f);
        return TRUE;
    }
    if (g_strcmp0(op, "move-file") == 0)
        return op_move_file(host, o, error);
    if (g_strcmp0(op, "slow-merge") == 0)
        return member_ms(o, 10000, &host->merge_chunk_ms, error);
    if (g_strcmp0(op, "crash-merge") == 0) {
        gint64 after = member_int(o, "after_bytes", 0);
        if (after < 0) {
            g_set_error(error, SIM_ERROR, SIM_ERROR_INVALID,
                        _("'after_bytes' must not be negative"));
            return FALSE;
        }
        host->crash_next_merge = TRUE;
        host->crash_after_bytes = after;
        return TRUE;
    }
    if (g_strcmp0(op, "http-fault") == 0)
        return sim_server_inject(
            srv, member_string(o, "fault"), member_int(o, "count", 1),
            member_string(o, "action"), member_string(o, "class"),
            member_string(o, "method"),
            json_object_get_boolean_member_with_default(o, "after", FALSE),
            CLAMP(member_int(o, "ms", 0), 0, 60000), error);
    if (g_strcmp0(op, "clear-faults") == 0) {
        sim_server_clear_faults(srv);
        return TRUE;
    }
    if (g_strcmp0(op, "latency") == 0) {
        guint ms;
        if (!member_ms(o, 60000, &ms, error))
            return FALSE;
        sim_server_set_latency(srv, ms);
        return TRUE;
    }
    if (g_strcmp0(op, "counters") == 0) {
        GHashTableIter it;
        gpointer k, v;
        json_builder_set_member_name(b, "requests");
        json_builder_add_int_value(b, (gint64) sim_server_request_count(srv));
        json_builder_set_member_name(b, "counters");
        json_builder_begin_object(b);
        g_hash_table_iter_init(&it, sim_server_counters(srv));
        while (g_hash_table_iter_next(&it, &k, &v)) {
            json_builder_set_member_name(b, k);
            json_builder_add_int_value(b, GPOINTER_TO_UINT(v));
        }
        json_builder_end_object(b);
        return TRUE;
    }
    g_set_error(error, SIM_ERROR, SIM_ERROR_INVALID,
                _("unknown control operation '%s'"), op ? op : "");
    return FALSE;
}

void
sim_control_handle(SimServer *srv, SimHost *host, SoupServerMessage *msg)
{
    SoupMessageBody *body = soup_server_message_get_request_body(msg);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *out = NULL;
    GError *err = NULL;
    JsonNode *node;
    gboolean ok;

    json_builder_begin_object(b);
    ok = json_parser_load_from_data(parser, body->data, body->length, &err);
    node = ok ? json_parser_get_root(parser) : NULL;
    if (ok && (!node || !JSON_NODE_HOLDS_OBJECT(node))) {
        g_set_error(&err, SIM_ERROR, SIM_ERROR_INVALID,
                    _("the request is not a JSON object"));
        ok = FALSE;
    }
    if (ok) {
        g_mutex_lock(&host->lock);
        ok = control_op(srv, host, json_node_get_object(node), b, &err);
        g_mutex_unlock(&host->lock);
    }
    json_builder_set_member_name(b, "ok");
    json_builder_add_boolean_value(b, ok);
    if (!ok) {
        json_builder_set_member_name(b, "error");
        json_builder_add_string_value(b, err->message);
        g_error_free(err);
    }
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    out = json_generator_to_data(gen, NULL);
    soup_server_message_set_status(msg, ok ? 200 : 400, NULL);
    soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY,
                                     out, strlen(out));
}
