/*
 * sim-wql.h: the WQL that Hyper-V's WMI provider accepts over WS-Man
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "wmi-schema.h"

G_BEGIN_DECLS

#define SIM_ERROR (sim_error_quark())
GQuark sim_error_quark(void);

typedef enum {
    SIM_ERROR_QUERY,     /* a WQL query the provider does not accept */
    SIM_ERROR_NOT_FOUND, /* no such object */
    SIM_ERROR_INVALID,   /* a bad parameter */
    SIM_ERROR_STATE,     /* not in this state */
    SIM_ERROR_FAILED,    /* an operation failed */
} SimErrorCode;

typedef struct _WqlCond WqlCond;

typedef struct {
    gboolean associators;
    const char *class_name; /* SELECT: the FROM class */
    WqlCond *where;         /* SELECT: may be NULL */
    /* ASSOCIATORS OF {object} WHERE ... */
    WmiEpr *source; /* the object's path */
    const char *assoc_class;
    const char *result_class;
    const char *result_role;
    const char *role;
    /* what the parse made, freed with the query, whole or not: the
     * strings above, the conditions */
    GStringChunk *strings;
    GPtrArray *conds;
} WqlQuery;

WqlQuery *wql_parse(const char *text, GError **error);
void wql_query_free(WqlQuery *q);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(WqlQuery, wql_query_free)

/* Does obj satisfy the WHERE clause (TRUE without one)? Strings compare
 * case-insensitively, as WMI does. */
gboolean wql_matches(const WqlQuery *q, const WmiObject *obj);

/* The GUIDs (lowered) that every object the WHERE clause can match is
 * named by or belongs to (InstanceID, Name, VirtualSystemIdentifier or
 * CollectionID equal to, or LIKE a pattern starting with, one of them);
 * NULL when it can match anything. */
GHashTable *wql_scope(const WqlQuery *q);
/* The GUID that text ("GUID", "Microsoft:GUID" or "Microsoft:GUID\...")
 * starts with, lowered, or NULL */
char *sim_guid_in(const char *text);

G_END_DECLS
