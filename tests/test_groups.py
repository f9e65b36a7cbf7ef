"""VM groups end to end: a group of the three sample VMs (one running) made
with virthypervd's --group-* commands, a group checkpoint asked for
through virsh and python3-libvirt, a failure of the group's job leaving
nothing on any member, and group exports through backup-begin, full and
differential, read back by qemu-img range by range, and aborted."""

import json
import os
import re
import subprocess

import libvirt
import taptest
from hvd_env import VIRTHYPERVD, wait_for
from test_backups import raw
from test_checkpoints_virsh import CheckpointSession

GROUP_SNAPSHOT_JOB = 198  # Msvm_ConcreteJob.JobType of a group checkpoint
MEMBERS = ["web1", "db1", "mail1"]


def group_xml(name, group="web", description=None):
    desc = f"<description>{description}</description>" if description \
        else ""
    return (f"<domaincheckpoint><name>{name}</name>{desc}"
            "<domain type='hyperv'><name>web1</name><metadata>"
            f"<vg:group xmlns:vg='urn:virthypervd:group:1' name='{group}'/>"
            "</metadata></domain></domaincheckpoint>")


class GroupSession(CheckpointSession):
    def group(self, *args, check=True):
        r = subprocess.run(
            [VIRTHYPERVD, "--config", self.conf, "--auth-file", self.auth,
             "--state-dir", os.path.join(self.dir, "state"), *args],
            capture_output=True, text=True, timeout=60)
        if check:
            self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def setUp(self):
        super().setUp()
        self.group_id = self.group("--group-define", "web").stdout.strip()
        for vm in MEMBERS:
            self.group("--group-add", "web", "--member", vm)

    def host_refpoints(self):
        with open(os.path.join(self.dir, "host", "host.json")) as f:
            return {v["name"]: [r["id"] for r in v["refpoints"]]
                    for v in json.load(f)["vms"]}


class Groups(GroupSession):
    def test_management(self):
        lines = self.group("--group-list").stdout.splitlines()
        self.assertEqual(lines, [f"web\t{self.group_id}\tweb1,db1,mail1"])
        self.group("--group-remove", "web", "--member", "mail1")
        self.group("--group-rename", "web", "--to", "frontends")
        self.assertEqual(self.group("--group-list").stdout.splitlines(),
                         [f"frontends\t{self.group_id}\tweb1,db1"])
        r = self.group("--group-add", "nope", "--member", "web1",
                       check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("there is no group 'nope' on the host", r.stderr)
        r = self.group("--group-add", "frontends", check=False)
        self.assertIn("need --member", r.stderr)
        self.group("--group-destroy", self.group_id)
        self.assertEqual(self.group("--group-list").stdout, "")

    def test_group_checkpoint(self):
        self.control(op="write", vm="web1", disk=0, offset=1 << 20,
                     text="web1 before")
        path = os.path.join(self.dir, "g.xml")
        with open(path, "w") as f:
            f.write(group_xml("g1", description="nightly"))
        self.virsh("checkpoint-create", "web1", path)
        points = self.host_refpoints()
        for vm in MEMBERS:
            self.assertEqual(self.checkpoints(vm=vm), ["g1"])
            self.assertEqual(len(points[vm]), 1)
            xml = self.dumpxml("g1", vm=vm)
            self.assertIn("<description>nightly</description>", xml)
            m = re.search(r'<vg:group xmlns:vg="urn:virthypervd:group:1" '
                          r'name="web" id="([^"]+)" point="([^"]+)"/>', xml)
            self.assertIsNotNone(m, xml)
            self.assertEqual(m.group(1), self.group_id)
        # the group element goes through edit and REDEFINE as it is
        env = dict(os.environ,
                   EDITOR="sed -i 's/>nightly</>kept</'")
        r = subprocess.run(["virsh", "-c", self.uri, "checkpoint-edit",
                            "db1", "g1"], env=env, capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        edited = self.dumpxml("g1", vm="db1")
        self.assertIn("<description>kept</description>", edited)
        self.assertIn(f'id="{self.group_id}"', edited)

        # guest writes on two members: each member's own changes since
        self.control(op="write", vm="web1", disk=0, offset=2 << 20,
                     text="12345678")
        self.control(op="write", vm="db1", disk=0, offset=2 << 20,
                     text="1234")
        self.assertIn('size="8"',
                      self.dumpxml("g1", "--size", "--no-domain"))
        self.assertIn('size="4"',
                      self.dumpxml("g1", "--size", "--no-domain", vm="db1"))

        # a second one: each member's parent is its part of the first
        with open(path, "w") as f:
            f.write(group_xml("g2"))
        self.virsh("checkpoint-create", "db1", path)
        for vm in MEMBERS:
            self.assertEqual(self.virsh("checkpoint-parent", vm,
                                        "g2").stdout.strip(), "g1")
        # one member's part deleted: the others keep theirs
        self.virsh("checkpoint-delete", "mail1", "g2")
        self.assertEqual(self.checkpoints(vm="mail1"), ["g1"])
        self.assertEqual(self.checkpoints(vm="web1"), ["g1", "g2"])

        # refusals, each naming what was wrong
        with open(path, "w") as f:
            f.write(group_xml("g3", group="elsewhere"))
        self.fails("checkpoint-create", "web1", path,
                   expect="domain 'web1' is in no group 'elsewhere'")
        with open(path, "w") as f:
            f.write(group_xml("g1"))
        self.fails("checkpoint-create", "db1", path,
                   expect="checkpoint 'g1' already exists")
        with open(path, "w") as f:
            f.write(group_xml("g4"))
        self.fails("checkpoint-create", "web1", path, "--quiesce",
                   expect="group checkpoint")

    def test_members_and_group_going(self):
        path = os.path.join(self.dir, "g.xml")
        with open(path, "w") as f:
            f.write(group_xml("g1"))
        self.virsh("checkpoint-create", "web1", path)
        # a member leaves: its part stays its checkpoint
        self.group("--group-remove", "web", "--member", "mail1")
        self.assertEqual(self.checkpoints(vm="mail1"), ["g1"])
        self.assertIn(f'id="{self.group_id}"', self.dumpxml("g1", vm="mail1"))
        # the group destroyed on the host behind the daemon's back: every
        # part stays, naming a group that is gone; a new group checkpoint
        # of it is refused with the reason
        self.group("--group-destroy", "web")
        for vm in MEMBERS:
            self.assertEqual(self.checkpoints(vm=vm), ["g1"])
        with open(path, "w") as f:
            f.write(group_xml("g2"))
        self.fails("checkpoint-create", "web1", path,
                   expect="domain 'web1' is in no group 'web'")
        # a member VM removed from the host: the others keep theirs
        self.control(op="remove-vm", name="db1")
        self.assertEqual(self.checkpoints(vm="web1"), ["g1"])
        self.assertEqual(self.checkpoints(vm="mail1"), ["g1"])
        self.fails("checkpoint-list", "db1", expect="db1")

    def test_failure_leaves_nothing(self):
        self.virsh("checkpoint-create-as", "db1", "own")
        before = self.host_refpoints()
        self.control(op="fail-job", job_type=GROUP_SNAPSHOT_JOB,
                     error_code=32768,
                     text="The checkpoint of 'mail1' could not be taken.")
        path = os.path.join(self.dir, "g.xml")
        with open(path, "w") as f:
            f.write(group_xml("g1"))
        err = self.fails("checkpoint-create", "web1", path,
                         expect="could not be taken")
        self.assertIn("group checkpoint of 'web' failed", err)
        self.assertEqual(self.host_refpoints(), before)
        self.assertEqual(self.checkpoints(vm="web1"), [])
        self.assertEqual(self.checkpoints(vm="db1"), ["own"])
        self.assertEqual(self.checkpoints(vm="mail1"), [])
        # nothing is left busy
        self.virsh("checkpoint-create-as", "web1", "after")


    def test_member_failure_named(self):
        # one member's part of the group's job fails on the host: the
        # error names the member and the host's reason, and nothing is
        # left on any member
        before = self.host_refpoints()
        self.control(op="fail-job", job_type=GROUP_SNAPSHOT_JOB,
                     vm="mail1", text="The snapshot folder is read-only.")
        path = os.path.join(self.dir, "g.xml")
        with open(path, "w") as f:
            f.write(group_xml("g1"))
        err = self.fails("checkpoint-create", "web1", path,
                         expect="'mail1' could not create its checkpoint: "
                         "The snapshot folder is read-only.")
        self.assertIn("group checkpoint of 'web' failed", err)
        self.assertEqual(self.host_refpoints(), before)
        with open(os.path.join(self.dir, "host", "host.json")) as f:
            for v in json.load(f)["vms"]:
                self.assertEqual(v["snapshots"], [], v["name"])
        for vm in MEMBERS:
            self.assertEqual(self.checkpoints(vm=vm), [])
        self.virsh("checkpoint-create", "web1", path)
        self.assertEqual(self.checkpoints(vm="mail1"), ["g1"])


class GroupExports(GroupSession):
    def disk_of(self, vm):
        with open(os.path.join(self.dir, "host", "host.json")) as f:
            for v in json.load(f)["vms"]:
                if v["name"] == vm:
                    return v["disks"][0]["path"]

    def backup(self, asker, folder, checkpoint, incremental=None):
        vhd = "C:" + os.path.join(folder, asker, "Virtual Hard Disks") \
            .replace("/", "\\")
        inc = f"<incremental>{incremental}</incremental>" if incremental \
            else ""
        bx = os.path.join(self.dir, "b.xml")
        with open(bx, "w") as f:
            f.write(f"<domainbackup>{inc}<disks><disk name='sda' "
                    f"type='file'><target file='{vhd}\\{asker}.vhdx'/>"
                    "</disk></disks></domainbackup>")
        cx = os.path.join(self.dir, "c.xml")
        with open(cx, "w") as f:
            f.write(group_xml(checkpoint).replace("<name>web1</name>",
                                                  f"<name>{asker}</name>"))
        self.assertIn("Backup started", self.virsh(
            "backup-begin", asker, "--backupxml", bx, "--checkpointxml",
            cx).stdout)

    def done(self, vm):
        def over():
            out = self.virsh("domjobinfo", vm, "--completed",
                             "--keep-completed").stdout
            return "Completed" in out or "Failed" in out
        wait_for("the group backup's end", over, 60)
        return self.virsh("domjobinfo", vm, "--completed").stdout

    def exported(self, folder, vm):
        return raw(os.path.join(folder, vm, "Virtual Hard Disks",
                                f"{vm}.vhdx"))

    def test_full_then_differential(self):
        for vm in MEMBERS:
            self.control(op="write", vm=vm, disk=0, offset=1 << 20,
                         text=f"{vm} before the group backup")
        full = os.path.join(self.dir, "full")
        self.backup("web1", full, "g1")
        for vm in MEMBERS:
            done = self.done(vm)
            self.assertIn("Completed", done)
            self.assertIn("Backup", done)
        for vm in MEMBERS:
            self.assertEqual(self.checkpoints(vm=vm), ["g1"])
            # the guest's bytes, read the same way from the VM's own disk
            self.assertEqual(self.exported(full, vm), raw(self.disk_of(vm)))

        # guest writes on two members; a differential group export since
        # g1 holds exactly those ranges, member by member
        writes = {"web1": (2 << 20, b"web1 after g1"),
                  "mail1": ((4 << 20) + 7, b"mail1, later")}
        for vm, (offset, text) in writes.items():
            self.control(op="write", vm=vm, disk=0, offset=offset,
                         text=text.decode())
        inc = os.path.join(self.dir, "inc")
        self.backup("db1", inc, "g2", incremental="g1")
        self.assertIn("Completed", self.done("db1"))
        for vm in MEMBERS:
            data = self.exported(inc, vm)
            offset, text = writes.get(vm, (0, b""))
            self.assertEqual(data[offset:offset + len(text)], text, vm)
            rest = data[:offset] + data[offset + len(text):]
            self.assertEqual(rest.count(0), len(rest), vm)
            self.assertEqual(self.virsh("checkpoint-parent", vm,
                                        "g2").stdout.strip(), "g1")
        self.check_files()

    def test_abort_leaves_nothing(self):
        before = self.host_refpoints()
        self.control(op="fail-job", job_type=62, delay_ms=20000)
        folder = os.path.join(self.dir, "aborted")
        self.backup("mail1", folder, "never")
        for vm in MEMBERS:
            self.assertIn("Backup", self.virsh("domjobinfo", vm).stdout)
        self.virsh("domjobabort", "web1")
        for vm in MEMBERS:
            self.assertIn("Failed", self.virsh("domjobinfo", vm,
                                               "--completed").stdout)
            self.assertEqual(self.checkpoints(vm=vm), [])
        self.assertFalse(os.path.exists(folder))
        self.assertEqual(self.host_refpoints(), before)
        with open(os.path.join(self.dir, "host", "host.json")) as f:
            state = json.load(f)
        self.assertEqual([s for v in state["vms"] for s in v["snapshots"]],
                         [])
        self.assertEqual([p for g in state["groups"] for p in g["snapshots"]],
                         [])


class GroupSnapshots(GroupSession):
    def test_take_list_revert(self):
        self.control(op="write", vm="db1", disk=0, offset=3 << 20,
                     text="db1 at gs1")
        path = os.path.join(self.dir, "gs.xml")
        with open(path, "w") as f:
            f.write("<domainsnapshot><name>gs1</name><description>together"
                    "</description><domain type='hyperv'><name>web1</name>"
                    "<metadata><vg:group xmlns:vg='urn:virthypervd:group:1' "
                    "name='web'/></metadata></domain></domainsnapshot>")
        self.virsh("snapshot-create", "web1", path)
        for vm in MEMBERS:
            self.assertEqual(self.names(vm=vm), ["gs1"])
            xml = self.virsh("snapshot-dumpxml", vm, "gs1").stdout
            self.assert_valid(xml, "domainsnapshot.rng")
            self.assertIn("<description>together</description>", xml)
            self.assertIn(f'id="{self.group_id}"', xml)
        # one member's part reverts like any snapshot
        self.control(op="write", vm="db1", disk=0, offset=3 << 20,
                     text="db1 changed")
        self.virsh("snapshot-revert", "db1", "gs1")
        self.assertEqual(self.read(10, vm="db1"), "db1 at gs1")
        # the whole group: refused while a member runs, then done
        r = self.group("--group-revert", "db1", "--to", "gs1", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Invalid state", r.stderr)
        self.virsh("destroy", "web1")
        self.control(op="write", vm="mail1", disk=0, offset=3 << 20,
                     text="mail1 changed")
        self.group("--group-revert", "db1", "--to", "gs1")
        self.assertEqual(self.read(13, vm="mail1").strip("\x00"), "")
        r = self.group("--group-revert", "db1", "--to", "nope", check=False)
        self.assertIn("no domain snapshot with matching name 'nope'",
                      r.stderr)
        self.virsh("snapshot-create-as", "db1", "alone")
        r = self.group("--group-revert", "db1", "--to", "alone", check=False)
        self.assertIn("is no part of a group snapshot", r.stderr)
        self.fails("snapshot-create", "web1", path, expect="already exists")

    def test_made_on_host(self):
        # a group checkpoint taken on the host (Checkpoint-VMGroup): each
        # member's part names the group as the daemon's own do, learnt
        # from the host once
        self.virsh("snapshot-create-as", "db1", "own")
        self.assertEqual(self.names(vm="web1"), [])
        made = self.control(op="group-snapshot", group="web",
                            name="nightly")["id"]
        for vm in MEMBERS:
            self.assertIn("nightly", self.names(vm=vm))
            xml = self.virsh("snapshot-dumpxml", vm, "nightly").stdout
            self.assert_valid(xml, "domainsnapshot.rng")
            self.assertIn(f'<vg:group xmlns:vg="urn:virthypervd:group:1" '
                          f'name="web" id="{self.group_id}" '
                          f'point="{made}"/>', xml)
        self.assertNotIn("vg:group", self.virsh(
            "snapshot-dumpxml", "db1", "own").stdout)
        # learnt once: a restart reads it from the state folder
        self.kill_daemon()
        n = self.control(op="counters")["counters"]
        self.assertIn(f'point="{made}"', self.virsh(
            "snapshot-dumpxml", "mail1", "nightly").stdout)
        m = self.control(op="counters")["counters"]
        # the disks' one association query, not the groups' three
        self.assertLessEqual(m["Enumerate *"] - n.get("Enumerate *", 0), 1)
        self.virsh("destroy", "web1")
        self.group("--group-revert", "mail1", "--to", "nightly")


class GroupsPython(GroupSession):
    def test_binding(self):
        conn = libvirt.open(self.uri)
        self.addCleanup(conn.close)
        db1 = conn.lookupByName("db1")
        made = db1.checkpointCreateXML(group_xml("py1"))
        self.assertEqual(made.getName(), "py1")
        for vm in MEMBERS:
            dom = conn.lookupByName(vm)
            self.assertEqual([c.getName() for c in dom.listAllCheckpoints()],
                             ["py1"])
            xml = dom.checkpointLookupByName("py1").getXMLDesc()
            self.assert_valid(xml, "domaincheckpoint.rng")
            self.assertIn("urn:virthypervd:group:1", xml)


if __name__ == "__main__":
    taptest.main()
