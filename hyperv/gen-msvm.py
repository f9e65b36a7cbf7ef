#!/usr/bin/python3
"""Generates the typed Msvm_* structs and the class tables from msvm.schema.

usage: gen-msvm.py SCHEMA OUT.h OUT.c

Each class becomes a struct (inherited properties first, as WMI lists them)
and a WmiClassDef whose property table, with each field's offset, drives
the generic parse and free functions of wmi-schema.c; hypervsim serves the
same tables. Each value map becomes constants and a name table; each association a
WmiAssocDef naming its two ends, for the client's ASSOCIATORS OF queries
and hypervsim's answers to them."""

import re
import sys

C_TYPES = {
    "string": ("char *", "char **"),
    "boolean": ("gboolean ", "GArray *"),
    "uint8": ("guint8 ", "GArray *"),
    "uint16": ("guint16 ", "GArray *"),
    "uint32": ("guint32 ", "GArray *"),
    "uint64": ("guint64 ", "GArray *"),
    "sint32": ("gint32 ", "GArray *"),
    "datetime": ("GDateTime *", "GPtrArray *"),
    "interval": ("GTimeSpan ", "GArray *"),
    "ref": ("WmiEpr *", "GPtrArray *"),
}


def fail(lineno, msg):
    sys.exit(f"msvm.schema:{lineno}: {msg}")


def parse(path):
    classes, maps, order = {}, {}, []
    cur = None
    for lineno, raw in enumerate(open(path), 1):
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not line[0].isspace():
            words = line.split()
            if words[0] == "association":
                if len(words) != 2:
                    fail(lineno, "bad association line")
                cur = {"kind": "class", "name": words[1], "parent": None,
                       "props": [], "methods": [], "ends": []}
                classes[words[1]] = cur
                order.append(words[1])
            elif words[0] == "class":
                m = re.match(r"class (\w+)(?: : (\w+))?$", line)
                if not m:
                    fail(lineno, "bad class line")
                name, parent = m.groups()
                if parent and parent not in classes:
                    fail(lineno, f"unknown parent {parent}")
                cur = {"kind": "class", "name": name, "parent": parent,
                       "props": [], "methods": [], "ends": None}
                classes[name] = cur
                order.append(name)
            elif words[0] == "valuemap":
                if len(words) != 3 or words[2] not in C_TYPES:
                    fail(lineno, "bad valuemap line")
                cur = {"kind": "map", "name": words[1], "type": words[2],
                       "entries": []}
                maps[words[1]] = cur
            else:
                fail(lineno, f"unknown keyword {words[0]}")
            continue
        if cur is None:
            fail(lineno, "indented line outside a class or value map")
        body = line.strip()
        if cur["kind"] == "map":
            value, symbol, text = body.split(None, 2)
            cur["entries"].append((value, symbol, text))
        elif body.startswith("method "):
            m = re.match(r"method (\w+)\((.*)\)$", body)
            if not m:
                fail(lineno, "bad method line")
            params = []
            for p in filter(None, (x.strip() for x in m.group(2).split(","))):
                pm = re.match(r"(in|out|inout) (\w+)(\[\])? (\w+)$", p)
                if not pm or pm.group(2) not in C_TYPES:
                    fail(lineno, f"bad parameter '{p}'")
                params.append((pm.group(1), pm.group(2), bool(pm.group(3)),
                               pm.group(4)))
            cur["methods"].append((m.group(1), params))
        elif cur["ends"] is not None and len(cur["props"]) < 2:
            m = re.match(r"ref (\w+) (\w+)$", body)
            if not m:
                fail(lineno, "an association starts with its two ends: "
                     "ref ROLE CLASS")
            cur["ends"].append((m.group(1), m.group(2), lineno))
            cur["props"].append((False, "ref", False, m.group(1)))
        else:
            m = re.match(r"(key )?(\w+)(\[\])? (\w+)$", body)
            if not m or m.group(2) not in C_TYPES:
                fail(lineno, f"bad property '{body}'")
            cur["props"].append((bool(m.group(1)), m.group(2),
                                 bool(m.group(3)), m.group(4)))
    for name in order:
        for role, end, lineno in classes[name]["ends"] or []:
            if end not in classes:
                fail(lineno, f"unknown class {end} at end {role}")
        if classes[name]["ends"] is not None and len(classes[name]["ends"]) != 2:
            sys.exit(f"msvm.schema: association {name} needs two ends")
    return classes, order, maps


def all_props(classes, name):
    c = classes[name]
    inherited = all_props(classes, c["parent"]) if c["parent"] else []
    own = [p[3] for p in c["props"]]
    return [p for p in inherited if p[3] not in own] + c["props"]


def all_methods(classes, name):
    c = classes[name]
    inherited = all_methods(classes, c["parent"]) if c["parent"] else []
    own = [m[0] for m in c["methods"]]
    return [m for m in inherited if m[0] not in own] + c["methods"]


def upper(name):
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


def main():
    schema, out_h, out_c = sys.argv[1:4]
    classes, order, maps = parse(schema)
    h = ["/* Generated by hyperv/gen-msvm.py from hyperv/msvm.schema. */",
         "", "#pragma once", "", '#include "wmi-schema.h"', "",
         "G_BEGIN_DECLS", ""]
    c = ["/* Generated by hyperv/gen-msvm.py from hyperv/msvm.schema. */",
         "", '#include "config.h"', "", "#include <stddef.h>", "",
         '#include "msvm-classes.h"', ""]

    for name in order:
        props = all_props(classes, name)
        h.append("typedef struct {")
        h.append("    const WmiClassDef *klass;")
        h.append("    WmiObject *object; /* what the host sent */")
        h.append("    guint64 given; /* to send: bit i for property i */")
        if len(props) > 64:
            sys.exit(f"msvm.schema: {name} has more than 64 properties")
        for key, typ, arr, pname in props:
            ctype = C_TYPES[typ][1 if arr else 0]
            h.append(f"    {ctype}{pname};")
        h.append(f"}} {name};")
        h.append(f"extern const WmiClassDef {name}_class;")
        h.append(f"G_DEFINE_AUTOPTR_CLEANUP_FUNC({name}, wmi_typed_free)")
        h.append("")

        c.append(f"static const WmiPropertyDef {name}_props[] = {{")
        for key, typ, arr, pname in props:
            c.append(f'    {{ "{pname}", WMI_TYPE_{typ.upper()}, '
                     f'{"TRUE" if arr else "FALSE"}, '
                     f'{"TRUE" if key else "FALSE"}, '
                     f"offsetof({name}, {pname}) }},")
        c.append("};")
        methods = all_methods(classes, name)
        for mname, params in methods:
            c.append(f"static const WmiParamDef {name}_{mname}_params[] = {{")
            for d, typ, arr, pname in params:
                c.append(f'    {{ "{pname}", WMI_TYPE_{typ.upper()}, '
                         f'{"TRUE" if arr else "FALSE"}, '
                         f"WMI_PARAM_{d.upper()} }},")
            if not params:
                c.append('    { NULL, WMI_TYPE_STRING, FALSE, WMI_PARAM_IN },')
            c.append("};")
        if methods:
            c.append(f"static const WmiMethodDef {name}_methods[] = {{")
            for mname, params in methods:
                c.append(f'    {{ "{mname}", {name}_{mname}_params, '
                         f"{len(params)} }},")
            c.append("};")
        parent = f"&{classes[name]['parent']}_class" if classes[name]["parent"] else "NULL"
        c.append(f"const WmiClassDef {name}_class = {{")
        c.append(f'    "{name}", {parent}, {name}_props, '
                 f"G_N_ELEMENTS({name}_props),")
        c.append(f"    {name + '_methods' if methods else 'NULL'}, "
                 f"{len(methods)}, sizeof({name}),")
        c.append("};")
        c.append("")

    assocs = [n for n in order if classes[n]["ends"] is not None]
    for name in assocs:
        (r1, c1, _), (r2, c2, _) = classes[name]["ends"]
        h.append(f"extern const WmiAssocDef {name}_assoc;")
        c.append(f"const WmiAssocDef {name}_assoc = {{")
        c.append(f'    &{name}_class, {{ {{ "{r1}", &{c1}_class }}, '
                 f'{{ "{r2}", &{c2}_class }} }},')
        c.append("};")
    h.append("extern const WmiAssocDef *const msvm_associations[];")
    h.append("")
    c.append("const WmiAssocDef *const msvm_associations[] = {")
    for name in assocs:
        c.append(f"    &{name}_assoc,")
    c.append("    NULL,")
    c.append("};")
    c.append("")

    c.append("const WmiClassDef *const msvm_classes[] = {")
    for name in order:
        c.append(f"    &{name}_class,")
    c.append("    NULL,")
    c.append("};")
    c.append("")
    h.append("extern const WmiClassDef *const msvm_classes[];")
    h.append("")

    for mname, m in maps.items():
        prefix = f"MSVM_{upper(mname)}"
        if m["type"] == "string":
            for value, symbol, text in m["entries"]:
                h.append(f'#define {prefix}_{symbol} "{value}"')
        else:
            h.append("enum {")
            for value, symbol, text in m["entries"]:
                h.append(f"    {prefix}_{symbol} = {value},")
            h.append("};")
        h.append(f"extern const WmiValueMap msvm_valuemap_{mname};")
        h.append("")
        c.append(f"static const WmiValueMapEntry {mname}_entries[] = {{")
        for value, symbol, text in m["entries"]:
            num = "0" if m["type"] == "string" else value
            sval = f'"{value}"' if m["type"] == "string" else "NULL"
            c.append(f'    {{ {num}, {sval}, "{symbol}", "{text}" }},')
        c.append("};")
        c.append(f"const WmiValueMap msvm_valuemap_{mname} = {{")
        c.append(f'    "{mname}", {mname}_entries, G_N_ELEMENTS({mname}_entries),')
        c.append("};")
        c.append("")

    h.append("G_END_DECLS")
    open(out_h, "w").write("\n".join(h) + "\n")
    open(out_c, "w").write("\n".join(c) + "\n")


if __name__ == "__main__":
    main()
