#!/usr/bin/env python3
"""Integration tests of omniprof's memory on the CUPTI path, against the fake
libcupti.so.13: a program launching as fast as it can from four threads
(cupti_storm), with the smallest buffers and larger ones.  omniprof's peak
resident memory stays within what the settings allow, the trace is bounded,
exit is prompt, and every call omniprof took and every GPU record CUPTI
handed over is written once or counted once -- also when sessions start and
stop again and again during the storm.

The fake CUDA libraries report what they did (FAKE_CUDA_REPORT: launches,
and the process's peak resident memory, VmHWM, read by the fake driver's
destructor, after omniprof's exit work; FAKE_CUPTI_REPORT: calls whose entry
callback omniprof took, kernel records handed over, records dropped for want
of a buffer); the storm prints when main returned (CLOCK_MONOTONIC, as
Python's time.monotonic), so the time exit took is measured here."""
import collections
import gzip
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from helpers import LIB, base_env, binary, load, traces, wait_ready

MIB = 1 << 20
THREADS = 4
# The smallest settings omniprof accepts (control/config.c).
SMALLEST = dict(buffer_size=1, cupti_buffer_size=8)


def activity_pool(cupti_buffer_size):
    """The bytes of CUPTI activity buffers omniprof allocates (cupti.c)."""
    return max(2, min(32, cupti_buffer_size // 4)) * 4 * MIB


def cupti_path_bound(buffer_size, cupti_buffer_size):
    """What omniprof's CUPTI path may hold, from its settings (cupti.c's
    banner): the event buffers, the session's GPU records (as many bytes
    again), the writer's indexes of them (< 0.4 x buffer_size) and the
    activity buffers."""
    return int(2.4 * buffer_size * MIB) + activity_pool(cupti_buffer_size)


# Room for what else a storm and a write need: the stack table, the
# writer's stream buffers and table, the registry, the allocator's slack.
SLACK = 16 * MIB
# Exit writes one session of bounded size; generous for a noisy machine.
EXIT_SECONDS = 6.0


class Run:
    """One cupti_storm process: its output, wall times, peak memory and the
    fake libraries' reports."""

    def __init__(self, workdir, seconds, settings, autostart=True, toggle_every=None,
                 start_at_end=False):
        self.out_path = os.path.join(workdir, "stdout")
        self.err_path = os.path.join(workdir, "stderr")
        self.cuda_report = os.path.join(workdir, "fake_cuda.txt")
        self.cupti_report = os.path.join(workdir, "fake_cupti.txt")
        self.dir = os.path.join(workdir, "traces")
        omniprof = ",".join([f"dir={self.dir}"] + [f"{k}={v}" for k, v in settings.items()]
                            + (["autostart=1"] if autostart else []))
        env = base_env(LD_PRELOAD=LIB, OMNIPROF=omniprof, OMNIPROF_CUPTI="true",
                       FAKE_CUDA_REPORT=self.cuda_report, FAKE_CUPTI_REPORT=self.cupti_report)
        args = [binary("cupti_storm"), str(THREADS), str(seconds)]
        if start_at_end:
            args.append("start")
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            p = subprocess.Popen(args, env=env, stdout=out, stderr=err)
        self.signals = 0
        try:
            if toggle_every:
                wait_ready(p)
                # toggle while the storm runs, and stop well before it ends
                end = time.monotonic() + seconds * 0.75
                while time.monotonic() < end and p.poll() is None:
                    p.send_signal(signal.SIGUSR1)
                    self.signals += 1
                    time.sleep(toggle_every)
            self.returncode = p.wait(timeout=120)
        except BaseException:
            p.kill()
            raise
        self.waited = time.monotonic()
        with open(self.out_path) as f:
            self.stdout = f.read()
        with open(self.err_path) as f:
            self.stderr = f.read()
        m = re.search(r"storm: threads=\d+ launches=(\d+) seconds=([\d.]+) "
                      r"ns_per_launch=([\d.]+) end=([\d.]+)", self.stdout)
        self.launches = int(m.group(1)) if m else None
        self.exit_seconds = self.waited - float(m.group(4)) if m else None

    def fake_counts(self):
        counts = {}
        for path in (self.cuda_report, self.cupti_report):
            with open(path) as f:
                for field in f.read().split():
                    key, value = field.split("=")
                    counts[key] = int(value)
        return counts

    @property
    def peak(self):
        return self.fake_counts()["vmhwm_kb"] * 1024


def json_bytes(path, limit):
    """The uncompressed size of a trace, read no further than limit."""
    n = 0
    with gzip.open(path, "rb") as f:
        while n <= limit:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            n += len(chunk)
    return n


class CuptiStorm(unittest.TestCase):
    SECONDS = 1.5

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="omniprof-storm-")
        self.addCleanup(shutil.rmtree, self.work, True)

    def run_storm(self, name, **kw):
        d = os.path.join(self.work, name)
        os.mkdir(d)
        r = Run(d, **kw)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertIsNotNone(r.launches, r.stdout)
        return r

    def baseline(self, settings):
        """The same storm under omniprof, never recording: what the process
        holds without the CUPTI path's buffers filling."""
        return self.run_storm("baseline", seconds=0.3, settings=settings, autostart=False).peak

    def check_memory_and_exit(self, r, settings, base):
        bound = base + cupti_path_bound(**settings) + SLACK
        self.assertLess(r.peak, bound,
                        f"peak {r.peak / MIB:.1f} MiB; baseline {base / MIB:.1f} MiB, "
                        f"bound {bound / MIB:.1f} MiB")
        self.assertLess(r.exit_seconds, EXIT_SECONDS, "exit was not prompt")

    @staticmethod
    def tally(paths):
        """Sums over trace files: API calls, kernels and the counts of what
        was not written (0 where a trace lacks the key); with the
        correlation ids written more than once, and the events out of their
        session's window."""
        t = collections.Counter()
        api_ids, kernel_ids, misplaced = collections.Counter(), collections.Counter(), []
        for path in paths:
            trace = load(path)
            meta = trace["omniprof"]
            base = trace["baseTimeNanoseconds"]
            begin, end = meta["session_begin_ns"], meta["session_end_ns"]
            for key in ("dropped_api_events", "dropped_gpu_records",
                        "dropped_gpu_records_buffer_size", "dropped_gpu_records_outside",
                        "dropped_gpu_records_cupti_buffer_size", "gpu_records"):
                t[key] += meta.get(key, 0)
            for e in trace["traceEvents"]:
                if e.get("ph") != "X":
                    continue
                start = base + round(e["ts"] * 1000)
                if e["name"] == "cuLaunchKernel":
                    t["api"] += 1
                    api_ids[e["args"]["correlation"]] += 1
                    if start < begin or start + round(e["dur"] * 1000) > end:
                        misplaced.append((os.path.basename(path), e))
                elif e.get("cat") == "kernel":
                    t["kernels"] += 1
                    kernel_ids[e["args"]["correlation"]] += 1
                    if start < begin:
                        misplaced.append((os.path.basename(path), e))
        twice = [c for c, n in list(api_ids.items()) + list(kernel_ids.items()) if n > 1]
        return t, twice, misplaced

    def check_accounting(self, r, t, twice, misplaced):
        fake = r.fake_counts()
        self.assertEqual(fake["launches"], r.launches)
        self.assertEqual(t["api"] + t["dropped_api_events"], fake["claimed"],
                         "every call omniprof took is written or counted in dropped_api_events")
        self.assertEqual(t["kernels"] + t["dropped_gpu_records"], fake["kernels"] + fake["dropped"],
                         "every kernel record is written or counted in dropped_gpu_records")
        self.assertEqual(t["dropped_gpu_records"],
                         t["dropped_gpu_records_buffer_size"] + t["dropped_gpu_records_outside"]
                         + t["dropped_gpu_records_cupti_buffer_size"])
        self.assertEqual(t["kernels"], t["gpu_records"])
        self.assertEqual(twice[:5], [], "nothing is written twice")
        self.assertEqual(misplaced[:3], [], "nothing lands in another session's file")
        return fake

    def cap_warnings(self, r):
        return [l for l in r.stderr.splitlines()
                if l.startswith("omniprof: cupti: ") and "raise buffer_size" in l]

    def test_storm_with_the_smallest_buffers(self):
        base = self.baseline(SMALLEST)
        r = self.run_storm("storm", seconds=self.SECONDS, settings=SMALLEST)
        (path,) = traces(r.dir)
        t, twice, misplaced = self.tally([path])
        fake = self.check_accounting(r, t, twice, misplaced)
        self.assertEqual(fake["claimed"], r.launches, "every launch was taken at its entry")
        self.check_memory_and_exit(r, SMALLEST, base)
        # A session writes what buffer_size holds: events of 96 bytes or
        # more, GPU records of 96 bytes or more with two flow events each;
        # each event in at most 1 KiB of JSON.
        most = SMALLEST["buffer_size"] * MIB // 96
        self.assertLess(json_bytes(path, 4 * most * 1024), 4 * most * 1024, "trace size")
        self.assertLessEqual(t["kernels"], most)
        self.assertGreater(r.launches, 5 * t["api"], "the storm overflowed the buffers")
        self.assertGreater(t["dropped_gpu_records_buffer_size"], 0)
        warnings = self.cap_warnings(r)
        self.assertEqual(len(warnings), 1, r.stderr)
        self.assertIn(f": {t['dropped_gpu_records_buffer_size']} GPU records dropped: a session "
                      f"keeps at most {t['kernels']} ", warnings[0])

    def test_bound_follows_the_settings(self):
        settings = dict(buffer_size=16, cupti_buffer_size=16)
        base = self.baseline(settings)
        r = self.run_storm("storm16", seconds=self.SECONDS, settings=settings)
        (path,) = traces(r.dir)
        t, twice, misplaced = self.tally([path])
        self.check_accounting(r, t, twice, misplaced)
        self.check_memory_and_exit(r, settings, base)
        self.assertGreater(t["dropped_gpu_records_buffer_size"], 0, "the storm filled the store")
        self.assertGreater(r.peak, base + settings["buffer_size"] * MIB, "the buffers filled")

    def test_toggle_storm_during_the_launch_storm(self):
        base = self.baseline(SMALLEST)
        r = self.run_storm("toggles", seconds=2.0, settings=SMALLEST, autostart=False,
                           toggle_every=0.01, start_at_end=True)
        paths = traces(r.dir)
        t, twice, misplaced = self.tally(paths)
        self.check_accounting(r, t, twice, misplaced)
        self.check_memory_and_exit(r, SMALLEST, base)
        # signals coalesce and a session takes a while to write on a busy
        # machine: far fewer files than signals, but more than one
        self.assertGreaterEqual(len(paths), 3, f"{r.signals} signals made few sessions")
        self.assertGreater(t["api"], 0)
        self.assertGreater(t["kernels"], 0)
        # each session's records came with the flush at its stop, not after
        self.assertLess(10 * t["dropped_gpu_records_outside"],
                        t["kernels"] + t["dropped_gpu_records_buffer_size"])
        self.assertLessEqual(len(self.cap_warnings(r)), len(paths), "one warning per session")


if __name__ == "__main__":
    unittest.main()
