"""virt-manager 4.1 under Xvfb connects to virthypervd and shows the VM
list: its debug log must say the connection reached Active with every VM
added and never dropped; a screenshot is left for people to look at.
Then its Snapshots page is worked as a user does (virt_manager_driver.py):
a running VM reverted, a snapshot taken from its dialog, one deleted,
with no error in virt-manager's log."""

import glob
import os
import re
import subprocess
import time

import libvirt

import taptest
from hvd_env import DaemonSession, wait_for

DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "virt_manager_driver.py")

SHOT = """
import gi, sys
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk
w = Gdk.get_default_root_window()
pb = Gdk.pixbuf_get_from_window(w, 0, 0, w.get_width(), w.get_height())
pb.savev(sys.argv[1], "png", [], [])
"""


class VirtManager(DaemonSession):
    def gui_env(self):
        home = os.path.join(self.dir, "home")
        os.makedirs(home, exist_ok=True)
        return dict(os.environ, HOME=home, XDG_CACHE_HOME=home + "/.cache",
                    XDG_CONFIG_HOME=home + "/.config", NO_AT_BRIDGE="1")

    def test_connects_and_lists(self):
        log = os.path.join(self.dir, "virt-manager.log")
        shot = os.environ.get("VIRT_MANAGER_SCREENSHOT",
                              os.path.join(self.dir, "virt-manager.png"))
        env = self.gui_env()
        script = (f'virt-manager --debug --no-fork --connect "{self.uri}" '
                  f'> "{log}" 2>&1 & pid=$!; '
                  # stay long enough for keepalive (20 s, 1) to matter
                  'sleep 25; '
                  f'/usr/bin/python3 -c \'{SHOT}\' "{shot}"; '
                  'kill $pid; wait $pid; true')
        subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1280x800x24",
                        "sh", "-c", script], env=env, timeout=120,
                       check=True)
        with open(log) as f:
            text = f.read()
        self.assertIn("changed to state=Active", text, text[-3000:])
        for name, status in (("web1", "Running"), ("db1", "Shutoff"),
                             ("mail1", "Shutoff")):
            self.assertIn(f"domain={name} status={status} added", text)
        after = text.split("changed to state=Active", 1)[1]
        self.assertNotIn("state=Disconnected", after, after[-3000:])
        self.assertNotIn("denylist", after.lower())
        self.assertTrue(os.path.getsize(shot) > 1000)

    def test_snapshots_page(self):
        conn = libvirt.open(self.uri)
        self.addCleanup(conn.close)
        web1 = conn.lookupByName("web1")
        for name in ("s1", "s2"):
            web1.snapshotCreateXML(f"<domainsnapshot><name>{name}</name>"
                                   "</domainsnapshot>")
        self.assertTrue(web1.isActive())
        shots = os.path.join(os.path.dirname(os.environ.get(
            "VIRT_MANAGER_SCREENSHOT", os.path.join(self.dir, "x.png"))),
            "virt-manager-snapshots")
        os.makedirs(shots, exist_ok=True)
        log = os.path.join(self.dir, "virt-manager-snapshots.log")
        with open(log, "w") as out:
            try:
                r = subprocess.run(
                    ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24",
                     "/usr/bin/python3", DRIVER, self.uri, shots],
                    env=self.gui_env(), stdout=out, stderr=subprocess.STDOUT,
                    timeout=150)
            except subprocess.TimeoutExpired:
                r = None
        with open(log) as f:
            text = f.read()
        self.assertEqual(r and r.returncode, 0, text[-4000:])
        for step in ("opened", "reverted", "created", "deleted"):
            self.assertIn(f"step {step}", text)
        self.assertIn("question Are you sure you want to run the snapshot "
                      "'s1'?", text)
        # virt-manager logged no error or warning; the one traceback is
        # its DEBUG note that a host without storage pools gets no
        # "default" pool (STORAGE_POOL_DEFINE_XML is not supported)
        errors = [line for line in text.splitlines()
                  if re.search(r"\] (ERROR|WARNING|CRITICAL) \(|Error refreshing",
                               line)]
        self.assertEqual(errors, [], text[-4000:])
        self.assertEqual(text.count("Traceback"),
                         text.count("DEBUG (storage:163) Error building "
                                    "default pool"), text[-4000:])
        # what the clicks did, seen by another client
        self.assertEqual(web1.state(),
                         [libvirt.VIR_DOMAIN_SHUTOFF,
                          libvirt.VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT])
        self.assertEqual(sorted(web1.snapshotListNames()), ["s1", "third"])
        third = web1.snapshotLookupByName("third")
        self.assertIn("<description>taken from virt-manager</description>",
                      third.getXMLDesc())
        self.assertEqual(third.getParent().getName(), "s1")
        for n in range(1, 6):
            self.assertTrue(glob.glob(os.path.join(shots, f"{n}-*.png")))


if __name__ == "__main__":
    taptest.main()
