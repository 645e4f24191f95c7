#!/usr/bin/env python3
"""The real consumer: HTA (Holistic Trace Analysis, ../shared/third_party/hta)
reads what omniprof writes for a driver-API program, a runtime-API program
and four ranks of one job as it reads torch.profiler's traces: the
iterations taken, a kernel breakdown that adds up to the trace's own kernel
times, the ranks from distributedInfo, one clock for every rank, a critical
path that goes through the synchronisations, and HTA's own trace validator.

HTA needs pandas and friends: this suite runs with Debian's /usr/bin/python3
and its packages (run.sh installs them).  Samples run with the fake CUPTI,
its calls and kernels made microseconds long (FAKE_CUPTI_*_NS): HTA rounds
every start up and every end down to a whole microsecond."""
import collections
import logging
import math
import os
import sys
import time
import unittest

from helpers import abs_ns, binary, load, run, spawn, trace_dir, traces

# HTA, unmodified, beside the repository (../shared/third_party/hta: see its
# README for version and license); OMNI_HTA names another copy.
HTA = os.environ.get("OMNI_HTA") or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                 "..", "..", "..", "shared", "third_party", "hta")
if not os.path.isdir(os.path.join(HTA, "hta")):
    sys.exit(f"test_hta: HTA is not at {HTA} (set OMNI_HTA)")
sys.path.insert(0, HTA)

from hta.analyzers.critical_path_analysis import CPEdgeType  # noqa: E402
from hta.trace_analysis import TraceAnalysis  # noqa: E402
from hta.utils.validate_trace import validate_trace_format  # noqa: E402

logging.getLogger("hta").setLevel(logging.ERROR)

STEPS = 6
GPU_ENV = dict(OMNIPROF_CUPTI="true", FAKE_CUPTI_CALL_NS="4000", FAKE_CUPTI_KERNEL_NS="30000")
THREE_MONTHS_NS = 7889238 * 10**9  # Kineto's base time is a multiple of it
GPU_WORK = ("kernel", "gpu_memcpy", "gpu_memset")


def hta_us(e):
    """An event's duration as HTA counts it: start rounded up, end down."""
    return math.floor(e["ts"] + e["dur"]) - math.ceil(e["ts"])


def analysis(d):
    # the last ProfilerStep is an iteration like the others: it ends when
    # the session stopped (HTA drops it by default, for torch's schedules)
    return TraceAnalysis(trace_dir=d, include_last_profiler_step=True)


class Hta(unittest.TestCase):
    def profile(self, name, *args):
        """One rank-0 process of `name`; returns (trace path, trace, HTA's analysis)."""
        d = trace_dir(self, f"omniprof-hta-{name}-")
        r = run([binary(name), *map(str, args)], OMNIPROF=f"autostart=1,dir={d}", RANK="0",
                WORLD_SIZE="1", LOCAL_RANK="0", **GPU_ENV)
        self.assertEqual(r.returncode, 0, r.stderr)
        (path,) = traces(d)
        return path, load(path), analysis(d)

    def check_reads_fully(self, path, t, a):
        """What every trace gives HTA: its iterations, its kernel time, a
        clean validation, and a critical path through the synchronisations."""
        self.assertEqual(a.t.get_ranks(), [0])
        self.assertEqual(a.get_profiler_steps(), list(range(1, STEPS + 1)))
        # the kernel breakdown adds up to the trace's own GPU time, per kernel
        by_type, per_kernel = a.get_gpu_kernel_breakdown(visualize=False, duration_ratio=1.0,
                                                         num_kernels=1000)
        own = collections.Counter()
        for e in t["traceEvents"]:
            if e.get("ph") == "X" and e["cat"] in GPU_WORK:
                own[e["name"]] += hta_us(e)
        self.assertEqual(dict(zip(per_kernel["name"], per_kernel["sum (us)"])), dict(own))
        self.assertEqual(by_type["sum"].sum(), sum(own.values()))
        ok, errors = validate_trace_format(path, level="complete")
        self.assertTrue(ok, errors)
        graph, success = a.critical_path_analysis(rank=0, annotation="ProfilerStep",
                                                  instance_id=(1, STEPS - 2))
        self.assertTrue(success)
        edges = collections.Counter(graph.edges[u, v]["object"].type for u, v in graph.edges)
        self.assertGreater(edges[CPEdgeType.SYNC_DEPENDENCY], 0,
                           "the synchronisations are edges of the critical path graph")
        self.assertGreater(len(graph.get_critical_path_breakdown()), 0)

    def test_driver_api_program(self):
        path, t, a = self.profile("driver_loop", STEPS, 0, 2)
        self.check_reads_fully(path, t, a)
        syncs = collections.Counter(e["name"] for e in t["traceEvents"] if e.get("cat") == "cuda_sync")
        self.assertEqual(syncs, {"Event Sync": STEPS, "Stream Wait Event": STEPS,
                                 "Stream Sync": STEPS, "Context Sync": STEPS})

    def test_runtime_api_program(self):
        path, t, a = self.profile("runtime_launch", STEPS, 2)
        self.check_reads_fully(path, t, a)
        # HTA's launch statistics: every cudaLaunchKernel(ExC) with its kernel
        stats = a.get_cuda_kernel_launch_stats(ranks=[0], visualize=False)[0]
        self.assertEqual(len(stats), 2 * STEPS)
        self.assertTrue((stats["gpu_duration"] > 0).all())

    def test_four_ranks_started_in_different_seconds(self):
        d = trace_dir(self, "omniprof-hta-ranks-")
        procs, started = [], []
        for rank in range(4):
            if rank:
                time.sleep(1.2)
            started.append(time.time_ns())
            # 40 iterations of 100 ms: every rank still runs when the last starts
            procs.append(spawn([binary("driver_loop"), "40", "100"], RANK=str(rank),
                               WORLD_SIZE="4", LOCAL_RANK=str(rank),
                               OMNIPROF=f"autostart=1,dir={d}", **GPU_ENV))
        for p in procs:
            out, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, err)
        ended = time.time_ns()
        runs = {}
        for path in traces(d):
            t = load(path)
            info = t["distributedInfo"]
            self.assertEqual((info["world_size"], info["local_rank"]), (4, info["rank"]))
            runs[info["rank"]] = t
        self.assertEqual(sorted(runs), [0, 1, 2, 3])
        bases = {t["baseTimeNanoseconds"] for t in runs.values()}
        self.assertEqual(len(bases), 1, "one base time for the whole job")
        self.assertEqual(bases.pop() % THREE_MONTHS_NS, 0)
        # each rank's events, in real time, lie within its process's life
        span = {}
        for rank, t in runs.items():
            x = [e for e in t["traceEvents"] if e.get("ph") == "X"]
            span[rank] = (min(abs_ns(t, e) for e in x), max(abs_ns(t, e) for e in x))
            self.assertTrue(started[rank] <= span[rank][0] < span[rank][1] <= ended)
        # HTA finds the ranks and puts them on one time axis as they ran
        a = analysis(d)
        self.assertEqual(a.t.get_ranks(), [0, 1, 2, 3])
        self.assertEqual([a.t.meta_data[r]["distributedInfo"]["rank"] for r in range(4)],
                         [0, 1, 2, 3])
        origin = min(first for first, _ in span.values())
        first = {}
        for rank in range(4):
            df = a.t.get_trace(rank)
            first[rank] = df["ts"].min()
            self.assertAlmostEqual(first[rank], (span[rank][0] - origin) / 1000, delta=1)
        self.assertEqual(a.get_profiler_steps(), list(range(1, 41)))
        self.assertEqual(sorted(first, key=first.get), [0, 1, 2, 3], "in the order they started")
        self.assertTrue(all(first[r + 1] - first[r] > 1_000_000 for r in range(3)),
                        "a second and more apart")
        last0 = (a.t.get_trace(0)["ts"] + a.t.get_trace(0)["dur"]).max()
        self.assertLess(first[3], last0, "rank 3 ran while rank 0 still ran: they interleave")


if __name__ == "__main__":
    unittest.main()
