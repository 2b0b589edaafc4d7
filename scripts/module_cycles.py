#!/usr/bin/env python3
"""Finds import cycles between the top-level modules of each crate.

Usage: scripts/module_cycles.py [CRATE_DIR ...]   (default: every crate)

A crate's top-level modules are the files and folders directly under its
`src/`: `src/lake.rs` and `src/traffic/` are the modules `lake` and
`traffic`. Module A depends on module B when any file of A names
`crate::B`, or a name the crate root re-exports from B (`crate::Lake`
when lib.rs has `pub use lake::Lake`). Comments, doc links and strings do
not count. `lib.rs`/`main.rs` are the crate root and are not a module. Tests
(`#[cfg(test)]` blocks to the end of a file, and `tests.rs` files) are left
out: a test may reach across layers.

Exits 1 and prints each cycle when any crate has one. This is the check
docs/ARCHITECTURE.md refers to ("no module cycle in any crate"), run by
scripts/test.sh.
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRATE_REF = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")
SUPER_REF = re.compile(r"\bsuper::([A-Za-z_][A-Za-z0-9_]*)")
# `crate::Lake`: a name the root re-exports.
CRATE_NAME = re.compile(r"\bcrate::([A-Za-z_][A-Za-z0-9_]*)")
# `pub use lake::{AnalyticsConfig, Lake};` in lib.rs.
PUB_USE = re.compile(r"\bpub use ([a-z_][a-z0-9_]*)::(\{[^}]*\}|[A-Za-z0-9_]+(?: as [A-Za-z0-9_]+)?)\s*;")
# `use crate::{a, b::c}` names several modules at once.
CRATE_GROUP = re.compile(r"\bcrate::\{([^}]*)\}", re.S)
# What is not code: raw strings, strings, char literals, comments.
LEXEMES = re.compile(
    r'\br(#*)".*?"\1'
    r'|"(?:\\.|[^"\\])*"'
    r"|'(?:\\.|[^'\\])'"
    r"|//[^\n]*"
    r"|/\*.*?\*/",
    re.S,
)


def crates():
    for entry in sorted(os.listdir(ROOT)):
        src = os.path.join(ROOT, entry, "src")
        if os.path.isfile(os.path.join(ROOT, entry, "Cargo.toml")) and os.path.isdir(src):
            yield os.path.join(ROOT, entry)
    yield ROOT


def code_of(path):
    """The file's code without comments, string literals or its test module."""
    text = open(path, encoding="utf-8").read()
    cut = re.search(r"^\s*#\[cfg\(test\)\]\s*\n\s*mod\s+\w+\s*\{", text, re.M)
    if cut:
        text = text[: cut.start()]
    # One pass, so a `//` inside a string ("s3://...") is not a comment and
    # a quote inside a comment or a char literal ('"') opens no string.
    return LEXEMES.sub(lambda m: '""' if m.group(0)[0] in 'r"' else " ", text)


def modules(src):
    for entry in sorted(os.listdir(src)):
        full = os.path.join(src, entry)
        if entry.endswith(".rs") and entry not in ("lib.rs", "main.rs"):
            yield entry[:-3], [full]
        elif os.path.isdir(full):
            files = []
            for d, _, names in os.walk(full):
                files += [os.path.join(d, n) for n in names if n.endswith(".rs") and n != "tests.rs"]
            yield entry, files


def reexports(src, mods):
    """Names the crate root re-exports (`pub use lake::{Lake, AnalyticsConfig};`),
    mapped to the module they come from, so `crate::Lake` counts as `lake`."""
    out = {}
    for root in ("lib.rs", "main.rs"):
        path = os.path.join(src, root)
        if not os.path.isfile(path):
            continue
        for module, names in PUB_USE.findall(code_of(path)):
            if module not in mods:
                continue
            for name in re.split(r"[,{}\s]+", names):
                name = name.split(" as ")[-1].split("::")[-1].strip()
                if name and name != "self":
                    out[name] = module
    return out


def graph(crate):
    src = os.path.join(crate, "src")
    mods = dict(modules(src))
    exported = reexports(src, mods)
    edges = {m: set() for m in mods}
    for m, files in mods.items():
        for f in files:
            code = code_of(f)
            names = set(CRATE_REF.findall(code)) | set(CRATE_NAME.findall(code))
            if os.path.dirname(f) == src:
                # In `src/lake.rs`, `super::` is the crate root.
                names |= set(SUPER_REF.findall(code))
            for group in CRATE_GROUP.findall(code):
                names |= {p.strip().split("::")[0] for p in group.split(",") if p.strip()}
            targets = {n if n in mods else exported.get(n) for n in names}
            edges[m] |= {n for n in targets if n and n != m}
    return edges


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main(argv):
    targets = [os.path.abspath(a) for a in argv] or list(crates())
    bad = 0
    for crate in targets:
        edges = graph(crate)
        name = os.path.relpath(crate, ROOT)
        for comp in cycles(edges):
            bad += 1
            links = ", ".join(f"{a} -> {b}" for a in comp for b in sorted(edges[a]) if b in comp)
            print(f"{name}: modules {' <-> '.join(comp)} import each other ({links})")
    if bad:
        print(f"{bad} module cycle(s); see docs/ARCHITECTURE.md for the layers")
        return 1
    print(f"no module cycles in {len(targets)} crate(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
