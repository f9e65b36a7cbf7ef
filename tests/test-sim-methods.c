/*
 * test-sim-methods.c: hypervsim serves every method msvm.schema declares,
 * or says why not, and serves nothing the schema does not declare; it
 * answers every association the schema declares, and the queries the
 * client builds from those declarations find what they name.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gstdio.h>
#include <stdlib.h>

#include "msvm-classes.h"
#include "sim-ops.h"
#include "sim-view.h"

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
                                        sim_refpoints_methods,
                                        sim_export_methods, sim_vhd_methods };

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

/* Every association is answered from an end, no end twice */
static void
test_every_association_answered(void)
{
    for (guint i = 0; msvm_associations[i]; i++) {
        const WmiAssocDef *a = msvm_associations[i];
        guint ends[2] = { 0, 0 };
        for (const SimAssocAnswer *x = sim_assoc_answers; x->assoc; x++)
            if (x->assoc == a)
                ends[x->from]++;
        if (!ends[0] && !ends[1])
            g_error("hypervsim answers %s from neither end", a->klass->name);
        g_assert_cmpuint(ends[0], <=, 1);
        g_assert_cmpuint(ends[1], <=, 1);
    }
}

/* The client's query from one object, run by hypervsim */
static GPtrArray *
walk(SimHost *host, const WmiAssocDef *assoc, WmiObject *from,
     const WmiClassDef *result_class, const char *result_role)
{
    g_autoptr(WmiEpr) epr = sim_host_epr_of(host, from);
    g_autofree char *wql =
        wmi_associators_wql(assoc, epr, result_class, result_role);
    g_autoptr(WqlQuery) q = NULL;
    g_autoptr(GError) err = NULL;
    GPtrArray *r;

    g_assert_nonnull(wql);
    g_test_message("%s", wql);
    q = wql_parse(wql, &err);
    g_assert_no_error(err);
    r = sim_host_query(host, q, &err);
    g_assert_no_error(err);
    return r;
}

static void
test_client_queries_answered(void)
{
    g_autofree char *dir = g_dir_make_tmp("sim-assoc-XXXXXX", NULL);
    SimHost *host = sim_host_new("HOST1", dir);
    g_autoptr(GError) err = NULL;
    SimVm *vm = sim_host_add_vm(host, "web1", 2, 4, &err);
    g_autoptr(GPtrArray) vms = NULL, settings = NULL, back = NULL;
    g_autoptr(GPtrArray) rasds = NULL, service = NULL, parent = NULL;
    WmiObject *mine = NULL;

    g_assert_no_error(err);
    g_assert_nonnull(vm);
    vms = sim_host_instances(host, "Msvm_ComputerSystem");
    for (guint i = 0; i < vms->len; i++)
        if (g_strcmp0(wmi_object_text(vms->pdata[i], "Name"), vm->id) == 0)
            mine = vms->pdata[i];
    g_assert_nonnull(mine);

    settings = walk(host, &Msvm_SettingsDefineState_assoc, mine,
                    &Msvm_VirtualSystemSettingData_class, NULL);
    g_assert_cmpuint(settings->len, ==, 1);
    back = walk(host, &Msvm_SettingsDefineState_assoc, settings->pdata[0],
                &Msvm_ComputerSystem_class, NULL);
    g_assert_cmpuint(back->len, ==, 1);
    g_assert_cmpstr(wmi_object_text(back->pdata[0], "Name"), ==, vm->id);
    /* processor, memory, two disks, a network adapter */
    rasds = walk(host, &Msvm_VirtualSystemSettingDataComponent_assoc,
                 settings->pdata[0], NULL, NULL);
    g_assert_cmpuint(rasds->len, >=, 4);
    service = walk(host, &Msvm_ServiceAffectsElement_assoc, mine, NULL, NULL);
    g_assert_cmpuint(service->len, ==, 1);
    g_assert_cmpstr(((WmiObject *) service->pdata[0])->class_name, ==,
                    "Msvm_VirtualSystemSnapshotService");
    /* no checkpoint yet: the VM's settings are based on none */
    parent = walk(host, &Msvm_ParentChildSettingData_assoc, settings->pdata[0],
                  NULL, "Antecedent");
    g_assert_cmpuint(parent->len, ==, 0);

    sim_host_free(host);
    {
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
        g_assert_cmpint(system(cmd), ==, 0);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sim-methods/every-method-served-or-declared",
                    test_every_method_served_or_declared);
    g_test_add_func("/sim-methods/tables-name-schema-methods",
                    test_tables_name_schema_methods);
    g_test_add_func("/sim-assoc/every-association-answered",
                    test_every_association_answered);
    g_test_add_func("/sim-assoc/client-queries-answered",
                    test_client_queries_answered);
    return g_test_run();
}
