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
#include <sys/prctl.h>
#include <sys/wait.h>
#include <string.h>

#include "hv-job.h"
#include "hv-vm.h"
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

/* hypervsim goes when the test does, even when an assertion aborts it */
static void
die_with_parent(gpointer data)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
}

static void
sim_start(Sim *s, gconstpointer data)
{
    GError *err = NULL;
    g_autofree char *listen = NULL;
    const char *exe = g_getenv("HYPERVSIM");
    WsmanOptions o = { 0 };
    char *argv[14];
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
    /* as Windows as installed: NTLM, every body sealed */
    argv[i++] = "--require-sealing";
    argv[i++] = NULL;
    g_spawn_async(NULL, argv, NULL,
                  G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_DO_NOT_REAP_CHILD,
                  die_with_parent, NULL, &s->pid, &err);
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
    int status = 0;
    wsman_client_free(s->client);
    kill(s->pid, SIGTERM);
    waitpid(s->pid, &status, 0);
    /* a clean exit: under the sanitizers a leak or error makes it fail */
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
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
    gboolean ok;

    g_assert_no_error(err);
    ok = hv_method_result(s->client, method, out, &wait, &job, &err);
    g_assert_no_error(err);
    g_assert_true(ok);
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
write_at(const char *path, const char *text, guint64 offset)
{
    GError *err = NULL;
    VhdxImage *img =
        vhdx_open(path, VHDX_OPEN_READ_WRITE | VHDX_OPEN_CHAIN, &err);
    g_assert_no_error(err);
    g_assert_true(vhdx_write(img, text, strlen(text) + 1, offset, &err));
    g_assert_true(vhdx_close(img, &err));
    g_assert_no_error(err);
}

static char *
read_at(const char *path, guint64 offset)
{
    GError *err = NULL;
    g_autoptr(VhdxImage) img =
        vhdx_open(path, VHDX_OPEN_READ_ONLY | VHDX_OPEN_CHAIN, &err);
    char buf[64];
    g_assert_no_error(err);
    g_assert_true(vhdx_read(img, buf, sizeof(buf), offset, &err));
    buf[sizeof(buf) - 1] = '\0';
    return g_strdup(buf);
}

/* The guest's bytes at 1 MiB, where most tests write */
static void
write_guest(const char *path, const char *text)
{
    write_at(path, text, 1 << 20);
}

static char *
read_guest(const char *path)
{
    return read_at(path, 1 << 20);
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
    affected = hv_job_affected(s->client, job,
                               &Msvm_VirtualSystemSettingData_class, &err);
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
        aff = hv_job_affected(s->client, job,
                              &Msvm_VirtualSystemSettingData_class, &err);
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
                  G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_DO_NOT_REAP_CHILD,
                  die_with_parent, NULL, &s->pid, &err);
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

/* Runs hypervsim-ctl against the test's host; returns its exit status. */
static int ctl(Sim *s, const char *op, ...) G_GNUC_NULL_TERMINATED;

static int
ctl(Sim *s, const char *op, ...)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    GError *err = NULL;
    const char *arg;
    va_list ap;
    int status;

    g_ptr_array_add(argv, (char *) g_getenv("HYPERVSIM_CTL"));
    g_ptr_array_add(argv, "--url");
    g_ptr_array_add(argv, s->url);
    g_ptr_array_add(argv, "--user=Administrator");
    g_ptr_array_add(argv, "--password=secret");
    g_ptr_array_add(argv, (char *) op);
    va_start(ap, op);
    while ((arg = va_arg(ap, const char *)))
        g_ptr_array_add(argv, (char *) arg);
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    g_spawn_sync(NULL, (char **) argv->pdata, NULL,
                 G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL,
                 NULL, NULL, NULL, &status, &err);
    g_assert_no_error(err);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Invokes a method whose job must fail; returns the failure's text. */
static char *
invoke_failing(Sim *s, const WmiEpr *target, const char *method,
               WsmanParams *params)
{
    GError *err = NULL;
    g_autoptr(WmiObject) out =
        wsman_invoke(s->client, target, method, params, &err);
    HvJobWait wait = { .poll_min_ms = 10, .poll_max_ms = 100 };
    char *text;

    g_assert_no_error(err);
    g_assert_false(hv_method_result(s->client, method, out, &wait, NULL, &err));
    g_assert_nonnull(err);
    text = g_strdup(err->message);
    g_error_free(err);
    return text;
}

static char *
windows_path(const char *posix)
{
    char *w = g_strconcat("C:", posix, NULL);
    g_strdelimit(w, "/", '\\');
    return w;
}

/* A merge cut off midway: the job fails, every file still checks out,
 * the guest's bytes are all there, and merging again finishes it. */
static void
test_crash_during_merge(Sim *s, gconstpointer data)
{
    g_autoptr(Msvm_ComputerSystem) db1 = vm_named(s, "db1");
    g_autofree char *active = g_strdup_printf("Microsoft:%s", db1->Name);
    g_autoptr(GPtrArray) before = disks_of(s, active);
    g_autoptr(GPtrArray) after = NULL, now = NULL, snaps = NULL;
    g_autoptr(WmiEpr) svc = service(s, "Msvm_VirtualSystemSnapshotService");
    g_autoptr(WmiEpr) img = service(s, "Msvm_ImageManagementService");
    g_autoptr(WmiEpr) snap_epr = wmi_epr_new("Msvm_VirtualSystemSettingData");
    g_autoptr(WsmanParams) p = wsman_params_new();
    g_autoptr(WsmanParams) m = wsman_params_new();
    g_autofree char *base = g_strdup(before->pdata[0]);
    g_autofree char *text = NULL, *a = NULL, *b = NULL;
    g_autofree char *src = NULL, *dst = NULL;

    write_at(base, "base at 1 MiB", 1 << 20);
    wmi_typed_free(create_snapshot(s, db1));
    after = disks_of(s, active);
    /* two blocks of new data, so that the merge has two steps */
    write_at(after->pdata[0], "child at 1 MiB", 1 << 20);
    write_at(after->pdata[0], "child at 65 MiB", 65 << 20);

    g_assert_cmpint(ctl(s, "crash-merge", "after_bytes=1", NULL), ==, 0);
    snaps = snapshots_of(s, db1->Name);
    wmi_epr_add_selector(snap_epr, "InstanceID",
                         wmi_object_text(snaps->pdata[0], "InstanceID"));
    wsman_params_add_epr(p, "AffectedSnapshot", snap_epr);
    text = invoke_failing(s, svc, "DestroySnapshot", p);
    g_assert_nonnull(strstr(text, "interrupted"));

    /* consistent: the VM still runs on its AVHDX over the half-merged
     * parent, and reads what it wrote */
    now = disks_of(s, active);
    g_assert_cmpstr(now->pdata[0], ==, after->pdata[0]);
    assert_chain_ok(now->pdata[0]);
    a = read_at(now->pdata[0], 1 << 20);
    b = read_at(now->pdata[0], 65 << 20);
    g_assert_cmpstr(a, ==, "child at 1 MiB");
    g_assert_cmpstr(b, ==, "child at 65 MiB");

    /* the orphaned AVHDX is merged by hand, as on Hyper-V */
    src = windows_path(now->pdata[0]);
    dst = windows_path(base);
    wsman_params_add_text(m, "SourcePath", src);
    wsman_params_add_text(m, "DestinationPath", dst);
    wmi_typed_free(invoke_and_wait(s, img, "MergeVirtualHardDisk", m));
    g_ptr_array_unref(now);
    now = disks_of(s, active);
    g_assert_cmpstr(now->pdata[0], ==, base);
    g_assert_false(g_file_test(after->pdata[0], G_FILE_TEST_EXISTS));
    assert_chain_ok(base);
    g_free(a);
    g_free(b);
    a = read_at(base, 1 << 20);
    b = read_at(base, 65 << 20);
    g_assert_cmpstr(a, ==, "child at 1 MiB");
    g_assert_cmpstr(b, ==, "child at 65 MiB");
}

static WmiObject *
vhd_settings(const char *type, const char *path, const char *parent,
             const char *size)
{
    WmiObject *o = wmi_object_new("Msvm_VirtualHardDiskSettingData");
    wmi_object_add_text(o, "Type", type);
    wmi_object_add_text(o, "Format", "3");
    wmi_object_add_text(o, "Path", path);
    if (parent)
        wmi_object_add_text(o, "ParentPath", parent);
    if (size)
        wmi_object_add_text(o, "MaxInternalSize", size);
    return o;
}

static void
create_vhd(Sim *s, const WmiEpr *img, WmiObject *settings)
{
    g_autoptr(WsmanParams) p = wsman_params_new();
    wsman_params_add_instance(p, "VirtualDiskSettingData", settings);
    wmi_typed_free(invoke_and_wait(s, img, "CreateVirtualHardDisk", p));
}

/* Disks made, broken by a parent moved away, reconnected, and a parent
 * of another identity refused unless told to ignore it */
static void
test_image_service(Sim *s, gconstpointer data)
{
    g_autoptr(WmiEpr) img = service(s, "Msvm_ImageManagementService");
    g_autofree char *dir = g_build_filename(s->dir, "Virtual Hard Disks", NULL);
    g_autofree char *parent = g_build_filename(dir, "scratch.vhdx", NULL);
    g_autofree char *moved =
        g_build_filename(dir, "moved", "scratch.vhdx", NULL);
    g_autofree char *child = g_build_filename(dir, "scratch-child.avhdx", NULL);
    g_autofree char *other = g_build_filename(dir, "other.vhdx", NULL);
    g_autofree char *wparent = windows_path(parent);
    g_autofree char *wmoved = windows_path(moved);
    g_autofree char *wchild = windows_path(child);
    g_autofree char *wother = windows_path(other);
    g_autofree char *from = g_strdup_printf("from=%s", parent);
    g_autofree char *to = g_strdup_printf("to=%s", wmoved);
    g_autofree char *text = NULL, *bytes = NULL;
    g_autoptr(WmiObject) sd = NULL, again = NULL, dyn = NULL, unrelated = NULL;

    dyn = vhd_settings("3", wparent, NULL, "33554432");
    create_vhd(s, img, dyn);
    sd = vhd_settings("4", wchild, wparent, NULL);
    create_vhd(s, img, sd);
    assert_chain_ok(child);
    write_at(child, "in the child", 4096);

    /* the same path twice: the job fails and names the file */
    {
        g_autoptr(WsmanParams) p = wsman_params_new();
        wsman_params_add_instance(p, "VirtualDiskSettingData", dyn);
        text = invoke_failing(s, img, "CreateVirtualHardDisk", p);
        g_assert_nonnull(strstr(text, "exists"));
        g_clear_pointer(&text, g_free);
    }

    /* GetVirtualHardDiskSettingData names the parent */
    {
        g_autoptr(WsmanParams) p = wsman_params_new();
        g_autoptr(WmiObject) out = NULL, got = NULL;
        GError *err = NULL;
        wsman_params_add_text(p, "Path", wchild);
        out = wsman_invoke(s->client, img, "GetVirtualHardDiskSettingData", p,
                           &err);
        g_assert_no_error(err);
        got = wmi_object_from_cimxml(wmi_object_text(out, "SettingData"), &err);
        g_assert_no_error(err);
        g_assert_cmpstr(wmi_object_text(got, "ParentPath"), ==, wparent);
        g_assert_cmpstr(wmi_object_text(got, "Type"), ==, "4");
    }

    /* the parent goes elsewhere: validation fails, naming both files */
    g_assert_cmpint(ctl(s, "move-file", from, to, NULL), ==, 0);
    {
        g_autoptr(WsmanParams) p = wsman_params_new();
        wsman_params_add_text(p, "Path", wchild);
        text = invoke_failing(s, img, "ValidateVirtualHardDisk", p);
        g_assert_nonnull(strstr(text, "broken"));
        g_clear_pointer(&text, g_free);
    }

    /* reconnected through SetVirtualHardDiskSettingData */
    again = vhd_settings("4", wchild, wmoved, NULL);
    {
        g_autoptr(WsmanParams) p = wsman_params_new();
        wsman_params_add_instance(p, "VirtualDiskSettingData", again);
        wmi_typed_free(
            invoke_and_wait(s, img, "SetVirtualHardDiskSettingData", p));
    }
    assert_chain_ok(child);
    bytes = read_at(child, 4096);
    g_assert_cmpstr(bytes, ==, "in the child");

    /* a parent the child was not made from */
    unrelated = vhd_settings("3", wother, NULL, "33554432");
    create_vhd(s, img, unrelated);
    for (int ignore = 0; ignore < 2; ignore++) {
        g_autoptr(WsmanParams) p = wsman_params_new();
        wsman_params_add_text(p, "ChildPath", wchild);
        wsman_params_add_text(p, "ParentPath", wother);
        wsman_params_add_text(p, "IgnoreIDMismatch", ignore ? "true" : "false");
        if (!ignore) {
            text = invoke_failing(s, img, "SetParentVirtualHardDisk", p);
            g_assert_nonnull(strstr(text, "does not match"));
        } else {
            wmi_typed_free(
                invoke_and_wait(s, img, "SetParentVirtualHardDisk", p));
        }
    }
    assert_chain_ok(child);

    /* a merge into the new parent; the child goes */
    {
        g_autoptr(WsmanParams) p = wsman_params_new();
        g_autofree char *merged = NULL;
        wsman_params_add_text(p, "SourcePath", wchild);
        wsman_params_add_text(p, "DestinationPath", wother);
        wmi_typed_free(invoke_and_wait(s, img, "MergeVirtualHardDisk", p));
        g_assert_false(g_file_test(child, G_FILE_TEST_EXISTS));
        assert_chain_ok(other);
        merged = read_at(other, 4096);
        g_assert_cmpstr(merged, ==, "in the child");
    }
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
                     "--user",
                     "Administrator",
                     "--password",
                     "secret",
                     "--require-sealing",
                     NULL };
    /* Negotiate inside TLS: NTLM authenticates, TLS protects the bodies */
    WsmanOptions o = { .url = url,
                       .ca_file = cert,
                       .timeout_ms = 5000,
                       .user = "Administrator",
                       .password = "secret" };
    g_autoptr(WsmanClient) c = NULL;
    g_autoptr(WsmanClient) basic = NULL;
    g_autoptr(WsmanClient) wrong = NULL;
    g_autoptr(GPtrArray) vms = NULL;
    g_autoptr(GPtrArray) again = NULL;
    g_autoptr(GPtrArray) refused = NULL;
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
    /* Basic over HTTPS needs no allow_unencrypted, and a host that
     * requires sealing over HTTP takes it inside TLS */
    o.auth = WSMAN_AUTH_BASIC;
    basic = wsman_client_new(&o, &err);
    g_assert_no_error(err);
    again = wsman_enumerate(basic, "SELECT * FROM Msvm_ComputerSystem", FALSE,
                            &err);
    g_assert_no_error(err);
    g_assert_cmpuint(again->len, ==, 4);
    o.password = "wrong";
    wrong = wsman_client_new(&o, &err);
    refused = wsman_enumerate(wrong, "SELECT * FROM Msvm_ComputerSystem", FALSE,
                              &err);
    g_assert_null(refused);
    g_assert_error(err, HV_ERROR, HV_ERROR_AUTH);
    g_assert_nonnull(strstr(err->message, "HTTP 401"));
    g_clear_error(&err);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    g_spawn_close_pid(pid);
    g_assert_cmpint(system(rm), ==, 0);
}

/* A VM and its settings found by GUID; an unknown GUID is not found,
 * and the error names it */
static void
test_vm_lookup(Sim *s, gconstpointer data)
{
    g_autoptr(GPtrArray) vms = hv_vm_list(s->client, NULL);
    const char *guid;
    g_autoptr(Msvm_ComputerSystem) vm = NULL;
    g_autoptr(Msvm_VirtualSystemSettingData) settings = NULL;
    g_autoptr(GError) err = NULL;
    const char *unknown = "0badc0de-0000-4000-8000-000000000000";

    g_assert_nonnull(vms);
    g_assert_cmpuint(vms->len, >, 0);
    guid = ((Msvm_ComputerSystem *) vms->pdata[0])->Name;
    vm = hv_vm_lookup(s->client, guid, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(vm->Name, ==, guid);
    settings = hv_vm_settings(s->client, guid, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(settings->VirtualSystemIdentifier, ==, guid);

    g_assert_null(hv_vm_lookup(s->client, unknown, &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_NOT_FOUND);
    g_assert_nonnull(strstr(err->message, unknown));
    g_clear_error(&err);
    g_assert_null(hv_vm_settings(s->client, unknown, &err));
    g_assert_error(err, HV_ERROR, HV_ERROR_NOT_FOUND);
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
    ADD("/sim/vm/lookup", test_vm_lookup);
    ADD("/sim/state/survives-restart", test_state_survives_restart);
    ADD("/sim/merge/crash-midway", test_crash_during_merge);
    ADD("/sim/image-service/create-reconnect-merge", test_image_service);
    g_test_add_func("/sim/https/verified", test_https);
    return g_test_run();
}
