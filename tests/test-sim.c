/*
 * test-sim.c: hypervsim driven over real HTTP by this project's
 * WS-Management client: enumerations, associations, snapshots with real
 * VHDX files, jobs and faults
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <sys/wait.h>
#include <string.h>

#include "hv-job.h"
#include "test-tls.h"
#include "vhdx.h"
#include "wsman.h"

typedef struct {
    char *dir;
    GPid pid;
    char *url;
    WsmanClient *client;
} Sim;

static guint16 next_port;

static void
sim_start(Sim *s, gconstpointer data)
{
    GError *err = NULL;
    g_autofree char *listen = NULL;
    const char *exe = g_getenv("HYPERVSIM");
    WsmanOptions o = { 0 };
    char *argv[12];
    int i = 0;

    s->dir = g_dir_make_tmp("hypervsim-XXXXXX", &err);
    g_assert_no_error(err);
    listen = g_strdup_printf("127.0.0.1:%u", next_port);
    argv[i++] = (char *) exe;
    argv[i++] = "--state-dir";
    argv[i++] = s->dir;
    argv[i++] = "--listen";
    argv[i++] = listen;
    argv[i++] = "--sample";
    argv[i++] = "--user";
    argv[i++] = "Administrator";
    argv[i++] = "--password";
    argv[i++] = "secret";
    argv[i++] = NULL;
    g_spawn_async(NULL, argv, NULL,
                  G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                  NULL, &s->pid, &err);
    g_assert_no_error(err);
    s->url = g_strdup_printf("http://127.0.0.1:%u/wsman", next_port++);

    o.url = s->url;
    o.user = "Administrator";
    o.password = "secret";
    o.timeout_ms = 10000;
    s->client = wsman_client_new(&o, &err);
    g_assert_no_error(err);
    /* wait for the server to answer */
    for (int tries = 0; tries < 100; tries++) {
        g_autoptr(GPtrArray) r = wsman_enumerate(
            s->client, "SELECT * FROM Msvm_ComputerSystem", FALSE, NULL);
        if (r)
            return;
        g_usleep(50 * 1000);
    }
    g_error("hypervsim did not start");
}

static void
sim_stop(Sim *s, gconstpointer data)
{
    g_autofree char *rm = g_strdup_printf("rm -rf '%s'", s->dir);
    wsman_client_free(s->client);
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
    g_spawn_close_pid(s->pid);
    g_assert_cmpint(system(rm), ==, 0);
    g_free(s->dir);
    g_free(s->url);
}

static GPtrArray *query(Sim *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static GPtrArray *
query(Sim *s, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *wql = NULL;
    GError *err = NULL;
    GPtrArray *r;

    va_start(ap, fmt);
    wql = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    r = wsman_enumerate(s->client, wql, FALSE, &err);
    g_assert_no_error(err);
    return r;
}

static Msvm_ComputerSystem *
vm_named(Sim *s, const char *name)
{
    g_autoptr(GPtrArray) r = query(
        s, "SELECT * FROM Msvm_ComputerSystem WHERE ElementName = '%s'", name);
    GError *err = NULL;
    Msvm_ComputerSystem *vm;

    g_assert_cmpuint(r->len, ==, 1);
    vm = wmi_typed_new(&Msvm_ComputerSystem_class,
                       g_ptr_array_steal_index(r, 0), &err);
    g_assert_no_error(err);
    return vm;
}

static WmiEpr *
vm_epr(Msvm_ComputerSystem *vm)
{
    WmiEpr *e = wmi_epr_new("Msvm_ComputerSystem");
    wmi_epr_add_selector(e, "CreationClassName", "Msvm_ComputerSystem");
    wmi_epr_add_selector(e, "Name", vm->Name);
    return e;
}

static WmiEpr *
service(Sim *s, const char *cls)
{
    GError *err = NULL;
    g_autofree char *wql = g_strdup_printf("SELECT * FROM %s", cls);
    g_autoptr(GPtrArray) r = wsman_enumerate(s->client, wql, TRUE, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(r->len, ==, 1);
    return g_ptr_array_steal_index(r, 0);
}

static GPtrArray *
snapshots_of(Sim *s, const char *vm_name)
{
    return query(s,
                 "ASSOCIATORS OF {Msvm_ComputerSystem.CreationClassName="
                 "'Msvm_ComputerSystem',Name='%s'} WHERE AssocClass = "
                 "Msvm_SnapshotOfVirtualSystem ResultClass = "
                 "Msvm_VirtualSystemSettingData",
                 vm_name);
}

/* The disk files a settings object (VM or snapshot) uses. */
static GPtrArray *
disks_of(Sim *s, const char *instance_id)
{
    g_autofree char *q = wmi_wql_quote(instance_id);
    g_autoptr(GPtrArray) r = query(
        s,
        "ASSOCIATORS OF {Msvm_VirtualSystemSettingData.InstanceID=%s} WHERE "
        "AssocClass = Msvm_VirtualSystemSettingDataComponent ResultClass = "
        "Msvm_StorageAllocationSettingData",
        q);
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < r->len; i++) {
        const char *win = wmi_object_text(r->pdata[i], "HostResource");
        char *p = g_strdup(win + 2);
        g_strdelimit(p, "\\", '/');
        g_ptr_array_add(out, p);
    }
    return out;
}

static Msvm_ConcreteJob *
invoke_and_wait(Sim *s, const WmiEpr *target, const char *method,
                WsmanParams *params)
{
    GError *err = NULL;
    g_autoptr(WmiObject) out =
        wsman_invoke(s->client, target, method, params, &err);
    Msvm_ConcreteJob *job = NULL;
    HvJobWait wait = { .poll_min_ms = 10, .poll_max_ms = 100 };

    g_assert_no_error(err);
    g_assert_true(hv_method_result(s->client, method, out, &wait, &job, &err));
    g_assert_no_error(err);
    return job;
}

static Msvm_ConcreteJob *
create_snapshot(Sim *s, Msvm_ComputerSystem *vm)
{
    g_autoptr(WmiEpr) svc = service(s, "Msvm_VirtualSystemSnapshotService");
    g_autoptr(WmiEpr) target = vm_epr(vm);
    g_autoptr(WsmanParams) p = wsman_params_new();

    wsman_params_add_epr(p, "AffectedSystem", target);
    wsman_params_add_text(p, "SnapshotSettings", "");
    wsman_params_add_uint(p, "SnapshotType", MSVM_SNAPSHOT_TYPE_FULL);
    return invoke_and_wait(s, svc, "CreateSnapshot", p);
}

static void
assert_chain_ok(const char *path)
{
    g_autoptr(GPtrArray) problems = vhdx_check(path, VHDX_OPEN_CHAIN);
    for (guint i = 0; i < problems->len; i++)
        g_test_message("%s", ((VhdxProblem *) problems->pdata[i])->message);
    g_assert_cmpuint(problems->len, ==, 0);
}

static void
write_guest(const char *path, const char *text)
{
    GError *err = NULL;
    VhdxImage *img =
        vhdx_open(path, VHDX_OPEN_READ_WRITE | VHDX_OPEN_CHAIN, &err);
    g_assert_no_error(err);
    g_assert_true(vhdx_write(img, text, strlen(text) + 1, 1 << 20, &err));
    g_assert_true(vhdx_close(img, &err));
    g_assert_no_error(err);
}

static char *
read_guest(const char *path)
{
    GError *err = NULL;
    g_autoptr(VhdxImage) img =
        vhdx_open(path, VHDX_OPEN_READ_ONLY | VHDX_OPEN_CHAIN, &err);
    char buf[128];
    g_assert_no_error(err);
    g_assert_true(vhdx_read(img, buf, sizeof(buf), 1 << 20, &err));
    buf[sizeof(buf) - 1] = '\0';
    return g_strdup(buf);
}

static void
test_enumerate_sample(Sim *s, gconstpointer data)
{
    g_autoptr(GPtrArray) vms =
        query(s, "SELECT * FROM Msvm_ComputerSystem WHERE Description = "
                 "'Microsoft Virtual Machine'");
    g_autoptr(Msvm_ComputerSystem) web1 = vm_named(s, "web1");
    g_autoptr(GPtrArray) disks = NULL;
    g_autofree char *active = g_strdup_printf("Microsoft:%s", web1->Name);
    g_autoptr(GPtrArray) settings = query(
        s,
        "ASSOCIATORS OF {Msvm_ComputerSystem.CreationClassName="
        "'Msvm_ComputerSystem',Name='%s'} WHERE AssocClass = "
        "Msvm_SettingsDefineState ResultClass = Msvm_VirtualSystemSettingData",
        web1->Name);

    g_assert_cmpuint(vms->len, ==, 3);
    g_assert_cmpuint(web1->EnabledState, ==, MSVM_ENABLED_STATE_ENABLED);
    g_assert_cmpuint(settings->len, ==, 1);
    g_assert_cmpstr(wmi_object_text(settings->pdata[0], "VirtualSystemType"),
                    ==, MSVM_VIRTUAL_SYSTEM_TYPE_SYSTEM_REALIZED);
    disks = disks_of(s, active);
    g_assert_cmpuint(disks->len, ==, 2);
    for (guint i = 0; i < disks->len; i++)
        assert_chain_ok(disks->pdata[i]);
}

static void
test_get_and_faults(Sim *s, gconstpointer data)
{
    g_autoptr(Msvm_ComputerSystem) web1 = vm_named(s, "web1");
    g_autoptr(WmiEpr) e = wmi_epr_new("Msvm_ComputerSystem");
    g_autoptr(WmiEpr) missing = wmi_epr_new("Msvm_ComputerSystem");
    g_autoptr(WmiObject) obj = NULL;
    GError *err = NULL;

    /* a partial, lower-case selector set is enough when it is unique */
    wmi_epr_add_selector(e, "name", web1->Name);
    obj = wsman_get(s->client, e, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(wmi_object_text(obj, "ElementName"), ==, "web1");

    wmi_epr_add_selector(missing, "Name",
                         "00000000-0000-0000-0000-000000000000");
    g_assert_null(wsman_get(s->client, missing, &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_NOT_FOUND);
    g_clear_error(&err);

    g_assert_null(
        wsman_enumerate(s->client, "SELECT Name FROM Msvm_X", FALSE, &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_FAULT);
    g_test_message("%s", err->message);
    g_clear_error(&err);
}

static void
test_snapshot_lifecycle(Sim *s, gconstpointer data)
{
    g_autoptr(Msvm_ComputerSystem) db1 = vm_named(s, "db1");
    g_autofree char *active = g_strdup_printf("Microsoft:%s", db1->Name);
    g_autoptr(GPtrArray) before = disks_of(s, active);
    g_autoptr(GPtrArray) snaps = NULL, after = NULL, frozen = NULL;
    g_autoptr(GPtrArray) affected = NULL;
    g_autoptr(Msvm_VirtualSystemSettingData) snap = NULL;
    g_autoptr(WmiEpr) svc = service(s, "Msvm_VirtualSystemSnapshotService");
    g_autoptr(WmiEpr) snap_epr = NULL;
    g_autofree char *base = g_strdup(before->pdata[0]);
    g_autofree char *guest = NULL;
    Msvm_ConcreteJob *job;
    GError *err = NULL;

    write_guest(base, "before the checkpoint");

    /* create: the disk is frozen, the VM moves to a new AVHDX */
    job = create_snapshot(s, db1);
    affected =
        hv_job_affected(s->client, job, "Msvm_VirtualSystemSettingData", &err);
    g_assert_no_error(err);
    g_assert_cmpuint(affected->len, ==, 1);
    snap = wmi_typed_new(&Msvm_VirtualSystemSettingData_class,
                         g_ptr_array_steal_index(affected, 0), &err);
    g_assert_no_error(err);
    wmi_typed_free(job);
    g_assert_cmpstr(snap->VirtualSystemType, ==,
                    MSVM_VIRTUAL_SYSTEM_TYPE_SNAPSHOT_REALIZED);
    g_assert_false(snap->IsSaved); /* db1 is off */
    g_assert_null(snap->Parent);
    g_assert_true(g_str_has_prefix(snap->ElementName, "db1 - ("));

    snaps = snapshots_of(s, db1->Name);
    g_assert_cmpuint(snaps->len, ==, 1);
    frozen = disks_of(s, snap->InstanceID);
    g_assert_cmpstr(frozen->pdata[0], ==, base);
    after = disks_of(s, active);
    g_assert_cmpstr(after->pdata[0], !=, base);
    g_assert_true(g_str_has_suffix(after->pdata[0], ".avhdx"));
    g_assert_true(g_str_has_prefix(strrchr(after->pdata[0], '/'), "/db1_"));
    assert_chain_ok(after->pdata[0]);

    /* the VM writes on; apply brings the checkpoint's bytes back */
    write_guest(after->pdata[0], "after the checkpoint");
    guest = read_guest(after->pdata[0]);
    g_assert_cmpstr(guest, ==, "after the checkpoint");
    snap_epr = wmi_epr_new("Msvm_VirtualSystemSettingData");
    wmi_epr_add_selector(snap_epr, "InstanceID", snap->InstanceID);
    {
        g_autoptr(WsmanParams) p = wsman_params_new();
        g_autoptr(GPtrArray) now = NULL;
        g_autofree char *bytes = NULL;
        wsman_params_add_epr(p, "Snapshot", snap_epr);
        wmi_typed_free(invoke_and_wait(s, svc, "ApplySnapshot", p));
        now = disks_of(s, active);
        g_assert_cmpstr(now->pdata[0], !=, after->pdata[0]);
        g_assert_false(g_file_test(after->pdata[0], G_FILE_TEST_EXISTS));
        bytes = read_guest(now->pdata[0]);
        g_assert_cmpstr(bytes, ==, "before the checkpoint");
        g_ptr_array_unref(after);
        after = g_steal_pointer(&now);
    }

    /* destroy: the VM's AVHDX is merged into the checkpoint's disk */
    write_guest(after->pdata[0], "written after the apply");
    {
        g_autoptr(WsmanParams) p = wsman_params_new();
        g_autoptr(GPtrArray) now = NULL, left = NULL;
        g_autofree char *bytes = NULL;
        wsman_params_add_epr(p, "AffectedSnapshot", snap_epr);
        wmi_typed_free(invoke_and_wait(s, svc, "DestroySnapshot", p));
        left = snapshots_of(s, db1->Name);
        g_assert_cmpuint(left->len, ==, 0);
        now = disks_of(s, active);
        g_assert_cmpstr(now->pdata[0], ==, base);
        g_assert_false(g_file_test(after->pdata[0], G_FILE_TEST_EXISTS));
        assert_chain_ok(base);
        bytes = read_guest(base);
        g_assert_cmpstr(bytes, ==, "written after the apply");
    }
}

static void
test_snapshot_tree_and_merge_middle(Sim *s, gconstpointer data)
{
    g_autoptr(Msvm_ComputerSystem) web1 = vm_named(s, "web1");
    g_autofree char *active = g_strdup_printf("Microsoft:%s", web1->Name);
    g_autoptr(WmiEpr) svc = service(s, "Msvm_VirtualSystemSnapshotService");
    g_autoptr(GPtrArray) snaps = NULL;
    g_autoptr(GPtrArray) disks = NULL;
    char *ids[3];
    GError *err = NULL;

    /* a chain of three checkpoints of a running VM, two disks each */
    for (int i = 0; i < 3; i++) {
        g_autofree char *text = g_strdup_printf("generation %d", i);
        g_autoptr(GPtrArray) cur = disks_of(s, active);
        Msvm_ConcreteJob *job;
        g_autoptr(GPtrArray) aff = NULL;
        write_guest(cur->pdata[0], text);
        job = create_snapshot(s, web1);
        aff = hv_job_affected(s->client, job, "Msvm_VirtualSystemSettingData",
                              &err);
        g_assert_no_error(err);
        ids[i] = g_strdup(wmi_object_text(aff->pdata[0], "InstanceID"));
        wmi_typed_free(job);
    }
    snaps = snapshots_of(s, web1->Name);
    g_assert_cmpuint(snaps->len, ==, 3);
    for (guint i = 0; i < snaps->len; i++) {
        const char *id = wmi_object_text(snaps->pdata[i], "InstanceID");
        const char *parent = wmi_object_text(snaps->pdata[i], "Parent");
        if (g_str_equal(id, ids[0]))
            g_assert_null(parent);
        else
            g_assert_nonnull(
                strstr(parent, g_str_equal(id, ids[1]) ? ids[0] : ids[1]));
    }

    /* delete the middle one: the newest now hangs from the first */
    {
        g_autoptr(WmiEpr) e = wmi_epr_new("Msvm_VirtualSystemSettingData");
        g_autoptr(WsmanParams) p = wsman_params_new();
        g_autoptr(GPtrArray) left = NULL;
        g_autoptr(GPtrArray) last = NULL;
        g_autofree char *q = wmi_wql_quote(ids[2]);
        g_autofree char *bytes = NULL;
        wmi_epr_add_selector(e, "InstanceID", ids[1]);
        wsman_params_add_epr(p, "AffectedSnapshot", e);
        wmi_typed_free(invoke_and_wait(s, svc, "DestroySnapshot", p));
        left = snapshots_of(s, web1->Name);
        g_assert_cmpuint(left->len, ==, 2);
        last = query(s,
                     "SELECT * FROM Msvm_VirtualSystemSettingData WHERE "
                     "InstanceID = %s",
                     q);
        g_assert_nonnull(
            strstr(wmi_object_text(last->pdata[0], "Parent"), ids[0]));
        /* every disk of what is left still reads right */
        disks = disks_of(s, ids[2]);
        g_assert_cmpuint(disks->len, ==, 2);
        for (guint i = 0; i < disks->len; i++)
            assert_chain_ok(disks->pdata[i]);
        bytes = read_guest(disks->pdata[0]);
        g_assert_cmpstr(bytes, ==, "generation 2");
    }

    /* DestroySnapshotTree from the root takes the rest */
    {
        g_autoptr(WmiEpr) e = wmi_epr_new("Msvm_VirtualSystemSettingData");
        g_autoptr(WsmanParams) p = wsman_params_new();
        g_autoptr(GPtrArray) left = NULL;
        g_autoptr(GPtrArray) cur = NULL;
        wmi_epr_add_selector(e, "InstanceID", ids[0]);
        wsman_params_add_epr(p, "SnapshotSettingData", e);
        wmi_typed_free(invoke_and_wait(s, svc, "DestroySnapshotTree", p));
        left = snapshots_of(s, web1->Name);
        g_assert_cmpuint(left->len, ==, 0);
        cur = disks_of(s, active);
        for (guint i = 0; i < cur->len; i++) {
            g_autoptr(VhdxImage) img =
                vhdx_open(cur->pdata[i], VHDX_OPEN_READ_ONLY, &err);
            g_assert_no_error(err);
            g_assert_cmpint(vhdx_get_info(img)->type, ==, VHDX_DISK_DYNAMIC);
        }
    }
    for (int i = 0; i < 3; i++)
        g_free(ids[i]);
}

static void
test_apply_running_refused(Sim *s, gconstpointer data)
{
    g_autoptr(Msvm_ComputerSystem) web1 = vm_named(s, "web1");
    g_autoptr(WmiEpr) svc = service(s, "Msvm_VirtualSystemSnapshotService");
    g_autoptr(GPtrArray) snaps = NULL;
    g_autoptr(WmiEpr) e = wmi_epr_new("Msvm_VirtualSystemSettingData");
    g_autoptr(WsmanParams) p = wsman_params_new();
    g_autoptr(WmiObject) out = NULL;
    GError *err = NULL;

    wmi_typed_free(create_snapshot(s, web1));
    snaps = snapshots_of(s, web1->Name);
    wmi_epr_add_selector(e, "InstanceID",
                         wmi_object_text(snaps->pdata[0], "InstanceID"));
    wsman_params_add_epr(p, "Snapshot", e);
    out = wsman_invoke(s->client, svc, "ApplySnapshot", p, &err);
    g_assert_no_error(err);
    g_assert_false(
        hv_method_result(s->client, "ApplySnapshot", out, NULL, NULL, &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_METHOD);
    g_assert_nonnull(strstr(err->message, "32775"));
    g_clear_error(&err);
}

static void
test_state_changes(Sim *s, gconstpointer data)
{
    g_autoptr(Msvm_ComputerSystem) mail1 = vm_named(s, "mail1");
    g_autoptr(WmiEpr) e = vm_epr(mail1);
    const guint16 steps[][2] = {
        { MSVM_REQUESTED_STATE_START, MSVM_ENABLED_STATE_ENABLED },
        { MSVM_REQUESTED_STATE_PAUSE, MSVM_ENABLED_STATE_QUIESCE },
        { MSVM_REQUESTED_STATE_SAVE, MSVM_ENABLED_STATE_OFFLINE },
        { MSVM_REQUESTED_STATE_START, MSVM_ENABLED_STATE_ENABLED },
        { MSVM_REQUESTED_STATE_TURN_OFF, MSVM_ENABLED_STATE_DISABLED },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(steps); i++) {
        g_autoptr(WsmanParams) p = wsman_params_new();
        g_autoptr(Msvm_ComputerSystem) now = NULL;
        wsman_params_add_uint(p, "RequestedState", steps[i][0]);
        wmi_typed_free(invoke_and_wait(s, e, "RequestStateChange", p));
        now = vm_named(s, "mail1");
        g_assert_cmpuint(now->EnabledState, ==, steps[i][1]);
    }
}

static void
test_state_survives_restart(Sim *s, gconstpointer data)
{
    g_autoptr(Msvm_ComputerSystem) db1 = vm_named(s, "db1");
    g_autoptr(GPtrArray) snaps = NULL;
    GError *err = NULL;
    GPid old = s->pid;
    g_autofree char *listen = NULL;
    char *argv[8];

    wmi_typed_free(create_snapshot(s, db1));
    kill(old, SIGTERM);
    waitpid(old, NULL, 0);
    g_spawn_close_pid(old);

    listen = g_strdup(s->url + strlen("http://"));
    *strchr(listen, '/') = '\0';
    argv[0] = (char *) g_getenv("HYPERVSIM");
    argv[1] = "--state-dir";
    argv[2] = s->dir;
    argv[3] = "--listen";
    argv[4] = listen;
    argv[5] = "--user=Administrator";
    argv[6] = "--password=secret";
    argv[7] = NULL;
    g_spawn_async(NULL, argv, NULL,
                  G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                  NULL, &s->pid, &err);
    g_assert_no_error(err);
    for (int tries = 0; tries < 100 && !snaps; tries++) {
        g_autofree char *wql = g_strdup_printf(
            "ASSOCIATORS OF {Msvm_ComputerSystem.CreationClassName="
            "'Msvm_ComputerSystem',Name='%s'} WHERE AssocClass = "
            "Msvm_SnapshotOfVirtualSystem ResultClass = "
            "Msvm_VirtualSystemSettingData",
            db1->Name);
        snaps = wsman_enumerate(s->client, wql, FALSE, NULL);
        if (!snaps)
            g_usleep(50 * 1000);
    }
    g_assert_nonnull(snaps);
    g_assert_cmpuint(snaps->len, ==, 1);
}

/* HTTPS: hypervsim with a certificate, the client verifying it */
static void
test_https(void)
{
    g_autofree char *dir = g_dir_make_tmp("hypervsim-tls-XXXXXX", NULL);
    g_autofree char *cert = NULL, *key = NULL;

    test_tls_make_files(dir, &cert, &key);
    g_autofree char *state = g_build_filename(dir, "state", NULL);
    g_autofree char *listen = g_strdup_printf("127.0.0.1:%u", next_port);
    g_autofree char *url =
        g_strdup_printf("https://localhost:%u/wsman", next_port++);
    g_autofree char *rm = g_strdup_printf("rm -rf '%s'", dir);
    char *argv[] = { (char *) g_getenv("HYPERVSIM"),
                     "--state-dir",
                     state,
                     "--listen",
                     listen,
                     "--sample",
                     "--tls-cert",
                     cert,
                     "--tls-key",
                     key,
                     NULL };
    WsmanOptions o = { .url = url, .ca_file = cert, .timeout_ms = 5000 };
    g_autoptr(WsmanClient) c = NULL;
    g_autoptr(GPtrArray) vms = NULL;
    GError *err = NULL;
    GPid pid;

    g_spawn_async(NULL, argv, NULL,
                  G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                  NULL, &pid, &err);
    g_assert_no_error(err);
    c = wsman_client_new(&o, &err);
    for (int tries = 0; tries < 100 && !vms; tries++) {
        g_clear_error(&err);
        vms = wsman_enumerate(c,
                              "SELECT * FROM Msvm_ComputerSystem WHERE "
                              "Description = 'Microsoft Virtual Machine'",
                              FALSE, &err);
        if (!vms)
            g_usleep(50 * 1000);
    }
    g_assert_no_error(err);
    g_assert_cmpuint(vms->len, ==, 3);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    g_spawn_close_pid(pid);
    g_assert_cmpint(system(rm), ==, 0);
}

#define ADD(path, fn) g_test_add(path, Sim, NULL, sim_start, fn, sim_stop)

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    next_port = 20000 + (getpid() % 20000);
    ADD("/sim/enumerate/sample-host", test_enumerate_sample);
    ADD("/sim/get/selectors-and-faults", test_get_and_faults);
    ADD("/sim/snapshot/create-apply-destroy", test_snapshot_lifecycle);
    ADD("/sim/snapshot/tree-and-merge-middle",
        test_snapshot_tree_and_merge_middle);
    ADD("/sim/snapshot/apply-running-refused", test_apply_running_refused);
    ADD("/sim/vm/state-changes", test_state_changes);
    ADD("/sim/state/survives-restart", test_state_survives_restart);
    g_test_add_func("/sim/https/verified", test_https);
    return g_test_run();
}
