"""Reference points, VM groups and the image service of hypervsim, driven
through python3-winrm with raw SOAP: recovery checkpoints converted to RCT
reference points, group checkpoints taken, applied, exported (whole and
differential) and converted, disks created, reconnected and merged."""

import json
import os
import subprocess

import taptest
from winrm_sim import NS, V2, SimSession

VIRT_VHDX = os.environ["VIRT_VHDX"]
VM_REF = {"CreationClassName": "Msvm_ComputerSystem"}


def cimxml(cls, props):
    """An embedded instance as the reference's §2.1 writes it."""
    body = "".join(
        f'<PROPERTY NAME="{k}" TYPE="{t}"><VALUE>{v}</VALUE></PROPERTY>'
        for k, (t, v) in props.items())
    return f'<![CDATA[<INSTANCE CLASSNAME="{cls}">{body}</INSTANCE>]]>'


def windows(path):
    return "C:" + path.replace("/", "\\")


def posix(path):
    return path[2:].replace("\\", "/")


class GroupsAgainstSim(SimSession):
    def vm_ref(self, name):
        return self.ref("Msvm_ComputerSystem",
                        dict(VM_REF, Name=self.vm_name(name)))

    def affected(self, job_id, cls):
        return self.enumerate(
            "ASSOCIATORS OF {Msvm_ConcreteJob.InstanceID='%s'} WHERE "
            "AssocClass = Msvm_AffectedJobElement ResultClass = %s"
            % (job_id, cls))

    def done(self, out):
        job_id, job, _ = self.wait_job(out)
        self.assertEqual(self.prop(job, "JobState"), "7",
                         self.prop(job, "ErrorDescription"))
        return job_id

    def check(self, path):
        """virt-vhdx and 7-Zip both accept the file (and its chain)."""
        r = subprocess.run([VIRT_VHDX, "check", path], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = subprocess.run(["7zz", "t", "-tvhdx", path], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Everything is Ok", r.stdout)

    def disk_files(self, vm):
        return sorted(os.path.join(d, f)
                      for d, _, fs in os.walk(
                          os.path.join(self.tmp.name, "Virtual Hard Disks",
                                       vm))
                      for f in fs)

    def recovery_snapshot(self, vm):
        settings = cimxml("Msvm_VirtualSystemSnapshotSettingData",
                          {"ConsistencyLevel": ("uint8", 2)})
        job_id = self.done(self.invoke(
            "CreateSnapshot",
            f"<p:AffectedSystem>{self.vm_ref(vm)}</p:AffectedSystem>"
            f"<p:SnapshotSettings>{settings}</p:SnapshotSettings>"
            "<p:SnapshotType>32768</p:SnapshotType>"))
        return self.affected(job_id, "Msvm_VirtualSystemSettingData")[0]

    def group_call(self, method, params):
        return self.invoke(method, params, "Msvm_CollectionManagementService")

    def make_group(self, name, members):
        out = self.group_call("DefineCollection",
                              f"<p:Name>{name}</p:Name><p:Type>0</p:Type>")
        self.assertEqual(self.out(out, "ReturnValue"), "0")
        svc = out.tag[1:].split("}")[0]
        gid = out.find("{%s}DefinedCollection/a:ReferenceParameters/"
                       "w:SelectorSet/w:Selector" % svc, NS).text
        group = self.ref("Msvm_VirtualSystemCollection", {"CollectionID": gid})
        for vm in members:
            out = self.group_call(
                "AddMember", f"<p:Member>{self.vm_ref(vm)}</p:Member>"
                f"<p:Collection>{group}</p:Collection>")
            self.assertEqual(self.out(out, "ReturnValue"), "0")
        return gid, group

    def group_snapshot(self, group, kind):
        job_id = self.done(self.invoke(
            "CreateSnapshot", f"<p:Collection>{group}</p:Collection>"
            f"<p:SnapshotSettings></p:SnapshotSettings>"
            f"<p:SnapshotType>{kind}</p:SnapshotType>",
            "Msvm_CollectionSnapshotService"))
        snap = self.affected(job_id, "Msvm_SnapshotCollection")
        self.assertEqual(len(snap), 1)
        cid = self.prop(snap[0], "CollectionID")
        return cid, self.ref("Msvm_SnapshotCollection", {"CollectionID": cid})

    def test_recovery_checkpoint_becomes_reference_point(self):
        self.control(op="write", vm="db1", offset=1 << 20, text="full")
        snap = self.recovery_snapshot("db1")
        self.assertEqual(self.prop(snap, "VirtualSystemType"),
                         "Microsoft:Hyper-V:Snapshot:Recovery")
        self.assertEqual(len(self.disk_files("db1")), 2)  # + the AVHDX
        self.control(op="write", vm="db1", offset=2 << 20, text="later")

        # only a recovery checkpoint converts
        self.control(op="set-vm", name="db1", user_snapshot_type=5)
        self.done(self.invoke(
            "CreateSnapshot",
            f"<p:AffectedSystem>{self.vm_ref('db1')}</p:AffectedSystem>"
            "<p:SnapshotType>2</p:SnapshotType>"))
        standard = [s for s in self.enumerate(
            "SELECT * FROM Msvm_VirtualSystemSettingData WHERE "
            "VirtualSystemType = 'Microsoft:Hyper-V:Snapshot:Realized'")][0]
        out = self.invoke(
            "ConvertToReferencePoint", "<p:AffectedSnapshot>%s"
            "</p:AffectedSnapshot>" % self.ref(
                "Msvm_VirtualSystemSettingData",
                {"InstanceID": self.prop(standard, "InstanceID")}))
        self.assertEqual(self.out(out, "ReturnValue"), "32775")

        job_id = self.done(self.invoke(
            "ConvertToReferencePoint", "<p:AffectedSnapshot>%s"
            "</p:AffectedSnapshot>" % self.ref(
                "Msvm_VirtualSystemSettingData",
                {"InstanceID": self.prop(snap, "InstanceID")})))
        rps = self.affected(job_id, "Msvm_VirtualSystemReferencePoint")
        self.assertEqual(len(rps), 1)
        rp = rps[0]
        self.assertEqual(self.prop(rp, "ReferencePointType"), "2")
        self.assertEqual(self.prop(rp, "ConsistencyLevel"), "2")
        self.assertEqual(self.prop(rp, "VirtualSystemIdentifier"),
                         self.vm_name("db1"))
        disk_ids = [c.text for c in rp
                    if c.tag.endswith("}VirtualDiskIdentifiers")]
        rct_ids = [c.text for c in rp
                   if c.tag.endswith("}ResilientChangeTrackingIdentifiers")]
        self.assertEqual(len(disk_ids), 1)
        self.assertEqual(len(rct_ids), len(disk_ids))
        self.assertTrue(rct_ids[0].startswith("rctX:"))
        # each identifier is the InstanceID of one of the VM's disks
        rasd = self.enumerate(
            "SELECT * FROM Msvm_StorageAllocationSettingData WHERE "
            "InstanceID = '%s'" % disk_ids[0].replace("\\", "\\\\"))
        self.assertEqual(len(rasd), 1)

        # the checkpoint is gone and its AVHDX merged; no bytes lost
        left = self.enumerate(
            "ASSOCIATORS OF {Msvm_ComputerSystem.CreationClassName="
            "'Msvm_ComputerSystem',Name='%s'} WHERE AssocClass = "
            "Msvm_SnapshotOfVirtualSystem" % self.vm_name("db1"))
        self.assertEqual(len(left), 1)  # the standard one
        by_vm = self.enumerate(
            "ASSOCIATORS OF {Msvm_ComputerSystem.CreationClassName="
            "'Msvm_ComputerSystem',Name='%s'} WHERE AssocClass = "
            "Msvm_ReferencePointOfVirtualSystem" % self.vm_name("db1"))
        self.assertEqual([self.prop(r, "InstanceID") for r in by_vm],
                         [self.prop(rp, "InstanceID")])
        for f in self.disk_files("db1"):
            if f.endswith("hdx"):
                self.check(f)
        self.assertEqual(self.control(op="read", vm="db1", offset=1 << 20,
                                      length=4)["text"], "full")
        self.assertEqual(self.control(op="read", vm="db1", offset=2 << 20,
                                      length=5)["text"], "later")

        # a reference point can also be made directly, and destroyed
        rsvc = "Msvm_VirtualSystemReferencePointService"
        vm = f"<p:AffectedSystem>{self.vm_ref('db1')}</p:AffectedSystem>"
        out = self.invoke("CreateReferencePoint",
                          vm + "<p:ReferencePointType>0</p:ReferencePointType>",
                          rsvc)
        self.assertEqual(self.out(out, "ReturnValue"), "32770")  # no Replica
        job_id = self.done(self.invoke(
            "CreateReferencePoint",
            vm + "<p:ReferencePointType>1</p:ReferencePointType>", rsvc))
        second = self.affected(job_id, "Msvm_VirtualSystemReferencePoint")[0]
        for r in (rp, second):
            ref = self.ref("Msvm_VirtualSystemReferencePoint",
                           {"InstanceID": self.prop(r, "InstanceID"),
                            "VirtualSystemIdentifier": self.vm_name("db1")})
            self.done(self.invoke(
                "DestroyReferencePoint",
                f"<p:AffectedReferencePoint>{ref}</p:AffectedReferencePoint>",
                rsvc))
        self.assertEqual(self.enumerate(
            "SELECT * FROM Msvm_VirtualSystemReferencePoint"), [])

    def test_group_checkpoint_apply_and_destroy(self):
        gid, group = self.make_group("tier", ["web1", "db1"])
        members = self.enumerate(
            "ASSOCIATORS OF {Msvm_VirtualSystemCollection.CollectionID='%s'}"
            " WHERE AssocClass = Msvm_CollectedVirtualSystems" % gid)
        self.assertEqual(sorted(self.prop(m, "ElementName") for m in members),
                         ["db1", "web1"])
        self.control(op="write", vm="db1", offset=4096, text="group one")
        cid, snap = self.group_snapshot(group, 1)
        per_vm = self.enumerate(
            "ASSOCIATORS OF {Msvm_SnapshotCollection.CollectionID='%s'} "
            "WHERE AssocClass = Msvm_CollectedSnapshots" % cid)
        self.assertEqual(len(per_vm), 2)
        self.assertEqual(len({self.prop(s, "ElementName") for s in per_vm}),
                         1)  # one name for the group
        self.control(op="write", vm="db1", offset=4096, text="group TWO")

        # web1 runs: a group apply is refused until it is off
        out = self.invoke("ApplySnapshot",
                          f"<p:SnapshotCollection>{snap}</p:SnapshotCollection>",
                          "Msvm_CollectionSnapshotService")
        self.assertEqual(self.out(out, "ReturnValue"), "32775")
        self.control(op="set-vm", name="web1", state="off")
        self.done(self.invoke(
            "ApplySnapshot",
            f"<p:SnapshotCollection>{snap}</p:SnapshotCollection>",
            "Msvm_CollectionSnapshotService"))
        self.assertEqual(self.control(op="read", vm="db1", offset=4096,
                                      length=9)["text"], "group one")
        grp = self.enumerate("SELECT * FROM Msvm_VirtualSystemCollection")[0]
        applied = [c.text for c in grp
                   if c.tag.endswith("}LastApplyVirtualMachineIds")]
        self.assertEqual(sorted(applied), sorted(
            [self.vm_name("web1"), self.vm_name("db1")]))

        self.done(self.invoke(
            "DestroySnapshot", "<p:AffectedSnapshotCollection>%s"
            "</p:AffectedSnapshotCollection>" % snap,
            "Msvm_CollectionSnapshotService"))
        self.assertEqual(self.enumerate(
            "SELECT * FROM Msvm_SnapshotCollection"), [])
        self.assertEqual(self.enumerate(
            "SELECT * FROM Msvm_VirtualSystemSettingData WHERE "
            "VirtualSystemType = 'Microsoft:Hyper-V:Snapshot:Realized'"), [])
        for vm in ("web1", "db1"):
            files = self.disk_files(vm)
            self.assertFalse(any(f.endswith(".avhdx") for f in files), files)
            for f in files:
                self.check(f)
        self.assertEqual(self.control(op="read", vm="db1", offset=4096,
                                      length=9)["text"], "group one")

    def test_group_export_whole_then_differential(self):
        gid, group = self.make_group("backup", ["db1", "mail1"])
        self.control(op="write", vm="db1", offset=1 << 20, text="first")
        self.control(op="write", vm="mail1", offset=0, text="mail")
        cid, snap = self.group_snapshot(group, 2)
        full = os.path.join(self.tmp.name, "exports", "full")
        esd = cimxml("Msvm_CollectionSnapshotExportSettingData",
                     {"CopyVmStorage": ("boolean", "true")})
        self.done(self.invoke(
            "ExportSnapshot",
            f"<p:SnapshotCollection>{snap}</p:SnapshotCollection>"
            f"<p:ExportDirectory>{windows(full)}</p:ExportDirectory>"
            f"<p:ExportSettingData>{esd}</p:ExportSettingData>",
            "Msvm_CollectionSnapshotService"))
        db1 = os.path.join(full, "db1", "Virtual Hard Disks", "db1.vhdx")
        self.check(db1)
        r = subprocess.run([VIRT_VHDX, "cat", db1], capture_output=True)
        self.assertEqual(r.stdout[1 << 20:(1 << 20) + 5], b"first")

        # the group checkpoint becomes a group reference point
        job_id = self.done(self.invoke(
            "ConvertToReferencePoint", "<p:AffectedSnapshotCollection>%s"
            "</p:AffectedSnapshotCollection>" % snap,
            "Msvm_CollectionSnapshotService"))
        rpc = self.affected(job_id, "Msvm_ReferencePointCollection")[0]
        self.assertEqual(self.prop(rpc, "VirtualSystemCollectionId"), gid)
        self.assertEqual(self.prop(rpc, "ReferencePointType"), "2")
        # collection-level consistency counts the other way: 1 = crash
        self.assertIn(self.prop(rpc, "ConsistencyLevel"), ("1", "2"))
        rpc_id = self.prop(rpc, "CollectionID")
        points = self.enumerate(
            "ASSOCIATORS OF {Msvm_ReferencePointCollection.CollectionID='%s',"
            "VirtualSystemCollectionId='%s'} WHERE AssocClass = "
            "Msvm_CollectedReferencePoints" % (rpc_id, gid))
        self.assertEqual(len(points), 2)
        self.assertEqual(self.enumerate(
            "SELECT * FROM Msvm_SnapshotCollection"), [])

        # later changes, exported against the reference point
        self.control(op="write", vm="db1", offset=3 << 20, text="second")
        cid2, snap2 = self.group_snapshot(group, 2)
        base = ("\\\\HV01\\root\\virtualization\\v2:Msvm_ReferencePoint"
                f'Collection.CollectionID="{rpc_id}",VirtualSystemCollection'
                f'Id="{gid}"')
        esd = cimxml("Msvm_CollectionSnapshotExportSettingData",
                     {"CopyVmStorage": ("boolean", "true"),
                      "DifferentialBackupBase": ("string", base),
                      "BackupIntent": ("uint16", 2)})
        diff = os.path.join(self.tmp.name, "exports", "diff")
        self.done(self.invoke(
            "ExportSnapshot",
            f"<p:SnapshotCollection>{snap2}</p:SnapshotCollection>"
            f"<p:ExportDirectory>{windows(diff)}</p:ExportDirectory>"
            f"<p:ExportSettingData>{esd}</p:ExportSettingData>",
            "Msvm_CollectionSnapshotService"))
        db1 = os.path.join(diff, "db1", "Virtual Hard Disks", "db1.vhdx")
        self.check(db1)
        data = subprocess.run([VIRT_VHDX, "cat", db1],
                              capture_output=True).stdout
        self.assertEqual(data[3 << 20:(3 << 20) + 6], b"second")
        self.assertEqual(data[1 << 20:(1 << 20) + 5], b"\0" * 5)  # unchanged
        desc = [os.path.join(d, f) for d, _, fs in os.walk(
            os.path.join(diff, "db1", "Virtual Machines")) for f in fs]
        self.assertEqual(len(desc), 1)
        with open(desc[0]) as f:
            d = json.load(f)
        self.assertEqual(d["differential_base"], rpc_id)
        self.assertEqual(d["disks"][0]["changed_ranges"], [[3 << 20, 6]])
        # mail1 did not change at all: its differential disk is empty
        mail = os.path.join(diff, "mail1", "Virtual Hard Disks", "mail1.vhdx")
        self.check(mail)
        info = json.loads(subprocess.run([VIRT_VHDX, "info", "--json", mail],
                                         capture_output=True).stdout)
        self.assertEqual(info["blocks"]["fully_present"], 0)

    def test_group_edits(self):
        gid, group = self.make_group("edits", ["db1"])
        out = self.group_call("AddMember",
                              f"<p:Member>{self.vm_ref('db1')}</p:Member>"
                              f"<p:Collection>{group}</p:Collection>")
        self.assertNotEqual(self.out(out, "ReturnValue"), "0")  # twice
        out = self.group_call("RenameCollection",
                              f"<p:Collection>{group}</p:Collection>"
                              "<p:NewName>renamed</p:NewName>")
        self.assertEqual(self.out(out, "ReturnValue"), "0")
        grp = self.enumerate("SELECT * FROM Msvm_VirtualSystemCollection "
                             "WHERE ElementName = 'renamed'")
        self.assertEqual(len(grp), 1)
        # a group with no members cannot take a checkpoint
        out = self.group_call("RemoveMember",
                              f"<p:Member>{self.vm_ref('db1')}</p:Member>"
                              f"<p:Collection>{group}</p:Collection>")
        self.assertEqual(self.out(out, "ReturnValue"), "0")
        _, job, _ = self.wait_job(self.invoke(
            "CreateSnapshot", f"<p:Collection>{group}</p:Collection>"
            "<p:SnapshotType>1</p:SnapshotType>",
            "Msvm_CollectionSnapshotService"))
        self.assertEqual(self.prop(job, "JobState"), "10")
        self.assertIn("no members", self.prop(job, "ErrorDescription"))
        out = self.group_call("DestroyCollection",
                              f"<p:Collection>{group}</p:Collection>")
        self.assertEqual(self.out(out, "ReturnValue"), "0")
        self.assertEqual(self.enumerate(
            "SELECT * FROM Msvm_VirtualSystemCollection"), [])

    def test_group_state_survives_restart(self):
        gid, group = self.make_group("kept", ["db1"])
        self.group_snapshot(group, 2)
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.restart()
        self.assertEqual(len(self.enumerate(
            "SELECT * FROM Msvm_SnapshotCollection")), 1)
        self.assertEqual(len(self.enumerate(
            "ASSOCIATORS OF {Msvm_VirtualSystemCollection.CollectionID='%s'}"
            " WHERE AssocClass = Msvm_CollectedVirtualSystems" % gid)), 1)


if __name__ == "__main__":
    taptest.main()
