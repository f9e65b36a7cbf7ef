/*
 * hvd-moment.c: the tree of a VM's snapshots or checkpoints
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "hv-snapshot.h"
#include "hvd-moment.h"

struct _HvdMomentTree {
    GPtrArray *owned;     /* what was given, freed with the tree */
    GPtrArray *order;     /* each after its parent */
    GHashTable *by_id;    /* lower-case InstanceID -> HvdMoment */
    GHashTable *by_guid;  /* lower-case GUID -> HvdMoment */
    GHashTable *by_label; /* label -> HvdMoment */
    GHashTable *by_name;  /* name -> GPtrArray of HvdMoment */
    HvdMoment metaroot;   /* the roots are its children */
};

static gint
by_creation(gconstpointer a, gconstpointer b)
{
    const HvdMoment *x = *(HvdMoment *const *) a;
    const HvdMoment *y = *(HvdMoment *const *) b;

    if (x->created_us != y->created_us)
        return x->created_us < y->created_us ? -1 : 1;
    return g_strcmp0(x->id, y->id);
}

/* A walk up from a moment that meets a moment of the same walk has found a
 * loop of parents; its oldest moment becomes a root. Each moment is walked
 * once. */
static void
break_loops(GPtrArray *moments, GHashTable *walked)
{
    for (guint i = 0; i < moments->len; i++) {
        HvdMoment *start = moments->pdata[i];

        for (HvdMoment *m = start; m; m = m->parent) {
            gpointer seen = g_hash_table_lookup(walked, m);
            if (seen == start) {
                HvdMoment *oldest = m;
                for (HvdMoment *o = m->parent; o != m; o = o->parent)
                    if (by_creation(&o, &oldest) < 0)
                        oldest = o;
                g_debug("moment '%s' is in a loop of parents: a root",
                        oldest->id);
                oldest->parent = NULL;
                g_clear_pointer(&oldest->parent_id, g_free);
                break;
            }
            if (seen)
                break; /* walked before, from elsewhere: ends well */
            g_hash_table_insert(walked, m, start);
        }
    }
}

static void
add_preorder(GPtrArray *out, HvdMoment *m)
{
    /* iterative: a chain of checkpoints can be long */
    g_autoptr(GPtrArray) stack = g_ptr_array_new();

    g_ptr_array_add(stack, m);
    while (stack->len) {
        HvdMoment *top = g_ptr_array_steal_index(stack, stack->len - 1);
        g_autoptr(GPtrArray) kids = g_ptr_array_new();

        if (top->id)
            g_ptr_array_add(out, top);
        for (HvdMoment *k = top->first_child; k; k = k->sibling)
            g_ptr_array_add(kids, k);
        while (kids->len)
            g_ptr_array_add(stack,
                            g_ptr_array_steal_index(kids, kids->len - 1));
    }
}

void
hvd_moment_clear(HvdMoment *m)
{
    g_free(m->id);
    g_free(m->name);
    g_free(m->label);
    g_free(m->description);
    g_free(m->parent_id);
}

HvdMomentTree *
hvd_moment_tree_new(GPtrArray *moments)
{
    HvdMomentTree *t = g_new0(HvdMomentTree, 1);
    g_autoptr(GPtrArray) kept = g_ptr_array_new();
    g_autoptr(GHashTable) counts = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GHashTable) walked = g_hash_table_new(NULL, NULL);

    t->owned = moments;
    t->order = g_ptr_array_new();
    t->by_id = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    t->by_guid = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    t->by_label = g_hash_table_new(g_str_hash, g_str_equal);
    t->by_name = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                       (GDestroyNotify) g_ptr_array_unref);

    for (guint i = 0; i < moments->len; i++) {
        HvdMoment *m = moments->pdata[i];
        char *key = g_ascii_strdown(m->id, -1);

        if (g_hash_table_contains(t->by_id, key)) {
            g_debug("moment '%s' listed twice: the first kept", m->id);
            g_free(key);
            continue;
        }
        g_hash_table_insert(t->by_id, key, m);
        g_hash_table_insert(t->by_guid,
                            g_ascii_strdown(hv_instance_guid(m->id), -1), m);
        if (!m->name)
            m->name = g_strdup("");
        g_hash_table_insert(
            counts, m->name,
            GUINT_TO_POINTER(
                GPOINTER_TO_UINT(g_hash_table_lookup(counts, m->name)) + 1));
        m->parent = NULL;
        m->first_child = m->sibling = NULL;
        m->nchildren = 0;
        g_ptr_array_add(kept, m);
    }

    for (guint i = 0; i < kept->len; i++) {
        HvdMoment *m = kept->pdata[i];
        HvdMoment *p =
            m->parent_id ? hvd_moment_tree_find_id(t, m->parent_id) : NULL;
        GPtrArray *same;

        if (!p || p == m) {
            if (m->parent_id)
                g_debug("moment '%s': parent '%s' not listed, a root", m->id,
                        m->parent_id);
            g_clear_pointer(&m->parent_id, g_free);
        }
        m->parent = p == m ? NULL : p;

        same = g_hash_table_lookup(t->by_name, m->name);
        if (!same) {
            same = g_ptr_array_new();
            g_hash_table_insert(t->by_name, m->name, same);
        }
        g_ptr_array_add(same, m);
        g_free(m->label);
        m->label =
            GPOINTER_TO_UINT(g_hash_table_lookup(counts, m->name)) > 1
                ? g_strdup_printf("%s@%s", m->name, hv_instance_guid(m->id))
                : g_strdup(m->name);
        g_hash_table_insert(t->by_label, m->label, m);
    }
    break_loops(kept, walked);

    /* linked youngest first, so each list of children reads oldest first */
    g_ptr_array_sort(kept, by_creation);
    for (guint i = kept->len; i-- > 0;) {
        HvdMoment *m = kept->pdata[i];
        HvdMoment *p = m->parent ? m->parent : &t->metaroot;
        m->sibling = p->first_child;
        p->first_child = m;
        p->nchildren++;
    }
    add_preorder(t->order, &t->metaroot);
    return t;
}

void
hvd_moment_tree_free(HvdMomentTree *t)
{
    if (!t)
        return;
    g_hash_table_unref(t->by_name);
    g_hash_table_unref(t->by_label);
    g_hash_table_unref(t->by_guid);
    g_hash_table_unref(t->by_id);
    g_ptr_array_unref(t->order);
    g_ptr_array_unref(t->owned);
    g_free(t);
}

GPtrArray *
hvd_moment_tree_all(const HvdMomentTree *t)
{
    return t->order;
}

guint
hvd_moment_tree_size(const HvdMomentTree *t)
{
    return t->order->len;
}

HvdMoment *
hvd_moment_tree_find_id(const HvdMomentTree *t, const char *id)
{
    g_autofree char *key = id ? g_ascii_strdown(id, -1) : NULL;

    return key ? g_hash_table_lookup(t->by_id, key) : NULL;
}

static HvdMoment *
visible(HvdMoment *m)
{
    return m && !m->hidden ? m : NULL;
}

HvdMoment *
hvd_moment_tree_find_name(const HvdMomentTree *t, const char *name)
{
    g_autofree char *key = g_ascii_strdown(name, -1);
    const char *at = strrchr(name, '@');
    HvdMoment *m;

    if ((m = visible(g_hash_table_lookup(t->by_label, name))) ||
        (m = visible(g_hash_table_lookup(t->by_guid, key))) ||
        (m = visible(g_hash_table_lookup(t->by_id, key))))
        return m;
    if (at) {
        /* NAME@GUID with the GUID spelt in another case */
        m = visible(g_hash_table_lookup(t->by_guid, key + (at - name) + 1));
        if (m && strlen(m->name) == (gsize) (at - name) &&
            strncmp(m->name, name, at - name) == 0)
            return m;
    }
    return NULL;
}

gboolean
hvd_moment_tree_name_taken(const HvdMomentTree *t, const char *name)
{
    return g_hash_table_contains(t->by_name, name);
}

GPtrArray *
hvd_moment_tree_sharing(const HvdMomentTree *t, const char *name)
{
    GPtrArray *same = g_hash_table_lookup(t->by_name, name);
    GPtrArray *out;

    if (!same)
        return NULL;
    out = g_ptr_array_new();
    for (guint i = 0; i < same->len; i++)
        if (visible(same->pdata[i]))
            g_ptr_array_add(out, same->pdata[i]);
    if (out->len < 2)
        g_clear_pointer(&out, g_ptr_array_unref);
    return out;
}

gboolean
hvd_moment_is_leaf(const HvdMoment *m)
{
    return m->first_child == NULL;
}

gboolean
hvd_moment_descends_from(const HvdMoment *m, const HvdMoment *ancestor)
{
    for (const HvdMoment *p = m->parent; p; p = p->parent)
        if (p == ancestor)
            return TRUE;
    return FALSE;
}

static gboolean
passes(const HvdMoment *m, guint flags, HvdMomentFilter filter, gpointer data)
{
    guint leaves = flags & (HVD_MOMENT_LIST_LEAVES | HVD_MOMENT_LIST_NO_LEAVES);
    guint meta =
        flags & (HVD_MOMENT_LIST_METADATA | HVD_MOMENT_LIST_NO_METADATA);

    if (m->hidden)
        return FALSE;
    if (leaves == HVD_MOMENT_LIST_LEAVES && !hvd_moment_is_leaf(m))
        return FALSE;
    if (leaves == HVD_MOMENT_LIST_NO_LEAVES && hvd_moment_is_leaf(m))
        return FALSE;
    if (meta == HVD_MOMENT_LIST_METADATA && !m->has_metadata)
        return FALSE;
    if (meta == HVD_MOMENT_LIST_NO_METADATA && m->has_metadata)
        return FALSE;
    return !filter || filter(m, data);
}

GPtrArray *
hvd_moment_tree_list(const HvdMomentTree *t, const HvdMoment *from, guint flags,
                     HvdMomentFilter filter, gpointer data)
{
    GPtrArray *out = g_ptr_array_new();
    g_autoptr(GPtrArray) walk = NULL;

    if (!from && !(flags & HVD_MOMENT_LIST_ROOTS)) {
        walk = g_ptr_array_ref(t->order);
    } else if (!from) {
        walk = g_ptr_array_new();
        for (HvdMoment *k = t->metaroot.first_child; k; k = k->sibling)
            g_ptr_array_add(walk, k);
    } else if (flags & HVD_MOMENT_LIST_DESCENDANTS) {
        walk = g_ptr_array_new();
        add_preorder(walk, (HvdMoment *) from);
        g_ptr_array_remove_index(walk, 0); /* from itself */
    } else {
        walk = g_ptr_array_new();
        for (HvdMoment *k = from->first_child; k; k = k->sibling)
            g_ptr_array_add(walk, k);
    }
    for (guint i = 0; i < walk->len; i++)
        if (passes(walk->pdata[i], flags, filter, data))
            g_ptr_array_add(out, walk->pdata[i]);
    return out;
}
