/*
 * sim-wql.c: parsing and evaluating WQL
 *
 *   SELECT * FROM Class [WHERE cond]      cond: term {AND|OR term},
 *                                         term: [NOT] Prop op literal |
 *                                               Prop LIKE 'pattern' |
 *                                               Prop IS [NOT] NULL | (cond)
 *   ASSOCIATORS OF {Class.Key='v',...} [WHERE AssocClass = A
 *       ResultClass = R ResultRole = X Role = Y]
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "sim-wql.h"

G_DEFINE_QUARK(sim - error - quark, sim_error)

typedef enum {
    COND_CMP,
    COND_NULL,
    COND_AND,
    COND_OR,
    COND_NOT,
} CondKind;

struct _WqlCond {
    CondKind kind;
    const char *prop;
    const char *op; /* a static string: "=", "like", "is", ... */
    const char *literal;
    gboolean literal_is_string;
    WqlCond *left, *right;
};

void
wql_query_free(WqlQuery *q)
{
    g_string_chunk_free(q->strings);
    g_ptr_array_unref(q->conds);
    g_clear_pointer(&q->source, wmi_epr_free);
    g_free(q);
}

/* A tiny scanner over the query text */
typedef struct {
    const char *text;
    const char *p;
    GError **error;
    gboolean failed;
    WqlQuery *q; /* owns what the scan makes */
} Scan;

static void
skip_space(Scan *s)
{
    while (g_ascii_isspace(*s->p))
        s->p++;
}

static gboolean
fail(Scan *s, const char *what)
{
    if (!s->failed)
        g_set_error(s->error, SIM_ERROR, SIM_ERROR_QUERY,
                    _("invalid query: %s at offset %d of \"%s\""), what,
                    (int) (s->p - s->text), s->text);
    s->failed = TRUE;
    return FALSE;
}

static gboolean
keyword(Scan *s, const char *word)
{
    gsize n = strlen(word);
    skip_space(s);
    if (g_ascii_strncasecmp(s->p, word, n) == 0 && !g_ascii_isalnum(s->p[n]) &&
        s->p[n] != '_') {
        s->p += n;
        return TRUE;
    }
    return FALSE;
}

static gboolean
punct(Scan *s, const char *tok)
{
    gsize n = strlen(tok);
    skip_space(s);
    if (strncmp(s->p, tok, n) == 0) {
        s->p += n;
        return TRUE;
    }
    return FALSE;
}

static const char *
keep(Scan *s, const char *start, gsize len)
{
    return g_string_chunk_insert_len(s->q->strings, start, len);
}

static WqlCond *
cond_new(Scan *s, CondKind kind)
{
    WqlCond *c = g_new0(WqlCond, 1);
    c->kind = kind;
    g_ptr_array_add(s->q->conds, c);
    return c;
}

static const char *
identifier(Scan *s)
{
    const char *start;
    skip_space(s);
    start = s->p;
    while (g_ascii_isalnum(*s->p) || *s->p == '_')
        s->p++;
    if (s->p == start) {
        fail(s, _("a name was expected"));
        return NULL;
    }
    return keep(s, start, s->p - start);
}

/* 'text' or "text" with backslash escapes, or a bare number/word */
static const char *
literal(Scan *s, gboolean *is_string)
{
    g_autoptr(GString) out = NULL;
    char quote;

    skip_space(s);
    quote = *s->p;
    if (quote != '\'' && quote != '"') {
        const char *start = s->p;
        *is_string = FALSE;
        while (*s->p && (g_ascii_isalnum(*s->p) || *s->p == '-' ||
                         *s->p == '.' || *s->p == '+'))
            s->p++;
        if (s->p == start) {
            fail(s, _("a value was expected"));
            return NULL;
        }
        return keep(s, start, s->p - start);
    }
    *is_string = TRUE;
    out = g_string_new(NULL);
    s->p++;
    while (*s->p && *s->p != quote) {
        if (*s->p == '\\' && s->p[1])
            s->p++;
        g_string_append_c(out, *s->p++);
    }
    if (*s->p != quote) {
        fail(s, _("an unterminated string"));
        return NULL;
    }
    s->p++;
    return keep(s, out->str, out->len);
}

static WqlCond *parse_chain(Scan *s, int depth, CondKind kind);

static WqlCond *
parse_term(Scan *s, int depth)
{
    WqlCond *c;
    static const char *const ops[] = { "<>", "!=", "<=", ">=", "=", "<", ">" };

    if (depth > 32) {
        fail(s, _("too deeply nested"));
        return NULL;
    }
    if (keyword(s, "NOT")) {
        c = cond_new(s, COND_NOT);
        c->left = parse_term(s, depth + 1);
        return c->left ? c : NULL;
    }
    if (punct(s, "(")) {
        c = parse_chain(s, depth + 1, COND_OR);
        if (c && !punct(s, ")")) {
            fail(s, _("')' was expected"));
            return NULL;
        }
        return c;
    }
    c = cond_new(s, COND_CMP);
    c->prop = identifier(s);
    if (!c->prop)
        return NULL;
    if (keyword(s, "IS")) {
        c->kind = COND_NULL;
        c->op = keyword(s, "NOT") ? "not" : "is";
        if (!keyword(s, "NULL")) {
            fail(s, _("NULL was expected"));
            return NULL;
        }
        return c;
    }
    if (keyword(s, "LIKE"))
        c->op = "like";
    for (gsize i = 0; i < G_N_ELEMENTS(ops) && !c->op; i++)
        if (punct(s, ops[i]))
            c->op = ops[i];
    if (!c->op) {
        fail(s, _("an operator was expected"));
        return NULL;
    }
    c->literal = literal(s, &c->literal_is_string);
    return c->literal ? c : NULL;
}

/* A chain of operands joined by the keyword op (kind), left to right;
 * OR joins ANDs, AND joins terms */
static WqlCond *
parse_chain(Scan *s, int depth, CondKind kind)
{
    const char *op = kind == COND_OR ? "OR" : "AND";
    WqlCond *left = kind == COND_OR ? parse_chain(s, depth, COND_AND)
                                    : parse_term(s, depth);

    while (left && keyword(s, op)) {
        WqlCond *c = cond_new(s, kind);
        c->left = left;
        c->right = kind == COND_OR ? parse_chain(s, depth, COND_AND)
                                   : parse_term(s, depth);
        if (!c->right)
            return NULL;
        left = c;
    }
    return left;
}

static gboolean
parse_associators(Scan *s, WqlQuery *q)
{
    const char *klass;

    if (!keyword(s, "OF") || !punct(s, "{"))
        return fail(s, _("ASSOCIATORS OF {...} was expected"));
    if (!(klass = identifier(s)))
        return FALSE;
    q->source = wmi_epr_new(klass);
    if (!punct(s, "."))
        return fail(s, _("'.' and the object's keys were expected"));
    do {
        gboolean is_string;
        const char *k = identifier(s), *v;
        if (!k)
            return FALSE;
        if (!punct(s, "="))
            return fail(s, _("'=' was expected"));
        v = literal(s, &is_string);
        if (!v)
            return FALSE;
        wmi_epr_add_selector(q->source, k, v);
    } while (punct(s, ","));
    if (!punct(s, "}"))
        return fail(s, _("'}' was expected"));
    if (!keyword(s, "WHERE"))
        return TRUE;
    for (;;) {
        const char **slot = NULL;
        if (keyword(s, "AssocClass"))
            slot = &q->assoc_class;
        else if (keyword(s, "ResultClass"))
            slot = &q->result_class;
        else if (keyword(s, "ResultRole"))
            slot = &q->result_role;
        else if (keyword(s, "Role"))
            slot = &q->role;
        else
            break;
        if (!punct(s, "="))
            return fail(s, _("'=' was expected"));
        *slot = identifier(s);
        if (!*slot)
            return FALSE;
    }
    return TRUE;
}

WqlQuery *
wql_parse(const char *text, GError **error)
{
    g_autoptr(WqlQuery) q = NULL;
    Scan s = { text, text, error, FALSE, NULL };

    if (strlen(text) > 8192) {
        g_set_error(error, SIM_ERROR, SIM_ERROR_QUERY,
                    _("invalid query: longer than 8192 characters"));
        return NULL;
    }
    s.q = q = g_new0(WqlQuery, 1);
    q->strings = g_string_chunk_new(strlen(text) + 1);
    q->conds = g_ptr_array_new_with_free_func(g_free);
    if (keyword(&s, "ASSOCIATORS")) {
        q->associators = TRUE;
        if (!parse_associators(&s, q))
            return NULL;
    } else {
        if (!keyword(&s, "SELECT") || !punct(&s, "*")) {
            fail(&s, _("only SELECT * and ASSOCIATORS OF are supported"));
            return NULL;
        }
        if (!keyword(&s, "FROM")) {
            fail(&s, _("FROM was expected"));
            return NULL;
        }
        q->class_name = identifier(&s);
        if (!q->class_name)
            return NULL;
        if (keyword(&s, "WHERE")) {
            q->where = parse_chain(&s, 0, COND_OR);
            if (!q->where)
                return NULL;
        }
    }
    skip_space(&s);
    if (*s.p) {
        fail(&s, _("unexpected text"));
        return NULL;
    }
    return g_steal_pointer(&q);
}

static int
compare(const char *have, const WqlCond *c)
{
    gboolean hb, lb;
    char *end1, *end2;
    gdouble a, b;

    if (wmi_parse_boolean(have, &hb) && wmi_parse_boolean(c->literal, &lb) &&
        !c->literal_is_string)
        return hb - lb;
    a = g_ascii_strtod(have, &end1);
    b = g_ascii_strtod(c->literal, &end2);
    if (!c->literal_is_string && *have && !*end1 && !*end2)
        return a < b ? -1 : a > b;
    return g_ascii_strcasecmp(have, c->literal);
}

/* WQL's LIKE: % any run, _ any one character, [abc] / [a-z] / [^a] one
 * of a set; case-insensitive */
static gboolean
like(const char *s, const char *p)
{
    for (; *p; p++, s++) {
        if (*p == '%') {
            for (;; s++) {
                if (like(s, p + 1))
                    return TRUE;
                if (!*s)
                    return FALSE;
            }
        }
        if (!*s)
            return FALSE;
        if (*p == '[') {
            const char *q = p + 1;
            gboolean negate = *q == '^', in = FALSE;
            char ch = g_ascii_tolower(*s);
            if (negate)
                q++;
            for (; *q && *q != ']'; q++) {
                char lo = g_ascii_tolower(*q), hi = lo;
                if (q[1] == '-' && q[2] && q[2] != ']') {
                    hi = g_ascii_tolower(q[2]);
                    q += 2;
                }
                in |= ch >= lo && ch <= hi;
            }
            if (!*q || in == negate)
                return FALSE; /* an open set matches nothing */
            p = q;
        } else if (*p != '_' && g_ascii_tolower(*p) != g_ascii_tolower(*s)) {
            return FALSE;
        }
    }
    return !*s;
}

static gboolean
eval(const WqlCond *c, const WmiObject *obj)
{
    const char *have;
    int r;

    switch (c->kind) {
    case COND_AND:
        return eval(c->left, obj) && eval(c->right, obj);
    case COND_OR:
        return eval(c->left, obj) || eval(c->right, obj);
    case COND_NOT:
        return !eval(c->left, obj);
    case COND_NULL:
        return wmi_object_is_nil(obj, c->prop) == g_str_equal(c->op, "is");
    case COND_CMP:
        break;
    }
    have = wmi_object_text(obj, c->prop);
    if (!have)
        return FALSE; /* NULL compares false, as in SQL */
    if (g_str_equal(c->op, "like"))
        return like(have, c->literal);
    r = compare(have, c);
    if (g_str_equal(c->op, "="))
        return r == 0;
    if (g_str_equal(c->op, "<>") || g_str_equal(c->op, "!="))
        return r != 0;
    if (g_str_equal(c->op, "<"))
        return r < 0;
    if (g_str_equal(c->op, ">"))
        return r > 0;
    if (g_str_equal(c->op, "<="))
        return r <= 0;
    return r >= 0;
}

gboolean
wql_matches(const WqlQuery *q, const WmiObject *obj)
{
    return !q->where || eval(q->where, obj);
}

char *
sim_guid_in(const char *text)
{
    const char *g = text;
    g_autofree char *guid = NULL;

    if (!g)
        return NULL;
    if (g_ascii_strncasecmp(g, "Microsoft:", 10) == 0)
        g += 10;
    if (strlen(g) < 36 || (g[36] && g[36] != '\\'))
        return NULL;
    guid = g_ascii_strdown(g, 36);
    return g_uuid_string_is_valid(guid) ? g_steal_pointer(&guid) : NULL;
}

/* The properties whose value names the object (or its owner) by GUID */
static gboolean
names_owner(const char *prop)
{
    return g_ascii_strcasecmp(prop, "InstanceID") == 0 ||
           g_ascii_strcasecmp(prop, "Name") == 0 ||
           g_ascii_strcasecmp(prop, "VirtualSystemIdentifier") == 0 ||
           g_ascii_strcasecmp(prop, "CollectionID") == 0;
}

static GHashTable *
cond_scope(const WqlCond *c)
{
    GHashTable *left, *right;
    char *guid;

    switch (c->kind) {
    case COND_CMP:
        if (!names_owner(c->prop) || !c->literal_is_string ||
            (!g_str_equal(c->op, "=") && !g_str_equal(c->op, "like")))
            return NULL;
        guid = sim_guid_in(c->literal);
        if (!guid)
            return NULL;
        left = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_hash_table_add(left, guid);
        return left;
    case COND_AND:
        left = cond_scope(c->left);
        return left ? left : cond_scope(c->right);
    case COND_OR:
        left = cond_scope(c->left);
        right = left ? cond_scope(c->right) : NULL;
        if (!right) {
            if (left)
                g_hash_table_unref(left);
            return NULL;
        }
        {
            GHashTableIter it;
            gpointer k;
            g_hash_table_iter_init(&it, right);
            while (g_hash_table_iter_next(&it, &k, NULL)) {
                g_hash_table_iter_steal(&it);
                g_hash_table_add(left, k);
            }
        }
        g_hash_table_unref(right);
        return left;
    default:
        return NULL;
    }
}

GHashTable *
wql_scope(const WqlQuery *q)
{
    return q->where ? cond_scope(q->where) : NULL;
}
