"""virsh 9.0 against virthypervd and hypervsim: listing, information,
XML, the lifecycle, read-only access, keepalive through a long Hyper-V
job, host selection, the lock, and damaged packets."""

import os
import re
import socket
import struct
import subprocess
import time

import taptest
from hvd_env import DaemonSession, wait_for


class Virsh(DaemonSession):
    def rows(self, *args):
        out = self.virsh("list", *args).stdout
        return [line.split(None, 2) for line in out.splitlines()
                if line.strip()]

    def test_list(self):
        rows = self.rows("--all")
        self.assertEqual(sorted(r[1] for r in rows), ["db1", "mail1", "web1"])
        by_name = {r[1]: r for r in rows}
        self.assertRegex(by_name["web1"][0], r"^\d+$")
        self.assertEqual(by_name["web1"][2], "running")
        self.assertEqual(by_name["db1"][0], "-")
        self.assertEqual(by_name["db1"][2], "shut off")
        self.assertEqual([r[1] for r in self.rows()], ["web1"])
        self.assertEqual(sorted(r[1] for r in self.rows("--inactive")),
                         ["db1", "mail1"])
        self.assertEqual(
            sorted(self.virsh("list", "--all", "--name").stdout.split()),
            ["db1", "mail1", "web1"])
        self.assertEqual(
            [r[1] for r in self.rows("--all", "--state-paused")], [])
        self.control(op="set-vm", name="db1", autostart=True)
        self.assertEqual([r[1] for r in self.rows("--all", "--autostart")],
                         ["db1"])
        self.assertEqual(
            sorted(r[1] for r in self.rows("--all", "--no-autostart")),
            ["mail1", "web1"])
        self.control(op="snapshot", vm="mail1")
        self.assertEqual(
            [r[1] for r in self.rows("--all", "--with-snapshot")], ["mail1"])
        self.assertEqual(
            sorted(r[1] for r in self.rows("--all", "--without-snapshot")),
            ["db1", "web1"])

    def test_dominfo_domstate(self):
        info = dict(line.split(":", 1) for line in
                    self.virsh("dominfo", "web1").stdout.splitlines()
                    if ":" in line)
        info = {k.strip(): v.strip() for k, v in info.items()}
        self.assertEqual(info["Name"], "web1")
        self.assertEqual(info["State"], "running")
        self.assertEqual(info["OS Type"], "hvm")
        self.assertEqual(info["Persistent"], "yes")
        self.assertEqual(info["Autostart"], "disable")
        self.assertRegex(info["Max memory"], r"^\d+ KiB$")
        self.assertGreater(int(info["CPU(s)"]), 0)
        uuid, dom_id = info["UUID"], info["Id"]
        # the same domain by id and by UUID
        self.assertIn("web1", self.virsh("dominfo", dom_id).stdout)
        self.assertIn("web1", self.virsh("dominfo", uuid).stdout)
        self.assertEqual(self.virsh("domstate", "web1", "--reason")
                         .stdout.strip(), "running (booted)")
        self.assertEqual(self.virsh("domstate", "db1").stdout.strip(),
                         "shut off")
        self.assertEqual(self.virsh("domid", "db1").stdout.strip(), "-")
        self.assertEqual(self.virsh("domuuid", "web1").stdout.strip(), uuid)
        # autostart as Hyper-V's "always start"
        self.control(op="set-vm", name="db1", autostart=True)
        self.assertIn("enable", self.virsh("dominfo", "db1").stdout)

    def test_dumpxml(self):
        # a checkpoint taken on the host gives web1's disks a chain
        self.assertTrue(self.control(op="snapshot", vm="web1",
                                     name="before")["ok"])
        for name in ("web1", "db1", "mail1"):
            for flags in ((), ("--inactive",), ("--security-info",)):
                xml = self.virsh("dumpxml", name, *flags).stdout
                self.assert_valid(xml, "domain.rng")
                self.assertIn(f"<name>{name}</name>", xml)
        xml = self.virsh("dumpxml", "web1").stdout
        self.assertRegex(xml, r'<domain type="hyperv" id="\d+">')
        # the active file, then its parent, then the end of the chain
        disk = re.search(r"<disk .*?</disk>", xml, re.S).group(0)
        files = re.findall(r'<source file="([^"]+)"', disk)
        self.assertEqual(len(files), 2, disk)
        self.assertTrue(files[0].lower().endswith(".avhdx"), files)
        self.assertTrue(files[1].lower().endswith(".vhdx"), files)
        self.assertTrue(re.match(r"^[A-Z]:\\", files[0]), files)
        self.assertIn("<backingStore/>", disk)
        self.assertRegex(xml, r'<mac address="00:15:5d(:[0-9a-f]{2}){3}"/>')
        self.assertNotIn(' id="', self.virsh("dumpxml", "web1",
                                              "--inactive").stdout)

    def test_lifecycle(self):
        self.virsh("start", "db1")
        self.assertEqual(self.virsh("domstate", "db1").stdout.strip(),
                         "running")
        self.assertRegex(self.virsh("domid", "db1").stdout.strip(), r"^\d+$")
        r = self.virsh("start", "db1", check=False)
        self.assertIn("already active", r.stderr)
        self.virsh("suspend", "db1")
        self.assertEqual(self.virsh("domstate", "db1", "--reason")
                         .stdout.strip(), "paused (user)")
        r = self.virsh("suspend", "db1", check=False)
        self.assertIn("Requested operation is not valid: domain is not "
                      "running", r.stderr)
        self.virsh("resume", "db1")
        r = self.virsh("resume", "db1", check=False)
        self.assertIn("domain is not paused", r.stderr)
        self.virsh("shutdown", "db1")
        self.assertEqual(self.virsh("domstate", "db1").stdout.strip(),
                         "shut off")
        r = self.virsh("shutdown", "db1", check=False)
        self.assertIn("domain is not running", r.stderr)
        self.virsh("start", "db1", "--paused")
        self.assertEqual(self.virsh("domstate", "db1").stdout.strip(),
                         "paused")
        self.virsh("destroy", "db1")
        self.assertEqual(self.virsh("domid", "db1").stdout.strip(), "-")
        r = self.virsh("destroy", "db1", check=False)
        self.assertIn("domain is not running", r.stderr)
        r = self.virsh("shutdown", "web1", "--mode", "initctl", check=False)
        self.assertIn("unsupported flags (0x4)", r.stderr)

    def test_errors(self):
        r = self.virsh("dominfo", "nosuch", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("failed to get domain 'nosuch'", r.stderr)
        r = self.virsh("dominfo", "00000000-0000-0000-0000-000000000001",
                       check=False)
        self.assertIn("failed to get domain", r.stderr)
        # a failing Hyper-V job keeps Hyper-V's words
        self.control(op="fail-job", job_type=12, error_code=32768,
                     text="The virtual machine could not be started "
                     "because the hypervisor is not running.")
        r = self.virsh("start", "db1", check=False)
        self.assertIn("operation failed", r.stderr)
        self.assertIn("because the hypervisor is not running", r.stderr)
        self.assertEqual(self.virsh("domstate", "db1").stdout.strip(),
                         "shut off")

    def test_read_only(self):
        # virsh -r: read calls work, writes are refused
        self.assertIn("web1", self.virsh("list", readonly=True).stdout)
        self.assertIn("web1", self.virsh("dumpxml", "web1",
                                         readonly=True).stdout)
        for cmd in (["start", "db1"], ["destroy", "web1"],
                    ["shutdown", "web1"], ["suspend", "web1"],
                    ["resume", "web1"]):
            r = self.virsh(*cmd, readonly=True, check=False)
            self.assertNotEqual(r.returncode, 0, cmd)
            self.assertIn("read only", r.stderr)
        # the -ro socket refuses writes even when the client asks for all
        ro = f"hyperv+unix:///system?socket={self.sock}-ro"
        self.assertIn("web1", self.virsh("list", uri=ro).stdout)
        r = self.virsh("destroy", "web1", uri=ro, check=False)
        self.assertIn("operation forbidden: read only access prevents this "
                      "operation", r.stderr)
        self.assertEqual(self.virsh("domstate", "web1").stdout.strip(),
                         "running")

    def test_keepalive_through_long_job(self):
        # the next start job of Hyper-V takes 10 s; keepalive (2 s, 2
        # misses) would give up after 6 s without PONGs
        self.control(op="fail-job", job_type=12, delay_ms=10000)
        t0 = time.monotonic()
        r = self.virsh("start", "db1", opts=("-k", "2", "-K", "2"),
                       check=False)
        elapsed = time.monotonic() - t0
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreaterEqual(elapsed, 9)
        self.assertEqual(self.virsh("domstate", "db1").stdout.strip(),
                         "running")

    def test_host_selection(self):
        named = f"hyperv+unix:///system?socket={self.sock}&name=hyperv://hv01/"
        self.assertIn("web1", self.virsh("list", uri=named).stdout)
        other = (f"hyperv+unix:///system?socket={self.sock}"
                 "&name=hyperv://other.example.com/")
        r = self.virsh("list", uri=other, check=False)
        self.assertIn("the Hyper-V host 'other.example.com' is not in "
                      "virthypervd's configuration", r.stderr)
        self.assertEqual(self.virsh("hostname").stdout.strip(), "HV01")
        ver = self.virsh("version").stdout
        self.assertIn("Running hypervisor: HYPERV 10.0.999", ver)
        self.assertIn("CPU(s):              8",
                      self.virsh("nodeinfo").stdout)
        caps = self.virsh("capabilities").stdout
        # the guest's domain type is "hyperv", as libvirt's own Hyper-V
        # driver puts it, a value libvirt 9.0's capability.rng does not
        # list: everything else is checked against the schema
        self.assertIn("<os_type>hvm</os_type>", caps)
        self.assertEqual(caps.count('<domain type="hyperv"/>'), 1, caps)
        self.assert_valid(caps.replace('<domain type="hyperv"/>',
                                       '<domain type="test"/>'),
                          "capability.rng")
        self.assertEqual(self.virsh("maxvcpus").stdout.strip(), "240")

    def test_lock(self):
        r = subprocess.run(
            [os.environ["VIRTHYPERVD"], "--config", self.conf, "--auth-file",
             self.auth, "--socket", self.sock], capture_output=True,
            text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(f"another virthypervd (pid {self.daemon.pid}) is "
                      f"serving {self.sock}", r.stderr)
        self.assertIn("web1", self.virsh("list").stdout)

    def test_config_errors(self):
        bad = os.path.join(self.dir, "bad.conf")
        for conf, expect in (
                ("transport = ftp", "transport is http or https, not 'ftp'"),
                ("connections = 65",
                 "[host x] connections is 1 to 64, not 65"),
                ("transport = http\nauth = basic",
                 "[host x] auth = basic over http:// would send the password "
                 "and every message in clear: use transport = https, or "
                 "auth = negotiate (encrypted), or say allow_unencrypted = "
                 "true"),
                ("auth = digest", "auth is negotiate, ntlm, kerberos or "
                 "basic, not 'digest'")):
            with open(bad, "w") as f:
                f.write(f"[host x]\n{conf}\n")
            r = subprocess.run(
                [os.environ["VIRTHYPERVD"], "--config", bad, "--socket",
                 os.path.join(self.dir, "other.sock")], capture_output=True,
                text=True, timeout=30)
            self.assertEqual(r.returncode, 1)
            self.assertIn(expect, r.stderr)
        r = subprocess.run(
            [os.environ["VIRTHYPERVD"], "--host",
             "http://user:pw@127.0.0.1:1/wsman", "--socket",
             os.path.join(self.dir, "other.sock")], capture_output=True,
            text=True, timeout=30)
        self.assertIn("holds credentials; they belong in auth.conf",
                      r.stderr)
        self.assertNotIn("pw", r.stderr.replace("pw@", ""))

    def test_basic_refused_by_a_sealing_host(self):
        # said in so many words, Basic goes over http://; a host as Windows
        # ships it refuses it, and the error says what to use instead
        conf = os.path.join(self.dir, "basic.conf")
        with open(conf, "w") as f:
            f.write(f"[host hv01]\nurl = {self.sim_url}/wsman\n"
                    "auth = basic\nallow_unencrypted = true\n")
        sock = os.path.join(self.dir, "basic.sock")
        proc = subprocess.Popen(
            [os.environ["VIRTHYPERVD"], "--config", conf, "--auth-file",
             self.auth, "--socket", sock,
             "--state-dir", os.path.join(self.dir, "basic-state")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(proc.wait, 30)
        self.addCleanup(proc.terminate)
        wait_for("the second daemon", lambda: os.path.exists(sock + "-ro"))
        r = self.virsh("list", "--all", uri=f"hyperv+unix:///system?"
                       f"socket={sock}", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("does not take Basic authentication", r.stderr)
        self.assertIn("use Negotiate", r.stderr)
        self.assertNotIn("secret", r.stderr)

    def test_socket_activation(self):
        # the sockets come from systemd, by their unit names
        sock = os.path.join(self.dir, "activated.sock")
        proc = subprocess.Popen(
            ["systemd-socket-activate", "-l", sock, "-l", sock + "-ro",
             "--fdname=virthypervd.socket:virthypervd-ro.socket",
             os.environ["VIRTHYPERVD"], "--config", self.conf, "--auth-file",
             self.auth, "--verbose"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.addCleanup(proc.wait, 30)
        self.addCleanup(proc.terminate)
        wait_for("the activation sockets", lambda: os.path.exists(sock +
                                                                  "-ro"))
        uri = f"hyperv+unix:///system?socket={sock}"
        self.assertIn("web1", self.virsh("list", uri=uri).stdout)
        r = self.virsh("destroy", "web1", uri=uri + "-ro", check=False)
        self.assertIn("read only access prevents", r.stderr)
        self.assertEqual(self.virsh("domstate", "web1").stdout.strip(),
                         "running")

    def raw(self, data, read=True):
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.sock)
        s.sendall(data)
        s.settimeout(5)
        out = b""
        try:
            while read:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        s.close()
        return out

    def test_damaged_packets(self):
        header = struct.pack(">IIiIII", 0x20008086, 1, 66, 0, 0, 0)
        # oversized length: the connection is closed, nothing is read
        self.assertEqual(self.raw(struct.pack(">I", 64 << 20) + header), b"")
        # a length below the header
        self.assertEqual(self.raw(struct.pack(">I", 8) + b"\0" * 4), b"")
        # truncated: the length promises more than comes, then EOF
        self.raw(struct.pack(">I", 100) + header, read=False)
        # a reply sent as if it were a call
        reply = struct.pack(">IIiIII", 0x20008086, 1, 66, 1, 0, 0)
        self.assertEqual(self.raw(struct.pack(">I", 28) + reply), b"")
        # arguments that do not decode: an RPC error, then more service
        bad = struct.pack(">IIiIII", 0x20008086, 1, 1, 0, 7, 0)
        out = self.raw(struct.pack(">I", 32) + bad + b"\0\0\0\x05")
        self.assertGreater(len(out), 28)
        length, prog, vers, proc, typ, serial, status = struct.unpack(
            ">IIIiIII", out[:28])
        self.assertEqual((proc, typ, serial, status), (1, 1, 7, 1))
        # the daemon goes on serving everybody
        self.assertIn("web1", self.virsh("list").stdout)
        self.assertIsNone(self.daemon.poll())


if __name__ == "__main__":
    taptest.main()
