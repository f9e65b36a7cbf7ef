"""Snapshot operations through virsh while hypervsim loses, garbles or
refuses answers: a create, delete or revert says what happened on the
host, and a failed create leaves nothing there; names that would be
mistaken for another checkpoint's are refused."""

import glob
import os
import subprocess
import threading
import time

import taptest
from hvd_env import DaemonSession, wait_for


class Faults(DaemonSession):
    def names(self, vm="db1"):
        return self.virsh("snapshot-list", vm, "--name").stdout.split()

    def disk_files(self):
        return sorted(os.path.basename(p) for p in glob.glob(
            os.path.join(self.dir, "host", "**", "*.avhdx"), recursive=True))

    def fault(self, **what):
        self.assertTrue(self.control(op="http-fault", **what)["ok"])

    def test_lost_job_polls(self):
        for kind in ("500", "malformed", "drop"):
            name = f"s-{kind}"
            self.fault(fault=kind, action="Get", **{"class": "Msvm_ConcreteJob"})
            self.virsh("snapshot-create-as", "db1", name)
            self.assertEqual(self.names().count(name), 1)
        # one checkpoint per create, each named: no default names left
        self.assertEqual(sorted(self.names()),
                         ["s-500", "s-drop", "s-malformed"])
        self.fault(fault="500", action="Get", count=3,
                   **{"class": "Msvm_ConcreteJob"})
        self.virsh("snapshot-revert", "db1", "s-500")
        self.assertEqual(self.virsh("snapshot-current", "db1",
                                    "--name").stdout.strip(), "s-500")
        self.fault(fault="malformed", action="Get", count=2,
                   **{"class": "Msvm_ConcreteJob"})
        self.virsh("snapshot-delete", "db1", "s-drop")
        self.assertEqual(sorted(self.names()), ["s-500", "s-malformed"])

    def test_answers_lost_after_the_host_acted(self):
        # CreateSnapshot carried out, its answer lost: the daemon finds
        # the checkpoint and names it
        self.fault(fault="drop", action="Invoke", method="CreateSnapshot",
                   after=True)
        self.virsh("snapshot-create-as", "db1", "made")
        self.assertEqual(self.names(), ["made"])
        self.virsh("snapshot-create-as", "db1", "second")
        for method, cmd in (("ApplySnapshot", ("snapshot-revert", "made")),
                            ("DestroySnapshot",
                             ("snapshot-delete", "second"))):
            self.fault(fault="500", action="Invoke", method=method,
                       after=True)
            self.virsh(cmd[0], "db1", cmd[1])
        self.assertEqual(self.names(), ["made"])
        self.assertEqual(self.virsh("snapshot-current", "db1",
                                    "--name").stdout.strip(), "made")
        # every poll of a job lost, for long: the host is read again
        self.fault(fault="500", action="Get", count=8,
                   **{"class": "Msvm_ConcreteJob"})
        self.virsh("snapshot-create-as", "db1", "patient")
        self.assertEqual(self.names(), ["made", "patient"])

    def test_failed_create_leaves_nothing(self):
        before = self.disk_files()
        xml = os.path.join(self.dir, "big.xml")
        with open(xml, "w") as f:
            f.write("<domainsnapshot><name>big</name><description>" +
                    "x" * (600 * 1024) + "</description></domainsnapshot>")
        r = self.virsh("snapshot-create", "db1", xml, check=False)
        self.assertIn("at most 65536", r.stderr)
        self.assertEqual(self.disk_files(), before)
        # the naming step fails on the host: the checkpoint goes again
        self.fault(fault="500", action="Invoke",
                   method="ModifySystemSettings")
        r = self.virsh("snapshot-create-as", "db1", "half", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("was removed again", r.stderr)
        self.assertEqual(self.names(), [])
        self.assertEqual(self.disk_files(), before)

    def test_half_made_checkpoint_is_hidden(self):
        # a slow create: readers meanwhile see the tree as it was
        self.virsh("snapshot-create-as", "db1", "first")
        # the naming step, late: the checkpoint has Hyper-V's default name
        self.fault(fault="delay", ms=3000, action="Invoke",
                   method="ModifySystemSettings")
        create = threading.Thread(target=self.virsh, args=(
            "snapshot-create-as", "db1", "slow"))
        create.start()
        seen = set()
        lists = 0
        deadline = time.monotonic() + 20
        while create.is_alive() and time.monotonic() < deadline:
            seen.update(self.names())
            lists += 1
            time.sleep(0.1)
        create.join()
        # lists ran while Hyper-V's default name was on the checkpoint
        self.assertGreater(lists, 3)
        self.assertLessEqual(seen, {"first", "slow"})
        self.assertEqual(self.names(), ["first", "slow"])

    def test_daemon_killed_mid_create(self):
        # the daemon dies while Hyper-V makes the checkpoint, before it
        # could name it: the next daemon removes what was left unnamed
        self.fault(fault="delay", ms=3000, action="Get",
                   **{"class": "Msvm_ConcreteJob"})
        virsh = subprocess.Popen(
            ["virsh", "-c", self.uri, "snapshot-create-as", "db1", "cut"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        journal = os.path.join(self.dir, "state", "ops", "hv01")
        wait_for("the create's record and its CreateSnapshot", lambda: any(
            "CreateSnapshot" in k
            for k in self.control(op="counters")["counters"]))
        self.assertEqual(len(os.listdir(journal)), 1)
        before = self.disk_files()
        self.kill_daemon()
        virsh.wait(timeout=30)
        self.assertNotEqual(virsh.returncode, 0)
        time.sleep(3.5)  # the held-back answer goes out to nobody
        self.assertEqual(self.names(), [])
        self.assertIn("that a stopped create of snapshot 'cut' had left "
                      "unnamed", self.log())
        self.assertEqual(os.listdir(journal), [])
        self.assertLessEqual(len(self.disk_files()), len(before))
        # the daemon goes on as usual
        self.virsh("snapshot-create-as", "db1", "cut")
        self.assertEqual(self.names(), ["cut"])

    def write(self, offset, text, vm="db1"):
        self.assertTrue(self.control(op="write", vm=vm, disk=0,
                                     offset=offset, text=text)["ok"])

    def read(self, offset, length, vm="db1"):
        return self.control(op="read", vm=vm, disk=0, offset=offset,
                            length=length)["text"]

    def slow_tree(self):
        """s1 -> s2 -> s3 on db1, each with its own bytes, and 16 MiB
        written after s3 for a delete to merge slowly."""
        for name in ("s1", "s2", "s3"):
            self.write(1 << 20, f"before-{name}")
            self.virsh("snapshot-create-as", "db1", name)
        for chunk in range(4):
            self.write((8 << 20) + (chunk << 22), "c" * (4 << 20))
        self.write(1 << 20, "after-s3!")
        self.assertTrue(self.control(op="slow-merge", ms=700)["ok"])

    def test_readers_racing_a_delete(self):
        self.slow_tree()
        delete = subprocess.Popen(
            ["virsh", "-c", self.uri, "snapshot-delete", "db1", "s3"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        reads = 0
        while delete.poll() is None:
            for name in ("s1", "s2"):
                xml = self.virsh("snapshot-dumpxml", "db1", name).stdout
                self.assertIn(f"<name>{name}</name>", xml)
                reads += 1
            self.assertIn("s1", self.names())
        out, err = delete.communicate()
        self.assertEqual(delete.returncode, 0, err)
        self.assertGreater(reads, 2)
        self.assertEqual(self.names(), ["s1", "s2"])
        self.assertEqual(self.read(1 << 20, 9), "after-s3!")

    def test_host_killed_mid_merge(self):
        self.slow_tree()
        delete = subprocess.Popen(
            ["virsh", "-c", self.uri, "snapshot-delete", "db1", "s3"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.5)  # the merge has begun
        self.sim.kill()
        self.sim.wait(timeout=30)
        self.sim_log.close()
        self.start_sim(port=self.sim_port)
        delete.wait(timeout=60)
        # the checkpoint left the host's configuration before its files
        # merged: nothing reads the half-merged file as s3
        self.assertEqual(self.names(), ["s1", "s2"])
        self.assertEqual(self.read(1 << 20, 9), "after-s3!")
        self.assertEqual(self.read(8 << 20, 4), "cccc")
        for name in ("s2", "s1"):
            self.virsh("snapshot-revert", "db1", name)
            self.assertEqual(self.read(1 << 20, 9), f"before-{name}")

    def test_dominfo_with_the_host_down(self):
        self.stop_sim()
        r = self.virsh("dominfo", "web1", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn("unknown procedure", r.stderr)
        self.assertIn("127.0.0.1", r.stderr)

    def test_names_reserved_and_ambiguous(self):
        for _ in range(2):
            self.assertTrue(self.control(op="snapshot", vm="db1",
                                         name="dup")["ok"])
        labels = self.names()
        self.assertEqual(len(labels), 2)
        first = labels[0]
        self.assertTrue(first.startswith("dup@"))
        r = self.virsh("snapshot-create-as", "db1", first, check=False)
        self.assertIn("ends in @GUID", r.stderr)
        r = self.virsh("snapshot-create-as", "db1",
                       "x@" + first.split("@")[1], check=False)
        self.assertIn("ends in @GUID", r.stderr)
        self.assertEqual(len(self.names()), 2)
        r = self.virsh("snapshot-info", "db1", "dup", check=False)
        self.assertIn("is ambiguous", r.stderr)
        self.assertIn(first, r.stderr)
        self.assertIn("dup", self.virsh("snapshot-info", "db1",
                                        first).stdout)
        for bad, why in (("   ", "only spaces"), ("a\nb", "control")):
            r = self.virsh("snapshot-create-as", "db1", bad, check=False)
            self.assertIn(why, r.stderr)
        self.assertEqual(len(self.names()), 2)


if __name__ == "__main__":
    taptest.main()
