"""virt-manager 4.1 under Xvfb connects to virthypervd and shows the VM
list: its debug log must say the connection reached Active with every VM
added and never dropped; a screenshot is left for people to look at."""

import os
import re
import subprocess
import time

import taptest
from hvd_env import DaemonSession, wait_for

SHOT = """
import gi, sys
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk
w = Gdk.get_default_root_window()
pb = Gdk.pixbuf_get_from_window(w, 0, 0, w.get_width(), w.get_height())
pb.savev(sys.argv[1], "png", [], [])
"""


class VirtManager(DaemonSession):
    def test_connects_and_lists(self):
        home = os.path.join(self.dir, "home")
        os.makedirs(home)
        log = os.path.join(self.dir, "virt-manager.log")
        shot = os.environ.get("VIRT_MANAGER_SCREENSHOT",
                              os.path.join(self.dir, "virt-manager.png"))
        env = dict(os.environ, HOME=home, XDG_CACHE_HOME=home + "/.cache",
                   XDG_CONFIG_HOME=home + "/.config", NO_AT_BRIDGE="1")
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


if __name__ == "__main__":
    taptest.main()
