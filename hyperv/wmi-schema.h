/*
 * wmi-schema.h: WMI objects as a Hyper-V host sends them, and the class
 * tables (generated from msvm.schema) that give them types
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>
#include <glib/glib-typeof.h>

G_BEGIN_DECLS

#define HV_ERROR (hv_error_quark())
GQuark hv_error_quark(void);

typedef enum {
    HV_ERROR_CONNECTION, /* refused, reset, DNS: the host was not reached */
    HV_ERROR_TIMEOUT,    /* no answer in time */
    HV_ERROR_TLS,        /* certificate or handshake failure */
    HV_ERROR_AUTH,       /* HTTP 401 */
    HV_ERROR_FORBIDDEN,  /* HTTP 403 */
    HV_ERROR_HTTP,       /* another HTTP status without a SOAP fault */
    HV_ERROR_FAULT,      /* a SOAP fault: WSManFault or MSFT_WmiError */
    HV_ERROR_NOT_FOUND,  /* the object does not exist on the host */
    HV_ERROR_PARSE,      /* a reply that is not what the protocol says */
    HV_ERROR_TOO_LARGE,  /* a reply over the size limits */
    HV_ERROR_METHOD,     /* a method's ReturnValue is an error */
    HV_ERROR_JOB_FAILED, /* a job ended in failure */
    HV_ERROR_CANCELLED,  /* the caller cancelled */
    HV_ERROR_INVALID,    /* a bad argument from the caller */
} HvErrorCode;

typedef enum {
    WMI_TYPE_STRING,
    WMI_TYPE_BOOLEAN,
    WMI_TYPE_UINT8,
    WMI_TYPE_UINT16,
    WMI_TYPE_UINT32,
    WMI_TYPE_UINT64,
    WMI_TYPE_SINT32,
    WMI_TYPE_DATETIME,
    WMI_TYPE_INTERVAL,
    WMI_TYPE_REF,
} WmiType;

const char *wmi_type_name(WmiType type); /* the CIM type name */

typedef struct {
    const char *name;
    WmiType type;
    gboolean array;
    gboolean key;
    gsize offset; /* of the field in the typed struct */
} WmiPropertyDef;

typedef enum {
    WMI_PARAM_IN = 1,
    WMI_PARAM_OUT = 2,
    WMI_PARAM_INOUT = 3,
} WmiParamDir;

typedef struct {
    const char *name;
    WmiType type;
    gboolean array;
    WmiParamDir dir;
} WmiParamDef;

typedef struct {
    const char *name;
    const WmiParamDef *params;
    guint n_params;
} WmiMethodDef;

typedef struct _WmiClassDef WmiClassDef;
struct _WmiClassDef {
    const char *name;
    const WmiClassDef *parent;
    const WmiPropertyDef *props; /* inherited ones included */
    guint n_props;
    const WmiMethodDef *methods; /* inherited ones included */
    guint n_methods;
    gsize struct_size;
};

/* An association class and its two ends */
typedef struct {
    const char *role;
    const WmiClassDef *klass;
} WmiAssocEnd;

typedef struct {
    const WmiClassDef *klass;
    WmiAssocEnd ends[2];
} WmiAssocDef;

/* Whether klass is wanted or one of its subclasses */
gboolean wmi_class_is_a(const WmiClassDef *klass, const WmiClassDef *wanted);
/* The end of assoc a class of name class_name stands at, or -1; with
 * role, only that end */
int wmi_assoc_end_of(const WmiAssocDef *assoc, const char *class_name,
                     const char *role);
/* ASSOCIATORS OF {source} WHERE AssocClass = assoc [ResultClass = ...]
 * [ResultRole = ...]: the query from one end of assoc to the other (or,
 * for an association of one class with itself, the end result_role
 * names). The source must stand at an end; result_class may be NULL. */
typedef struct _WmiEpr WmiEpr;
char *wmi_associators_wql(const WmiAssocDef *assoc, const WmiEpr *source,
                          const WmiClassDef *result_class,
                          const char *result_role);

typedef struct {
    guint64 value;
    const char *string_value; /* for string value maps */
    const char *symbol;
    const char *text; /* Hyper-V's own term, as Windows prints it */
} WmiValueMapEntry;

typedef struct {
    const char *name;
    const WmiValueMapEntry *entries;
    guint n_entries;
} WmiValueMap;

const WmiClassDef *wmi_class_lookup(const char *name);
const WmiPropertyDef *wmi_class_property(const WmiClassDef *klass,
                                         const char *name);
const WmiMethodDef *wmi_class_method(const WmiClassDef *klass,
                                     const char *name);
/* The translated text of a value, or NULL when the map has none. */
const char *wmi_valuemap_text(const WmiValueMap *map, guint64 value);

/* An endpoint reference: how WS-Management names one object. */
struct _WmiEpr {
    char *address;
    char *resource_uri;
    char *class_name; /* the last segment of the resource URI */
    GPtrArray *selector_names;
    GPtrArray *selector_values;
};

WmiEpr *wmi_epr_new(const char *class_name);
/* An EPR with its selectors: name, value, ... ending with a NULL name */
WmiEpr *wmi_epr_new_keyed(const char *class_name, const char *name,
                          ...) G_GNUC_NULL_TERMINATED;
WmiEpr *wmi_epr_copy(const WmiEpr *epr);
void wmi_epr_free(WmiEpr *epr);
void wmi_epr_add_selector(WmiEpr *epr, const char *name, const char *value);
/* The WMI object path of epr (taken) as an embedded instance names an
 * object: root\virtualization\v2:Class.Key="value",... */
char *wmi_epr_path(WmiEpr *epr);
/* Selector names compare case-insensitively, as Windows does. */
const char *wmi_epr_get_selector(const WmiEpr *epr, const char *name);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(WmiEpr, wmi_epr_free)

typedef enum {
    WMI_VALUE_NIL,
    WMI_VALUE_TEXT,     /* strings, numbers, booleans as sent */
    WMI_VALUE_DATETIME, /* text is the xs:dateTime or DMTF form */
    WMI_VALUE_INTERVAL, /* text is the xs:duration or DMTF form */
    WMI_VALUE_EPR,
} WmiValueKind;

typedef struct {
    WmiValueKind kind;
    char *text;
    WmiEpr *epr;
} WmiValue;

/* One instance, or the output of a method (class name "X_OUTPUT"). */
typedef struct _WmiObject WmiObject;
struct _WmiObject {
    char *class_name;
    GPtrArray *names; /* property names, in the order received */
    /* name, in any case, as WMI reads names -> GPtrArray of WmiValue;
     * arrays repeat */
    GHashTable *values;
};

WmiObject *wmi_object_new(const char *class_name);
void wmi_object_free(WmiObject *obj);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(WmiObject, wmi_object_free)
void wmi_object_add_text(WmiObject *obj, const char *name, const char *text);
void wmi_object_add_value(WmiObject *obj, const char *name, WmiValue *value);
void wmi_object_set_nil(WmiObject *obj, const char *name);
/* The values of a property (NULL if absent); a nil one holds one NIL. */
GPtrArray *wmi_object_values(const WmiObject *obj, const char *name);
/* The first value's text; NULL when absent or nil. */
const char *wmi_object_text(const WmiObject *obj, const char *name);
gboolean wmi_object_is_nil(const WmiObject *obj, const char *name);
const WmiEpr *wmi_object_epr(const WmiObject *obj, const char *name);

/* What every typed struct starts with */
typedef struct {
    const WmiClassDef *klass;
    WmiObject *object;
    guint64 given;
} WmiTypedHead;

/* An empty typed struct, to be given values and sent */
gpointer wmi_typed_alloc(const WmiClassDef *klass);
/* Marks the field at offset as given a value to send */
void wmi_typed_give(gpointer typed, gsize offset);
/* Sets a field of a typed struct and marks it to be sent: a property its
 * class does not have is a build error. The struct owns value. */
#define WMI_TYPED_SET(typed, field, value)                                     \
    G_STMT_START                                                               \
    {                                                                          \
        (typed)->field = (value);                                              \
        wmi_typed_give((typed),                                                \
                       G_STRUCT_OFFSET(glib_typeof(*(typed)), field));         \
    }                                                                          \
    G_STMT_END
/* The properties given values, as an instance to send */
WmiObject *wmi_typed_to_object(gconstpointer typed);

/* Converts a generic object to its typed struct, checking every value
 * against the class table. The struct keeps obj (it takes ownership). */
gpointer wmi_typed_new(const WmiClassDef *klass, WmiObject *obj,
                       GError **error);
void wmi_typed_free(gpointer typed);

gboolean wmi_parse_boolean(const char *text, gboolean *out);
gboolean wmi_parse_unsigned(const char *text, guint64 max, guint64 *out);
/* xs:dateTime (WS-Man) or DMTF "yyyymmddHHMMSS.mmmmmmsUUU" (CIM-XML). */
GDateTime *wmi_parse_datetime(const char *text);
/* xs:duration or DMTF "ddddddddHHMMSS.mmmmmm:000", in microseconds. */
gboolean wmi_parse_interval(const char *text, GTimeSpan *out);
char *wmi_format_datetime_dmtf(GDateTime *dt);
char *wmi_format_interval_dmtf(GTimeSpan span);

/* Embedded instances: CIM-XML (DTD 2.0) <INSTANCE> text, as Hyper-V takes
 * and returns them in string parameters. */
#define WMI_CIMXML_MAX_SIZE (4 * 1024 * 1024)
WmiObject *wmi_object_from_cimxml(const char *text, GError **error);
/* Types come from the class table when the class is known. */
char *wmi_object_to_cimxml(const WmiObject *obj);

/* A WQL string literal: quotes and backslashes escaped. */
char *wmi_wql_quote(const char *value);

G_END_DECLS
