/*
 * hvd-moment.h: the tree of a VM's snapshots or checkpoints
 *
 * Both kinds are moments: an InstanceID on the host, a name, a parent, a
 * creation time. A tree is built once from what one enumeration said and
 * is not changed after; lookups go through hashes and the walks follow
 * child links, so every list is linear in the tree.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _HvdMoment HvdMoment;

/* What a kind's own struct starts with */
struct _HvdMoment {
    char *id;    /* InstanceID */
    char *name;  /* as the host or the metadata names it */
    char *label; /* the name clients see: name, or name@GUID when shared */
    char *description;
    char *parent_id; /* NULL: a root (also once built, for a lost parent) */
    gint64 created;  /* seconds since 1970 */
    gint64 created_us;
    gboolean hidden;       /* not shown to clients (a create not finished) */
    gboolean has_metadata; /* the daemon knows more than the host says */
    /* set by the tree */
    HvdMoment *parent; /* NULL for a root */
    HvdMoment *first_child;
    HvdMoment *sibling; /* the next child of the same parent */
    guint nchildren;
};

/* Frees what every moment owns, for a kind's free function */
void hvd_moment_clear(HvdMoment *m);

typedef struct _HvdMomentTree HvdMomentTree;

/* Flags both kinds share; each kind maps its own onto these */
typedef enum {
    HVD_MOMENT_LIST_ROOTS = 1 << 0, /* from a moment: DESCENDANTS */
    HVD_MOMENT_LIST_LEAVES = 1 << 1,
    HVD_MOMENT_LIST_NO_LEAVES = 1 << 2,
    HVD_MOMENT_LIST_METADATA = 1 << 3,
    HVD_MOMENT_LIST_NO_METADATA = 1 << 4,
    HVD_MOMENT_LIST_TOPOLOGICAL = 1 << 5,
} HvdMomentListFlags;

#define HVD_MOMENT_LIST_DESCENDANTS HVD_MOMENT_LIST_ROOTS

/* Whether a kind's own flags keep m in a list */
typedef gboolean (*HvdMomentFilter)(const HvdMoment *m, gpointer data);

/* Takes moments (each a kind's struct starting with HvdMoment, freed by
 * the array's free function). A parent the enumeration did not list makes
 * a root, so does the moment where a loop of parents closes; a name two
 * moments share labels each NAME@GUID. Children are in creation order. */
HvdMomentTree *hvd_moment_tree_new(GPtrArray *moments);
void hvd_moment_tree_free(HvdMomentTree *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvdMomentTree, hvd_moment_tree_free)

/* Every moment, each after its parent, siblings in creation order */
GPtrArray *hvd_moment_tree_all(const HvdMomentTree *t);
guint hvd_moment_tree_size(const HvdMomentTree *t);

/* By InstanceID, without regard to case, hidden or not */
HvdMoment *hvd_moment_tree_find_id(const HvdMomentTree *t, const char *id);
/* A name as clients give it: the label, NAME@GUID, the GUID or the
 * InstanceID; never a hidden one */
HvdMoment *hvd_moment_tree_find_name(const HvdMomentTree *t, const char *name);
/* Whether a moment, hidden or not, has this name of its own */
gboolean hvd_moment_tree_name_taken(const HvdMomentTree *t, const char *name);
/* The visible moments whose own name is name, when it is shared (so that
 * an error can list their labels); NULL when fewer than two */
GPtrArray *hvd_moment_tree_sharing(const HvdMomentTree *t, const char *name);

/* The moments from (its children, or with DESCENDANTS its whole subtree)
 * or, without from, every moment (the roots with ROOTS), that pass the
 * shared flags and filter; never a hidden one. Always in topological
 * order, which TOPOLOGICAL asks for and nothing else forbids. */
GPtrArray *hvd_moment_tree_list(const HvdMomentTree *t, const HvdMoment *from,
                                guint flags, HvdMomentFilter filter,
                                gpointer data);

gboolean hvd_moment_is_leaf(const HvdMoment *m);
gboolean hvd_moment_descends_from(const HvdMoment *m,
                                  const HvdMoment *ancestor);

G_END_DECLS
