/*
 * sim-state.c: the host model saved as JSON (state_dir/host.json),
 * replaced atomically after every change
 *
 * Each struct of the model that is saved has a table of its fields (JSON
 * name, kind, offset); one writer and one reader walk the tables.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <json-glib/json-glib.h>

#include "sim-host.h"

typedef enum {
    F_STRING,   /* char * */
    F_STRINGS,  /* GPtrArray of char *, never NULL once read */
    F_TIME,     /* GDateTime *; now when missing */
    F_TIME_OPT, /* GDateTime *; NULL when missing */
    F_UINT,     /* an unsigned integer of size bytes */
    F_BOOL,     /* gboolean */
    F_LIST,     /* GPtrArray of records */
} FieldKind;

typedef struct _Record Record;

typedef struct {
    const char *name;
    FieldKind kind;
    gsize offset;
    gsize size;         /* F_UINT */
    const Record *list; /* F_LIST */
    gboolean required;
    guint64 fallback; /* F_UINT when missing */
} Field;

struct _Record {
    const char *what; /* for errors, translatable */
    gsize size;
    GDestroyNotify free;
    const Field *fields;
    guint n_fields;
};

#define STR(T, f, n)                                                           \
    {                                                                          \
        n, F_STRING, G_STRUCT_OFFSET(T, f), 0, NULL, FALSE, 0                  \
    }
#define NEED(T, f, n)                                                          \
    {                                                                          \
        n, F_STRING, G_STRUCT_OFFSET(T, f), 0, NULL, TRUE, 0                   \
    }
#define STRS(T, f, n)                                                          \
    {                                                                          \
        n, F_STRINGS, G_STRUCT_OFFSET(T, f), 0, NULL, FALSE, 0                 \
    }
#define TIME(T, f, n)                                                          \
    {                                                                          \
        n, F_TIME, G_STRUCT_OFFSET(T, f), 0, NULL, FALSE, 0                    \
    }
#define TIME0(T, f, n)                                                         \
    {                                                                          \
        n, F_TIME_OPT, G_STRUCT_OFFSET(T, f), 0, NULL, FALSE, 0                \
    }
#define UINT(T, f, n)                                                          \
    {                                                                          \
        n, F_UINT, G_STRUCT_OFFSET(T, f), sizeof(((T *) 0)->f), NULL, FALSE, 0 \
    }
#define UINT_OR(T, f, n, v)                                                    \
    {                                                                          \
        n, F_UINT, G_STRUCT_OFFSET(T, f), sizeof(((T *) 0)->f), NULL, FALSE, v \
    }
#define BOOL(T, f, n)                                                          \
    {                                                                          \
        n, F_BOOL, G_STRUCT_OFFSET(T, f), 0, NULL, FALSE, 0                    \
    }
#define LIST(T, f, n, r)                                                       \
    {                                                                          \
        n, F_LIST, G_STRUCT_OFFSET(T, f), 0, &r, FALSE, 0                      \
    }
#define RECORD(name, what, T, free_func, fields)                               \
    static const Record name = { what, sizeof(T), (GDestroyNotify) free_func,  \
                                 fields, G_N_ELEMENTS(fields) }

static const Field disk_fields[] = {
    STR(SimDiskRef, slot_id, "slot"),
    STR(SimDiskRef, path, "path"),
};
RECORD(disk_record, N_("disk"), SimDiskRef, sim_disk_ref_free, disk_fields);

static const Field snapshot_fields[] = {
    STR(SimSnapshot, id, "id"),
    STR(SimSnapshot, name, "name"),
    STRS(SimSnapshot, notes, "notes"),
    TIME(SimSnapshot, created, "created"),
    STR(SimSnapshot, parent_id, "parent"),
    BOOL(SimSnapshot, is_saved, "is_saved"),
    STR(SimSnapshot, type, "type"),
    UINT(SimSnapshot, memory_mb, "memory_mb"),
    UINT(SimSnapshot, cpus, "cpus"),
    UINT(SimSnapshot, vm_state, "vm_state"),
    STR(SimSnapshot, state_file, "state_file"),
    UINT(SimSnapshot, consistency, "consistency"),
    UINT(SimSnapshot, change_seq, "change_seq"),
    LIST(SimSnapshot, disks, "disks", disk_record),
};
RECORD(snapshot_record, N_("checkpoint"), SimSnapshot, sim_snapshot_free,
       snapshot_fields);

static const Field refpoint_fields[] = {
    STR(SimRefPoint, id, "id"),
    TIME(SimRefPoint, created, "created"),
    UINT(SimRefPoint, consistency, "consistency"),
    UINT(SimRefPoint, change_seq, "change_seq"),
    STRS(SimRefPoint, slots, "slots"),
    STRS(SimRefPoint, rct_ids, "rct_ids"),
};
RECORD(refpoint_record, N_("reference point"), SimRefPoint, sim_refpoint_free,
       refpoint_fields);

static const Field change_fields[] = {
    STR(SimChange, slot_id, "slot"),
    UINT(SimChange, offset, "offset"),
    UINT(SimChange, length, "length"),
    UINT(SimChange, seq, "seq"),
};
RECORD(change_record, N_("tracked change"), SimChange, sim_change_free,
       change_fields);

static const Field vm_fields[] = {
    NEED(SimVm, id, "id"),
    NEED(SimVm, name, "name"),
    STRS(SimVm, notes, "notes"),
    TIME(SimVm, created, "created"),
    UINT(SimVm, state, "state"),
    TIME(SimVm, state_changed, "state_changed"),
    UINT(SimVm, memory_mb, "memory_mb"),
    UINT(SimVm, cpus, "cpus"),
    UINT(SimVm, user_snapshot_type, "user_snapshot_type"),
    UINT_OR(SimVm, startup_action, "startup_action",
            MSVM_AUTOMATIC_STARTUP_ACTION_RESTART),
    BOOL(SimVm, guest_vss, "guest_vss"),
    NEED(SimVm, dir, "dir"),
    STR(SimVm, current_id, "current"),
    STR(SimVm, last_applied_id, "last_applied"),
    UINT(SimVm, change_seq, "change_seq"),
    LIST(SimVm, disks, "disks", disk_record),
    STRS(SimVm, macs, "macs"),
    LIST(SimVm, snapshots, "snapshots", snapshot_record),
    LIST(SimVm, refpoints, "refpoints", refpoint_record),
    LIST(SimVm, changes, "changes", change_record),
};
RECORD(vm_record, N_("virtual machine"), SimVm, sim_vm_free, vm_fields);

static const Field group_point_fields[] = {
    STR(SimGroupPoint, id, "id"),
    STR(SimGroupPoint, name, "name"),
    TIME(SimGroupPoint, created, "created"),
    UINT(SimGroupPoint, type, "type"),
    UINT(SimGroupPoint, consistency, "consistency"),
    STRS(SimGroupPoint, items, "items"),
};
RECORD(group_point_record, N_("group point"), SimGroupPoint,
       sim_group_point_free, group_point_fields);

static const Field group_fields[] = {
    NEED(SimGroup, id, "id"),
    NEED(SimGroup, name, "name"),
    STRS(SimGroup, members, "members"),
    LIST(SimGroup, snapshots, "snapshots", group_point_record),
    LIST(SimGroup, refpoints, "refpoints", group_point_record),
    TIME0(SimGroup, last_apply_time, "last_apply_time"),
    STRS(SimGroup, last_apply_vms, "last_apply_vms"),
    UINT(SimGroup, last_apply_consistency, "last_apply_consistency"),
};
RECORD(group_record, N_("group"), SimGroup, sim_group_free, group_fields);

static const Field host_fields[] = {
    STR(SimHost, name, "name"),
    LIST(SimHost, vms, "vms", vm_record),
    LIST(SimHost, groups, "groups", group_record),
};

/* Writing */

static void put_record(JsonBuilder *b, const Record *r, gconstpointer rec);

static void
put_list(JsonBuilder *b, const Record *r, GPtrArray *items)
{
    json_builder_begin_array(b);
    for (guint i = 0; items && i < items->len; i++)
        put_record(b, r, items->pdata[i]);
    json_builder_end_array(b);
}

static void
put_fields(JsonBuilder *b, const Field *fields, guint n, gconstpointer rec)
{
    for (guint i = 0; i < n; i++) {
        const Field *f = &fields[i];
        gconstpointer p = (const guint8 *) rec + f->offset;
        guint64 v = 0;

        if (f->kind == F_TIME_OPT && !*(GDateTime *const *) p)
            continue;
        json_builder_set_member_name(b, f->name);
        switch (f->kind) {
        case F_STRING:
            if (*(char *const *) p)
                json_builder_add_string_value(b, *(char *const *) p);
            else
                json_builder_add_null_value(b);
            break;
        case F_STRINGS: {
            GPtrArray *a = *(GPtrArray *const *) p;
            json_builder_begin_array(b);
            for (guint k = 0; a && k < a->len; k++)
                json_builder_add_string_value(b, a->pdata[k]);
            json_builder_end_array(b);
            break;
        }
        case F_TIME:
        case F_TIME_OPT: {
            GDateTime *dt = *(GDateTime *const *) p;
            g_autofree char *s = dt ? g_date_time_format_iso8601(dt) : NULL;
            if (s)
                json_builder_add_string_value(b, s);
            else
                json_builder_add_null_value(b);
            break;
        }
        case F_UINT:
            v = f->size == 1   ? *(const guint8 *) p
                : f->size == 2 ? *(const guint16 *) p
                : f->size == 4 ? *(const guint32 *) p
                               : *(const guint64 *) p;
            json_builder_add_int_value(b, (gint64) v);
            break;
        case F_BOOL:
            json_builder_add_boolean_value(b, *(const gboolean *) p);
            break;
        case F_LIST:
            put_list(b, f->list, *(GPtrArray *const *) p);
            break;
        }
    }
}

static void
put_record(JsonBuilder *b, const Record *r, gconstpointer rec)
{
    json_builder_begin_object(b);
    put_fields(b, r->fields, r->n_fields, rec);
    json_builder_end_object(b);
}

gboolean
sim_json_write(JsonBuilder *b, const char *path, GError **error)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autofree char *data = NULL;

    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    data = json_generator_to_data(gen, NULL);
    return g_file_set_contents(path, data, -1, error);
}

gboolean
sim_host_save(SimHost *host, GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *path =
        g_build_filename(host->state_dir, "host.json", NULL);

    json_builder_begin_object(b);
    put_fields(b, host_fields, G_N_ELEMENTS(host_fields), host);
    json_builder_end_object(b);
    return sim_json_write(b, path, error);
}

/* Reading */

static gboolean get_fields(JsonObject *o, const char *what, guint index,
                           const Field *fields, guint n, gpointer rec,
                           const char *path, GError **error);

static gboolean
get_list(JsonObject *o, const Field *f, GPtrArray *into, const char *path,
         GError **error)
{
    JsonNode *n = json_object_get_member(o, f->name);
    JsonArray *a =
        n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
    const Record *r = f->list;

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        gpointer rec;

        if (!JSON_NODE_HOLDS_OBJECT(e)) {
            g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                        _("%s: %s %u is not an object"), path, _(r->what), i);
            return FALSE;
        }
        rec = g_malloc0(r->size);
        /* added first, so that a failure frees what was read */
        g_ptr_array_add(into, rec);
        if (!get_fields(json_node_get_object(e), _(r->what), i, r->fields,
                        r->n_fields, rec, path, error))
            return FALSE;
    }
    return TRUE;
}

static gboolean
get_fields(JsonObject *o, const char *what, guint index, const Field *fields,
           guint n_fields, gpointer rec, const char *path, GError **error)
{
    for (guint i = 0; i < n_fields; i++) {
        const Field *f = &fields[i];
        gpointer p = (guint8 *) rec + f->offset;
        JsonNode *n = json_object_get_member(o, f->name);
        gboolean value = n && JSON_NODE_HOLDS_VALUE(n);
        const char *s = value && json_node_get_value_type(n) == G_TYPE_STRING
                            ? json_node_get_string(n)
                            : NULL;
        guint64 v;

        if (f->required && !s) {
            g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                        _("%s: %s %u lacks its %s"), path, what, index,
                        f->name);
            return FALSE;
        }
        switch (f->kind) {
        case F_STRING:
            *(char **) p = g_strdup(s);
            break;
        case F_STRINGS: {
            GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
            JsonArray *a =
                n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
            for (guint k = 0; a && k < json_array_get_length(a); k++)
                g_ptr_array_add(out,
                                g_strdup(json_array_get_string_element(a, k)));
            *(GPtrArray **) p = out;
            break;
        }
        case F_TIME:
        case F_TIME_OPT: {
            GDateTime *dt = s ? g_date_time_new_from_iso8601(s, NULL) : NULL;
            if (!dt && f->kind == F_TIME)
                dt = g_date_time_new_now_utc();
            *(GDateTime **) p = dt;
            break;
        }
        case F_UINT:
            v = value ? (guint64) json_node_get_int(n) : f->fallback;
            if (f->size == 1)
                *(guint8 *) p = v;
            else if (f->size == 2)
                *(guint16 *) p = v;
            else if (f->size == 4)
                *(guint32 *) p = v;
            else
                *(guint64 *) p = v;
            break;
        case F_BOOL:
            *(gboolean *) p = value && json_node_get_boolean(n);
            break;
        case F_LIST:
            *(GPtrArray **) p = g_ptr_array_new_with_free_func(f->list->free);
            if (!get_list(o, f, *(GPtrArray **) p, path, error))
                return FALSE;
            break;
        }
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

    if (!g_file_test(path, G_FILE_TEST_EXISTS))
        return TRUE;
    if (!json_parser_load_from_file(parser, path, error))
        return FALSE;
    root = JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))
               ? json_node_get_object(json_parser_get_root(parser))
               : NULL;
    if (!root || !json_object_has_member(root, "vms")) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_FAILED,
                    _("%s is not a hypervsim state file"), path);
        return FALSE;
    }
    for (guint i = 0; i < G_N_ELEMENTS(host_fields); i++)
        if (host_fields[i].kind == F_LIST &&
            !get_list(root, &host_fields[i],
                      G_STRUCT_MEMBER(GPtrArray *, host, host_fields[i].offset),
                      path, error))
            return FALSE;
    return TRUE;
}
