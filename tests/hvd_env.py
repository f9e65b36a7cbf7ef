"""hypervsim and virthypervd started on private ports and sockets, for
end-to-end tests with real libvirt clients. A test module subclasses
DaemonSession; every test gets a fresh host with the three sample VMs
(web1 running, db1 and mail1 off)."""

import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import libvirt

from winrm_sim import HYPERVSIM, control, free_port

VIRTHYPERVD = os.environ["VIRTHYPERVD"]
SCHEMAS = "/usr/share/libvirt/schemas"


def wait_for(what, check, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout} s")


class DaemonSession(unittest.TestCase):
    poll_interval_ms = 200
    daemon_config = ""  # more lines of [daemon]
    sim_args = ()  # more hypervsim options

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.dir = self.tmp.name
        self.start_sim()
        self.addCleanup(self.stop_sim)
        self.sock = os.path.join(self.dir, "hvd.sock")
        self.uri = f"hyperv+unix:///system?socket={self.sock}"
        self.write_config()
        self.daemon = self.start_daemon()
        self.addCleanup(self.stop_daemon, self.daemon)

    def start_sim(self, port=None):
        """hypervsim on its state folder (the sample VMs the first time);
        port: the one it had, for a restart."""
        port = port or free_port()
        self.sim_port = port
        self.sim_url = f"http://127.0.0.1:{port}"
        self.sim_log = open(os.path.join(self.dir, "sim.log"), "a")
        self.sim = subprocess.Popen(
            [HYPERVSIM, "--state-dir", os.path.join(self.dir, "host"),
             "--listen", f"127.0.0.1:{port}", "--sample", "--user",
             "Administrator", "--password", "secret",
             # as Windows ships WinRM: NTLM, every body sealed
             "--require-sealing", *self.sim_args],
            stdout=self.sim_log, stderr=subprocess.STDOUT)

        def up():
            try:
                self.control(op="counters")
                return True
            except OSError:
                return False
        wait_for("hypervsim's start", up)

    def stop_sim(self):
        self.sim.send_signal(signal.SIGTERM)
        # under the sanitizers a leak or an error makes the exit status 1
        self.assertEqual(self.sim.wait(timeout=30), 0)
        self.sim_log.close()

    def write_config(self):
        self.conf = os.path.join(self.dir, "virthypervd.conf")
        self.auth = os.path.join(self.dir, "auth.conf")
        with open(self.conf, "w") as f:
            f.write(f"[daemon]\npoll_interval_ms = {self.poll_interval_ms}\n"
                    f"default_host = hv01\n{self.daemon_config}\n"
                    f"[host hv01]\nurl = {self.sim_url}/wsman\n")
        with open(self.auth, "w") as f:
            f.write("[credentials-sim]\nusername = Administrator\n"
                    "password = secret\n\n"
                    "[auth-hyperv-hv01]\ncredentials = sim\n")

    def start_daemon(self, *extra, socket_path=None):
        path = socket_path or self.sock
        log = open(os.path.join(self.dir, "hvd.log"), "a")
        proc = subprocess.Popen(
            [VIRTHYPERVD, "--config", self.conf, "--auth-file", self.auth,
             "--socket", path, "--state-dir", os.path.join(self.dir, "state"),
             "--verbose", *extra],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_for("virthypervd's socket",
                 lambda: os.path.exists(path + "-ro") or
                 proc.poll() is not None)
        self.assertIsNone(proc.poll(), self.log())
        return proc

    def stop_daemon(self, proc):
        if getattr(proc, "killed", False):
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=30), 0, self.log())

    def kill_daemon(self):
        """SIGKILL, as a crash or the OOM killer would, then a new one."""
        self.daemon.killed = True
        self.daemon.kill()
        self.daemon.wait(timeout=30)
        # the dead one's sockets would look like the new one's
        for path in (self.sock, self.sock + "-ro"):
            if os.path.exists(path):
                os.unlink(path)
        self.daemon = self.start_daemon()
        self.addCleanup(self.stop_daemon, self.daemon)

    def log(self):
        try:
            with open(os.path.join(self.dir, "hvd.log")) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def control(self, **request):
        return control(self.sim_url + "/control", request)

    def requests(self):
        """WS-Man requests hypervsim has served so far."""
        return self.control(op="counters")["requests"]

    def virsh(self, *args, check=True, uri=None, readonly=False, opts=()):
        cmd = ["virsh", "-q", *opts, "-c", uri or self.uri]
        if readonly:
            cmd.insert(1, "-r")
        r = subprocess.run(cmd + list(args), capture_output=True, text=True,
                           timeout=120)
        if check and r.returncode != 0:
            self.fail(f"virsh {' '.join(args)}: {r.stderr}\n{self.log()}")
        return r

    def assert_valid(self, xml, schema):
        path = os.path.join(self.dir, "doc.xml")
        with open(path, "w") as f:
            f.write(xml)
        r = subprocess.run(
            ["xmllint", "--noout", "--relaxng",
             os.path.join(SCHEMAS, schema), path],
            capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr + xml)


class EventLoop:
    """libvirt's default event loop on a thread of its own, once."""
    started = False

    @classmethod
    def start(cls):
        if cls.started:
            return
        libvirt.virEventRegisterDefaultImpl()
        threading.Thread(target=cls.run, daemon=True).start()
        cls.started = True

    @staticmethod
    def run():
        while True:
            libvirt.virEventRunDefaultImpl()


def expect_event(test, events, wanted):
    """Takes events off the queue until wanted comes; fails after 15 s
    without it."""
    while True:
        try:
            got = events.get(timeout=15)
        except queue.Empty:
            test.fail(f"no event {wanted}")
        if got == wanted:
            return
