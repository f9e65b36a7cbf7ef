/*
 * test-sim-methods.c: hypervsim serves every method msvm.schema declares,
 * or says why not; and serves nothing the schema does not declare.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "msvm-classes.h"
#include "sim-ops.h"

/* Every method of every class, inherited ones included */
static void
test_every_method_served_or_declared(void)
{
    guint served = 0, declared = 0;

    for (guint i = 0; msvm_classes[i]; i++) {
        const WmiClassDef *k = msvm_classes[i];
        for (guint m = 0; m < k->n_methods; m++) {
            const char *name = k->methods[m].name;
            gboolean is_served = sim_method_find(k->name, name) != NULL;
            /* a method not served is declared so on the class that has it
             * in the schema, or on a parent */
            const char *reason = NULL;
            for (const WmiClassDef *c = k; c && !reason; c = c->parent)
                reason = sim_method_not_served(c->name, name);
            if (!is_served && !reason)
                g_error("%s.%s is neither served nor declared as not served",
                        k->name, name);
            if (is_served && reason)
                g_error("%s.%s is served, yet declared as not served (%s)",
                        k->name, name, reason);
            if (is_served)
                served++;
            else
                declared++;
        }
    }
    g_test_message("%u methods served, %u not", served, declared);
    g_assert_cmpuint(served, >, 0);
}

/* Every table entry is a method the schema declares for that class */
static void
test_tables_name_schema_methods(void)
{
    const SimMethod *const tables[] = { sim_ops_methods, sim_groups_methods,
                                        sim_vhd_methods };

    for (guint t = 0; t < G_N_ELEMENTS(tables); t++)
        for (const SimMethod *m = tables[t]; m->class_name; m++) {
            const WmiClassDef *k = wmi_class_lookup(m->class_name);
            if (!k || !wmi_class_method(k, m->method))
                g_error("hypervsim serves %s.%s, which msvm.schema does "
                        "not declare",
                        m->class_name, m->method);
        }
    /* and a subclass finds its parent's methods */
    g_assert_nonnull(sim_method_find("Msvm_StorageJob", "GetErrorEx"));
    g_assert_null(sim_method_find("Msvm_StorageJob", "NoSuchMethod"));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sim-methods/every-method-served-or-declared",
                    test_every_method_served_or_declared);
    g_test_add_func("/sim-methods/tables-name-schema-methods",
                    test_tables_name_schema_methods);
    return g_test_run();
}
