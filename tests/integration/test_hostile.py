#!/usr/bin/env python3
"""Integration tests of hostile use: forged registry entries (the command
signals only profiled processes of its own user, with a control signal),
bad numbers on the command line, entries of any size omniprof writes,
messages that echo input (escaped, short) and warnings that name their
cause — against the fake CUDA driver, each test with a registry of its
own."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from helpers import CLI, LIB, base_env, binary, load, trace_dir, traces, wait_for


def start_time(pid):
    """Field 22 of /proc/PID/stat: what an entry records to tell pid reuse apart."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def mapping_of(pid, needle):
    """(dev, inode, path) of the first file mapping of pid whose path holds needle."""
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            cells = line.split(None, 5)
            if len(cells) == 6 and needle in cells[5]:
                return cells[3], int(cells[4]), cells[5].strip()
    raise AssertionError(f"no mapping of {needle} in {pid}")


class Registry(unittest.TestCase):
    """Every test has its own registry directory and its own processes."""

    def setUp(self):
        self.registry = tempfile.mkdtemp(prefix="omniprof-hostile-")
        os.chmod(self.registry, 0o700)
        self.addCleanup(shutil.rmtree, self.registry, True)
        self.out = trace_dir(self, "omniprof-hostile-out-")

    def cli(self, *args, **env):
        return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60,
                              env=base_env(OMNIPROF_RUNTIME_DIR=self.registry, **env))

    def keep(self, p):
        def end():
            if p.poll() is None:
                p.kill()
            p.communicate()
        self.addCleanup(end)
        return p

    def sleeper(self, **popen):
        """A process of ours that omniprof is not in."""
        p = self.keep(subprocess.Popen(["sleep", "60"], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, **popen))
        wait_for(lambda: os.path.exists(f"/proc/{p.pid}/stat"))
        time.sleep(0.05)  # past exec: start time and maps are the sleep's
        return p

    def profiled(self, **env):
        """driver_loop under the preload, registered in this test's registry."""
        e = base_env(LD_PRELOAD=LIB, OMNIPROF_RUNTIME_DIR=self.registry,
                     OMNIPROF=f"dir={self.out}")
        e.update(env)
        p = self.keep(subprocess.Popen([binary("driver_loop"), "3000", "10"], env=e,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        wait_for(lambda: os.path.exists(self.entry_path(p.pid)) or p.poll() is not None)
        self.assertIsNone(p.poll(), "the profiled process runs")
        return p

    def entry_path(self, pid):
        return os.path.join(self.registry, f"{pid}.json")

    def entry(self, pid):
        with open(self.entry_path(pid), encoding="utf-8") as f:
            return json.load(f)

    def plant(self, pid, **fields):
        """A forged entry for pid, shaped like the ones omniprof writes."""
        e = {"pid": pid, "start_time": start_time(pid), "stage": 0, "rank": -1, "host": "h",
             "worker": "w", "cmdline": "sleep 60", "state": "idle", "dir": self.out,
             "config": "", "toggle_signal": signal.SIGKILL, "stop_signal": signal.SIGKILL,
             "step_signal": signal.SIGKILL, "requests": 0, "last_result": "", "last_files": []}
        e.update(fields)
        with open(self.entry_path(pid), "w", encoding="utf-8") as f:
            json.dump(e, f)

    def assert_untouched(self, p, r, why):
        time.sleep(0.3)
        self.assertIsNone(p.poll(), "the process was not signalled:\n" + r.stdout + r.stderr)
        self.assertIn(why, r.stdout + r.stderr)
        self.assertNotRegex(r.stdout, rf"pid {p.pid} \(stage [^)]*\): signalled")
        self.assertRegex(r.stdout, rf"pid {p.pid} \(stage [^)]*\): not signalled: ")

    def test_forged_entry_of_a_process_without_omniprof_is_not_signalled(self):
        p = self.sleeper()
        self.plant(p.pid)
        for args in (["stop", "--pid", str(p.pid)], ["start"], ["stop", "--stages", "0"],
                     ["start", "--pid", str(p.pid), "--wait", "--timeout", "1"]):
            r = self.cli(*args)
            self.assertEqual(r.returncode, 1, args)
            self.assert_untouched(p, r, "omniprof is not loaded in it")
        r = self.cli("list")
        self.assertNotIn(f"\n{p.pid} ", r.stdout)
        r = self.cli("status", str(p.pid))
        self.assertEqual(r.returncode, 1)
        self.assertIn("omniprof is not loaded in it", r.stderr)
        self.assertTrue(os.path.exists(self.entry_path(p.pid)),
                        "the entry of a live process is skipped, not deleted")

    def test_forged_entry_naming_another_library_of_the_process(self):
        # the process maps libc: an entry naming libc's file is still refused
        p = self.sleeper()
        dev, ino, path = mapping_of(p.pid, "libc")
        self.plant(p.pid, library=path, library_dev=dev, library_ino=ino)
        r = self.cli("stop", "--pid", str(p.pid))
        self.assertEqual(r.returncode, 1)
        self.assert_untouched(p, r, "omniprof is not loaded in it")

    def test_forged_entry_copying_a_profiled_process_identity(self):
        real = self.profiled()
        e = self.entry(real.pid)
        self.assertIn("library_ino", e)
        p = self.sleeper()
        self.plant(p.pid, library=e["library"], library_dev=e["library_dev"],
                   library_ino=e["library_ino"])
        r = self.cli("stop")
        self.assert_untouched(p, r, "omniprof is not loaded in it")
        self.assertIn(f"pid {real.pid} (stage -): signalled", r.stdout, "the real one is reached")

    def test_only_control_signals_are_sent(self):
        p = self.profiled()
        e = self.entry(p.pid)
        e["toggle_signal"] = signal.SIGKILL
        with open(self.entry_path(p.pid), "w", encoding="utf-8") as f:
            json.dump(e, f)
        r = self.cli("stop", "--pid", str(p.pid))
        self.assertEqual(r.returncode, 1)
        self.assert_untouched(p, r, "toggle signal 9 (SIGKILL) is not a control signal")
        for sig in (signal.SIGTERM, signal.SIGSTOP, 0, -5, 4096):
            e["toggle_signal"] = sig
            with open(self.entry_path(p.pid), "w", encoding="utf-8") as f:
                json.dump(e, f)
            r = self.cli("start", "--pid", str(p.pid))
            self.assertEqual(r.returncode, 1, sig)
            self.assert_untouched(p, r, "not a control signal" if sig else "not available")

    @unittest.skipUnless(os.geteuid() == 0, "needs root to run a process as another user")
    def test_entry_of_another_users_process_is_skipped_not_deleted(self):
        p = self.sleeper(preexec_fn=lambda: os.setuid(65534))
        self.plant(p.pid)
        r = self.cli("stop", "--pid", str(p.pid))
        self.assertEqual(r.returncode, 1)
        self.assert_untouched(p, r, "runs as another user")
        self.cli("list")
        self.assertTrue(os.path.exists(self.entry_path(p.pid)))

    def test_entry_of_an_exited_process_is_removed(self):
        p = self.sleeper()
        self.plant(p.pid)
        p.kill()
        p.wait()
        r = self.cli("list")
        self.assertIn("1 stale entry", r.stdout)
        self.assertFalse(os.path.exists(self.entry_path(p.pid)))

    def test_process_with_a_huge_config_is_listed(self):
        # every byte of these values is JSON-escaped as \u0001: the entry is
        # several times the config's size
        p = self.profiled(OMNIPROF_CUPTI_PATH="/x" + "\x01" * 4000,
                          OMNIPROF_FILE_PREFIX="\x01" * 120,
                          OMNIPROF=f"dir={self.out}/" + "\x01" * 4000)
        self.assertGreater(os.path.getsize(self.entry_path(p.pid)), 64 * 1024)
        r = self.cli("list")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"\n{p.pid} ", r.stdout)
        self.assertNotIn("stale", r.stdout)
        r = self.cli("status", str(p.pid))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("\\x01\\x01", r.stdout, "control bytes are shown escaped")
        self.assertNotIn("\x01", r.stdout)
        r = self.cli("stop", "--pid", str(p.pid), "--wait")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("not recording", r.stdout)


class Arguments(unittest.TestCase):
    """Bad numbers are refused (exit 2, the value named) before anything is done."""

    def setUp(self):
        self.registry = tempfile.mkdtemp(prefix="omniprof-hostile-")
        os.chmod(self.registry, 0o700)
        self.addCleanup(shutil.rmtree, self.registry, True)
        self.out = trace_dir(self, "omniprof-hostile-out-")

    def cli(self, *args):
        return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60,
                              env=base_env(OMNIPROF_RUNTIME_DIR=self.registry))

    def test_bad_numbers_are_errors_naming_the_value(self):
        # a profiled process that acting on "every process" would start
        p = subprocess.Popen([binary("driver_loop"), "3000", "10"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env=base_env(LD_PRELOAD=LIB, OMNIPROF_RUNTIME_DIR=self.registry,
                                          OMNIPROF=f"dir={self.out}"))
        self.addCleanup(p.communicate)
        self.addCleanup(p.kill)
        wait_for(lambda: os.path.exists(os.path.join(self.registry, f"{p.pid}.json")))
        for args, shown in ((["start", "--pid", ""], "''"),
                            (["start", "--pid", "abc"], "'abc'"),
                            (["start", "--pid", "0"], "'0'"),
                            (["start", "--pid", "-1"], "'-1'"),
                            (["start", "--pid", "12x"], "'12x'"),
                            (["start", "--pid", " 12"], "' 12'"),
                            (["start", "--pid", "99999999999"], "'99999999999'"),
                            (["start", "--pid", "4294967296"], "'4294967296'"),
                            (["start", "--timeout", "3000000", "--wait"], "'3000000'"),
                            (["start", "--timeout", "-1"], "'-1'"),
                            (["start", "--timeout", "1e3"], "'1e3'"),
                            (["start", "--stages", "99999999999"], "'99999999999'"),
                            (["start", "--stages", "1,,2"], "'1,,2'"),
                            (["status", "99999999999"], "'99999999999'"),
                            (["status", "abc"], "'abc'"),
                            (["status", ""], "''"),
                            (["status", "0"], "'0'"),
                            (["serve", "--listen", "127.0.0.1:abc"], "'127.0.0.1:abc'"),
                            (["serve", "--listen", "127.0.0.1:70000"], "'127.0.0.1:70000'"),
                            (["serve", "--listen", "nohost:80"], "'nohost:80'")):
            r = self.cli(*args)
            self.assertEqual(r.returncode, 2, f"{args}: {r.stdout}{r.stderr}")
            self.assertIn(shown, r.stderr, args)
            self.assertEqual(r.stdout, "", args)
        self.assertEqual(traces(self.out), [])
        r = self.cli("stop", "--pid", str(p.pid), "--wait")
        self.assertIn("not recording: nothing to write", r.stdout, "nothing was started")

    def test_echoed_values_are_escaped_and_short(self):
        r = self.cli("stop", "--pid", "\x1b]0;owned\x07\n12")
        self.assertEqual(r.returncode, 2)
        self.assertIn("'\\x1b]0;owned\\x07\\n12'", r.stderr)
        self.assertNotIn("\x1b", r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        r = self.cli("stop", "--pid", "9" * 5000)
        self.assertEqual(r.returncode, 2)
        self.assertIn("...", r.stderr)
        self.assertLess(len(r.stderr), 400)


class Messages(unittest.TestCase):
    """What omniprof writes on the program's stderr."""

    def setUp(self):
        self.dir = trace_dir(self, "omniprof-hostile-msg-")

    def run_under(self, cmd, **env):
        return subprocess.run(cmd, capture_output=True, timeout=120,
                              env=base_env(LD_PRELOAD=LIB, **env))

    def test_config_errors_escape_control_bytes(self):
        r = self.run_under([binary("driver_loop"), "2"], OMNIPROF="stage=\x1b[2J\x9bx\nfake")
        self.assertEqual(r.returncode, 0)
        err = r.stderr
        lines = [l for l in err.split(b"\n") if l.startswith(b"omniprof:")]
        self.assertEqual(len(lines), 1, err)
        # U+009B (CSI) arrives as UTF-8 \xc2\x9b: a C1 control, escaped too
        self.assertIn(b"'\\x1b[2J\\xc2\\x9bx\\nfake'", lines[0])
        for byte in b"\x1b\x9b":
            self.assertNotIn(bytes([byte]), err)

    def test_long_lines_are_cut(self):
        # a directory that cannot be made, with a name longer than a line
        long_dir = "/proc/omniprof-nowhere/" + "d" * 3000
        r = self.run_under([binary("driver_loop"), "2"], OMNIPROF=f"autostart=1,dir={long_dir}")
        self.assertEqual(r.returncode, 0)
        (line,) = [l for l in r.stderr.split(b"\n") if l.startswith(b"omniprof: writer:")]
        self.assertLess(len(line), 1100)
        self.assertTrue(line.endswith(b"..."), line)

    def test_dropped_records_name_max_threads(self):
        r = self.run_under([binary("threads_launch"), "4", "20"],
                           OMNIPROF=f"autostart=1,max_threads=1,dir={self.dir}")
        self.assertEqual(r.returncode, 0, r.stderr)
        err = r.stderr.decode()
        m = re.search(r"omniprof: max_threads \(1\) exhausted: thread (\d+) records nothing "
                      r"\((\d+) events dropped\); raise max_threads", err)
        self.assertTrue(m, err)
        self.assertNotIn("buffer", err)
        (t,) = [load(f) for f in traces(self.dir)]
        self.assertEqual(t["omniprof"]["dropped_events_max_threads"], int(m.group(2)))
        self.assertGreater(int(m.group(2)), 0)
        tids = {e.get("tid") for e in t["traceEvents"] if e.get("ph") == "X"}
        self.assertNotIn(int(m.group(1)), tids, "the thread named recorded nothing")

    def test_dropped_records_name_full_buffers(self):
        r = self.run_under([binary("driver_loop"), "20000"],
                           OMNIPROF=f"autostart=1,buffer_size=1,dir={self.dir}")
        self.assertEqual(r.returncode, 0, r.stderr)
        err = r.stderr.decode()
        self.assertRegex(err, r"omniprof: \d+ events dropped: event buffers full "
                              r"\(buffer_size=1 MiB\); raise buffer_size")
        self.assertNotIn("max_threads", err)

    def test_program_closing_every_descriptor_gets_no_line(self):
        r = self.run_under([binary("close_fds"), "30"], OMNIPROF=f"dir={self.dir}")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"own_file_bytes=0", r.stdout)
        self.assertEqual(r.stderr, b"")


class OutputDirectory(unittest.TestCase):
    @unittest.skipUnless(os.geteuid() == 0, "needs root to give a symlink to another user")
    def test_a_planted_link_is_refused_with_one_line_and_the_program_runs(self):
        base = trace_dir(self, "omniprof-hostile-dir-")
        shared, victim = os.path.join(base, "shared"), os.path.join(base, "victim")
        os.mkdir(shared)
        os.chmod(shared, 0o1777)
        os.mkdir(victim)
        link = os.path.join(shared, "traces")
        os.symlink(victim, link)
        os.lchown(link, 65534, 65534)
        r = subprocess.run([binary("driver_loop"), "5"], capture_output=True, text=True,
                           env=base_env(LD_PRELOAD=LIB, OMNIPROF=f"autostart=1,dir={link}"))
        self.assertEqual(r.returncode, 0)
        self.assertIn("launches=10", r.stdout)
        lines = [l for l in r.stderr.splitlines() if l.startswith("omniprof:")]
        self.assertEqual(lines, [f"omniprof: writer: cannot use directory {link}: traces is a "
                                 "symbolic link owned by uid 65534 (neither the user's nor "
                                 "root's); not followed; the session is lost"])
        self.assertEqual(os.listdir(victim), [])


if __name__ == "__main__":
    unittest.main()
