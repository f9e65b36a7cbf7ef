"""Domain checkpoints end to end: every virsh checkpoint-* command and flag
against virthypervd against hypervsim, the metadata kept in the state
folder, what survives a restart and a lost folder, and the same API
through python3-libvirt with libvirt's error codes."""

import glob
import json
import os
import re
import shutil

import subprocess

import libvirt

import taptest
from test_snapshots_virsh import SnapshotSession

OFFSET = 3 * 1024 * 1024


class CheckpointSession(SnapshotSession):
    def checkpoints(self, *opts, vm="web1"):
        out = self.virsh("checkpoint-list", vm, "--name", *opts).stdout
        return [line for line in out.splitlines() if line.strip()]

    def dumpxml(self, name, *opts, vm="web1"):
        xml = self.virsh("checkpoint-dumpxml", vm, name, *opts).stdout
        self.assert_valid(xml, "domaincheckpoint.rng")
        return xml

    def meta_files(self):
        return sorted(glob.glob(os.path.join(self.dir, "state", "checkpoints",
                                             "hv01", "*", "*.xml")))

    def refpoints(self, vm="web1"):
        """The reference points hypervsim has for vm, by GUID."""
        host = os.path.join(self.dir, "host", "host.json")
        with open(host) as f:
            state = json.load(f)
        for v in state["vms"]:
            if v["name"] == vm:
                return sorted(r["id"].upper() for r in v["refpoints"])
        return []


class Checkpoints(CheckpointSession):
    def test_tree_and_every_command(self):
        self.virsh("checkpoint-create-as", "web1", "c1", "--description",
                   "first")
        self.write("after-c1")
        self.virsh("checkpoint-create-as", "web1", "c2")
        self.virsh("checkpoint-create-as", "web1", "c3", "--quiesce")
        # c4 on c1: redefine c4 with c1 as its parent
        self.virsh("checkpoint-create-as", "web1", "c4")
        xml = self.dumpxml("c4")
        xml = re.sub(r"<parent>\s*<name>c3</name>", "<parent><name>c1</name>",
                     xml)
        path = os.path.join(self.dir, "c4.xml")
        with open(path, "w") as f:
            f.write(xml)
        self.virsh("checkpoint-create", "web1", path, "--redefine")
        # c1 -> c2 -> c3, c1 -> c4
        self.assertEqual(self.checkpoints(), ["c1", "c2", "c3", "c4"])
        self.assertEqual(self.checkpoints("--roots"), ["c1"])
        self.assertEqual(self.checkpoints("--leaves"), ["c3", "c4"])
        self.assertEqual(self.checkpoints("--no-leaves"), ["c1", "c2"])
        # each after its parent; c2 and c4, made in the same second,
        # either way round
        topo = self.checkpoints("--topological")
        self.assertEqual(sorted(topo), ["c1", "c2", "c3", "c4"])
        self.assertLess(topo.index("c1"), topo.index("c2"))
        self.assertLess(topo.index("c2"), topo.index("c3"))
        self.assertLess(topo.index("c1"), topo.index("c4"))
        self.assertEqual(sorted(self.checkpoints("--from", "c1")),
                         ["c2", "c4"])
        self.assertEqual(sorted(self.checkpoints("--from", "c1",
                                                 "--descendants")),
                         ["c2", "c3", "c4"])
        tree = self.virsh("checkpoint-list", "web1", "--tree").stdout
        self.assertIn("+- c2", tree)
        self.assertIn("+- c4", tree)
        parents = self.virsh("checkpoint-list", "web1", "--parent").stdout
        self.assertRegex(parents, r"c3\s.*\sc2")
        self.assertEqual(self.virsh("checkpoint-parent", "web1",
                                    "c3").stdout.strip(), "c2")
        self.fails("checkpoint-parent", "web1", "c1", expect="no parent")
        # checkpoint-edit: the XML through an editor, back with REDEFINE
        env = dict(os.environ, EDITOR="sed -i 's/>first</>edited</'")
        r = subprocess.run(["virsh", "-c", self.uri, "checkpoint-edit",
                            "web1", "c1"], env=env, capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("<description>edited</description>",
                      self.dumpxml("c1"))
        info = self.virsh("checkpoint-info", "web1", "c1").stdout
        self.assertRegex(info, r"Children:\s+2")
        self.assertRegex(info, r"Descendants:\s+3")

        # XML: description, bitmaps (RCT ids), domain, sizes
        xml = self.dumpxml("c1")
        self.assertIn("<description>edited</description>", xml)
        self.assertIn('checkpoint="bitmap" bitmap="rct', xml)
        self.assertIn("<domain type", xml)
        self.assertNotIn("<domain type",
                         self.dumpxml("c1", "--no-domain"))
        sized = self.dumpxml("c1", "--size", "--no-domain")
        self.assertIn('size="8"', sized)  # "after-c1", written since
        self.assertIn('size="0"', self.dumpxml("c2", "--size"))
        self.dumpxml("c1", "--security-info")

        # errors, each naming what was wrong
        self.fails("checkpoint-create-as", "web1", "c1",
                   expect="already exists")
        self.fails("checkpoint-create-as", "web1", "two words",
                   expect="not a valid checkpoint name")
        self.fails("checkpoint-create-as", "web1", "c9", "--diskspec",
                   "sda,checkpoint=no", expect="tracks every disk")
        self.fails("checkpoint-create-as", "web1", "c9", "--diskspec",
                   "sda,checkpoint=bitmap,bitmap=mine",
                   expect="RCT identifier")
        self.fails("checkpoint-create-as", "web1", "c9", "--diskspec",
                   "sdz", expect="has no disk 'sdz'")
        self.fails("checkpoint-dumpxml", "web1", "nope",
                   expect="no domain checkpoint with matching name 'nope'")
        self.fails("checkpoint-delete", "web1", "c1", "--children",
                   "--children-only", expect="exclusive")
        self.assertNotIn("c9", self.checkpoints())

        # snapshots and checkpoints side by side; no recovery checkpoint
        # shows among the snapshots
        self.virsh("snapshot-create-as", "web1", "s1")
        self.virsh("checkpoint-create-as", "web1", "c5")
        self.assertEqual(self.names(), ["s1"])
        self.assertEqual(len(self.refpoints()), 5)

        # delete: one (its children move to its parent), children-only,
        # metadata-only, children; c5 was made on the newest, c4
        self.assertEqual(self.virsh("checkpoint-parent", "web1",
                                    "c5").stdout.strip(), "c4")
        self.virsh("checkpoint-delete", "web1", "c2")
        self.assertEqual(self.virsh("checkpoint-parent", "web1",
                                    "c3").stdout.strip(), "c1")
        self.assertEqual(len(self.refpoints()), 4)
        self.virsh("checkpoint-delete", "web1", "c4", "--children-only")
        self.assertEqual(self.checkpoints(), ["c1", "c3", "c4"])
        self.assertEqual(len(self.refpoints()), 3)
        self.virsh("checkpoint-delete", "web1", "c3", "--metadata")
        self.assertEqual(len(self.refpoints()), 3)
        guids = [n for n in self.checkpoints() if n.count("-") == 4]
        self.assertEqual(len(guids), 1)
        self.virsh("checkpoint-delete", "web1", "c1", "--children")
        self.assertEqual(sorted(self.checkpoints()), guids)
        self.assertEqual(len(self.refpoints()), 1)
        self.virsh("checkpoint-delete", "web1", guids[0])
        self.assertEqual(self.checkpoints(), [])
        self.assertEqual(self.refpoints(), [])
        self.assertEqual(self.meta_files(), [])
        self.assertEqual(self.names(), ["s1"])
        self.check_files()

    def test_restart_and_lost_state(self):
        self.virsh("checkpoint-create-as", "web1", "base")
        self.virsh("checkpoint-create-as", "web1", "next",
                   "--description", "kept")
        self.kill_daemon()
        self.assertEqual(self.checkpoints(), ["base", "next"])
        self.assertEqual(self.virsh("checkpoint-parent", "web1",
                                    "next").stdout.strip(), "base")
        kept = self.dumpxml("next")

        # the folder is lost: the points stay, under their GUIDs
        shutil.rmtree(os.path.join(self.dir, "state", "checkpoints"))
        names = self.checkpoints()
        self.assertEqual(sorted(names), self.refpoints())
        bitmap = re.search(r'bitmap="([^"]+)"', kept).group(1)
        guid = [n for n in names
                if bitmap in self.dumpxml(n, "--no-domain")][0]

        # REDEFINE adopts a point: by its RCT id under a new name...
        path = os.path.join(self.dir, "next.xml")
        with open(path, "w") as f:
            f.write(kept.replace("<parent>\n    <name>base</name>\n  "
                                 "</parent>\n", ""))
        self.virsh("checkpoint-create", "web1", path, "--redefine")
        self.assertIn("next", self.checkpoints())
        self.assertNotIn(guid, self.checkpoints())
        self.assertIn("<description>kept</description>", self.dumpxml("next"))
        # ... or by its GUID
        other = [n for n in self.checkpoints() if n != "next"][0]
        with open(path, "w") as f:
            f.write(f"<domaincheckpoint><name>{other}</name>"
                    "</domaincheckpoint>")
        self.virsh("checkpoint-create", "web1", path, "--redefine")
        self.virsh("checkpoint-create", "web1", path, "--redefine",
                   "--redefine-validate")
        with open(path, "w") as f:
            f.write("<domaincheckpoint><name>ghost</name>"
                    "</domaincheckpoint>")
        self.fails("checkpoint-create", "web1", path, "--redefine",
                   expect="only Hyper-V makes reference points")
        self.assertEqual(len(self.meta_files()), 2)

        # a metadata file whose point is gone is dropped, and said so
        stale = os.path.join(os.path.dirname(self.meta_files()[0]),
                             "0badc0de-0000-4000-8000-000000000000.xml")
        with open(stale, "w") as f:
            f.write("<domaincheckpoint><name>gone</name>"
                    "</domaincheckpoint>")
        self.assertNotIn("gone", self.checkpoints())
        self.assertFalse(os.path.exists(stale))
        self.assertIn("checkpoint 'gone' of domain 'web1' is gone from the "
                      "host", self.log())
        self.virsh("checkpoint-delete", "web1", "next", "--metadata")
        self.assertEqual(len(self.meta_files()), 1)

    def test_read_only_refuses_writes(self):
        self.virsh("checkpoint-create-as", "web1", "c1")
        for args in (["checkpoint-create-as", "web1", "c2"],
                     ["checkpoint-delete", "web1", "c1"],
                     ["backup-begin", "web1"],
                     ["domjobabort", "web1"]):
            r = self.virsh(*args, readonly=True, check=False)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("read only access prevents", r.stderr)
        # reads are fine
        self.assertEqual(self.virsh("checkpoint-list", "web1", "--name",
                                    readonly=True).stdout.split(), ["c1"])
        self.virsh("checkpoint-dumpxml", "web1", "c1", readonly=True)
        self.assertEqual(self.checkpoints(), ["c1"])


class CheckpointsPython(CheckpointSession):
    def test_binding(self):
        conn = libvirt.open(self.uri)
        self.addCleanup(conn.close)
        dom = conn.lookupByName("web1")
        c1 = dom.checkpointCreateXML(
            "<domaincheckpoint><name>p1</name></domaincheckpoint>")
        self.assertEqual(c1.getName(), "p1")
        self.write("since-p1")
        c2 = dom.checkpointCreateXML("<domaincheckpoint/>")
        self.assertTrue(c2.getName().isdigit())  # named by its time
        self.assertEqual(c2.getParent().getName(), "p1")
        self.assertEqual([c.getName() for c in dom.listAllCheckpoints()],
                         ["p1", c2.getName()])
        self.assertEqual(
            [c.getName() for c in dom.listAllCheckpoints(
                libvirt.VIR_DOMAIN_CHECKPOINT_LIST_ROOTS)], ["p1"])
        self.assertEqual(
            [c.getName() for c in c1.listAllChildren(
                libvirt.VIR_DOMAIN_CHECKPOINT_LIST_DESCENDANTS)],
            [c2.getName()])
        self.assertEqual(
            dom.checkpointLookupByName(c2.getName()).getName(), c2.getName())
        xml = c1.getXMLDesc(libvirt.VIR_DOMAIN_CHECKPOINT_XML_SIZE |
                            libvirt.VIR_DOMAIN_CHECKPOINT_XML_NO_DOMAIN)
        self.assert_valid(xml, "domaincheckpoint.rng")
        self.assertIn('size="8"', xml)

        with self.assertRaises(libvirt.libvirtError) as e:
            dom.checkpointLookupByName("nope")
        self.assertEqual(e.exception.get_error_code(),
                         libvirt.VIR_ERR_NO_DOMAIN_CHECKPOINT)
        self.assertEqual(e.exception.get_error_domain(),
                         libvirt.VIR_FROM_DOMAIN_CHECKPOINT)
        with self.assertRaises(libvirt.libvirtError) as e:
            c1.getParent()
        self.assertEqual(e.exception.get_error_code(),
                         libvirt.VIR_ERR_NO_DOMAIN_CHECKPOINT)
        with self.assertRaises(libvirt.libvirtError) as e:
            dom.checkpointCreateXML("<domaincheckpoint><name>x", 0)
        self.assertEqual(e.exception.get_error_code(),
                         libvirt.VIR_ERR_XML_ERROR)
        with self.assertRaises(libvirt.libvirtError) as e:
            c1.getXMLDesc(1 << 8)
        self.assertEqual(e.exception.get_error_code(),
                         libvirt.VIR_ERR_INVALID_ARG)

        c1.delete(libvirt.VIR_DOMAIN_CHECKPOINT_DELETE_CHILDREN)
        self.assertEqual(dom.listAllCheckpoints(), [])
        self.assertEqual(self.refpoints(), [])


if __name__ == "__main__":
    taptest.main()
