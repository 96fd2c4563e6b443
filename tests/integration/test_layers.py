"""tools/layers.py, which `make test` runs: the core's parts depend one way
(main -> handlers -> request/stream -> auth/bus -> store/http/wire -> base),
nothing under fcgi/ names handlers/, and a breach fails the run, whether it
is an include or a call through a declaration written by hand."""
import os
import shutil
import subprocess
import sys
import tempfile

from harness import ROOT

WEB_INDEPENDENT = True  # no server: runs the checker on copies of the tree

LAYERS = os.path.join(ROOT, "tools", "layers.py")


def _layers(root, *args):
    out = subprocess.run([sys.executable, LAYERS, "--root", root, *args], capture_output=True, text=True)
    return out.returncode, out.stdout + out.stderr


def _copy(tmp):
    """The sources the checker reads, copied to a scratch tree."""
    d = tempfile.mkdtemp(prefix="layers-", dir=tmp)
    for top in ("fcgi", "handlers", "main", "bench"):
        shutil.copytree(os.path.join(ROOT, top), os.path.join(d, top),
                        ignore=lambda _d, names: [n for n in names if not n.endswith((".c", ".h")) and
                                                  "." in n])
    return d


def _add_include(root, path, include):
    """Puts an #include line after the file's first one; its line number."""
    p = os.path.join(root, path)
    with open(p) as f:
        lines = f.read().split("\n")
    at = next(i for i, l in enumerate(lines) if l.startswith("#include")) + 1
    lines.insert(at, '#include "%s"' % include)
    with open(p, "w") as f:
        f.write("\n".join(lines))
    return at + 1


def test_the_tree_keeps_its_layers(env):
    rc, out = _layers(ROOT)
    assert rc == 0, out
    assert "every one points the allowed way" in out, out


def test_an_include_against_the_direction_fails(env):
    for path, include, why in (
            ("fcgi/stream/stream.c", "handlers/routes.h", "fcgi/stream/ may not depend on handlers/routes.h"),
            ("fcgi/base/log.c", "request/runtime.h", "fcgi/base/ may not depend on fcgi/request/runtime.h"),
            ("fcgi/store/db.c", "auth/auth.h", "fcgi/store/ may not depend on fcgi/auth/auth.h"),
            ("fcgi/request/runtime.c", "stream/stream.h", "fcgi/request/ may not depend on fcgi/stream/stream.h"),
            # a handler sees the request context, never the runtime behind it
            ("handlers/health.c", "request/runtime.h", "handlers/ may not depend on fcgi/request/runtime.h"),
            ("handlers/events.c", "wire/loop.h", "handlers/ may not depend on fcgi/wire/loop.h")):
        root = _copy(env.tmp)
        line = _add_include(root, path, include)
        rc, out = _layers(root)
        assert rc == 1, (path, include, out)
        assert '%s:%d: #include "%s"' % (path, line, include) in out and why in out, (path, include, out)


def test_an_include_that_reaches_nothing_fails(env):
    # bare "routes.h" from fcgi/ reached handlers/routes.h through -Ihandlers once
    root = _copy(env.tmp)
    line = _add_include(root, "fcgi/request/runtime.c", "routes.h")
    rc, out = _layers(root)
    assert rc == 1 and 'fcgi/request/runtime.c:%d: #include "routes.h" names no file of the tree' % line in out, out


def test_a_file_outside_the_table_fails(env):
    root = _copy(env.tmp)
    os.makedirs(os.path.join(root, "fcgi", "chat"))
    for p in ("fcgi/chat/gen.c", "fcgi/loose.c"):
        with open(os.path.join(root, p), "w") as f:
            f.write('#include "base/alloc.h"\n')
    rc, out = _layers(root)
    assert rc == 1, out
    assert "fcgi/chat/gen.c: its folder is in no part" in out and "fcgi/loose.c: in no part" in out, out


def test_a_call_against_the_direction_fails_at_link_level(env):
    """No include at all: base declares a request function by hand and
    calls it. Only the objects show it."""
    root = tempfile.mkdtemp(prefix="layers-obj-", dir=env.tmp)
    srcs = {
        "fcgi/base/probe.c": "int runtime_probe(void);\nint base_probe(void);\n"
                             "int base_probe(void) { return runtime_probe(); }\n",
        "fcgi/request/probe.c": "int runtime_probe(void);\nint runtime_probe(void) { return 1; }\n",
        "handlers/probe.c": "int base_probe(void);\nint handler_probe(void);\n"
                            "int handler_probe(void) { return base_probe(); }\n",
    }
    for path, text in srcs.items():
        os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
        with open(os.path.join(root, path), "w") as f:
            f.write(text)
        obj = os.path.join(root, "obj", path[:-2] + ".o")
        os.makedirs(os.path.dirname(obj), exist_ok=True)
        cc = subprocess.run(["cc", "-c", "-o", obj, os.path.join(root, path)], capture_output=True, text=True)
        assert cc.returncode == 0, cc.stderr
    rc, out = _layers(root)
    assert rc == 0, out  # the includes alone are clean
    rc, out = _layers(root, "--objects", os.path.join(root, "obj"))
    assert rc == 1, out
    assert "fcgi/base/probe.o uses runtime_probe, defined in fcgi/request/probe.o" in out, out
    # handlers -> base is the allowed way: not reported
    assert "handlers/probe.o" not in out, out
