"""The snapshot scenario through libvirt clients nobody here wrote: Perl
Sys::Virt, ruby-libvirt, the cgo Go binding (libvirt-go) and go-libvirt,
a Go client that speaks the remote protocol itself. Each client is a small
program in tests/clients/ that takes one command a line on its standard
input and answers one line ("ok ..." or "err CODE MESSAGE"); the scenario
and what it must give are written once, here."""

import base64
import os
import subprocess
import tempfile

import libvirt

import taptest
from hvd_env import DaemonSession

CLIENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients")
OFFSET = 3 * 1024 * 1024
GOPATH = "/usr/share/gocode"


def go_build(name):
    """Builds tests/clients/NAME/main.go in GOPATH mode against Debian's
    golang-*-dev sources; the build cache stays between runs."""
    cache = os.environ.get("HVD_GO_CACHE") or os.path.join(
        tempfile.gettempdir(), "hvd-go-cache")
    out = os.path.join(cache, "bin", name)
    env = dict(os.environ, GO111MODULE="off", GOPATH=GOPATH, GOCACHE=cache,
               CGO_ENABLED="1")
    subprocess.run(["go", "build", "-o", out,
                    os.path.join(CLIENTS, name, "main.go")],
                   env=env, check=True, capture_output=True, timeout=600)
    return [out]


class Client:
    def __init__(self, test, argv):
        self.test = test
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, bufsize=1)

    def ask(self, *words):
        self.proc.stdin.write(" ".join(words) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            self.test.fail(f"{words}: the client ended: "
                           f"{self.proc.stderr.read()}")
        return line.rstrip("\n").split(" ", 1) + [""]

    def ok(self, *words):
        status, rest = self.ask(*words)[:2]
        self.test.assertEqual(status, "ok", f"{words}: {rest}")
        return rest

    def words(self, *words):
        return sorted(w for w in self.ok(*words).split(" ") if w)

    def err(self, *words):
        status, rest = self.ask(*words)[:2]
        self.test.assertEqual(status, "err", f"{words} succeeded: {rest}")
        code, _, message = rest.partition(" ")
        return int(code), message

    def close(self):
        self.ok("quit")
        self.test.assertEqual(self.proc.wait(timeout=30), 0,
                              self.proc.stderr.read())


class Clients(DaemonSession):
    def write(self, text):
        self.control(op="write", vm="web1", disk=0, offset=OFFSET, text=text)

    def read(self, n):
        return self.control(op="read", vm="web1", disk=0, offset=OFFSET,
                            length=n)["text"]

    def scenario(self, argv, checkpoints=True, uri_rpc=False,
                 unsupported=None):
        c = Client(self, argv + [self.uri])
        self.addCleanup(lambda: c.proc.poll() is None and c.proc.kill())

        # the listing calls of libvirt before 0.9.13
        self.assertEqual(c.ok("num-active"), "1")
        web1 = libvirt.open(self.uri)
        self.addCleanup(web1.close)
        ids = [str(web1.lookupByName("web1").ID())]
        self.assertEqual(c.words("active-ids"), ids)
        self.assertEqual(c.ok("num-defined"), "2")
        self.assertEqual(c.words("defined-names"), ["db1", "mail1"])
        if uri_rpc:
            self.assertEqual(c.ok("uri"), "hyperv:///system")

        self.write("one")
        self.assertEqual(c.ok("create", "web1", "c1", "the first one"), "c1")
        self.write("two")
        self.assertEqual(c.ok("create", "web1", "c2", "-"), "c2")
        self.assertEqual(c.words("list", "web1"), ["c1", "c2"])
        self.assertEqual(c.ok("parent", "web1", "c2"), "c1")
        self.assertEqual(c.words("children", "web1", "c1"), ["c2"])
        self.assertEqual(c.ok("current", "web1"), "c2")
        xml = base64.b64decode(c.ok("xml", "web1", "c1")).decode()
        self.assertIn("<name>c1</name>", xml)
        self.assertIn("<description>the first one</description>", xml)
        self.assert_valid(xml, "domainsnapshot.rng")

        # a running domain reverted without FORCE, as virt-manager does
        self.assertEqual(c.ok("state", "web1"),
                         f"{libvirt.VIR_DOMAIN_RUNNING} "
                         f"{libvirt.VIR_DOMAIN_RUNNING_BOOTED}")
        c.ok("revert", "web1", "c1")
        self.assertEqual(c.ok("state", "web1"),
                         f"{libvirt.VIR_DOMAIN_SHUTOFF} "
                         f"{libvirt.VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT}")
        self.assertEqual(self.read(3), "one")
        self.assertEqual(c.ok("current", "web1"), "c1")

        c.ok("delete-children", "web1", "c1")
        self.assertEqual(c.words("list", "web1"), [])
        if checkpoints:
            self.assertEqual(c.words("checkpoints", "web1"), [])
            self.assertEqual(c.ok("checkpoint", "web1", "k1"), "k1")
            self.assertEqual(c.words("checkpoints", "web1"), ["k1"])
        # a call the daemon does not serve: a clean error naming it
        if checkpoints:
            code, message = c.err("hostname", "web1")
            if unsupported:
                self.assertEqual((code, message), unsupported)
            else:
                # the C library makes "unknown procedure" NO_SUPPORT
                self.assertEqual(code, libvirt.VIR_ERR_NO_SUPPORT, message)
                self.assertRegex(message, r"unknown procedure: \d+")
        # and a wrong name is an error with libvirt's code
        code, message = c.err("parent", "web1", "nonesuch")
        self.assertEqual(code, libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT, message)
        c.close()

    def test_perl_sys_virt(self):
        self.scenario(["perl", os.path.join(CLIENTS, "scenario.pl")])

    def test_ruby_libvirt(self):
        # ruby-libvirt 0.7 has no checkpoint calls
        self.scenario(["ruby", os.path.join(CLIENTS, "scenario.rb")],
                      checkpoints=False)

    def test_go_libvirt_cgo(self):
        self.scenario(go_build("libvirt-go"))

    def test_go_libvirt_pure(self):
        # its own XDR, and CONNECT_GET_URI (110) over the wire
        # go-libvirt turns libvirtd's "unknown procedure" into an error
        # of its own
        self.scenario(go_build("go-libvirt") + [self.sock], uri_rpc=True,
                      unsupported=(-1, "unsupported procedure requested"))


if __name__ == "__main__":
    taptest.main()
