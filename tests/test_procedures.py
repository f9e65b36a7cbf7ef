"""The procedure table virthypervd serves is the one the annotations of
src/hvd_protocol.x describe (gen-dispatch.py makes it at build time):
every procedure is served, a write procedure is refused on the read-only
socket and a read one is not, and only the procedures marked
@before-open answer before CONNECT_OPEN. Each call carries well-formed
arguments made from the .x file's own structs (zeros, empty strings, no
domain), so what is checked is the table, not a handler."""

import importlib.util
import os
import re
import struct
import tempfile
import unittest

import libvirt

import rpc_raw
import taptest
from hvd_env import DaemonSession

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
X_FILE = os.path.join(SRC, "hvd_protocol.x")


def load_generator():
    spec = importlib.util.spec_from_file_location(
        "gen_dispatch", os.path.join(SRC, "gen-dispatch.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Xdr:
    """Zero values of the .x file's types, XDR-encoded."""
    SIZES = {"int": 4, "unsigned": 4, "unsigned int": 4, "hyper": 8,
             "unsigned hyper": 8, "double": 8, "unsigned short": 4,
             "unsigned char": 4, "char": 4}

    def __init__(self, path):
        with open(path) as f:
            text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
        self.consts = dict(re.findall(r"const (\w+) = (\w+);", text))
        self.structs = {n: b for n, b in
                        re.findall(r"struct (\w+) \{(.*?)\};", text, re.S)}
        self.enums = set(re.findall(r"enum (\w+) \{", text))
        self.typedefs = {}
        for decl in re.findall(r"typedef ([^;]+);", text):
            self.typedefs[self.declared_name(decl)] = decl

    @staticmethod
    def declared_name(decl):
        return re.search(r"(\w+)\s*(<[^>]*>|\[[^\]]*\])?\s*$", decl).group(1)

    def number(self, n):
        return int(self.consts.get(n, n), 0)

    def zero_decl(self, decl):
        """A field or typedef declaration: TYPE [*]NAME[<N>|[N]]"""
        m = re.match(r"\s*(.*?)\s*(\*?)\s*(\w+)\s*(<[^>]*>|\[([^\]]*)\])?\s*$",
                     decl)
        typ, star, _, dim, fixed = m.groups()
        if star:
            return struct.pack(">I", 0)          # optional: absent
        if typ in ("string", "opaque") and dim and dim.startswith("<"):
            return struct.pack(">I", 0)          # empty
        if typ == "opaque" and fixed:
            n = self.number(fixed)
            return b"\0" * (n + (-n % 4))
        if dim and dim.startswith("<"):
            return struct.pack(">I", 0)          # empty array
        if fixed:
            return self.zero(typ) * self.number(fixed)
        return self.zero(typ)

    def zero(self, typ):
        if typ in self.SIZES:
            return b"\0" * self.SIZES[typ]
        if typ in self.enums:
            return b"\0" * 4
        if typ in self.typedefs:
            return self.zero_decl(self.typedefs[typ])
        if typ in self.structs:
            fields = [f for f in self.structs[typ].split(";") if f.strip()]
            return b"".join(self.zero_decl(f) for f in fields)
        raise KeyError(typ)


# what libvirt's read-only connections may not do, by the verb in the
# procedure's name (libvirt.c checks each of these APIs for read-only)
WRITE_VERBS = {"CREATE", "DESTROY", "SHUTDOWN", "SUSPEND", "RESUME",
               "REVERT", "DELETE", "REMOVE", "DEFINE", "UNDEFINE", "SET",
               "ABORT", "BEGIN"}


def error_code(payload):
    return struct.unpack(">i", payload[:4])[0]


class Generator(unittest.TestCase):
    """gen-dispatch.py refuses annotations it cannot make a table of."""

    def check(self, enum_body, expect):
        gen = load_generator()
        with tempfile.NamedTemporaryFile("w", suffix=".x") as f:
            f.write("enum hvd_procedure {\n" + enum_body + "\n};\n")
            f.flush()
            with self.assertRaises(gen.Error) as e:
                gen.generate(gen.procedures(f.name))
        self.assertIn(expect, str(e.exception))

    def test_errors(self):
        self.check("HVD_PROC_A = 1", "has no annotation")
        self.check("/* @args none @ret none */ HVD_PROC_A = 1",
                   "has no @handler")
        self.check("/* @args none @ret none @handler a @sometimes */ "
                   "HVD_PROC_A = 1", "unknown annotation @sometimes")
        self.check("/* @args none @ret none @handler a */ HVD_PROC_A = 1,\n"
                   "/* @args none @ret none @handler b */ HVD_PROC_B = 1",
                   "are both 1")
        self.check("/* @args none @ret none @handler a @call f(uuid) -> "
                   "bool */ HVD_PROC_A = 1", "needs @ret hvd_int_ret")
        self.check("/* @args none @ret none @handler a @call f(domain) */ "
                   "HVD_PROC_A = 1", "@call argument not one of")


class Procedures(DaemonSession):
    def setUp(self):
        super().setUp()
        self.procs = [p for p in load_generator().procedures(X_FILE)
                      if "event" not in p]
        self.xdr = Xdr(X_FILE)

    def args(self, p):
        return self.xdr.zero(p["args"]) if p["args"] else b""

    def call_all(self, socket_path, opened):
        """{name: (status, code or None, message)} of every procedure"""
        out = {}
        for p in self.procs:
            if p["name"] in ("HVD_PROC_CONNECT_OPEN",
                             "HVD_PROC_CONNECT_CLOSE"):
                continue
            c = rpc_raw.RawClient(socket_path)
            if opened:
                c.open()
            status, payload = c.call(p["number"], self.args(p))[2:]
            out[p["name"]] = ((status, error_code(payload),
                               rpc_raw.error_message(payload))
                              if status else (status, None, None))
            c.close()
        return out

    def test_writes_are_annotated(self):
        # independent of the annotations: the verbs that change a domain
        for p in self.procs:
            verb = bool(WRITE_VERBS & set(p["name"].split("_")))
            self.assertEqual(p["writes"], verb, p["name"])

    def test_table_is_the_annotations(self):
        # every annotated procedure is in the table: none answers
        # "unknown procedure", and the arguments the .x describes decode
        for name, (status, code, message) in self.call_all(
                self.sock, True).items():
            if status:
                self.assertNotIn("unknown procedure", message, name)
                self.assertNotIn("cannot decode", message, name)

    def test_read_only_socket(self):
        got = self.call_all(self.sock + "-ro", True)
        writes = {p["name"] for p in self.procs if p["writes"]}
        self.assertTrue(writes)
        for name, (status, code, message) in got.items():
            if name in writes:
                self.assertEqual((status, code),
                                 (1, libvirt.VIR_ERR_OPERATION_DENIED),
                                 f"{name}: {message}")
            else:
                self.assertNotEqual(code, libvirt.VIR_ERR_OPERATION_DENIED,
                                    f"{name}: {message}")

    def test_before_open(self):
        got = self.call_all(self.sock, False)
        early = {p["name"] for p in self.procs if p["before_open"]}
        self.assertIn("HVD_PROC_AUTH_LIST", early)
        for name, (status, code, message) in got.items():
            if name in early:
                self.assertEqual(status, 0, f"{name}: {message}")
            else:
                self.assertEqual((code, message),
                                 (libvirt.VIR_ERR_RPC, "connection not open"),
                                 name)


if __name__ == "__main__":
    taptest.main()
