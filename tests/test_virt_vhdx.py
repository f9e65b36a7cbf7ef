"""virt-vhdx as a user runs it: exit status 0 / 1 / 2, messages that name
the file and the fault, JSON, and the French translation."""

import json
import os
import subprocess

import taptest

VIRT_VHDX = os.environ["VIRT_VHDX"]
FIXTURES = os.environ["VHDX_FIXTURES"]
MB = 1 << 20


def vv(*args, stdin=None, env=None):
    return subprocess.run([VIRT_VHDX, *args], input=stdin, capture_output=True,
                          env=env)


class Cli(taptest.ScratchTestCase):
    def ok(self, *args, stdin=None):
        r = vv(*args, stdin=stdin)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return r

    def test_usage_errors_exit_2(self):
        for args in ([], ["frobnicate"], ["info"], ["info", "a", "b"],
                     ["create", self.p("x.vhdx"), "--size", "12Q"],
                     ["create", self.p("x.vhdx")],
                     ["info", "--no-such-option", "f"]):
            r = vv(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertTrue(r.stderr)

    def test_missing_file_exit_1(self):
        r = vv("info", self.p("nope.vhdx"))
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"nope.vhdx", r.stderr)
        self.assertIn(b"No such file", r.stderr)

    def test_create_info_json(self):
        path = self.p("d.vhdx")
        self.ok("create", path, "--size", "100M", "--block-size", "4M")
        info = json.loads(self.ok("info", path, "--json").stdout)
        self.assertEqual(info["type"], "dynamic")
        self.assertEqual(info["virtual-size"], 100 * MB)
        self.assertEqual(info["block-size"], 4 * MB)
        self.assertEqual(info["blocks"]["not_present"], 25)
        self.assertEqual(info["creator"].split()[0], "virthypervd")
        text = self.ok("info", path).stdout.decode()
        self.assertIn("virtual size:         104857600 (100.0\u00a0MiB)", text)

    def test_write_cat_roundtrip(self):
        path = self.p("d.vhdx")
        self.ok("create", path, "--size", "8M", "--block-size", "1M")
        data = os.urandom(1500000)
        self.ok("write", path, "--offset", "12345", stdin=data)
        out = self.ok("cat", path).stdout
        self.assertEqual(len(out), 8 * MB)
        self.assertEqual(out[12345 : 12345 + len(data)], data)
        self.assertEqual(out[:12345], bytes(12345))
        r = vv("write", path, "--offset", str(8 * MB - 10), stdin=bytes(20))
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"beyond the virtual disk size", r.stderr)

    def test_chain_lists_each_file(self):
        base, child = self.p("base.vhdx"), self.p("child.avhdx")
        self.ok("create", base, "--size", "8M")
        self.ok("create", child, "--parent", base)
        lines = self.ok("chain", child).stdout.decode().splitlines()
        self.assertEqual(len(lines), 2)
        self.assertTrue(lines[0].startswith("0\t" + child + "\tdifferencing"))
        self.assertIn("matches", lines[0])
        self.assertTrue(lines[1].startswith("1\t" + base + "\tdynamic"))

    def test_check_names_file_and_fault(self):
        path = self.p("d.vhdx")
        self.ok("create", path, "--size", "8M")
        self.assertIn(b"no problems found", self.ok("check", path).stdout)
        with open(path, "r+b") as f:
            f.seek(64 * 1024 + 200)
            f.write(b"\xff")
        r = vv("check", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn(path.encode() + b": header 1: checksum mismatch", r.stderr)

    def test_broken_chain_names_both_files(self):
        base, child = self.p("base.vhdx"), self.p("child.avhdx")
        self.ok("create", base, "--size", "8M")
        self.ok("create", child, "--parent", base)
        self.ok("write", base, stdin=b"x")  # new DataWriteGuid: child broken
        r = vv("check", child)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"child.avhdx", r.stderr)
        self.assertIn(b"base.vhdx does not match", r.stderr)
        os.rename(base, self.p("moved.vhdx"))
        r = vv("cat", child)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"parent not found", r.stderr)

    def test_merge_keep(self):
        base, child = self.p("base.vhdx"), self.p("child.avhdx")
        self.ok("create", base, "--size", "8M")
        self.ok("create", child, "--parent", base)
        self.ok("write", child, "--offset", "1M", stdin=b"abc" * 1000)
        self.ok("merge", child, "--keep")
        self.assertTrue(os.path.exists(child))
        self.assertEqual(self.ok("cat", base).stdout[MB : MB + 3000],
                         b"abc" * 1000)
        r = vv("merge", base)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"no parent to merge into", r.stderr)

    def test_fixture_dirty_log_cat_does_not_modify(self):
        src = os.path.join(FIXTURES, "iotest-dirtylog-10G-4M.vhdx.bz2")
        path = self.p("dirty.vhdx")
        subprocess.run(f"bzcat '{src}' > '{path}'", shell=True, check=True)
        before = open(path, "rb").read()
        info = json.loads(self.ok("info", path, "--json").stdout)
        self.assertTrue(info["log-replayed"])
        self.assertEqual(info["blocks"]["fully_present"], 18)
        self.assertEqual(open(path, "rb").read(), before)

    def test_french(self):
        env = dict(os.environ, LC_ALL="fr_FR.UTF-8", LANGUAGE="fr")
        r = vv("info", self.p("absent.vhdx"), env=env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("impossible d’ouvrir", r.stderr.decode())
        r = vv(env=env)
        self.assertIn("Commandes", r.stderr.decode())


if __name__ == "__main__":
    taptest.main()
