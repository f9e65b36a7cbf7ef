"""Domain snapshots end to end: virsh against virthypervd against hypervsim,
with the guest's bytes read back after every revert and delete and every
disk file checked by virt-vhdx and 7-Zip."""

import glob
import os
import re
import stat
import subprocess

import taptest
from hvd_env import DaemonSession

VIRT_VHDX = os.environ["VIRT_VHDX"]
SNAPSHOT_RNG = "/usr/share/libvirt/schemas/domainsnapshot.rng"
OFFSET = 3 * 1024 * 1024


class SnapshotSession(DaemonSession):
    def write(self, text, vm="web1"):
        self.control(op="write", vm=vm, disk=0, offset=OFFSET, text=text)

    def read(self, n, vm="web1"):
        return self.control(op="read", vm=vm, disk=0, offset=OFFSET,
                            length=n)["text"]

    def names(self, *opts, vm="web1"):
        out = self.virsh("snapshot-list", vm, "--name", *opts).stdout
        return [line for line in out.splitlines() if line.strip()]

    def fails(self, *args, expect):
        r = self.virsh(*args, check=False)
        self.assertNotEqual(r.returncode, 0, f"virsh {args} succeeded")
        self.assertIn(expect, r.stderr)
        return r.stderr

    def check_files(self):
        files = [f for f in glob.glob(os.path.join(self.dir, "host", "**", "*"),
                                      recursive=True)
                 if f.endswith((".vhdx", ".avhdx"))]
        self.assertTrue(files)
        for f in files:
            r = subprocess.run([VIRT_VHDX, "check", f], capture_output=True,
                               text=True)
            self.assertEqual(r.returncode, 0, f"{f}: {r.stdout}{r.stderr}")
            r = subprocess.run(["7zz", "t", "-tvhdx", f], capture_output=True,
                               text=True)
            self.assertEqual(r.returncode, 0, f"{f}: {r.stdout}{r.stderr}")
            self.assertIn("Everything is Ok", r.stdout)


class Snapshots(SnapshotSession):
    def create(self, name, *opts):
        self.virsh("snapshot-create-as", "web1", name, *opts)
        self.assertIn(name, self.names())

    def state(self):
        return self.virsh("domstate", "web1").stdout.strip()

    def test_branching_tree(self):
        self.write("state-1")
        self.create("s1", "--description", "first")
        self.write("state-2")
        self.create("s2")
        self.assertEqual(self.state(), "running")

        # as on KVM, a running domain reverted to a memoryless snapshot
        # just stops; starting it from there would need --force
        self.fails("snapshot-revert", "web1", "s1", "--running",
                   expect="revert requires force")
        self.assertEqual(self.read(7), "state-2")
        self.assertEqual(self.state(), "running")
        self.virsh("snapshot-revert", "web1", "s1")
        self.assertEqual(self.state(), "shut off")
        self.assertEqual(self.virsh("domstate", "web1",
                                    "--reason").stdout.strip(),
                         "shut off (from snapshot)")
        self.assertEqual(self.read(7), "state-1")

        self.write("state-3")
        self.create("s3")
        self.virsh("snapshot-revert", "web1", "s2", "--running")
        self.assertEqual(self.state(), "running")
        self.assertEqual(self.read(7), "state-2")
        self.write("state-4")
        self.create("s4")
        self.fails("snapshot-revert", "web1", "s3", "--paused",
                   expect="revert requires force")
        self.virsh("snapshot-revert", "web1", "s3", "--paused", "--force")
        self.assertEqual(self.state(), "paused")
        self.assertEqual(self.virsh("domstate", "web1",
                                    "--reason").stdout.strip(),
                         "paused (from snapshot)")
        self.assertEqual(self.read(7), "state-3")
        self.write("state-5")
        self.create("s5")

        # s1 -> s2 -> s4, s1 -> s3 -> s5
        self.assertEqual(sorted(self.names()), ["s1", "s2", "s3", "s4", "s5"])
        self.assertEqual(self.names("--roots"), ["s1"])
        self.assertEqual(sorted(self.names("--leaves")), ["s4", "s5"])
        self.assertEqual(sorted(self.names("--no-leaves")), ["s1", "s2", "s3"])
        self.assertEqual(sorted(self.names("--from", "s1")), ["s2", "s3"])
        self.assertEqual(sorted(self.names("--from", "s1", "--descendants")),
                         ["s2", "s3", "s4", "s5"])
        # s3 was taken of the VM off; the others of it running (or
        # paused), without memory: disk-only, as libvirt calls them
        self.assertEqual(self.names("--inactive"), ["s3"])
        self.assertEqual(sorted(self.names("--disk-only")),
                         ["s1", "s2", "s4", "s5"])
        self.assertEqual(self.names("--active"), [])
        self.assertEqual(sorted(self.names("--external")), self.names())
        self.assertEqual(self.names("--internal"), [])
        self.assertEqual(self.names("--no-metadata"), [])
        topo = self.names("--topological")
        for child, parent in [("s2", "s1"), ("s3", "s1"), ("s4", "s2"),
                              ("s5", "s3")]:
            self.assertLess(topo.index(parent), topo.index(child))
        table = self.virsh("snapshot-list", "web1", "--parent").stdout
        self.assertRegex(table, r"(?m)^ s4\s.*\ss2\s*$")
        tree = self.virsh("snapshot-list", "web1", "--tree").stdout
        depth = {m.group(2): len(m.group(1))
                 for m in re.finditer(r"(?m)^([ |]*(?:\+- )?)(s\d)$", tree)}
        self.assertEqual(depth["s1"], 0, tree)
        self.assertEqual(depth["s2"], depth["s3"], tree)
        self.assertEqual(depth["s4"], depth["s5"], tree)
        self.assertLess(depth["s2"], depth["s4"], tree)

        self.assertEqual(self.virsh("snapshot-current", "web1",
                                    "--name").stdout.strip(), "s5")
        self.assertEqual(self.names("--current"), [])
        self.virsh("snapshot-revert", "web1", "s2", "--force")
        self.assertEqual(self.read(7), "state-2")
        self.assertEqual(self.names("--current"), ["s4"])

        info = self.virsh("snapshot-info", "web1", "s2").stdout
        for line in ["Name: +s2", "Domain: +web1", "Current: +yes",
                     "State: +disk-snapshot", "Location: +external",
                     "Parent: +s1", "Children: +1", "Descendants: +1",
                     "Metadata: +yes"]:
            self.assertRegex(info, line)
        self.assertEqual(self.virsh("snapshot-parent", "web1",
                                    "s4").stdout.strip(), "s2")
        self.fails("snapshot-parent", "web1", "s1",
                   expect="snapshot 's1' has no parent")
        for name in self.names():
            xml = self.virsh("snapshot-dumpxml", "web1", name).stdout
            self.assert_valid(xml, SNAPSHOT_RNG)
            self.assertIn(f"<name>{name}</name>", xml)
            self.assertIn("<backingStore", xml)

        # snapshot-edit changes the description through REDEFINE
        editor = os.path.join(self.dir, "editor.sh")
        with open(editor, "w") as f:
            f.write("#!/bin/sh\nsed -i 's|<description>first</description>|"
                    "<description>edited</description>|' \"$1\"\n")
        os.chmod(editor, stat.S_IRWXU)
        r = subprocess.run(["virsh", "-c", self.uri, "snapshot-edit", "web1",
                            "s1"], capture_output=True, text=True,
                           env={**os.environ, "EDITOR": editor,
                                "VISUAL": editor})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("<description>edited</description>",
                      self.virsh("snapshot-dumpxml", "web1", "s1").stdout)
        self.check_files()

        # deletes merge; what the domain reads stays
        self.virsh("start", "web1")
        self.write("live")
        before = self.read(7)
        self.virsh("snapshot-delete", "web1", "s2")
        self.assertEqual(self.read(7), before)
        self.assertEqual(self.virsh("snapshot-parent", "web1",
                                    "s4").stdout.strip(), "s1")
        self.virsh("snapshot-delete", "web1", "s3", "--children-only")
        self.assertEqual(sorted(self.names()), ["s1", "s3", "s4"])
        self.assertEqual(self.read(7), before)
        self.check_files()
        self.virsh("snapshot-delete", "web1", "s1", "--children")
        self.assertEqual(self.names(), [])
        self.assertEqual(self.read(7), before)
        self.fails("snapshot-current", "web1",
                   expect="has no current snapshot")
        self.check_files()

    def test_errors(self):
        self.create("one")
        self.fails("snapshot-create-as", "web1", "one",
                   expect="domain snapshot 'one' already exists")
        self.fails("snapshot-create-as", "web1", "x" * 101,
                   expect="Hyper-V takes at most 100")
        self.fails("snapshot-info", "web1", "nope",
                   expect="Domain snapshot not found")
        self.fails("snapshot-delete", "web1", "one", "--metadata",
                   expect="not possible on Hyper-V")
        self.fails("snapshot-create-as", "web1", "two", "--no-metadata",
                   expect="VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA")
        self.fails("snapshot-create-as", "web1", "two", "--reuse-external",
                   expect="not supported")
        self.fails("snapshot-create-as", "web1", "two", "--diskspec",
                   "sda,snapshot=external", expect="leave <disks>")
        self.fails("snapshot-create", "web1", "--redefine", "/dev/stdin",
                   expect="XML error")

        # Hyper-V's own reasons come through
        self.control(op="set-vm", name="db1", user_snapshot_type=2)
        self.fails("snapshot-create-as", "db1", "d",
                   expect="Checkpoints are disabled for 'db1'")
        self.control(op="set-vm", name="db1", user_snapshot_type=3,
                     state="running", guest_vss=False)
        self.fails("snapshot-create-as", "db1", "q", "--quiesce",
                   expect="Production checkpoints cannot be created")
        # a production checkpoint that fell back keeps no memory
        self.virsh("snapshot-create-as", "db1", "disk", "--disk-only")
        xml = self.virsh("snapshot-dumpxml", "db1", "disk").stdout
        self.assertIn('<memory snapshot="no"/>', xml)
        self.assertIn("<state>disk-snapshot</state>", xml)
        # the VM's checkpoint type is back as it was
        self.virsh("snapshot-create-as", "db1", "standard")
        xml = self.virsh("snapshot-dumpxml", "db1", "standard").stdout
        self.assertIn("<state>running</state>", xml)
        self.assertIn('<memory snapshot="internal"/>', xml)

        # redefine takes a description, never a new checkpoint
        xml = self.virsh("snapshot-dumpxml", "web1", "one").stdout
        path = os.path.join(self.dir, "snap.xml")
        with open(path, "w") as f:
            f.write(xml.replace("<name>one</name>", "<name>one</name>"
                                "<description>redefined</description>"))
        self.virsh("snapshot-create", "web1", path, "--redefine")
        self.assertIn("redefined",
                      self.virsh("snapshot-dumpxml", "web1", "one").stdout)
        with open(path, "w") as f:
            f.write(xml.replace("<name>one</name>", "<name>other</name>"))
        self.fails("snapshot-create", "web1", path, "--redefine",
                   expect="only Hyper-V makes checkpoints")
        # snapshot-current NAME redefines with CURRENT: fine for the current
        self.virsh("snapshot-current", "web1", "one")
        self.virsh("-r", "snapshot-list", "web1", check=False)
        r = self.virsh("snapshot-create-as", "web1", "ro", readonly=True,
                       check=False)
        self.assertNotEqual(r.returncode, 0)

    def test_broken_chain_and_repair(self):
        self.create("c1")
        self.write("kept")
        xml = self.virsh("dumpxml", "web1").stdout
        top, base = re.findall(r'<source file="([^"]+)"', xml)[:2]
        self.assertTrue(base.endswith("\\web1.vhdx"), xml)
        self.control(op="move-file", **{
            "from": base, "to": "Virtual Hard Disks/web1/moved.vhdx"})
        moved = base.replace("\\web1.vhdx", "\\moved.vhdx")
        self.virsh("destroy", "web1")
        # the host takes the checkpoint; the daemon's check finds the break
        err = self.fails("snapshot-create-as", "web1", "c2",
                         expect="is no longer consistent")
        self.assertIn(top, err)
        self.assertIn(base, err)
        self.fails("snapshot-dumpxml", "web1", "c1", expect=base)

        # the repair Hyper-V offers, through the daemon's binary
        r = subprocess.run([os.environ["VIRTHYPERVD"], "--config", self.conf,
                            "--auth-file", self.auth, "--reconnect", top,
                            "--to", moved], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines(), [top, f"  <- {moved}"])
        self.assertEqual(self.read(4), "kept")
        self.assertIn(moved, self.virsh("snapshot-dumpxml", "web1",
                                        "c2").stdout)
        self.virsh("snapshot-delete", "web1", "c1", "--children")
        self.assertEqual(self.read(4), "kept")
        self.check_files()

    def test_duplicates_and_host_changes(self):
        self.create("dup")
        made = self.control(op="snapshot", vm="web1", name="dup")["id"]
        names = self.names()
        self.assertEqual(len(names), 2, names)
        self.assertTrue(all(n.startswith("dup@") for n in names), names)
        self.assertIn(f"dup@{made}", names)
        info = self.virsh("snapshot-info", "web1", made).stdout
        self.assertRegex(info, f"Name: +dup@{made}")
        self.virsh("snapshot-delete", "web1", f"dup@{made}")
        self.assertEqual(self.names(), ["dup"])

    def test_fifty(self):
        for i in range(50):
            self.control(op="snapshot", vm="db1", name=f"c{i:02}")
        # made behind the daemon's back: the next list sees them
        self.assertEqual(len(self.names(vm="db1")), 50)
        self.fails("snapshot-create-as", "db1", "c50",
                   expect="maximum of 50 checkpoints")


class Budgets(SnapshotSession):
    # a long poll interval: only what the calls need is read
    poll_interval_ms = 600000

    def test_round_trips(self):
        for i in range(50):
            self.control(op="snapshot", vm="db1", name=f"c{i:02}")
        self.virsh("snapshot-list", "db1")  # every snapshot's XML, cached
        n = self.requests()
        tree = self.virsh("snapshot-list", "db1", "--tree").stdout
        trips = self.requests() - n
        self.assertIn("c49", tree)
        print(f"# snapshot-list --tree of 50 snapshots: {trips} round trips")
        self.assertLessEqual(trips, 2)
        for cmd in (["snapshot-info", "db1", "c10"],
                    ["snapshot-parent", "db1", "c10"],
                    ["snapshot-current", "db1"]):
            n = self.requests()
            self.virsh(*cmd)
            trips = self.requests() - n
            print(f"# {cmd[0]} after a list: {trips} round trips")
            self.assertEqual(trips, 0)
        n = self.requests()
        self.virsh("snapshot-create-as", "web1", "b1")
        print(f"# snapshot-create-as: {self.requests() - n} round trips")
        n = self.requests()
        self.virsh("snapshot-delete", "web1", "b1")
        print(f"# snapshot-delete: {self.requests() - n} round trips")

    def test_cold_list_round_trips(self):
        # 50 checkpoints of a VM with two disks, made on the host; a daemon
        # that has read nothing of them yet
        for i in range(50):
            self.control(op="snapshot", vm="web1", name=f"c{i:02}")
        self.kill_daemon()
        self.virsh("list", "--all")  # the start-up listing
        before = self.control(op="counters")["counters"]
        out = self.virsh("snapshot-list", "web1").stdout
        after = self.control(op="counters")["counters"]
        self.assertEqual(len(out.split("\n")) - 1, 50, out)
        used = {k: after[k] - before.get(k, 0) for k in after
                if after[k] != before.get(k, 0)}
        print(f"# cold snapshot-list of 50 checkpoints, 2 disks: {used}")
        listings = sum(v for k, v in used.items()
                       if k.startswith("Enumerate ") and
                       not k.endswith("Service"))
        files = used.pop("Invoke Msvm_ImageManagementService."
                         "GetVirtualHardDiskSettingData", 0)
        # the VM's settings, their resources, and its groups; each
        # distinct file once: the two roots and 49 AVHDX of each disk
        self.assertLessEqual(listings, 3)
        self.assertEqual(files, 100)
        self.assertFalse([k for k in used if k.startswith("Pull ")], used)
        n = self.requests()
        self.virsh("snapshot-list", "web1")
        self.assertLessEqual(self.requests() - n, 1)


if __name__ == "__main__":
    taptest.main()
