#!/usr/bin/env python3
"""Integration tests of how a process ends: a recording session is written
whether the process ends with exit, _exit/_Exit (multiprocessing's fork
workers end with os._exit), a SIGTERM or SIGINT it does not handle, or a
termination signal it sends itself; a program's own handlers and exit codes
are left alone; and the temporary file a process killed during a write left
behind is removed by the next session in that directory.  Programs run
under the preload against the fake CUDA driver (helpers.py)."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from helpers import LIB, base_env, binary, load, per_kernel, run, spawn, traces, wait_for

ENDING = binary("ending")
PY_ENDING = os.path.join(os.path.dirname(os.path.abspath(__file__)), "py_ending.py")
# Debian's interpreter: a dynamically linked python3 whose os._exit reaches
# libc's _exit through the symbol table, as most Pythons do.
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
# .<final name>.tmp.<pid>.<start time>.<namespace key>.<n> (writer/file.c)
TEMP = re.compile(r"^\.(.+)\.tmp\.(\d+)\.(\d+)\.([0-9a-f]{8})\.(\d+)$")


def start_time(pid):
    """Field 22 of /proc/PID/stat: when the process started, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def temporaries(d):
    return sorted(f for f in os.listdir(d) if f.startswith(".") and ".tmp." in f)


class Ending(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="omniprof-ending-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.procs = []
        self.addCleanup(self.reap)

    def reap(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.communicate()

    def spawn(self, cmd, **env):
        p = spawn(cmd, **env)
        self.procs.append(p)
        return p

    def autostart(self, extra=""):
        return f"autostart=1,dir={self.dir}{extra}"

    def one_trace(self, kernel, count, pid=None):
        files = traces(self.dir)
        self.assertEqual(len(files), 1, os.listdir(self.dir))
        t = load(files[0])
        self.assertEqual(per_kernel(t), {kernel: count})
        if pid is not None:
            self.assertEqual(t["omniprof"]["pid"], pid)
        self.assertEqual(temporaries(self.dir), [])
        return t

    # ---- _exit and _Exit ---------------------------------------------------

    def test_exit_and_Exit_write_the_session_and_keep_the_status(self):
        for mode, code in (("_exit", 3), ("_Exit", 4)):
            with self.subTest(mode=mode):
                shutil.rmtree(self.dir)
                os.mkdir(self.dir)
                r = run([ENDING, mode, "25", str(code)], OMNIPROF=self.autostart())
                self.assertEqual(r.returncode, code, r.stderr)
                self.assertEqual([l for l in r.stderr.splitlines()
                                  if "omniprof" in l and not l.startswith("omniprof: wrote ")], [])
                self.one_trace("ending_kernel", 25)

    def test_exit_without_a_session_writes_nothing_and_keeps_the_status(self):
        r = run([ENDING, "_exit", "25", "3"], OMNIPROF=f"dir={self.dir}")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertEqual(os.listdir(self.dir), [])

    def test_multiprocessing_fork_worker_ending_in_os_exit(self):
        r = run([PYTHON, PY_ENDING, "fork", "40"], OMNIPROF=self.autostart())
        self.assertEqual(r.returncode, 0, r.stderr)
        worker, code = map(int, r.stdout.split())
        self.assertEqual(code, 5, "the worker's exit status is its own")
        # the parent launched nothing: its empty session is not worth a file
        self.one_trace("py_kernel", 40, pid=worker)

    # ---- termination signals -------------------------------------------------

    def signalled(self, sig, mode="wait", launches_=30, omniprof=None):
        p = self.spawn([ENDING, mode, str(launches_)],
                       OMNIPROF=omniprof if omniprof is not None else self.autostart())
        self.assertEqual(p.stdout.readline(), "ready\n")
        sent = time.monotonic()
        p.send_signal(sig)
        out, err = p.communicate(timeout=60)
        return p, out, err, time.monotonic() - sent

    def test_sigterm_and_sigint_write_and_end_by_the_signal(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(sig=sig.name):
                shutil.rmtree(self.dir)
                os.mkdir(self.dir)
                p, _, err, _ = self.signalled(sig)
                self.assertEqual(p.returncode, -sig, err)
                self.one_trace("ending_kernel", 30, pid=p.pid)

    def test_without_a_session_the_signal_ends_the_process_at_once(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(sig=sig.name):
                p, _, err, took = self.signalled(sig, omniprof=f"dir={self.dir}")
                self.assertEqual(p.returncode, -sig, err)
                self.assertLess(took, 2.0)
                self.assertEqual(os.listdir(self.dir), [])

    def test_a_program_handling_sigterm_itself_keeps_its_handler_and_exit_code(self):
        for mode in ("handler_before", "handler_after"):
            with self.subTest(mode=mode):
                shutil.rmtree(self.dir)
                os.mkdir(self.dir)
                p, out, err, _ = self.signalled(signal.SIGTERM, mode=mode)
                self.assertEqual(p.returncode, 7, err)
                self.assertEqual(out, "handled\n")
                self.one_trace("ending_kernel", 30)  # written at exit, as ever

    def test_a_signal_blocked_from_the_start_is_left_to_the_program(self):
        # a program started with SIGTERM blocked waits for it with sigwait
        e = base_env(LD_PRELOAD=LIB, OMNIPROF=self.autostart(",log_level=debug"))
        r = subprocess.run([ENDING, "_exit", "1", "0"], env=e, capture_output=True, text=True,
                           timeout=60, preexec_fn=lambda: signal.pthread_sigmask(
                               signal.SIG_BLOCK, {signal.SIGTERM}))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("omniprof: signals: SIGTERM is the program's", r.stderr)
        self.assertIn("omniprof: signals: SIGINT: a running session is written", r.stderr)

    def test_a_signal_sent_to_itself_at_its_default_action(self):
        for mode, sig in (("kill_self", signal.SIGINT), ("raise_self", signal.SIGTERM)):
            with self.subTest(mode=mode):
                shutil.rmtree(self.dir)
                os.mkdir(self.dir)
                r = run([ENDING, mode, "30"], OMNIPROF=self.autostart())
                self.assertEqual(r.returncode, -sig, r.stderr)
                self.one_trace("ending_kernel", 30)

    def test_python_keyboard_interrupt_and_sigterm(self):
        # Python still raises KeyboardInterrupt and sees SIGTERM at its
        # default action (omniprof takes it only once CUDA has started); an
        # unhandled KeyboardInterrupt ends Python by SIGINT, sent to itself
        r = run([PYTHON, PY_ENDING, "interrupt", "20"], OMNIPROF=self.autostart())
        self.assertEqual(r.returncode, -signal.SIGINT, r.stderr)
        self.assertEqual(r.stdout, "sigint_python=True sigterm_default=True\n")
        self.assertIn("KeyboardInterrupt", r.stderr)
        self.one_trace("py_kernel", 20)
        shutil.rmtree(self.dir)
        os.mkdir(self.dir)
        p = self.spawn([PYTHON, PY_ENDING, "wait", "20"], OMNIPROF=self.autostart())
        self.assertEqual(p.stdout.readline(), "sigint_python=True sigterm_default=True\n")
        self.assertEqual(p.stdout.readline(), "ready\n")
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, -signal.SIGTERM, err)
        self.one_trace("py_kernel", 20, pid=p.pid)

    def test_a_second_signal_during_a_long_write_ends_the_process_at_once(self):
        p = self.spawn([ENDING, "wait", "200000"], OMNIPROF=self.autostart(",gzip_level=9"))
        self.assertEqual(p.stdout.readline(), "ready\n")
        p.send_signal(signal.SIGTERM)
        wait_for(lambda: temporaries(self.dir), timeout=30)
        sent = time.monotonic()
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, -signal.SIGINT, err)
        self.assertLess(time.monotonic() - sent, 2.0)
        self.assertEqual(traces(self.dir), [])

    # ---- temporaries of processes that died during a write ---------------------

    def test_temporary_of_a_killed_write_is_removed_by_the_next_session(self):
        # SIGUSR2 (stop) starts a long write; SIGKILL ends the process in it
        p = self.spawn([ENDING, "wait", "200000"], OMNIPROF=self.autostart(",gzip_level=9"))
        self.assertEqual(p.stdout.readline(), "ready\n")
        p.send_signal(signal.SIGUSR2)
        (left,) = wait_for(lambda: temporaries(self.dir), timeout=30)
        p.kill()
        p.communicate()
        self.assertEqual(traces(self.dir), [])
        self.assertEqual(temporaries(self.dir), [left])
        m = TEMP.match(left)
        key = m.group(4) if m else "00000000"
        other_key = "%08x" % (int(key, 16) ^ 1)
        sleeper = subprocess.Popen(["sleep", "60"])
        self.procs.append(sleeper)
        live, dead = sleeper.pid, p.pid
        name = "w.1.pt.trace.json.gz"
        kept = {
            # a process that still writes
            f".{name}.tmp.{live}.{start_time(live)}.{key}.0",
            # another machine's or container's (its pids are not ours to judge)
            f".{name}.tmp.{dead}.1.{other_key}.0",
            # not one of omniprof's names
            f".notes.txt.tmp.{dead}.1.{key}.0",
        }
        gone = {
            left,
            # a live pid that now names another process (reused)
            f".profiler_out_w.txt.tmp.{live}.{start_time(live) + 1}.{key}.0",
        }
        for f in (kept | gone) - {left}:
            open(os.path.join(self.dir, f), "w").close()
        if os.geteuid() == 0:  # another user's is left to that user
            other = f".{name}.tmp.{dead}.1.{key}.1"
            open(os.path.join(self.dir, other), "w").close()
            os.chown(os.path.join(self.dir, other), 65534, 65534)
            kept.add(other)
        r = run([binary("driver_loop"), "2"], OMNIPROF=self.autostart())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(traces(self.dir)), 1)
        self.assertNotIn(left, temporaries(self.dir), "the killed process's temporary")
        self.assertEqual(set(temporaries(self.dir)), kept)


if __name__ == "__main__":
    unittest.main()
