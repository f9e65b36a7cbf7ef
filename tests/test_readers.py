"""Files made by virt-vhdx, read by three readers nobody here wrote:
qemu-img (bases), libvhdi (pyvhdi, vhdiinfo) and 7-Zip."""

import hashlib
import os
import subprocess

import pyvhdi

import taptest

VIRT_VHDX = os.environ["VIRT_VHDX"]
MB = 1 << 20


def run(*args, stdin=None, check=True):
    return subprocess.run(args, input=stdin, capture_output=True, check=check)


def vv(*args, stdin=None):
    return run(VIRT_VHDX, *args, stdin=stdin)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def pattern(seed, n):
    out = bytearray()
    block = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


def pyvhdi_chain(*paths):
    """paths: leaf first. Returns the leaf's whole virtual disk."""
    files = []
    for p in paths:
        f = pyvhdi.file()
        f.open(p)
        files.append(f)
    for child, parent in zip(files, files[1:]):
        child.set_parent(parent)
    leaf = files[0]
    return leaf.read_buffer_at_offset(leaf.media_size, 0)


def seven_zip_extract(path, outdir):
    run("7zz", "e", "-tvhdx", "-y", f"-o{outdir}", path)
    (name,) = os.listdir(outdir)
    with open(os.path.join(outdir, name), "rb") as f:
        return f.read()


class Readers(taptest.ScratchTestCase):
    def write(self, path, offset, data):
        vv("write", path, "--offset", str(offset), stdin=data)

    def cat(self, path):
        return vv("cat", path).stdout

    def assert_7z_ok(self, path):
        r = run("7zz", "t", "-tvhdx", path, check=False)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode())
        self.assertIn(b"Everything is Ok", r.stdout)

    def assert_qemu_ok(self, path):
        r = run("qemu-img", "check", "-f", "vhdx", path, check=False)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode())
        self.assertIn(b"No errors were found", r.stdout)

    def qemu_raw(self, path):
        raw = self.p("qemu.raw")
        run("qemu-img", "convert", "-f", "vhdx", "-O", "raw", path, raw)
        with open(raw, "rb") as f:
            data = f.read()
        os.unlink(raw)
        return data

    def make_base(self, name="base.vhdx", size="48M", block="1M", fixed=False):
        path = self.p(name)
        args = ["create", path, "--size", size, "--block-size", block]
        if fixed:
            args.append("--fixed")
        vv(*args)
        self.write(path, 0, pattern(1, 3 * MB + 17))
        self.write(path, 20 * MB + 333, pattern(2, 5 * MB))
        return path

    def test_dynamic_base(self):
        base = self.make_base()
        view = self.cat(base)
        self.assertEqual(view[: 3 * MB + 17], pattern(1, 3 * MB + 17))
        self.assert_qemu_ok(base)
        self.assertEqual(sha(self.qemu_raw(base)), sha(view))
        self.assertEqual(sha(pyvhdi_chain(base)), sha(view))
        self.assert_7z_ok(base)
        self.assertEqual(sha(seven_zip_extract(base, self.p("x"))), sha(view))

    def test_fixed_base(self):
        base = self.make_base(fixed=True, size="30M", block="2M")
        view = self.cat(base)
        self.assert_qemu_ok(base)
        self.assertEqual(sha(self.qemu_raw(base)), sha(view))
        f = pyvhdi.file()
        f.open(base)
        self.assertEqual(f.disk_type, 2)
        self.assert_7z_ok(base)

    def test_differencing_chain(self):
        base = self.make_base()
        child = self.p("child.avhdx")
        grand = self.p("grand.avhdx")
        vv("create", child, "--parent", base)
        self.write(child, 1000, pattern(3, 5000))           # partial blocks
        self.write(child, 6 * MB, pattern(4, 2 * MB))        # whole block
        self.write(child, 30 * MB - 7, pattern(5, 3 * MB))   # unaligned run
        vv("create", grand, "--parent", child, "--block-size", "32M")
        self.write(grand, 4096, pattern(6, 70000))
        view = self.cat(grand)

        info = run("vhdiinfo", child).stdout.decode()
        base_info = run("vhdiinfo", base).stdout.decode()
        base_id = [l for l in base_info.splitlines() if "Identifier" in l][0]
        self.assertIn(base_id.split(":", 1)[1].strip(), info)
        self.assertIn("Differential", info)

        self.assertEqual(sha(pyvhdi_chain(grand, child, base)), sha(view))
        for f in (base, child, grand):
            self.assert_7z_ok(f)
        listing = run("7zz", "l", "-slt", "-tvhdx", grand).stdout.decode()
        self.assertIn("Volumes = 3", listing)
        self.assertEqual(sha(seven_zip_extract(grand, self.p("x"))), sha(view))

    def test_merge_result(self):
        base = self.make_base()
        child = self.p("child.avhdx")
        vv("create", child, "--parent", base)
        self.write(child, 512 * 3, pattern(7, 700))
        self.write(child, 9 * MB, pattern(8, 9 * MB))
        view = self.cat(child)
        vv("merge", child)
        self.assertFalse(os.path.exists(child))
        self.assert_qemu_ok(base)
        self.assertEqual(sha(self.qemu_raw(base)), sha(view))
        self.assertEqual(sha(pyvhdi_chain(base)), sha(view))
        self.assert_7z_ok(base)

    def test_qemu_made_parent(self):
        base = self.p("qemu.vhdx")
        run("qemu-img", "create", "-f", "vhdx", base, "24M")
        run("qemu-io", "-f", "vhdx", "-c", "write -P 0x5a 1M 3M", base)
        child = self.p("child.avhdx")
        vv("create", child, "--parent", base)
        self.write(child, 2 * MB + 100, pattern(9, 10000))
        view = self.cat(child)
        self.assertEqual(view[MB : MB + 100], b"\x5a" * 100)
        self.assertEqual(sha(pyvhdi_chain(child, base)), sha(view))
        self.assertEqual(sha(seven_zip_extract(child, self.p("x"))), sha(view))
        vv("merge", child)
        self.assert_qemu_ok(base)
        self.assertEqual(sha(self.qemu_raw(base)), sha(view))


if __name__ == "__main__":
    taptest.main()
