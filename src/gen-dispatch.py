#!/usr/bin/env python3
"""Makes virthypervd's procedure table from the annotations of the
procedure enum in hvd_protocol.x (the comment before each procedure; the
keys are described there). The table comes out sorted by procedure
number, so the server's binary search is right by construction, and each
handler is declared, so that a name in the annotations without its
function, or with another signature, does not build.

    gen-dispatch.py hvd_protocol.x hvd-dispatch-table.h

Procedures whose handler has the uniform shape (decode the handle, call
the driver, encode the reply or the error) say so with @call, and their
handler is written here too: "-> bool" and "-> int" return the driver's
out value in an hvd_int_ret, "-> string(FIELD)" the string the driver
returns in the reply's FIELD.

Imported, procedures(path) gives the parsed annotations (tests use it)."""

import re
import sys

KEYS = {"args", "ret", "handler", "event", "call"}
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
        # "@call FN(a, b) -> bool" is one value
        pending = re.sub(r"@call\s+([^@]*?)\s*(?=@|$)",
                         lambda c: "@call " + re.sub(r"\s+", "", c.group(1)),
                         pending.replace("*", " ").strip())
        words = pending.split()
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


# the words of a @call's arguments
CALL_ARGS = {
    "uuid": "UUID(args)",
    "snap": "SNAP_UUID(args), args->snap.name",
    "flags": "args->flags",
}


def handler_body(p):
    """A handler of the uniform shape: the driver's function FN takes the
    driver, the arguments named in @call, [an out value,] and a GError;
    "-> bool" or "-> int" puts the out value in the hvd_int_ret reply."""
    m = re.fullmatch(r"(\w+)\(([\w,]*)\)(?:->(bool|int|string\((\w+)\)))?",
                     p["call"])
    if not m:
        raise Error(f"{p['name']}: @call {p['call']} is not FN(ARGS) "
                    "[-> bool|int|string(FIELD)]")
    fn, words, out, field = m.group(1), \
        [w for w in m.group(2).split(",") if w], m.group(3), m.group(4)
    try:
        args = [CALL_ARGS.get(w) or str(int(w)) for w in words]
    except ValueError:
        raise Error(f"{p['name']}: @call argument not one of "
                    f"{', '.join(CALL_ARGS)} or a number")
    if out in ("bool", "int") and p["ret"] != "hvd_int_ret":
        raise Error(f"{p['name']}: -> {out} needs @ret hvd_int_ret")
    if field and not p["ret"]:
        raise Error(f"{p['name']}: -> {out} needs a @ret")
    if not out and p["ret"]:
        raise Error(f"{p['name']}: a @call without -> has no reply")
    typ = p["args"]
    lines = [f"static gboolean",
             f"{p['handler']}(HvdCall *call, gpointer a, gpointer r)",
             "{"]
    if typ and any(w in CALL_ARGS for w in words):
        lines.append(f"    {typ} *args = a;")
    lines.append("    GError *err = NULL;")
    call = ", ".join(["driver_of(call)"] + args)
    if field:
        # the driver's string, copied into rpcgen's malloc'd reply
        lines += [f"    g_autofree char *value = {fn}({call}, &err);", "",
                  "    if (!value)", "        return fail(call, err);",
                  f"    (({p['ret']} *) r)->{field} = strdup(value);",
                  "    return TRUE;", "}", ""]
    elif out:
        ctype = "gboolean" if out == "bool" else "int"
        lines += [f"    {ctype} value;", "",
                  f"    if (!{fn}({call}, &value, &err))",
                  "        return fail(call, err);",
                  "    ((hvd_int_ret *) r)->value = value;",
                  "    return TRUE;", "}", ""]
    else:
        lines += ["", f"    return {fn}({call}, &err) || fail(call, err);",
                  "}", ""]
    return lines


def xdr(t):
    return f"(xdrproc_t) xdr_{t}, sizeof({t})" if t else "NULL, 0"


def generate(procs):
    calls = [p for p in procs if "event" not in p]
    lines = ["/* Made by gen-dispatch.py from hvd_protocol.x: do not edit. */",
             ""]
    for h in sorted({p["handler"] for p in calls if "call" not in p}):
        lines.append(f"static gboolean {h}(HvdCall *call, gpointer args, "
                     "gpointer ret);")
    lines.append("")
    for p in calls:
        if "call" in p:
            lines += handler_body(p)
    lines += ["static const HvdProcedure procedures[] = {"]
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
