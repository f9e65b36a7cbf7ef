/*
 * test-sim-wql.c: hypervsim's WQL parser accepts what the client and
 * Windows' own tools send, refuses the rest with the offset of what was
 * wrong, and its WHERE clauses select as WMI's do.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "sim-wql.h"

static WmiObject *
vm_object(const char *name, const char *element, const char *state)
{
    WmiObject *o = wmi_object_new("Msvm_ComputerSystem");
    wmi_object_add_text(o, "Name", name);
    wmi_object_add_text(o, "ElementName", element);
    if (state)
        wmi_object_add_text(o, "EnabledState", state);
    return o;
}

static void
test_where_selects(void)
{
    static const struct {
        const char *where;
        gboolean web1, db1;
    } cases[] = {
        { "ElementName = 'web1'", TRUE, FALSE },
        { "elementname = \"WEB1\"", TRUE, FALSE },
        { "ElementName <> 'web1'", FALSE, TRUE },
        { "ElementName LIKE 'w%'", TRUE, FALSE },
        { "EnabledState = 2", TRUE, FALSE },
        { "EnabledState > 2 OR EnabledState IS NULL", FALSE, TRUE },
        { "EnabledState IS NOT NULL AND NOT ElementName = 'db1'", TRUE, FALSE },
        { "(ElementName = 'web1' OR ElementName = 'db1') AND Name LIKE "
          "'%-2'",
          FALSE, TRUE },
        { "NOT (ElementName = 'web1' OR ElementName = 'db1')", FALSE, FALSE },
        { "Name = 'it\\'s'", FALSE, FALSE },
    };
    g_autoptr(WmiObject) web1 = vm_object("guid-1", "web1", "2");
    g_autoptr(WmiObject) db1 = vm_object("guid-2", "db1", NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *text = g_strdup_printf(
            "SELECT * FROM Msvm_ComputerSystem WHERE %s", cases[i].where);
        g_autoptr(GError) err = NULL;
        g_autoptr(WqlQuery) q = wql_parse(text, &err);

        g_test_message("%s", text);
        g_assert_no_error(err);
        g_assert_cmpstr(q->class_name, ==, "Msvm_ComputerSystem");
        g_assert_cmpint(wql_matches(q, web1), ==, cases[i].web1);
        g_assert_cmpint(wql_matches(q, db1), ==, cases[i].db1);
    }
}

static void
test_associators_parsed(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(WqlQuery) q =
        wql_parse("ASSOCIATORS OF {Msvm_ComputerSystem.CreationClassName="
                  "'Msvm_ComputerSystem',Name='ABC'} WHERE AssocClass = "
                  "Msvm_SettingsDefineState ResultClass = "
                  "Msvm_VirtualSystemSettingData Role = ManagedElement",
                  &err);

    g_assert_no_error(err);
    g_assert_true(q->associators);
    g_assert_cmpstr(q->source->class_name, ==, "Msvm_ComputerSystem");
    g_assert_cmpstr(wmi_epr_get_selector(q->source, "name"), ==, "ABC");
    g_assert_cmpstr(wmi_epr_get_selector(q->source, "CreationClassName"), ==,
                    "Msvm_ComputerSystem");
    g_assert_cmpstr(q->assoc_class, ==, "Msvm_SettingsDefineState");
    g_assert_cmpstr(q->result_class, ==, "Msvm_VirtualSystemSettingData");
    g_assert_cmpstr(q->role, ==, "ManagedElement");
    g_assert_null(q->result_role);
}

/* Each refused, naming what was wrong and where, with nothing leaked by
 * the part parsed before */
static void
test_malformed_refused(void)
{
    static const struct {
        const char *text;
        const char *says;
    } cases[] = {
        { "SELECT Name FROM Msvm_ComputerSystem", "only SELECT *" },
        { "SELECT * Msvm_ComputerSystem", "FROM was expected" },
        { "SELECT * FROM", "a name was expected at offset 13" },
        { "SELECT * FROM A WHERE", "a name was expected" },
        { "SELECT * FROM A WHERE X = 'open", "an unterminated string" },
        { "SELECT * FROM A WHERE X = 1 AND", "a name was expected" },
        { "SELECT * FROM A WHERE X = 1 OR NOT Y", "an operator was expected" },
        { "SELECT * FROM A WHERE (X = 1 OR Y = 2", "')' was expected" },
        { "SELECT * FROM A WHERE X IS 1", "NULL was expected" },
        { "SELECT * FROM A WHERE X =", "a value was expected" },
        { "SELECT * FROM A WHERE X = 1 garbage", "unexpected text" },
        { "ASSOCIATORS {A.B='c'}", "ASSOCIATORS OF {...} was expected" },
        { "ASSOCIATORS OF {A}", "'.' and the object's keys" },
        { "ASSOCIATORS OF {A.B='c'", "'}' was expected" },
        { "ASSOCIATORS OF {A.B='c'} WHERE AssocClass X", "'=' was expected" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(WqlQuery) q = wql_parse(cases[i].text, &err);

        g_test_message("%s", cases[i].text);
        g_assert_null(q);
        g_assert_error(err, SIM_ERROR, SIM_ERROR_QUERY);
        g_assert_nonnull(strstr(err->message, cases[i].says));
    }
}

static void
test_nesting_bounded(void)
{
    g_autoptr(GString) text = g_string_new("SELECT * FROM A WHERE ");
    g_autoptr(GError) err = NULL;
    g_autoptr(WqlQuery) q = NULL;

    for (int i = 0; i < 64; i++)
        g_string_append(text, "NOT (");
    g_string_append(text, "X = 1");
    for (int i = 0; i < 64; i++)
        g_string_append_c(text, ')');
    q = wql_parse(text->str, &err);
    g_assert_null(q);
    g_assert_error(err, SIM_ERROR, SIM_ERROR_QUERY);
    g_assert_nonnull(strstr(err->message, "too deeply nested"));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sim-wql/where-selects", test_where_selects);
    g_test_add_func("/sim-wql/associators-parsed", test_associators_parsed);
    g_test_add_func("/sim-wql/malformed-refused", test_malformed_refused);
    g_test_add_func("/sim-wql/nesting-bounded", test_nesting_bounded);
    return g_test_run();
}
