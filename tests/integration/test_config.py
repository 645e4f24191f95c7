#!/usr/bin/env python3
"""Integration tests of hostile configurations: control signals that would
change how a program dies, OMNIPROF_CONFIG naming something that is not a
file, and `omniprof run -o DIR` with names that hold any byte but NUL.
Programs run under the preload against the fake CUDA driver (helpers.py)."""
import os
import re
import resource
import signal
import socket
import subprocess
import time
import unittest

from helpers import CLI, LIB, RUNTIME_DIR, base_env, binary, entries, trace_dir, wait_for

HELPER = binary("default_actions")
SAMPLE = binary("driver_loop")

# Directory names a file system accepts and a k=v text must carry unchanged.
HOSTILE_NAMES = [
    b"trailing space ", b"  leading", b"com,ma", b"eq=ual,x=1", b"back\\slash\\",
    b"escapes \\x41 \\, \\= \\\\", b"new\nline", b"tab\tand\rcr", b"ctl\x01\x7f",
    b"not-utf8-\xff\xfe", b"\xc3\xa9t\xc3\xa9 \xe2\x82\xac", b"autostart=0,max_iterations=1",
]


def no_core():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def omniprof_lines(stderr):
    return [l for l in stderr.splitlines() if l.startswith("omniprof:")]


def kv_value(text, key):
    """The value of key in a k=v text, unescaped (README: the k=v form)."""
    items, cur, i = [], "", 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            cur += text[i:i + 2]
            i += 2
        elif text[i] == ",":
            items.append(cur)
            cur, i = "", i + 1
        else:
            cur += text[i]
            i += 1
    items.append(cur)
    for item in items:
        k, _, v = item.partition("=")
        if k.strip() == key:
            out = bytearray()
            v = v.strip().encode("utf-8", "surrogateescape")
            j = 0
            while j < len(v):
                if v[j:j + 2] == b"\\x" and re.fullmatch(rb"[0-9a-fA-F]{2}", v[j + 2:j + 4]):
                    out.append(int(v[j + 2:j + 4], 16))
                    j += 4
                elif v[j:j + 1] == b"\\" and v[j + 1:j + 2] in (b"\\", b",", b"=", b" "):
                    out += v[j + 1:j + 2]
                    j += 2
                else:
                    out += v[j:j + 1]
                    j += 1
            return bytes(out)
    return None


class Signals(unittest.TestCase):
    """A refused control signal leaves the program's way of dying alone."""

    def setUp(self):
        self.dir = trace_dir(self, "omniprof-cfg-")

    def helper(self, mode, preload, **env):
        e = base_env(**env)
        if preload:
            e["LD_PRELOAD"] = LIB
        start = time.monotonic()
        r = subprocess.run([HELPER, mode], env=e, capture_output=True, text=True, timeout=15,
                           preexec_fn=no_core)
        return r, time.monotonic() - start

    def test_program_writing_to_a_closed_pipe_still_dies_of_sigpipe(self):
        bare, _ = self.helper("pipe", False)
        self.assertEqual(bare.returncode, -signal.SIGPIPE, bare.stderr)
        r, _ = self.helper("pipe", True,
                           OMNIPROF=f"autostart=1,dir={self.dir},toggle_signal=SIGPIPE")
        self.assertEqual(r.returncode, bare.returncode, r.stderr)
        (line,) = omniprof_lines(r.stderr)
        self.assertTrue(line.startswith("omniprof: config: OMNIPROF item 3: toggle_signal: "), line)
        self.assertIn("SIGPIPE", line)
        self.assertIn("SIGUSR1, SIGUSR2, SIGRTMIN", line)
        self.assertTrue(line.endswith("profiling is off"), line)
        self.assertEqual(os.listdir(self.dir), [], "profiling stays off")

    def test_crash_still_crashes_with_a_crash_signal_as_control_signal(self):
        bare, _ = self.helper("segv", False)
        self.assertEqual(bare.returncode, -signal.SIGSEGV, bare.stderr)
        for key in ("stop_signal", "toggle_signal", "step_signal"):
            with self.subTest(key=key):
                r, took = self.helper("segv", True,
                                      OMNIPROF=f"autostart=1,dir={self.dir},{key}=SIGSEGV")
                self.assertEqual(r.returncode, -signal.SIGSEGV, r.stderr)
                self.assertLess(took, 5, "no fault loop")
                (line,) = omniprof_lines(r.stderr)
                self.assertIn(f"{key}: ", line)
                self.assertEqual(os.listdir(self.dir), [], "no trace was written")


class ConfigFile(unittest.TestCase):
    """OMNIPROF_CONFIG naming something that is not a regular file is refused
    at once: the program starts, runs unchanged and is not profiled."""

    def setUp(self):
        self.dir = trace_dir(self, "omniprof-cfg-")

    def check_refused(self, path, what):
        bare = subprocess.run([SAMPLE, "2"], env=base_env(), capture_output=True, text=True,
                              timeout=30)
        start = time.monotonic()
        r = subprocess.run([SAMPLE, "2"], env=base_env(LD_PRELOAD=LIB, OMNIPROF_CONFIG=path,
                                                       OMNIPROF=f"autostart=1,dir={self.dir}"),
                           capture_output=True, text=True, timeout=15)
        self.assertLess(time.monotonic() - start, 5)
        self.assertEqual((r.returncode, r.stdout), (0, bare.stdout), r.stderr)
        (line,) = omniprof_lines(r.stderr)
        self.assertIn(f"omniprof: config: OMNIPROF_CONFIG: {path} is {what}, not a regular file",
                      line)
        self.assertEqual([f for f in os.listdir(self.dir) if f != "fifo" and f != "sock"], [])

    def test_fifo(self):
        fifo = os.path.join(self.dir, "fifo")
        os.mkfifo(fifo)
        self.check_refused(fifo, "a FIFO")

    def test_dev_zero(self):
        self.check_refused("/dev/zero", "a character device")

    def test_directory(self):
        self.check_refused(self.dir, "a directory")

    def test_socket(self):
        path = os.path.join(self.dir, "sock")
        s = socket.socket(socket.AF_UNIX)
        self.addCleanup(s.close)
        s.bind(path)
        self.check_refused(path, "a socket")


class OutputDirectory(unittest.TestCase):
    """`omniprof run -o DIR` hands DIR to the library byte for byte."""

    def setUp(self):
        self.base = trace_dir(self, "omniprof-odir-").encode()
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.communicate()

    def test_trace_lands_in_exactly_that_directory(self):
        for name in HOSTILE_NAMES:
            with self.subTest(name=name):
                d = os.path.join(self.base, name)
                r = subprocess.run([CLI, "run", "-o", d, "--autostart", "--", SAMPLE, "2"],
                                   env=base_env(), capture_output=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn(name, os.listdir(self.base))
                files = os.listdir(d)
                self.assertEqual(len(files), 2, files)
                self.assertEqual(sum(f.endswith(b".pt.trace.json.gz") for f in files), 1, files)
                self.assertEqual(sum(f.startswith(b"profiler_out_") for f in files), 1, files)
        self.assertEqual(sorted(os.listdir(self.base)), sorted(HOSTILE_NAMES),
                         "no other directory was made")

    def test_stop_wait_and_the_registry_name_the_directory(self):
        for name in HOSTILE_NAMES:
            with self.subTest(name=name):
                d = os.path.join(self.base, name)
                p = subprocess.Popen([CLI, "run", "-o", d, "--", SAMPLE, "1000", "10"],
                                     env=base_env(), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
                self.procs.append(p)
                entry = wait_for(lambda: entries().get(p.pid))
                self.assertEqual(kv_value(entry["config"], "torch_profiler_dir"), d)
                cli = [CLI, "start", "--pid", str(p.pid), "--wait"]
                r = subprocess.run(cli, env=base_env(), capture_output=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                time.sleep(0.1)
                cli[1] = "stop"
                r = subprocess.run(cli, env=base_env(), capture_output=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                files = sorted(os.listdir(d))
                self.assertEqual(len(files), 2, files)
                for f in files:  # shown as messages show text (control bytes escaped)
                    self.assertIn(b"  " + shown(os.path.join(d, f)) + b"\n", r.stdout)
                self.assertNotIn(b"(missing!)", r.stdout)
                p.kill()

    def test_a_directory_that_cannot_be_passed_is_one_error(self):
        d = b"/tmp/" + b"a" * os.pathconf("/", "PC_PATH_MAX")
        r = subprocess.run([CLI, "run", "-o", d, "--", SAMPLE, "1"], env=base_env(),
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
        self.assertIn("omniprof: config: -o: torch_profiler_dir: value is longer than", r.stderr)


def shown(path):
    """A path as omniprof's output shows it (collector/log.c coll_escape):
    \\n \\t \\r; other control bytes, DEL and bytes that are not UTF-8 as \\xHH."""
    out = bytearray()
    text = path.decode("utf-8", "surrogateescape")
    for ch in text:
        b = ord(ch)
        if 0xDC80 <= b <= 0xDCFF:
            out += b"\\x%02x" % (b - 0xDC00)
        elif ch in "\n\t\r":
            out += {0x0A: b"\\n", 0x09: b"\\t", 0x0D: b"\\r"}[b]
        elif b < 0x20 or b == 0x7F or 0x80 <= b < 0xA0:
            out += b"\\x%02x" % b if b < 0x80 else "".join("\\x%02x" % x for x in ch.encode()).encode()
        else:
            out += ch.encode()
    return bytes(out)


if __name__ == "__main__":
    unittest.main()
