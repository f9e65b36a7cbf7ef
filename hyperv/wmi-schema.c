/*
 * wmi-schema.c: generic WMI objects, their typed structs, CIM-XML
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gi18n-lib.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "msvm-classes.h"

G_DEFINE_QUARK(hv - error - quark, hv_error)

const char *
wmi_type_name(WmiType type)
{
    static const char *const names[] = {
        [WMI_TYPE_STRING] = "string",     [WMI_TYPE_BOOLEAN] = "boolean",
        [WMI_TYPE_UINT8] = "uint8",       [WMI_TYPE_UINT16] = "uint16",
        [WMI_TYPE_UINT32] = "uint32",     [WMI_TYPE_UINT64] = "uint64",
        [WMI_TYPE_SINT32] = "sint32",     [WMI_TYPE_DATETIME] = "datetime",
        [WMI_TYPE_INTERVAL] = "datetime", [WMI_TYPE_REF] = "reference",
    };
    return names[type];
}

const WmiClassDef *
wmi_class_lookup(const char *name)
{
    for (const WmiClassDef *const *k = msvm_classes; *k; k++)
        if (g_ascii_strcasecmp((*k)->name, name) == 0)
            return *k;
    return NULL;
}

gboolean
wmi_class_is_a(const WmiClassDef *klass, const WmiClassDef *wanted)
{
    for (; klass; klass = klass->parent)
        if (klass == wanted)
            return TRUE;
    return FALSE;
}

int
wmi_assoc_end_of(const WmiAssocDef *assoc, const char *class_name,
                 const char *role)
{
    const WmiClassDef *klass = wmi_class_lookup(class_name);

    for (int i = 0; klass && i < 2; i++)
        if (wmi_class_is_a(klass, assoc->ends[i].klass) &&
            (!role || g_ascii_strcasecmp(role, assoc->ends[i].role) == 0))
            return i;
    return -1;
}

char *
wmi_associators_wql(const WmiAssocDef *assoc, const WmiEpr *source,
                    const WmiClassDef *result_class, const char *result_role)
{
    const WmiClassDef *src = wmi_class_lookup(source->class_name);
    GString *q;
    int from = -1;

    /* the end the source fits; of two, the one of the narrower class */
    for (int i = 0; i < 2; i++) {
        const WmiAssocEnd *end = &assoc->ends[i], *other = &assoc->ends[1 - i];
        if (!src || !wmi_class_is_a(src, end->klass) ||
            (result_role && g_ascii_strcasecmp(result_role, other->role)) ||
            (result_class && !wmi_class_is_a(result_class, other->klass)))
            continue;
        if (from < 0 || wmi_class_is_a(end->klass, assoc->ends[from].klass))
            from = i;
    }
    g_return_val_if_fail(from >= 0, NULL);
    q = g_string_new(NULL);
    g_string_append_printf(q, "ASSOCIATORS OF {%s.", source->class_name);
    for (guint i = 0; i < source->selector_names->len; i++) {
        g_autofree char *v = wmi_wql_quote(source->selector_values->pdata[i]);
        g_string_append_printf(q, "%s%s=%s", i ? "," : "",
                               (char *) source->selector_names->pdata[i], v);
    }
    g_string_append_printf(q, "} WHERE AssocClass = %s", assoc->klass->name);
    if (result_class)
        g_string_append_printf(q, " ResultClass = %s", result_class->name);
    if (result_role)
        g_string_append_printf(q, " ResultRole = %s", result_role);
    return g_string_free(q, FALSE);
}

const WmiPropertyDef *
wmi_class_property(const WmiClassDef *klass, const char *name)
{
    for (guint i = 0; i < klass->n_props; i++)
        if (g_str_equal(klass->props[i].name, name))
            return &klass->props[i];
    return NULL;
}

const WmiMethodDef *
wmi_class_method(const WmiClassDef *klass, const char *name)
{
    for (guint i = 0; i < klass->n_methods; i++)
        if (g_str_equal(klass->methods[i].name, name))
            return &klass->methods[i];
    return NULL;
}

const char *
wmi_valuemap_text(const WmiValueMap *map, guint64 value)
{
    for (guint i = 0; i < map->n_entries; i++)
        if (map->entries[i].value == value && !map->entries[i].string_value)
            return map->entries[i].text;
    return NULL;
}

/* Endpoint references */

WmiEpr *
wmi_epr_new(const char *class_name)
{
    WmiEpr *epr = g_new0(WmiEpr, 1);
    epr->address = g_strdup(
        "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous");
    epr->class_name = g_strdup(class_name);
    epr->resource_uri = g_strconcat(
        "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/",
        class_name, NULL);
    epr->selector_names = g_ptr_array_new_with_free_func(g_free);
    epr->selector_values = g_ptr_array_new_with_free_func(g_free);
    return epr;
}

WmiEpr *
wmi_epr_new_keyed(const char *class_name, const char *name, ...)
{
    WmiEpr *epr = wmi_epr_new(class_name);
    va_list ap;

    va_start(ap, name);
    for (; name; name = va_arg(ap, const char *))
        wmi_epr_add_selector(epr, name, va_arg(ap, const char *));
    va_end(ap);
    return epr;
}

WmiEpr *
wmi_epr_copy(const WmiEpr *epr)
{
    WmiEpr *copy = wmi_epr_new(epr->class_name);
    g_free(copy->address);
    g_free(copy->resource_uri);
    copy->address = g_strdup(epr->address);
    copy->resource_uri = g_strdup(epr->resource_uri);
    for (guint i = 0; i < epr->selector_names->len; i++)
        wmi_epr_add_selector(copy, epr->selector_names->pdata[i],
                             epr->selector_values->pdata[i]);
    return copy;
}

void
wmi_epr_free(WmiEpr *epr)
{
    if (!epr)
        return;
    g_free(epr->address);
    g_free(epr->resource_uri);
    g_free(epr->class_name);
    g_ptr_array_unref(epr->selector_names);
    g_ptr_array_unref(epr->selector_values);
    g_free(epr);
}

void
wmi_epr_add_selector(WmiEpr *epr, const char *name, const char *value)
{
    g_ptr_array_add(epr->selector_names, g_strdup(name));
    g_ptr_array_add(epr->selector_values, g_strdup(value));
}

char *
wmi_epr_path(WmiEpr *epr)
{
    g_autoptr(WmiEpr) owned = epr;
    GString *path = g_string_new("root\\virtualization\\v2:");

    g_string_append(path, owned->class_name);
    for (guint i = 0; i < owned->selector_names->len; i++) {
        const char *value = owned->selector_values->pdata[i];
        g_string_append_printf(path, "%c%s=\"", i ? ',' : '.',
                               (const char *) owned->selector_names->pdata[i]);
        for (const char *v = value ? value : ""; *v; v++) {
            if (*v == '"' || *v == '\\')
                g_string_append_c(path, '\\');
            g_string_append_c(path, *v);
        }
        g_string_append_c(path, '"');
    }
    return g_string_free(path, FALSE);
}

const char *
wmi_epr_get_selector(const WmiEpr *epr, const char *name)
{
    for (guint i = 0; i < epr->selector_names->len; i++)
        if (g_ascii_strcasecmp(epr->selector_names->pdata[i], name) == 0)
            return epr->selector_values->pdata[i];
    return NULL;
}

/* Generic objects */

static void
value_free(WmiValue *v)
{
    g_free(v->text);
    wmi_epr_free(v->epr);
    g_free(v);
}

/* Property names, as WMI compares them: without regard to case */
static guint
name_hash(gconstpointer name)
{
    guint h = 5381;
    for (const char *p = name; *p; p++)
        h = h * 33 + g_ascii_tolower(*p);
    return h;
}

static gboolean
name_equal(gconstpointer a, gconstpointer b)
{
    return g_ascii_strcasecmp(a, b) == 0;
}

WmiObject *
wmi_object_new(const char *class_name)
{
    WmiObject *obj = g_new0(WmiObject, 1);
    obj->class_name = g_strdup(class_name);
    obj->names = g_ptr_array_new_with_free_func(g_free);
    obj->values = g_hash_table_new_full(name_hash, name_equal, g_free,
                                        (GDestroyNotify) g_ptr_array_unref);
    return obj;
}

void
wmi_object_free(WmiObject *obj)
{
    if (!obj)
        return;
    g_free(obj->class_name);
    g_ptr_array_unref(obj->names);
    g_hash_table_unref(obj->values);
    g_free(obj);
}

void
wmi_object_add_value(WmiObject *obj, const char *name, WmiValue *value)
{
    GPtrArray *values = g_hash_table_lookup(obj->values, name);

    if (!values) {
        values = g_ptr_array_new_with_free_func((GDestroyNotify) value_free);
        g_hash_table_insert(obj->values, g_strdup(name), values);
        g_ptr_array_add(obj->names, g_strdup(name));
    }
    g_ptr_array_add(values, value);
}

void
wmi_object_add_text(WmiObject *obj, const char *name, const char *text)
{
    WmiValue *v = g_new0(WmiValue, 1);
    v->kind = WMI_VALUE_TEXT;
    v->text = g_strdup(text);
    wmi_object_add_value(obj, name, v);
}

void
wmi_object_set_nil(WmiObject *obj, const char *name)
{
    WmiValue *v = g_new0(WmiValue, 1);
    v->kind = WMI_VALUE_NIL;
    wmi_object_add_value(obj, name, v);
}

GPtrArray *
wmi_object_values(const WmiObject *obj, const char *name)
{
    return g_hash_table_lookup(obj->values, name);
}

const char *
wmi_object_text(const WmiObject *obj, const char *name)
{
    GPtrArray *values = wmi_object_values(obj, name);
    WmiValue *v = values && values->len ? values->pdata[0] : NULL;
    return v && v->kind != WMI_VALUE_NIL && v->kind != WMI_VALUE_EPR ? v->text
                                                                     : NULL;
}

gboolean
wmi_object_is_nil(const WmiObject *obj, const char *name)
{
    GPtrArray *values = wmi_object_values(obj, name);
    return !values || values->len == 0 ||
           ((WmiValue *) values->pdata[0])->kind == WMI_VALUE_NIL;
}

const WmiEpr *
wmi_object_epr(const WmiObject *obj, const char *name)
{
    GPtrArray *values = wmi_object_values(obj, name);
    WmiValue *v = values && values->len ? values->pdata[0] : NULL;
    return v && v->kind == WMI_VALUE_EPR ? v->epr : NULL;
}

/* Scalars */

gboolean
wmi_parse_boolean(const char *text, gboolean *out)
{
    g_autofree char *t = g_strstrip(g_strdup(text));

    if (g_ascii_strcasecmp(t, "true") == 0 || g_str_equal(t, "1")) {
        *out = TRUE;
        return TRUE;
    }
    if (g_ascii_strcasecmp(t, "false") == 0 || g_str_equal(t, "0")) {
        *out = FALSE;
        return TRUE;
    }
    return FALSE;
}

gboolean
wmi_parse_unsigned(const char *text, guint64 max, guint64 *out)
{
    g_autofree char *t = g_strstrip(g_strdup(text));
    char *end = NULL;
    guint64 v;

    if (!g_ascii_isdigit(t[0]))
        return FALSE;
    errno = 0;
    v = g_ascii_strtoull(t, &end, 10);
    if (errno || *end || v > max)
        return FALSE;
    *out = v;
    return TRUE;
}

static gboolean
parse_signed(const char *text, gint64 min, gint64 max, gint64 *out)
{
    g_autofree char *t = g_strstrip(g_strdup(text));
    char *end = NULL;
    gint64 v;

    if (!t[0])
        return FALSE;
    errno = 0;
    v = g_ascii_strtoll(t, &end, 10);
    if (errno || *end || v < min || v > max)
        return FALSE;
    *out = v;
    return TRUE;
}

static gboolean
all_digits(const char *s, gsize n)
{
    for (gsize i = 0; i < n; i++)
        if (!g_ascii_isdigit(s[i]))
            return FALSE;
    return TRUE;
}

static int
digits(const char *s, gsize n)
{
    int v = 0;
    for (gsize i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

GDateTime *
wmi_parse_datetime(const char *text)
{
    g_autofree char *t = g_strstrip(g_strdup(text));

    /* DMTF: yyyymmddHHMMSS.mmmmmmsUUU, s = '+' or '-', UUU minutes */
    if (strlen(t) == 25 && t[14] == '.' && (t[21] == '+' || t[21] == '-') &&
        all_digits(t, 14) && all_digits(t + 15, 6) && all_digits(t + 22, 3)) {
        int offset = digits(t + 22, 3) * (t[21] == '-' ? -1 : 1);
        g_autoptr(GTimeZone) tz = g_time_zone_new_offset(offset * 60);
        return g_date_time_new(tz, digits(t, 4), digits(t + 4, 2),
                               digits(t + 6, 2), digits(t + 8, 2),
                               digits(t + 10, 2),
                               digits(t + 12, 2) + digits(t + 15, 6) / 1e6);
    }
    return g_date_time_new_from_iso8601(t, NULL);
}

/* xs:duration: PnYnMnDTnHnMnS; years and months have no fixed length and
 * are refused. */
static gboolean
parse_xs_duration(const char *t, GTimeSpan *out)
{
    gboolean neg = FALSE, in_time = FALSE, any = FALSE;
    gdouble total = 0;

    if (*t == '-') {
        neg = TRUE;
        t++;
    }
    if (*t++ != 'P')
        return FALSE;
    while (*t) {
        char *end;
        gdouble v;
        if (*t == 'T') {
            in_time = TRUE;
            t++;
            continue;
        }
        if (!g_ascii_isdigit(*t))
            return FALSE;
        v = g_ascii_strtod(t, &end);
        if (end == t)
            return FALSE;
        switch (*end) {
        case 'D':
            if (in_time)
                return FALSE;
            total += v * G_TIME_SPAN_DAY;
            break;
        case 'H':
            total += v * G_TIME_SPAN_HOUR;
            break;
        case 'M':
            if (!in_time)
                return FALSE;
            total += v * G_TIME_SPAN_MINUTE;
            break;
        case 'S':
            total += v * G_TIME_SPAN_SECOND;
            break;
        default:
            return FALSE;
        }
        if (*end != 'D' && !in_time)
            return FALSE;
        any = TRUE;
        t = end + 1;
    }
    if (!any || total > (gdouble) G_MAXINT64)
        return FALSE;
    *out = (GTimeSpan) (neg ? -total : total);
    return TRUE;
}

gboolean
wmi_parse_interval(const char *text, GTimeSpan *out)
{
    g_autofree char *t = g_strstrip(g_strdup(text));

    /* DMTF: ddddddddHHMMSS.mmmmmm:000 */
    if (strlen(t) == 25 && t[14] == '.' && t[21] == ':' && all_digits(t, 14) &&
        all_digits(t + 15, 6)) {
        *out = (GTimeSpan) digits(t, 8) * G_TIME_SPAN_DAY +
               (GTimeSpan) digits(t + 8, 2) * G_TIME_SPAN_HOUR +
               (GTimeSpan) digits(t + 10, 2) * G_TIME_SPAN_MINUTE +
               (GTimeSpan) digits(t + 12, 2) * G_TIME_SPAN_SECOND +
               digits(t + 15, 6);
        return TRUE;
    }
    return parse_xs_duration(t, out);
}

char *
wmi_format_datetime_dmtf(GDateTime *dt)
{
    GTimeSpan off = g_date_time_get_utc_offset(dt) / G_TIME_SPAN_MINUTE;
    return g_strdup_printf(
        "%04d%02d%02d%02d%02d%02d.%06d%c%03d", g_date_time_get_year(dt),
        g_date_time_get_month(dt), g_date_time_get_day_of_month(dt),
        g_date_time_get_hour(dt), g_date_time_get_minute(dt),
        g_date_time_get_second(dt), g_date_time_get_microsecond(dt),
        off < 0 ? '-' : '+', (int) ABS(off));
}

char *
wmi_format_interval_dmtf(GTimeSpan span)
{
    GTimeSpan s = ABS(span);
    return g_strdup_printf(
        "%08" G_GINT64_FORMAT "%02d%02d%02d.%06d:000", s / G_TIME_SPAN_DAY,
        (int) (s / G_TIME_SPAN_HOUR % 24), (int) (s / G_TIME_SPAN_MINUTE % 60),
        (int) (s / G_TIME_SPAN_SECOND % 60), (int) (s % G_TIME_SPAN_SECOND));
}

/* Typed structs */

static const guint64 unsigned_max[] = {
    [WMI_TYPE_UINT8] = G_MAXUINT8,
    [WMI_TYPE_UINT16] = G_MAXUINT16,
    [WMI_TYPE_UINT32] = G_MAXUINT32,
    [WMI_TYPE_UINT64] = G_MAXUINT64,
};

/* One value converted to the property's C type, into dst. */
static gboolean
convert_value(const WmiClassDef *klass, const WmiPropertyDef *p,
              const WmiValue *v, gpointer dst, GError **error)
{
    guint64 u;
    gint64 s;
    gboolean b;
    GTimeSpan span;
    GDateTime *dt;

    if (v->kind == WMI_VALUE_NIL)
        return TRUE;
    if (p->type == WMI_TYPE_REF) {
        if (v->kind != WMI_VALUE_EPR)
            goto bad;
        *(WmiEpr **) dst = wmi_epr_copy(v->epr);
        return TRUE;
    }
    if (v->kind == WMI_VALUE_EPR)
        goto bad;
    switch (p->type) {
    case WMI_TYPE_STRING:
        *(char **) dst = g_strdup(v->text);
        return TRUE;
    case WMI_TYPE_BOOLEAN:
        if (!wmi_parse_boolean(v->text, &b))
            goto bad;
        *(gboolean *) dst = b;
        return TRUE;
    case WMI_TYPE_UINT8:
    case WMI_TYPE_UINT16:
    case WMI_TYPE_UINT32:
    case WMI_TYPE_UINT64:
        if (!wmi_parse_unsigned(v->text, unsigned_max[p->type], &u))
            goto bad;
        switch (p->type) {
        case WMI_TYPE_UINT8:
            *(guint8 *) dst = u;
            break;
        case WMI_TYPE_UINT16:
            *(guint16 *) dst = u;
            break;
        case WMI_TYPE_UINT32:
            *(guint32 *) dst = u;
            break;
        default:
            *(guint64 *) dst = u;
            break;
        }
        return TRUE;
    case WMI_TYPE_SINT32:
        if (!parse_signed(v->text, G_MININT32, G_MAXINT32, &s))
            goto bad;
        *(gint32 *) dst = (gint32) s;
        return TRUE;
    case WMI_TYPE_DATETIME:
        dt = wmi_parse_datetime(v->text);
        if (!dt)
            goto bad;
        *(GDateTime **) dst = dt;
        return TRUE;
    case WMI_TYPE_INTERVAL:
        if (!wmi_parse_interval(v->text, &span))
            goto bad;
        *(GTimeSpan *) dst = span;
        return TRUE;
    case WMI_TYPE_REF:
        break;
    }
bad:
    g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
                _("%s.%s: '%s' is not a valid %s"), klass->name, p->name,
                v->kind == WMI_VALUE_EPR ? "EPR" : v->text,
                wmi_type_name(p->type));
    return FALSE;
}

static gsize
scalar_size(WmiType type)
{
    switch (type) {
    case WMI_TYPE_BOOLEAN:
        return sizeof(gboolean);
    case WMI_TYPE_UINT8:
        return sizeof(guint8);
    case WMI_TYPE_UINT16:
        return sizeof(guint16);
    case WMI_TYPE_UINT32:
        return sizeof(guint32);
    case WMI_TYPE_SINT32:
        return sizeof(gint32);
    case WMI_TYPE_UINT64:
        return sizeof(guint64);
    case WMI_TYPE_INTERVAL:
        return sizeof(GTimeSpan);
    default:
        return sizeof(gpointer);
    }
}

static gboolean
convert_property(const WmiClassDef *klass, const WmiPropertyDef *p,
                 GPtrArray *values, guint8 *base, GError **error)
{
    gpointer field = base + p->offset;

    if (!p->array) {
        /* a repeated scalar is a protocol error; take the first */
        return convert_value(klass, p, values->pdata[0], field, error);
    }
    if (values->len == 1 &&
        ((WmiValue *) values->pdata[0])->kind == WMI_VALUE_NIL)
        return TRUE;

    if (p->type == WMI_TYPE_STRING) {
        char **strv = g_new0(char *, values->len + 1);
        guint n = 0;
        *(char ***) field = strv;
        /* a nil item is left out: the vector ends at its first NULL */
        for (guint i = 0; i < values->len; i++) {
            if (!convert_value(klass, p, values->pdata[i], &strv[n], error))
                return FALSE;
            if (strv[n])
                n++;
        }
        return TRUE;
    }
    if (p->type == WMI_TYPE_DATETIME || p->type == WMI_TYPE_REF) {
        GPtrArray *arr = g_ptr_array_new_with_free_func(
            p->type == WMI_TYPE_REF ? (GDestroyNotify) wmi_epr_free
                                    : (GDestroyNotify) g_date_time_unref);
        *(GPtrArray **) field = arr;
        for (guint i = 0; i < values->len; i++) {
            gpointer item = NULL;
            if (!convert_value(klass, p, values->pdata[i], &item, error))
                return FALSE;
            if (item)
                g_ptr_array_add(arr, item);
        }
        return TRUE;
    }
    {
        gsize size = scalar_size(p->type);
        GArray *arr = g_array_sized_new(FALSE, TRUE, size, values->len);
        *(GArray **) field = arr;
        for (guint i = 0; i < values->len; i++) {
            guint8 item[8] = { 0 };
            if (!convert_value(klass, p, values->pdata[i], item, error))
                return FALSE;
            g_array_append_vals(arr, item, 1);
        }
    }
    return TRUE;
}

gpointer
wmi_typed_new(const WmiClassDef *klass, WmiObject *obj, GError **error)
{
    guint8 *typed = wmi_typed_alloc(klass);

    ((WmiTypedHead *) typed)->object = obj;
    for (guint i = 0; i < klass->n_props; i++) {
        const WmiPropertyDef *p = &klass->props[i];
        GPtrArray *values = wmi_object_values(obj, p->name);
        if (!values || values->len == 0)
            continue;
        if (!convert_property(klass, p, values, typed, error)) {
            wmi_typed_free(typed);
            return NULL;
        }
    }
    return typed;
}

gpointer
wmi_typed_alloc(const WmiClassDef *klass)
{
    WmiTypedHead *head = g_malloc0(klass->struct_size);

    head->klass = klass;
    return head;
}

void
wmi_typed_give(gpointer typed, gsize offset)
{
    WmiTypedHead *head = typed;

    for (guint i = 0; i < head->klass->n_props; i++) {
        if (head->klass->props[i].offset == offset) {
            head->given |= G_GUINT64_CONSTANT(1) << i;
            return;
        }
    }
    g_return_if_reached();
}

/* One value of a property of a typed struct, as text */
static char *
typed_scalar_text(WmiType type, gconstpointer field)
{
    switch (type) {
    case WMI_TYPE_STRING:
        return g_strdup(*(char *const *) field);
    case WMI_TYPE_BOOLEAN:
        return g_strdup(*(const gboolean *) field ? "true" : "false");
    case WMI_TYPE_UINT8:
        return g_strdup_printf("%u", *(const guint8 *) field);
    case WMI_TYPE_UINT16:
        return g_strdup_printf("%u", *(const guint16 *) field);
    case WMI_TYPE_UINT32:
        return g_strdup_printf("%u", *(const guint32 *) field);
    case WMI_TYPE_UINT64:
        return g_strdup_printf("%" G_GUINT64_FORMAT, *(const guint64 *) field);
    case WMI_TYPE_SINT32:
        return g_strdup_printf("%d", *(const gint32 *) field);
    case WMI_TYPE_DATETIME:
        return *(GDateTime *const *) field
                   ? wmi_format_datetime_dmtf(*(GDateTime *const *) field)
                   : NULL;
    case WMI_TYPE_INTERVAL:
        return wmi_format_interval_dmtf(*(const GTimeSpan *) field);
    case WMI_TYPE_REF:
        break;
    }
    g_return_val_if_reached(NULL);
}

WmiObject *
wmi_typed_to_object(gconstpointer typed)
{
    const WmiTypedHead *head = typed;
    const WmiClassDef *klass = head->klass;
    WmiObject *obj = wmi_object_new(klass->name);

    for (guint i = 0; i < klass->n_props; i++) {
        const WmiPropertyDef *p = &klass->props[i];
        const guint8 *field = (const guint8 *) typed + p->offset;
        g_autoptr(GPtrArray) texts = g_ptr_array_new_with_free_func(g_free);

        if (!(head->given & (G_GUINT64_CONSTANT(1) << i)))
            continue;
        if (!p->array) {
            g_ptr_array_add(texts, typed_scalar_text(p->type, field));
        } else if (p->type == WMI_TYPE_STRING) {
            char *const *v = *(char *const *const *) field;
            for (guint k = 0; v && v[k]; k++)
                g_ptr_array_add(texts, g_strdup(v[k]));
        } else if (p->type == WMI_TYPE_DATETIME) {
            GPtrArray *v = *(GPtrArray *const *) field;
            for (guint k = 0; v && k < v->len; k++)
                g_ptr_array_add(texts,
                                typed_scalar_text(p->type, &v->pdata[k]));
        } else if (p->type != WMI_TYPE_REF) {
            GArray *v = *(GArray *const *) field;
            for (guint k = 0; v && k < v->len; k++)
                g_ptr_array_add(
                    texts, typed_scalar_text(
                               p->type, v->data + k * scalar_size(p->type)));
        }
        g_return_val_if_fail(p->type != WMI_TYPE_REF, obj);
        if (!texts->len || !texts->pdata[0]) {
            wmi_object_set_nil(obj, p->name);
            continue;
        }
        for (guint k = 0; k < texts->len; k++)
            wmi_object_add_text(obj, p->name, texts->pdata[k]);
    }
    return obj;
}

void
wmi_typed_free(gpointer ptr)
{
    guint8 *typed = ptr;
    const WmiClassDef *klass;

    if (!typed)
        return;
    klass = *(const WmiClassDef **) typed;
    for (guint i = 0; i < klass->n_props; i++) {
        const WmiPropertyDef *p = &klass->props[i];
        gpointer field = typed + p->offset;
        if (p->array) {
            if (p->type == WMI_TYPE_STRING)
                g_strfreev(*(char ***) field);
            else if (p->type == WMI_TYPE_DATETIME || p->type == WMI_TYPE_REF)
                g_clear_pointer((GPtrArray **) field, g_ptr_array_unref);
            else
                g_clear_pointer((GArray **) field, g_array_unref);
        } else if (p->type == WMI_TYPE_STRING) {
            g_free(*(char **) field);
        } else if (p->type == WMI_TYPE_DATETIME) {
            g_clear_pointer((GDateTime **) field, g_date_time_unref);
        } else if (p->type == WMI_TYPE_REF) {
            wmi_epr_free(*(WmiEpr **) field);
        }
    }
    wmi_object_free(((WmiTypedHead *) typed)->object);
    g_free(typed);
}

/* CIM-XML embedded instances (DSP0201: INSTANCE, PROPERTY, PROPERTY.ARRAY) */

static char *
node_text(xmlNode *node)
{
    xmlChar *c = xmlNodeGetContent(node);
    char *s = g_strdup(c ? (const char *) c : "");
    xmlFree(c);
    return s;
}

static gboolean
node_is(xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE &&
           g_ascii_strcasecmp((const char *) n->name, name) == 0;
}

static char *
node_attr(xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *) name);
    char *s = v ? g_strdup((const char *) v) : NULL;
    xmlFree(v);
    return s;
}

static void
add_cim_value(WmiObject *obj, const char *name, const char *type,
              xmlNode *value)
{
    WmiValue *v = g_new0(WmiValue, 1);

    v->text = node_text(value);
    v->kind = type && g_ascii_strcasecmp(type, "datetime") == 0
                  ? (strchr(v->text, ':') && strlen(v->text) == 25 &&
                             v->text[21] == ':'
                         ? WMI_VALUE_INTERVAL
                         : WMI_VALUE_DATETIME)
                  : WMI_VALUE_TEXT;
    wmi_object_add_value(obj, name, v);
}

WmiObject *
wmi_object_from_cimxml(const char *text, GError **error)
{
    gsize len = strlen(text);
    xmlDoc *doc;
    xmlNode *root;
    g_autofree char *class_name = NULL;
    WmiObject *obj;

    if (len > WMI_CIMXML_MAX_SIZE) {
        g_set_error(error, HV_ERROR, HV_ERROR_TOO_LARGE,
                    _("embedded instance of %zu bytes is over the limit of "
                      "%d bytes"),
                    len, WMI_CIMXML_MAX_SIZE);
        return NULL;
    }
    doc = xmlReadMemory(text, (int) len, NULL, "UTF-8",
                        XML_PARSE_NONET | XML_PARSE_NOERROR |
                            XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
    root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root || !node_is(root, "INSTANCE") ||
        !(class_name = node_attr(root, "CLASSNAME"))) {
        g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
                    _("an embedded instance is not CIM-XML <INSTANCE "
                      "CLASSNAME=...>"));
        xmlFreeDoc(doc);
        return NULL;
    }
    obj = wmi_object_new(class_name);
    for (xmlNode *p = root->children; p; p = p->next) {
        g_autofree char *name = NULL, *type = NULL;
        gboolean found = FALSE;

        if (!node_is(p, "PROPERTY") && !node_is(p, "PROPERTY.ARRAY"))
            continue;
        name = node_attr(p, "NAME");
        type = node_attr(p, "TYPE");
        if (!name)
            continue;
        for (xmlNode *v = p->children; v; v = v->next) {
            if (node_is(v, "VALUE")) {
                add_cim_value(obj, name, type, v);
                found = TRUE;
            } else if (node_is(v, "VALUE.ARRAY")) {
                for (xmlNode *e = v->children; e; e = e->next)
                    if (node_is(e, "VALUE")) {
                        add_cim_value(obj, name, type, e);
                        found = TRUE;
                    }
            }
        }
        if (!found)
            wmi_object_set_nil(obj, name);
    }
    xmlFreeDoc(doc);
    return obj;
}

char *
wmi_object_to_cimxml(const WmiObject *obj)
{
    const WmiClassDef *klass = wmi_class_lookup(obj->class_name);
    xmlDoc *doc = xmlNewDoc((const xmlChar *) "1.0");
    xmlNode *root = xmlNewNode(NULL, (const xmlChar *) "INSTANCE");
    xmlBuffer *buf = xmlBufferCreate();
    char *out;

    xmlDocSetRootElement(doc, root);
    xmlNewProp(root, (const xmlChar *) "CLASSNAME",
               (const xmlChar *) obj->class_name);
    for (guint i = 0; i < obj->names->len; i++) {
        const char *name = obj->names->pdata[i];
        GPtrArray *values = wmi_object_values(obj, name);
        const WmiPropertyDef *p =
            klass ? wmi_class_property(klass, name) : NULL;
        gboolean array = p ? p->array : values->len > 1;
        const char *type = p ? wmi_type_name(p->type) : "string";
        xmlNode *prop, *parent;

        /* only set properties are sent; a nil one is simply left out */
        if (wmi_object_is_nil(obj, name) || (p && p->type == WMI_TYPE_REF))
            continue;
        prop = xmlNewChild(
            root, NULL,
            (const xmlChar *) (array ? "PROPERTY.ARRAY" : "PROPERTY"), NULL);
        xmlNewProp(prop, (const xmlChar *) "NAME", (const xmlChar *) name);
        xmlNewProp(prop, (const xmlChar *) "TYPE", (const xmlChar *) type);
        parent = array ? xmlNewChild(prop, NULL,
                                     (const xmlChar *) "VALUE.ARRAY", NULL)
                       : prop;
        for (guint j = 0; j < values->len; j++) {
            WmiValue *v = values->pdata[j];
            xmlNode *val =
                xmlNewChild(parent, NULL, (const xmlChar *) "VALUE", NULL);
            xmlNodeAddContent(val, (const xmlChar *) (v->text ? v->text : ""));
            if (!array)
                break;
        }
    }
    xmlNodeDump(buf, doc, root, 0, 0);
    out = g_strdup((const char *) xmlBufferContent(buf));
    xmlBufferFree(buf);
    xmlFreeDoc(doc);
    return out;
}

char *
wmi_wql_quote(const char *value)
{
    GString *s = g_string_new("'");
    for (const char *c = value; *c; c++) {
        if (*c == '\\' || *c == '\'')
            g_string_append_c(s, '\\');
        g_string_append_c(s, *c);
    }
    g_string_append_c(s, '\'');
    return g_string_free(s, FALSE);
}
