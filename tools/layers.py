#!/usr/bin/env python3
"""layers.py - fails when a source file depends on a part it may not.

  python3 tools/layers.py [--root DIR] [--objects OBJDIR]

The core's parts and the one direction they depend in (README.md,
"Architecture"):

    main/, bench/  ->  handlers/  ->  fcgi/request/, fcgi/stream/
      ->  fcgi/auth/, fcgi/bus/, fcgi/llm/  ->  fcgi/store/, fcgi/http/, fcgi/wire/,
      fcgi/out/ (outbound HTTP, on wire/'s loop)
      ->  fcgi/base/

Two checks, against the table below:
  - every quoted #include of fcgi/, handlers/, main/ and bench/, resolved
    as the compiler resolves it (the includer's folder, then -Ibuild/gen
    -Ifcgi -I.), must land in the includer's own part or in one the table
    allows; an include that lands nowhere in the tree is an error too
    (generated headers aside);
  - with --objects (the build's object folder, which mirrors the sources'
    paths): every symbol an object uses that another part's object defines
    must come from an allowed part, so a call made through a declaration
    written by hand is caught as surely as an include.
Tests (tests/) include what they test, statics and all: they are no part.
Exit status 1 and one line per breach, 0 and a summary otherwise.
"""
import argparse
import os
import re
import subprocess
import sys

BASE = ["fcgi/base/"]
LOW = ["fcgi/store/", "fcgi/http/", "fcgi/wire/", "fcgi/out/"] + BASE
MIDDLE = ["fcgi/auth/", "fcgi/bus/", "fcgi/llm/"] + LOW
CORE = ["fcgi/request/", "fcgi/stream/"] + MIDDLE

# part (a folder) -> what its files may include besides their own part. An
# entry is a folder, or one file: a handler sees the request context
# (handler.h) and not the runtime behind it; at link time the file's folder
# counts (the runtime defines the context's health hook).
ALLOWED = {
    "fcgi/base/": [],
    "fcgi/store/": BASE,
    "fcgi/http/": BASE,
    "fcgi/wire/": BASE,
    "fcgi/out/": ["fcgi/wire/"] + BASE,
    "fcgi/auth/": ["fcgi/store/", "fcgi/http/"] + BASE,
    "fcgi/bus/": LOW,
    "fcgi/llm/": LOW,
    "fcgi/request/": MIDDLE,
    "fcgi/stream/": MIDDLE,
    # A handler may make one outbound call and wait for it (fetch.h: PayOS's
    # payment link while the payer waits); the loop's client is not its.
    "handlers/": ["fcgi/request/handler.h", "fcgi/out/fetch.h", "fcgi/auth/", "fcgi/store/", "fcgi/http/"] + BASE,
    "main/": ["handlers/"] + CORE,
    "bench/": ["handlers/"] + CORE,
}
# Where quoted includes are looked for after the includer's folder (the
# build's -I order), and the generated headers that are found there.
INCLUDE_PATH = ["build/gen/", "fcgi/", ""]
GENERATED = {"sql_gen.h"}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def part_of(path):
    """The table's part that holds path, or None."""
    for part in ALLOWED:
        if path.startswith(part):
            return part
    return None


def sources(root):
    for top in sorted({p.split("/")[0] for p in ALLOWED}):
        for d, dirs, files in os.walk(os.path.join(root, top)):
            dirs.sort()
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(d, f), root)


def resolve(root, includer, name):
    """The tree path an #include "name" of includer reaches, or None."""
    for d in [os.path.dirname(includer) + "/"] + INCLUDE_PATH:
        cand = os.path.normpath(os.path.join(d, name))
        if os.path.isfile(os.path.join(root, cand)):
            return cand
    return None


def allowed(part, target, by_folder=False):
    if target.startswith(part):
        return True
    for a in ALLOWED[part]:
        if by_folder and not a.endswith("/"):
            a = os.path.dirname(a) + "/"
        if target.startswith(a):
            return True
    return False


def check_includes(root):
    breaches, n = [], 0
    for path in sources(root):
        part = part_of(path)
        if path.startswith("fcgi/") and path.count("/") < 2:
            breaches.append("%s: in no part (fcgi/ holds only the folders of the table in tools/layers.py)" % path)
            continue
        if path.startswith("fcgi/") and part is None:
            breaches.append("%s: its folder is in no part: add it to the table in tools/layers.py" % path)
            continue
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            text = f.read()
        for m in INCLUDE.finditer(text):
            n += 1
            line = text.count("\n", 0, m.start()) + 1
            target = resolve(root, path, m.group(1))
            if target is None:
                if os.path.basename(m.group(1)) not in GENERATED:
                    breaches.append('%s:%d: #include "%s" names no file of the tree' % (path, line, m.group(1)))
            elif part_of(target) is None and not target.startswith("build/gen/"):
                breaches.append('%s:%d: #include "%s" reaches %s, which is in no part' % (path, line, m.group(1), target))
            elif part_of(target) is not None and not allowed(part, target):
                breaches.append('%s:%d: #include "%s": %s may not depend on %s' %
                                (path, line, m.group(1), part, target))
    return breaches, n


def nm(obj, *flags):
    out = subprocess.run(["nm", "-P", *flags, obj], capture_output=True, text=True, check=True).stdout
    return [l.split()[0] for l in out.splitlines() if l.strip()]


def check_objects(root, objdir):
    """obj/<source path>.o: the part of an object is the part of its source."""
    objs = {}
    for d, _, files in os.walk(objdir):
        for f in files:
            if f.endswith(".o"):
                rel = os.path.relpath(os.path.join(d, f), objdir)
                part = part_of(rel)
                if part is not None:
                    objs[os.path.join(d, f)] = (rel, part)
    defined = {}
    for obj, (rel, part) in objs.items():
        for s in nm(obj, "-g", "--defined-only"):
            defined.setdefault(s, []).append((rel, part))
    breaches, n = [], 0
    for obj, (rel, part) in sorted(objs.items()):
        for s in nm(obj, "-u"):
            for drel, dpart in defined.get(s, []):
                if dpart == part:
                    continue
                n += 1
                if not allowed(part, drel, by_folder=True):
                    breaches.append("%s uses %s, defined in %s: %s may not depend on %s" %
                                    (rel, s, drel, part, dpart))
    return breaches, n, len(objs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--objects", help="the build's object folder (obj/ under BUILD)")
    args = ap.parse_args()
    breaches, n = check_includes(args.root)
    summary = "layers: %d includes" % n
    if args.objects:
        b, links, nobjs = check_objects(args.root, args.objects)
        if nobjs == 0:
            b.append("%s: no objects of the parts in it (build first)" % args.objects)
        breaches += b
        summary += ", %d links between parts in %d objects" % (links, nobjs)
    for b in breaches:
        print("layers: " + b)
    if breaches:
        print("layers: %d breach(es) of the dependency table in tools/layers.py" % len(breaches))
        return 1
    print(summary + ": every one points the allowed way")
    return 0


if __name__ == "__main__":
    sys.exit(main())
