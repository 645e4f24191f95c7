#!/usr/bin/env python3
"""Integration tests of hostile configurations: control signals that would
change how a program dies, and OMNIPROF_CONFIG naming something that is not
a file.  Programs run under the preload against the fake CUDA driver
(helpers.py)."""
import os
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from helpers import LIB, base_env, binary

HELPER = binary("default_actions")
SAMPLE = binary("driver_loop")


def no_core():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def omniprof_lines(stderr):
    return [l for l in stderr.splitlines() if l.startswith("omniprof:")]


class Signals(unittest.TestCase):
    """A refused control signal leaves the program's way of dying alone."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="omniprof-cfg-")
        self.addCleanup(shutil.rmtree, self.dir, True)

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
        self.dir = tempfile.mkdtemp(prefix="omniprof-cfg-")
        self.addCleanup(shutil.rmtree, self.dir, True)

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


if __name__ == "__main__":
    unittest.main()
