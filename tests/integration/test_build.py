"""The build (build.mk): the programs `make` produces carry the hardening a
deployment checks for, and the SANITIZER switch builds a ThreadSanitizer
tree that runs."""
import os
import subprocess

from harness import ROOT

WEB_INDEPENDENT = True  # no server: reads and builds binaries
SERIAL = True  # runs alone: it runs make in the tree (tests/run.py)

PROGRAMS = ("pulse-api", "pulse-batch", "pulse-stream", "pulse-token")


def _out(*cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, (cmd, r.stderr)
    return r.stdout


def test_the_release_programs_are_hardened(env):
    """What checksec reports, read with binutils: PIE, full RELRO, stack
    canaries, fortified libc calls."""
    r = subprocess.run(["make", "--no-print-directory", "all"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    for name in PROGRAMS:
        b = os.path.join(ROOT, "build", "bin", name)
        assert "Type:                              DYN" in _out("readelf", "-hW", b), name  # PIE
        assert "GNU_RELRO" in _out("readelf", "-lW", b), name
        dyn = _out("readelf", "-dW", b)
        assert "BIND_NOW" in dyn or "FLAGS_1" in dyn and " NOW" in dyn, (name, dyn)
        syms = _out("nm", "-D", b)
        assert "__stack_chk_fail" in syms, name
        assert "_chk@" in syms.replace("__stack_chk_fail@", ""), name  # _FORTIFY_SOURCE's checked calls


def test_a_thread_sanitizer_build_builds_and_runs(env):
    build = os.path.join(env.tmp, "tsan")
    r = subprocess.run(["make", "--no-print-directory", "SANITIZER=thread", "BUILD=" + build, "all"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for name in PROGRAMS:
        assert "__tsan_init" in _out("nm", os.path.join(build, "bin", name)), name
    tok = subprocess.run([os.path.join(build, "bin", "pulse-token"), "u1", "viewer"],
                         env={"PULSE_JWT_SECRET": "tsan-secret"}, capture_output=True, text=True)
    assert tok.returncode == 0 and tok.stdout.count(".") == 2, (tok.stdout, tok.stderr)
