#!/usr/bin/env python3
"""Fails when include/charrnn.h and the @_cdecl exports in Sources/CharRNNCAPI disagree.

Every CHARRNN_API prototype must have an @_cdecl export of the same name with the same number of
parameters, each of a Swift type that maps to the C type (and the same return type), and every
@_cdecl export must be declared in the header. With --lib, `nm -D` must show exactly the header's
functions exported by the shared library (and the version node CHARRNN_<major>), each under that node.

usage: check_abi.py HEADER SWIFT_DIR [--lib libcharrnn.so]
"""

import glob
import re
import subprocess
import sys

# Swift spelling -> the C types it may stand for (after normalisation: no parameter names, single spaces).
HANDLES = {"CModel": "charrnn_model", "CSession": "charrnn_session"}


def swift_to_c(t):
    t = t.replace(" ", "")
    opt = t.endswith("?")
    if opt:
        t = t[:-1]
    simple = {
        "Void": ["void"],
        "()": ["void"],
        "Int": ["size_t"],
        "UInt": ["size_t"],
        "Int32": ["int32_t", "int"],
        "UInt32": ["uint32_t", "unsigned"],
        "Int64": ["int64_t"],
        "UInt64": ["uint64_t"],
        "Float": ["float"],
        "Double": ["double"],
        "CStatus": ["charrnn_status"],
        "UnsafeMutableRawPointer": ["void *"],
        "UnsafeRawPointer": ["const void *"],
    }
    if t in simple:
        return simple[t]
    if t in HANDLES:
        h = HANDLES[t]
        return [h + " *", "const " + h + " *"]
    if t.startswith("charrnn_") and not opt:
        return [t]  # a struct returned or passed by value
    if t.startswith("charrnn_") and t.endswith("_callback") and opt:
        return [t]
    m = re.fullmatch(r"Unsafe(Mutable)?Pointer<(.+)>", t)
    if m and opt:
        inner = m.group(2)
        const = "" if m.group(1) else "const "
        if inner == "CChar":
            return [const + "char *"]
        if inner.endswith("?") and inner[:-1] in HANDLES:
            h = HANDLES[inner[:-1]]
            # an array of handles: the pointers read-only (`charrnn_session *const *`) or written
            return [h + " * const *"] if const else [h + " **"]
        bases = swift_to_c(inner)
        if bases is None:
            return None
        if inner.endswith("?") and inner.startswith("Unsafe"):  # an array of pointers
            return [b + (" const *" if const else " *") for b in bases]
        return [const + b + " *" for b in bases]
    return None


def normalise_c(param):
    param = param.strip()
    if param == "void":
        return "void"
    array = re.search(r"\[\s*\d*\s*\]$", param)
    if array:
        param = param[: array.start()].strip()
    param = re.sub(r"\s*\*\s*", " * ", param).strip()
    tokens = param.split()
    # Drop the parameter name: the last identifier after the type (a type never ends in a name
    # when it has at least two tokens and the last is an identifier not preceded by 'const' only).
    if (
        len(tokens) >= 2
        and re.fullmatch(r"[A-Za-z_]\w*", tokens[-1])
        and tokens[-2] not in ("const", "struct", "enum", "unsigned")
    ):
        tokens = tokens[:-1]
    s = " ".join(tokens)
    if array:
        s += " *"
    return s.replace("* *", "**")


def header_prototypes(path):
    text = open(path).read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"^\s*#.*$", " ", text, flags=re.M)
    protos = {}
    for m in re.finditer(r"CHARRNN_API\s+([^;]+?)\s*\(([^;]*?)\)\s*;", text, flags=re.S):
        head, params = " ".join(m.group(1).split()), " ".join(m.group(2).split())
        name = re.search(r"(\w+)$", head).group(1)
        ret = normalise_c(head[: -len(name)])
        plist = [] if params.strip() in ("", "void") else [normalise_c(p) for p in params.split(",")]
        protos[name] = (ret, plist)
    return protos


def swift_exports(folder):
    exports = {}
    for path in sorted(glob.glob(folder + "/**/*.swift", recursive=True)):
        text = open(path).read()
        for m in re.finditer(
            r'@_cdecl\("(\w+)"\)\s*(?:public\s+)?func\s+\w+\s*\((.*?)\)\s*(?:->\s*([^{]+?))?\s*\{', text, flags=re.S
        ):
            name, params, ret = m.group(1), m.group(2), (m.group(3) or "Void").strip()
            plist = []
            depth, cur = 0, ""
            for ch in params:
                if ch in "<([":
                    depth += 1
                elif ch in ">)]":
                    depth -= 1
                if ch == "," and depth == 0:
                    plist.append(cur)
                    cur = ""
                else:
                    cur += ch
            if cur.strip():
                plist.append(cur)
            types = [p.split(":", 1)[1].strip() for p in plist]
            exports[name] = (ret, types, path)
    return exports


def main():
    args = sys.argv[1:]
    lib = None
    if "--lib" in args:
        i = args.index("--lib")
        lib = args[i + 1]
        del args[i : i + 2]
    header, swift_dir = args
    protos = header_prototypes(header)
    exports = swift_exports(swift_dir)
    errors = []
    for name, (ret, params) in sorted(protos.items()):
        if name not in exports:
            errors.append(f"{name}: declared in the header but not exported by any @_cdecl")
            continue
        sret, sparams, path = exports[name]
        options = swift_to_c(sret)
        if options is None or ret not in options:
            errors.append(f"{name}: returns {ret!r} in the header, Swift returns {sret} ({path})")
        if len(params) != len(sparams):
            errors.append(f"{name}: {len(params)} parameters in the header, {len(sparams)} in Swift ({path})")
            continue
        for i, (c, s) in enumerate(zip(params, sparams)):
            options = swift_to_c(s)
            if options is None or c not in options:
                errors.append(f"{name}: parameter {i + 1} is {c!r} in the header, Swift has {s} ({path})")
    for name in sorted(set(exports) - set(protos)):
        errors.append(f"{name}: exported by @_cdecl but not declared in the header")
    if lib:
        out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True, check=True).stdout
        # Global symbols only (nm's upper-case letters; gold leaves local ones in .dynsym), each under
        # the version node: "charrnn_version@@CHARRNN_0".
        exported = {}
        for line in out.splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[1].isupper():
                name, _, node = fields[2].partition("@@")
                exported[name] = (fields[1], node)
        major = re.search(r"#define CHARRNN_VERSION_MAJOR (\d+)", open(header).read()).group(1)
        for name in sorted(protos):
            kind, node = exported.get(name, (None, None))
            if kind != "T":
                errors.append(f"{name}: not exported by {lib} (nm -D)")
            elif node != f"CHARRNN_{major}":
                errors.append(f"{name}: exported under version node {node or '(none)'}, not CHARRNN_{major}")
        for name in sorted(set(exported) - set(protos) - {f"CHARRNN_{major}"}):
            errors.append(f"{name}: exported by {lib} but not declared in the header")
    for e in errors:
        print("ABI MISMATCH:", e)
    print(f"ABI check: {len(protos)} header functions, {len(exports)} Swift exports, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
