"""VM groups end to end: a group of the three sample VMs (one running) made
with virthypervd's --group-* commands, a group checkpoint asked for
through virsh and python3-libvirt, and a failure of the group's job
leaving nothing on any member."""

import json
import os
import re
import subprocess

import libvirt
import taptest
from hvd_env import VIRTHYPERVD
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
