"""Backups end to end: virsh backup-begin / backup-dumpxml / domjobinfo /
domjobabort and python3-libvirt against virthypervd against hypervsim. The
exported disks are read back by qemu-img: a full backup holds the guest's
bytes at the checkpoint, an incremental one exactly the ranges written
since; an aborted backup leaves nothing behind."""

import glob
import json
import os
import subprocess
import time

import libvirt
import taptest
from hvd_env import wait_for
from test_checkpoints_virsh import CheckpointSession

EXPORT_JOB = 62  # Msvm_ConcreteJob.JobType: export
A_OFFSET = 5 * 1024 * 1024
B_OFFSET = 9 * 1024 * 1024 + 17


def raw(path):
    """The guest's view of a VHDX file, read by qemu-img."""
    out = path + ".raw"
    subprocess.run(["qemu-img", "convert", "-f", "vhdx", "-O", "raw", path,
                    out], check=True)
    with open(out, "rb") as f:
        data = f.read()
    os.unlink(out)
    return data


class BackupSession(CheckpointSession):
    def win(self, path):
        """hypervsim's drive C: is the root file system."""
        return "C:" + path.replace("/", "\\")

    def backup_xml(self, folder, incremental=None):
        vhd = self.win(os.path.join(folder, "Virtual Hard Disks"))
        inc = f"<incremental>{incremental}</incremental>" if incremental \
            else ""
        return (f"<domainbackup>{inc}<disks>"
                f"<disk name='sda' type='file'><target file='{vhd}\\web1.vhdx'"
                f"/></disk>"
                f"<disk name='sdb' type='file'><target "
                f"file='{vhd}\\web1_1.vhdx'/></disk>"
                f"</disks></domainbackup>")

    def begin(self, folder, incremental=None, checkpoint=None):
        path = os.path.join(self.dir, "backup.xml")
        with open(path, "w") as f:
            f.write(self.backup_xml(folder, incremental))
        args = ["backup-begin", "web1", "--backupxml", path]
        if checkpoint:
            cpath = os.path.join(self.dir, "checkpoint.xml")
            with open(cpath, "w") as f:
                f.write(f"<domaincheckpoint><name>{checkpoint}</name>"
                        "</domaincheckpoint>")
            args += ["--checkpointxml", cpath]
        self.assertIn("Backup started", self.virsh(*args).stdout)

    def finished(self):
        wait_for("the backup's end", lambda: "Completed" in self.virsh(
            "domjobinfo", "web1", "--completed", "--keep-completed").stdout
            or "Failed" in self.virsh("domjobinfo", "web1", "--completed",
                                      "--keep-completed").stdout, 60)
        return self.virsh("domjobinfo", "web1", "--completed").stdout

    def host_snapshots(self, vm="web1"):
        with open(os.path.join(self.dir, "host", "host.json")) as f:
            for v in json.load(f)["vms"]:
                if v["name"] == vm:
                    return v["snapshots"]
        return []

    def disk_path(self, vm="web1"):
        with open(os.path.join(self.dir, "host", "host.json")) as f:
            for v in json.load(f)["vms"]:
                if v["name"] == vm:
                    return v["disks"][0]["path"]
        return None


class Backups(BackupSession):
    def test_full_then_incremental(self):
        self.write("A" * 64)
        self.control(op="write", vm="web1", disk=0, offset=A_OFFSET,
                     text="guest bytes before the full backup")
        full = os.path.join(self.dir, "full")
        self.begin(full, checkpoint="b1")
        done = self.finished()
        self.assertIn("Backup", done)
        self.assertIn("Completed", done)
        self.assertEqual(self.checkpoints(), ["b1"])
        self.assertEqual(self.host_snapshots(), [])  # no recovery left
        self.assertEqual(self.virsh("domstate", "web1").stdout.strip(),
                         "running")
        # byte for byte what the guest saw: the VM's disk, read the same way
        got = raw(os.path.join(full, "Virtual Hard Disks", "web1.vhdx"))
        self.assertEqual(got, raw(self.disk_path()))
        self.assertIn(b"guest bytes before the full backup", got)
        self.assertTrue(os.path.exists(os.path.join(full,
                                                    "Virtual Hard Disks",
                                                    "web1_1.vhdx")))

        # the guest writes; an incremental backup since b1 holds that only
        written = b"written after b1"
        self.control(op="write", vm="web1", disk=0, offset=B_OFFSET,
                     text=written.decode())
        inc = os.path.join(self.dir, "inc")
        self.begin(inc, incremental="b1", checkpoint="b2")
        self.assertIn("Completed", self.finished())
        data = raw(os.path.join(inc, "Virtual Hard Disks", "web1.vhdx"))
        self.assertEqual(len(data), len(got))
        self.assertEqual(data[B_OFFSET:B_OFFSET + len(written)], written)
        rest = data[:B_OFFSET] + data[B_OFFSET + len(written):]
        self.assertEqual(rest.count(0), len(rest))
        second = raw(os.path.join(inc, "Virtual Hard Disks", "web1_1.vhdx"))
        self.assertEqual(second.count(0), len(second))  # sdb: unwritten
        self.assertEqual(self.virsh("checkpoint-parent", "web1",
                                    "b2").stdout.strip(), "b1")
        # the new checkpoint counts from the incremental backup on
        xml = self.dumpxml("b2", "--size", "--no-domain")
        self.assertIn('size="0"', xml)
        self.check_files()

    def test_default_folder_and_refusals(self):
        self.virsh("backup-begin", "web1")
        self.assertIn("Completed", self.finished())
        made = glob.glob(os.path.join(self.dir, "host", "**", "Backups",
                                      "web1-*", "Virtual Hard Disks",
                                      "web1.vhdx"), recursive=True)
        self.assertEqual(len(made), 1)
        self.assertEqual(self.checkpoints(), [])
        self.assertEqual(self.host_snapshots(), [])

        def refused(xml, expect, *extra):
            path = os.path.join(self.dir, "bad.xml")
            with open(path, "w") as f:
                f.write(xml)
            self.fails("backup-begin", "web1", "--backupxml", path, *extra,
                       expect=expect)
        refused("<domainbackup mode='pull'><server name='localhost'/>"
                "</domainbackup>", "pull mode")
        refused("<domainbackup><disks><disk name='sda' backup='no'/>"
                "</disks></domainbackup>", "exports every disk")
        refused("<domainbackup><disks><disk name='sda' type='file'>"
                "<target file='C:\\x\\sda.qcow2'/><driver type='qcow2'/>"
                "</disk></disks></domainbackup>", "VHDX files")
        refused("<domainbackup><disks><disk name='sda' type='file'>"
                "<target file='C:\\x\\sda.img'/></disk></disks>"
                "</domainbackup>", "Virtual Hard Disks\\web1.vhdx")
        refused("<domainbackup><incremental>nope</incremental>"
                "</domainbackup>", "no domain checkpoint")
        refused("<domainbackup><disks><disk name='sdz'/></disks>"
                "</domainbackup>", "has no disk 'sdz'")
        refused("<domainbackup/>", "reuse-external", "--reuse-external")
        self.fails("backup-dumpxml", "web1", expect="no domain backup job")
        self.fails("domjobabort", "web1", expect="no job is active")
        self.assertEqual(self.host_snapshots(), [])

    def test_abort_leaves_nothing(self):
        self.virsh("checkpoint-create-as", "web1", "base")
        before = sorted(glob.glob(os.path.join(self.dir, "host", "**"),
                                  recursive=True))
        self.control(op="fail-job", job_type=EXPORT_JOB, delay_ms=20000)
        folder = os.path.join(self.dir, "aborted")
        self.begin(folder, incremental="base", checkpoint="never")
        running = self.virsh("domjobinfo", "web1").stdout
        self.assertIn("Unbounded", running)
        self.assertIn("Backup", running)
        self.assertIn("<incremental>base</incremental>",
                      self.virsh("backup-dumpxml", "web1").stdout)
        self.assert_valid(self.virsh("backup-dumpxml", "web1").stdout,
                          "domainbackup.rng")
        # another operation waits its turn
        self.fails("snapshot-create-as", "web1", "s1", expect="busy")
        t0 = time.monotonic()
        self.virsh("domjobabort", "web1")
        self.assertLess(time.monotonic() - t0, 15)
        done = self.virsh("domjobinfo", "web1", "--completed").stdout
        self.assertIn("Failed", done)
        self.assertFalse(os.path.exists(folder))
        self.assertEqual(self.host_snapshots(), [])
        self.assertEqual(self.checkpoints(), ["base"])
        after = sorted(glob.glob(os.path.join(self.dir, "host", "**"),
                                 recursive=True))
        self.assertEqual([p for p in after if p not in before
                          and not p.endswith("host.json")], [])
        self.assertEqual(self.virsh("domstate", "web1").stdout.strip(),
                         "running")


class BackupsPython(BackupSession):
    def test_binding(self):
        conn = libvirt.open(self.uri)
        self.addCleanup(conn.close)
        dom = conn.lookupByName("web1")
        self.control(op="fail-job", job_type=EXPORT_JOB, delay_ms=1500)
        dom.backupBegin(self.backup_xml(os.path.join(self.dir, "py")),
                        "<domaincheckpoint><name>py1</name>"
                        "</domaincheckpoint>")
        stats = dom.jobStats()
        self.assertEqual(stats["operation"],
                         libvirt.VIR_DOMAIN_JOB_OPERATION_BACKUP)
        self.assertIn("domainbackup", dom.backupGetXMLDesc())
        with self.assertRaises(libvirt.libvirtError) as e:
            dom.backupBegin("<domainbackup/>", None)
        self.assertEqual(e.exception.get_error_code(),
                         libvirt.VIR_ERR_OPERATION_INVALID)
        wait_for("the backup's end", lambda: dom.jobInfo()[0] ==
                 libvirt.VIR_DOMAIN_JOB_NONE, 30)
        done = dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
        self.assertEqual(done["type"], libvirt.VIR_DOMAIN_JOB_COMPLETED)
        self.assertEqual([c.getName() for c in dom.listAllCheckpoints()],
                         ["py1"])
        with self.assertRaises(libvirt.libvirtError) as e:
            dom.backupGetXMLDesc()
        self.assertEqual(e.exception.get_error_code(),
                         libvirt.VIR_ERR_NO_DOMAIN_BACKUP)


if __name__ == "__main__":
    taptest.main()
