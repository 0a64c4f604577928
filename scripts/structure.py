#!/usr/bin/env python3
"""Structure checks the test command runs (ARCHITECTURE.md, "Decisions"):

- no import circle between the files of a crate: a file's `use` and inline `crate::`,
  `super::` and `self::` paths are edges to the file of the module they name (a `pub use` of
  a child in a `mod.rs` is an edge to the child), and the graph must have no cycle;
- no source file over 600 lines and no function over 80 lines (outside tests: `tests.rs`,
  `*_tests.rs` and `#[cfg(test)]` modules; declarative
  tables are listed in ALLOWED_LONG below, with why).

Exits non-zero and prints what it found when a check fails. `--report` prints the graph's
largest files and functions as well.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRATES = ["proto", "store", "search", "cluster", "actors", "gateway", "node", "loadtest", "client"]
MAX_FILE_LINES = 600
MAX_FN_LINES = 80
# Functions allowed to be longer: declarative tables, each with the reason.
ALLOWED_LONG = {
    # One prepared statement per line: a table of CQL text.
    ("store", "src/cql/statements.rs", "prepare"),
}


def strip(text):
    """Removes comments, string and char literals (keeps line breaks)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    if text[i] == "\n":
                        out.append("\n")
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = text.find('"' + m.group(1), i + len(m.group(0)))
            end = n if end < 0 else end + 1 + len(m.group(1))
            out.append('""' + "\n" * text.count("\n", i, end))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'":
            m = re.match(r"'(\\.|\\u\{[0-9a-fA-F]+\}|\\x[0-9a-fA-F]{2}|[^\\'])'", text[i:])
            if m:
                out.append("' '")
                i += len(m.group(0))
            else:  # a lifetime
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def is_test_file(f):
    """A test module of its own: `tests.rs`, or `<concern>_tests.rs` beside the code."""
    return f.name == "tests.rs" or f.name.endswith("_tests.rs")


def modules(crate):
    """Module path (tuple) -> file, for every source file of the crate."""
    src = ROOT / crate / "src"
    found = {}
    for f in sorted(src.rglob("*.rs")):
        rel = f.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "mod":
            parts.pop()
        if parts in (["lib"], ["main"]):
            parts = []
        found.setdefault(tuple(parts), f)
    return found


def expand(tree):
    """Paths of a use tree: `a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    tree = re.sub(r"\s+", "", tree)
    if "{" not in tree:
        return [tree.split(" as ")[0]] if tree else []
    head, _, rest = tree.partition("{")
    inner = rest[: rest.rfind("}")]
    items, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    items.append(cur)
    out = []
    for item in items:
        for p in expand(item):
            out.append(head + p if p != "self" else head.rstrip(":"))
    return out


def paths_of(code):
    """Every module path a file names: its `use` trees and inline paths."""
    paths = []
    for m in re.finditer(r"\buse\s+([^;]+);", code):
        paths += expand(m.group(1))
    for m in re.finditer(r"\b(?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+", code):
        paths.append(m.group(0))
    return paths


def resolve(path, here, mods):
    """The module a path names, seen from module `here` (None: outside the crate)."""
    parts = path.split("::")
    if parts[0] == "crate":
        base, parts = [], parts[1:]
    elif parts[0] in ("super", "self"):
        base = list(here)
        while parts and parts[0] in ("super", "self"):
            if parts[0] == "super":
                base = base[:-1]
            parts = parts[1:]
    else:
        # `use child::Item` in a mod.rs or lib.rs: a child module of this one.
        if tuple(list(here) + [parts[0]]) in mods:
            base = list(here)
        else:
            return None
    best = tuple(base)
    for i in range(len(parts)):
        cand = tuple(base + parts[: i + 1])
        if cand in mods:
            best = cand
        else:
            break
    return best


def graph(crate):
    mods = modules(crate)
    edges = {f: set() for f in mods.values()}
    for mod, f in mods.items():
        code = strip(f.read_text())
        # Test modules may import anything they test.
        code = re.split(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", code)[0]
        if is_test_file(f) or "fuzzing" in mod:
            continue
        for p in paths_of(code):
            target = resolve(p, mod, mods)
            if target is None or target == mod:
                continue
            edges[f].add(mods[target])
    return edges


def cycles(edges):
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
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
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in edges:
        if v not in index:
            visit(v)
    return out


def long_functions(f):
    """(name, first line, length) of every function longer than MAX_FN_LINES."""
    lines = strip(f.read_text()).split("\n")
    out = []
    for i, line in enumerate(lines):
        m = re.match(r"\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+(\w+)", line)
        if not m:
            continue
        depth, started = 0, False
        for j in range(i, len(lines)):
            for ch in lines[j]:
                if ch == "{":
                    depth, started = depth + 1, True
                elif ch == "}":
                    depth -= 1
                elif ch == ";" and not started and depth == 0:
                    break  # a declaration without a body
            else:
                if started and depth == 0:
                    length = j - i + 1
                    if length > MAX_FN_LINES:
                        out.append((m.group(1), i + 1, length))
                    break
                continue
            break
    return out


def main():
    report = "--report" in sys.argv
    failed = False
    for crate in CRATES:
        if not (ROOT / crate / "src").exists():
            continue
        edges = graph(crate)
        for comp in cycles(edges):
            failed = True
            names = sorted(str(f.relative_to(ROOT)) for f in comp)
            print(f"{crate}: import circle between {', '.join(names)}")
        for f in edges:
            rel = f.relative_to(ROOT / crate)
            if is_test_file(f) or "tests" in rel.parts:
                continue
            n = len(f.read_text().split("\n")) - 1
            if n > MAX_FILE_LINES:
                failed = True
                print(f"{crate}/{rel}: {n} lines (at most {MAX_FILE_LINES})")
            for name, line, length in long_functions(f):
                if (crate, str(rel), name) in ALLOWED_LONG:
                    continue
                failed = True
                print(f"{crate}/{rel}:{line}: fn {name} is {length} lines (at most {MAX_FN_LINES})")
        if report:
            for f, out in sorted(edges.items()):
                print(f"  {f.relative_to(ROOT)} -> {sorted(str(t.relative_to(ROOT)) for t in out)}")
    web = ROOT / "web" / "js"
    sdk = ROOT / "sdk" / "js" / "src"
    scripts = sorted(web.glob("*.js")) if web.exists() else []
    # The SDK's own sources; its generated frame types are protoc's, not ours to split.
    scripts += [f for f in sorted(sdk.rglob("*.ts")) if "gen" not in f.relative_to(sdk).parts]
    for f in scripts:
        n = len(f.read_text().split("\n")) - 1
        if n > MAX_FILE_LINES:
            failed = True
            print(f"{f.relative_to(ROOT)}: {n} lines (at most {MAX_FILE_LINES})")
    if failed:
        sys.exit(1)
    print("structure: no import circles, no file or function over its limit")


if __name__ == "__main__":
    main()
