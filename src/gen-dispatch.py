#!/usr/bin/env python3
"""Makes virthypervd's procedure table from the annotations of the
procedure enum in hvd_protocol.x (the comment before each procedure; the
keys are described there). The table comes out sorted by procedure
number, so the server's binary search is right by construction, and each
handler is declared, so that a name in the annotations without its
function, or with another signature, does not build.

    gen-dispatch.py hvd_protocol.x hvd-dispatch-table.h

Imported, procedures(path) gives the parsed annotations (tests use it)."""

import re
import sys

KEYS = {"args", "ret", "handler", "event"}
FLAGS = {"writes", "before-open"}


class Error(Exception):
    pass


def procedures(path):
    """[{name, number, args, ret, handler, writes, before_open, event}]"""
    with open(path) as f:
        text = f.read()
    m = re.search(r"enum hvd_procedure \{(.*?)\};", text, re.S)
    if not m:
        raise Error(f"{path}: no enum hvd_procedure")
    out = []
    pending = None
    for piece in re.finditer(r"/\*(.*?)\*/|(HVD_PROC_\w+)\s*=\s*(\d+)",
                             m.group(1), re.S):
        if piece.group(1) is not None:
            pending = piece.group(1)
            continue
        name, number = piece.group(2), int(piece.group(3))
        if pending is None:
            raise Error(f"{path}: {name} has no annotation")
        words = pending.replace("*", " ").split()
        pending = None
        proc = {"name": name, "number": number, "writes": False,
                "before_open": False}
        i = 0
        while i < len(words):
            w = words[i]
            if not w.startswith("@"):
                raise Error(f"{path}: {name}: '{w}' is not an annotation")
            key = w[1:]
            if key in FLAGS:
                proc[key.replace("-", "_")] = True
                i += 1
            elif key in KEYS and i + 1 < len(words):
                proc[key] = None if words[i + 1] == "none" else words[i + 1]
                i += 2
            else:
                raise Error(f"{path}: {name}: unknown annotation {w}")
        if "event" not in proc:
            for key in ("args", "ret", "handler"):
                if key not in proc:
                    raise Error(f"{path}: {name} has no @{key}")
        out.append(proc)
    numbers = {}
    for p in out:
        if p["number"] in numbers:
            raise Error(f"{path}: {p['name']} and {numbers[p['number']]} "
                        f"are both {p['number']}")
        numbers[p["number"]] = p["name"]
    return sorted(out, key=lambda p: p["number"])


def xdr(t):
    return f"(xdrproc_t) xdr_{t}, sizeof({t})" if t else "NULL, 0"


def generate(procs):
    calls = [p for p in procs if "event" not in p]
    lines = ["/* Made by gen-dispatch.py from hvd_protocol.x: do not edit. */",
             ""]
    for h in sorted({p["handler"] for p in calls}):
        lines.append(f"static gboolean {h}(HvdCall *call, gpointer args, "
                     "gpointer ret);")
    lines += ["", "static const HvdProcedure procedures[] = {"]
    for p in calls:
        lines.append(f"    {{ {p['name']}, {xdr(p['args'])}, {xdr(p['ret'])}, "
                     f"{p['handler']}, {'TRUE' if p['writes'] else 'FALSE'}, "
                     f"{'TRUE' if p['before_open'] else 'FALSE'} }},")
    lines += ["};", ""]
    return "\n".join(lines)


def main():
    try:
        text = generate(procedures(sys.argv[1]))
    except Error as e:
        sys.exit(f"gen-dispatch.py: {e}")
    with open(sys.argv[2], "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
