#!/usr/bin/env python3
"""Integration tests of NVTX: samples/nvtx_ranges (the toolkit's NVTX v3
headers, an unmodified binary) under the preload against the fake CUDA
libraries.  The ranges, marks and names in the trace, exactly; their GPU
projection (gpu_user_annotation) against the GPU work of the launches inside
each range, with the fake CUPTI; the hooks-only record; step_on=nvtx: with
delay and max iterations and the clipping of ranges at a session's edges;
ranges begun while omniprof is idle, ended in (or open across) a session
started and stopped by request;
the table and `omniprof summary --by nvtx`; a program's own NVTX tool kept;
and a program without NVTX untouched."""
import collections
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from helpers import BUILD, CLI, LIB, base_env, binary, entries, load, traces, wait_for

TOOL = os.path.join(BUILD, "lib", "libnvtx_tool.so")
ITERATIONS = 3


def env_of(preload=True, **extra):
    e = base_env(**extra)
    if "NVTX_INJECTION64_PATH" not in extra:
        e.pop("NVTX_INJECTION64_PATH", None)
    if preload:
        e["LD_PRELOAD"] = LIB
    return e


def run(cmd, preload=True, **extra):
    return subprocess.run(cmd, env=env_of(preload, **extra), capture_output=True, text=True,
                          timeout=120)


def ranges(t, cat="user_annotation"):
    """NVTX ranges: the iterations' ProfilerStep#N spans share their category."""
    return [e for e in t["traceEvents"] if e.get("cat") == cat and e["ph"] == "X"
            and not e["name"].startswith("ProfilerStep#")]


def by_name(events):
    out = collections.defaultdict(list)
    for e in events:
        out[e["name"]].append(e)
    return out


def to_us(cell):
    """A time as the table prints it ("1.234us", "5.600ms", "2.000s") in us."""
    for unit, scale in (("us", 1), ("ms", 1e3), ("s", 1e6)):
        if cell.endswith(unit):
            return float(cell[:-len(unit)]) * scale
    raise ValueError(cell)


def inside(inner, outer):
    return (inner["tid"] == outer["tid"] and inner["ts"] >= outer["ts"] and
            inner["ts"] + inner["dur"] <= outer["ts"] + outer["dur"] + 0.0005)


class Nvtx(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="omniprof-nvtx-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def profile(self, *args, omniprof="", cupti=True, **extra):
        r = run([binary("nvtx_ranges"), *map(str, args or (ITERATIONS,))],
                OMNIPROF=f"autostart=1,dir={self.dir}" + ("," + omniprof if omniprof else ""),
                OMNIPROF_CUPTI="true" if cupti else "false", **extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        found = traces(self.dir)
        self.assertEqual(len(found), 1, r.stderr)
        return r, load(found[0])

    # ---- the host side ---------------------------------------------------------------

    def check_host(self, t):
        pid = t["omniprof"]["pid"]
        rs = by_name(ranges(t))
        counts = {name: len(v) for name, v in rs.items()}
        self.assertEqual(counts, {"iteration": 3, "forward": 3, "registered step": 3,
                                  "worker": 3, "w\u00f6rker inner": 3, "handoff": 1})
        main = {e["tid"] for e in rs["iteration"] + rs["forward"] + rs["registered step"]}
        worker = {e["tid"] for e in rs["worker"] + rs["w\u00f6rker inner"]}
        self.assertEqual(main, {pid}, "main thread's ranges on the main thread")
        (wtid,) = worker
        self.assertNotEqual(wtid, pid)
        # nesting: forward and the domain range inside their iteration; inner inside worker
        for child in rs["forward"] + rs["registered step"]:
            self.assertEqual(sum(inside(child, it) for it in rs["iteration"]), 1, child)
        for child in rs["w\u00f6rker inner"]:
            self.assertEqual(sum(inside(child, w) for w in rs["worker"]), 1, child)
        for it, fwd in zip(sorted(rs["iteration"], key=lambda e: e["ts"]),
                           sorted(rs["forward"], key=lambda e: e["ts"])):
            self.assertTrue(inside(fwd, it))
        # attributes
        self.assertEqual(sorted(e["args"]["payload"] for e in rs["forward"]), [1, 2, 3])
        for e in rs["forward"]:
            self.assertEqual(e["args"]["nvtx"], "push/pop")
            self.assertEqual(e["args"]["category"], "compute")
            self.assertEqual(e["args"]["color"], "#FF76B900")
            self.assertNotIn("domain", e["args"])
        for e in rs["registered step"]:
            self.assertEqual(e["args"]["domain"], "omni.sample")
            self.assertEqual(e["args"]["category"], "io", "a domain's own category name")
        self.assertTrue(all("clipped" not in e["args"] for v in rs.values() for e in v))
        ids = [e["args"]["range id"] for v in rs.values() for e in v]
        self.assertEqual(len(ids), len(set(ids)), "range ids are unique")
        # marks: instants between each forward and its domain range
        marks = [e for e in t["traceEvents"] if e.get("ph") == "i" and e.get("cat") == "user_annotation"]
        self.assertEqual([m["name"] for m in marks], ["after forward"] * 3)
        self.assertTrue(all(m["tid"] == pid and m["args"]["nvtx"] == "mark" for m in marks))
        fwd_ends = sorted(e["ts"] + e["dur"] for e in rs["forward"])
        steps = sorted(e["ts"] for e in rs["registered step"])
        for m, a, b in zip(sorted(marks, key=lambda m: m["ts"]), fwd_ends, steps):
            self.assertTrue(a <= m["ts"] <= b)
        # the start/end range: where it began, its end on the worker, a flow between
        (handoff,) = rs["handoff"]
        self.assertEqual((handoff["tid"], handoff["args"]["nvtx"]), (pid, "start/end"))
        (end,) = [e for e in t["traceEvents"] if e.get("name") == "nvtxRangeEnd"]
        self.assertEqual((end["tid"], end["args"]["range"], end["args"]["began on thread"]),
                         (wtid, "handoff", pid))
        self.assertAlmostEqual(end["ts"], handoff["ts"] + handoff["dur"], places=2)
        flows = [e for e in t["traceEvents"] if e.get("name") == "nvtx_end"]
        self.assertEqual(sorted((f["ph"], f["tid"]) for f in flows), [("f", wtid), ("s", pid)])
        self.assertEqual(len({f["id"] for f in flows}), 1)
        # names: threads, the device, the stream
        names = {(e["pid"], e["tid"]): e["args"]["name"] for e in t["traceEvents"]
                 if e.get("ph") == "M" and e["name"] in ("thread_name", "process_name")}
        self.assertEqual(names[(pid, pid)], f"thread {pid} (main loop)")
        self.assertEqual(names[(pid, wtid)], f"thread {wtid} (nvtx w\u00f6rker)")
        return pid, wtid, names

    def test_ranges_marks_and_names(self):
        _, t = self.profile()
        _, _, names = self.check_host(t)
        labels = {e["pid"]: e["args"]["labels"] for e in t["traceEvents"]
                  if e.get("ph") == "M" and e["name"] == "process_labels"}
        self.assertEqual(labels[0], "GPU 0 (omni GPU)")  # the process name stays the program's
        streams = {v for (p, _), v in names.items() if p == 0 and v.startswith("stream")}
        self.assertEqual(len(streams), 2)
        self.assertIn("stream 7 ", streams)
        (side,) = streams - {"stream 7 "}
        self.assertTrue(side.endswith(" side stream"), side)

    # ---- the GPU side -------------------------------------------------------------------

    def expected_spans(self, t, r):
        """The GPU work the launches inside host range r made: (device,
        stream) -> (first start, last end, records)."""
        calls = [e for e in t["traceEvents"] if e.get("ph") == "X" and e.get("cat") == "cuda_driver"
                 and e["tid"] == r["tid"] and r["ts"] <= e["ts"] <= r["ts"] + r["dur"]]
        corr = {c["args"]["correlation"] for c in calls}
        spans = {}
        for g in t["traceEvents"]:
            if g.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset") and g["args"]["correlation"] in corr:
                k = (g["pid"], g["tid"])
                s, e, n = spans.get(k, (g["ts"], g["ts"] + g["dur"], 0))
                spans[k] = (min(s, g["ts"]), max(e, g["ts"] + g["dur"]), n + 1)
        return spans

    def test_gpu_annotations_span_the_work_launched_inside(self):
        _, t = self.profile()
        host = ranges(t)
        gpu = collections.defaultdict(dict)
        for g in ranges(t, "gpu_user_annotation"):
            gpu[g["args"]["range id"]][(g["pid"], g["tid"])] = g
        kernels = collections.Counter(e["name"] for e in t["traceEvents"] if e.get("cat") == "kernel")
        self.assertEqual(kernels, {"nvtx_k1": 6, "nvtx_k2": 6})
        flows = collections.defaultdict(list)
        for f in t["traceEvents"]:
            if f.get("name") == "nvtx_gpu":
                flows[f["id"]].append(f)
        records = collections.Counter()
        for r in host:
            want = self.expected_spans(t, r)
            got = gpu.get(r["args"]["range id"], {})
            self.assertEqual(set(got), set(want), r["name"])
            for k, (s, e, n) in want.items():
                g = got[k]
                self.assertEqual(g["name"], r["name"])
                self.assertAlmostEqual(g["ts"], s, places=3)
                self.assertAlmostEqual(g["ts"] + g["dur"], e, places=2)
                self.assertEqual(g["args"]["GPU records"], n)
                records[r["name"]] += n
                # a flow from the host range to this span
                pair = [fl for fl in flows.values()
                        if {(x["ph"], x["pid"], x["tid"], x["ts"]) for x in fl} ==
                        {("s", r["pid"], r["tid"], r["ts"]), ("f", g["pid"], g["tid"], g["ts"])}]
                self.assertEqual(len(pair), 1, r["name"])
        # what each range launched, by the sample's design
        self.assertEqual(dict(records), {"iteration": 9, "forward": 6, "registered step": 3,
                                   "worker": 3, "w\u00f6rker inner": 3, "handoff": 9})
        side = {g["tid"] for g in ranges(t, "gpu_user_annotation") if g["name"] == "registered step"}
        fwd = {g["tid"] for g in ranges(t, "gpu_user_annotation") if g["name"] == "forward"}
        self.assertEqual(len(side), 1)
        self.assertEqual(fwd, {7})
        self.assertNotEqual(side, fwd)

    def test_hooks_only_records_the_same_ranges_without_gpu_side(self):
        _, t = self.profile(cupti=False)
        self.assertEqual(t["omniprof"]["event_source"], "interposition")
        self.check_host(t)
        self.assertEqual(ranges(t, "gpu_user_annotation"), [], "no GPU timeline, no projection")
        launches = [e for e in t["traceEvents"] if e.get("name") == "cuLaunchKernel"]
        self.assertEqual(len(launches), 12)

    # ---- iterations from NVTX, clipping ------------------------------------------------

    def main_ranges(self, t):
        pid = t["omniprof"]["pid"]
        return by_name(e for e in ranges(t) if e["tid"] == pid)

    def test_step_on_nvtx_records_the_chosen_iterations(self):
        r, t = self.profile(6, omniprof="step_on=nvtx:iteration,delay_iterations=2,max_iterations=2")
        self.assertIn("max_iterations (2) reached", r.stderr)
        rs = self.main_ranges(t)
        self.assertEqual(len(rs["iteration"]), 2)
        self.assertEqual(sorted(e["args"]["payload"] for e in rs["forward"]), [3, 4])
        self.assertEqual(len(rs["registered step"]), 2)
        self.assertTrue(all("clipped" not in e["args"] for e in rs["iteration"]))
        # begun before recording and still open after: clipped at both ends
        (handoff,) = rs["handoff"]
        self.assertEqual(handoff["args"]["clipped"], "both")
        o = t["omniprof"]
        base = t["baseTimeNanoseconds"]
        self.assertAlmostEqual(handoff["ts"], (o["session_begin_ns"] - base) / 1000, places=2)
        self.assertAlmostEqual(handoff["ts"] + handoff["dur"], (o["session_end_ns"] - base) / 1000,
                               places=2)

    def test_step_on_a_domain_range_and_clipping(self):
        _, t = self.profile(
            4, omniprof="step_on=nvtx:omni.sample/registered step,delay_iterations=1,max_iterations=1")
        rs = self.main_ranges(t)
        # recording from the end of iteration 1's domain range to the end of iteration 2's
        self.assertEqual(len(rs["registered step"]), 1)
        self.assertEqual([e["args"]["payload"] for e in rs["forward"]], [2])
        its = sorted(rs["iteration"], key=lambda e: e["ts"])
        self.assertEqual([e["args"].get("clipped") for e in its], ["start", "end"])
        o = t["omniprof"]
        base = t["baseTimeNanoseconds"]
        self.assertAlmostEqual(its[0]["ts"], (o["session_begin_ns"] - base) / 1000, places=2)
        self.assertAlmostEqual(its[1]["ts"] + its[1]["dur"], (o["session_end_ns"] - base) / 1000,
                               places=2)

    def test_step_on_nvtx_brackets_profiler_cuda(self):
        # profiler=cuda records nothing itself, but NVTX's steps still drive its window
        report = os.path.join(self.dir, "fake.txt")
        r = run([binary("nvtx_ranges"), "6"], FAKE_CUDA_REPORT=report,
                OMNIPROF="profiler=cuda,autostart=1,step_on=nvtx:iteration,delay_iterations=2,"
                         "max_iterations=2")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(report) as f:
            self.assertEqual(f.read().split()[1:3], ["profiler_start=1", "profiler_stop=1"])
        self.assertEqual(traces(self.dir), [])

    def test_step_on_another_domain_never_steps(self):
        r = run([binary("nvtx_ranges"), "3"], OMNIPROF_CUPTI="false",
                OMNIPROF=f"autostart=1,dir={self.dir},step_on=nvtx:other/registered step,"
                         "delay_iterations=1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(traces(self.dir), [], "armed, never recording: nothing written")

    def test_step_on_nvtx_needs_a_name(self):
        r = run([binary("nvtx_ranges"), "1"], OMNIPROF="step_on=nvtx:dom/")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("step_on: 'nvtx:dom/' names no NVTX range", r.stderr)

    # ---- ranges begun while idle ---------------------------------------------------------

    LONG = "a range begun while omniprof is idle, its name longer than the copy's 63 bytes"

    def idle_session(self):
        """tests/integration/nvtx_idle: its ranges begun with no session
        started, then a session started (`omniprof start --pid --wait`)
        around the launches and ends, stopped before the last pop."""
        p = subprocess.Popen([binary("nvtx_idle")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env=env_of(OMNIPROF=f"dir={self.dir}", OMNIPROF_CUPTI="true"))
        self.addCleanup(p.kill)
        self.assertEqual(p.stdout.readline(), "idle\n")
        wait_for(lambda: p.pid in entries())
        ctl = lambda what: subprocess.run([CLI, what, "--pid", str(p.pid), "--wait"],
                                          env=base_env(), capture_output=True, text=True,
                                          timeout=60)
        r = ctl("start")
        self.assertIn(": recording", r.stdout, r.stderr)
        p.stdin.write("go\n")
        p.stdin.flush()
        self.assertEqual(p.stdout.readline(), "ended\n")
        r = ctl("stop")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        _, err = p.communicate("exit\n", timeout=60)
        self.assertEqual(p.returncode, 0, err)
        (path,) = traces(self.dir)
        return load(path)

    def test_ranges_begun_while_idle_are_clipped_to_the_session(self):
        t = self.idle_session()
        pid = t["omniprof"]["pid"]
        o, base = t["omniprof"], t["baseTimeNanoseconds"]
        begin, end = (o["session_begin_ns"] - base) / 1000, (o["session_end_ns"] - base) / 1000
        cut = self.LONG.encode()[:60].decode() + "\u2026"
        rs = by_name(ranges(t))
        self.assertEqual({k: len(v) for k, v in rs.items()},
                         {"idle outer": 1, "idle registered": 1, "idle w\u00efde": 1,
                          "idle handoff": 1, cut: 1},
                         "exact names: copied at the push, the long one cut and marked")
        (outer,), (reg,), (wide,), (handoff,), (long_,) = (
            rs["idle outer"], rs["idle registered"], rs["idle w\u00efde"], rs["idle handoff"],
            rs[cut])
        for e in (outer, reg, wide, handoff, long_):
            self.assertEqual(e["tid"], pid, e["name"])
            self.assertAlmostEqual(e["ts"], begin, places=2, msg=e["name"])
        for e in (outer, reg, wide, handoff):
            self.assertEqual(e["args"]["clipped"], "start", e["name"])
            self.assertLess(e["ts"] + e["dur"], end, e["name"])
        self.assertEqual(long_["args"]["clipped"], "both", "still open at the stop")
        self.assertAlmostEqual(long_["ts"] + long_["dur"], end, places=2)
        # what each said of itself
        self.assertEqual((outer["args"]["nvtx"], outer["args"]["domain"], outer["args"]["category"],
                          outer["args"]["color"]), ("push/pop", "omni.idle", "phase", "#FF112233"))
        self.assertEqual(reg["args"]["domain"], "omni.idle")
        self.assertNotIn("domain", wide["args"])
        self.assertEqual((handoff["args"]["nvtx"], handoff["args"]["category"],
                          handoff["args"]["payload"]), ("start/end", "handoff cat", 9))
        # nesting: the wide one ended first, the registered one next, then the outer one
        self.assertLess(wide["ts"] + wide["dur"], reg["ts"] + reg["dur"])
        self.assertLess(reg["ts"] + reg["dur"], outer["ts"] + outer["dur"])
        # the handoff ended on the worker
        (ending,) = [e for e in t["traceEvents"] if e.get("name") == "nvtxRangeEnd"]
        self.assertNotEqual(ending["tid"], pid)
        self.assertEqual(ending["args"]["range"], "idle handoff")
        self.assertAlmostEqual(ending["ts"], handoff["ts"] + handoff["dur"], places=2)
        ids = [e["args"]["range id"] for v in rs.values() for e in v]
        self.assertEqual(len(ids), len(set(ids)), "range ids are unique")
        # the GPU side: each one's projection is the work launched inside it
        gpu = collections.defaultdict(dict)
        for g in ranges(t, "gpu_user_annotation"):
            gpu[g["args"]["range id"]][(g["pid"], g["tid"])] = g
        records = {}
        for r in rs.values():
            (r,) = r
            want = self.expected_spans(t, r)
            got = gpu.get(r["args"]["range id"], {})
            self.assertEqual(set(got), set(want), r["name"])
            for k, (s, e, n) in want.items():
                self.assertEqual(got[k]["name"], r["name"])
                self.assertAlmostEqual(got[k]["ts"], s, places=3)
                self.assertAlmostEqual(got[k]["ts"] + got[k]["dur"], e, places=2)
                self.assertEqual(got[k]["args"]["GPU records"], n)
            records[r["name"]] = sum(n for _, _, n in want.values())
        self.assertEqual(records, {"idle w\u00efde": 2, "idle registered": 3, "idle outer": 4,
                                   "idle handoff": 4, cut: 4})

    # ---- the table and summary ------------------------------------------------------------

    def test_table_and_summary_by_nvtx(self):
        _, t = self.profile()
        (table,) = [f for f in os.listdir(self.dir) if f.startswith("profiler_out_")]
        with open(os.path.join(self.dir, table), encoding="utf-8") as f:
            text = f.read()
        rows = {}
        for line in text.splitlines():
            m = re.match(r"\s*\[nvtx\] (.+?)\s{2,}(.*)$", line)
            if m:
                rows[m.group(1)] = m.group(2).split()
        self.assertEqual(set(rows), {"iteration", "forward", "omni.sample/registered step",
                                     "worker", "w\u00f6rker inner", "handoff"})
        self.assertEqual(rows["forward"][-1], "3")
        self.assertEqual(rows["handoff"][-1], "1")
        s = subprocess.run([CLI, "summary", traces(self.dir)[0], "--by", "nvtx"],
                           capture_output=True, text=True, env=base_env())
        self.assertEqual(s.returncode, 0, s.stderr)
        summary = {}
        for line in s.stdout.splitlines():
            m = re.match(r"\s*(.+?)\s{2,}(\S+\s+\S+%.*)$", line)
            if m and m.group(1) != "Name":
                summary[m.group(1)] = m.group(2).split()
        self.assertEqual(set(summary), set(rows))
        gpu = collections.defaultdict(float)
        for g in ranges(t, "gpu_user_annotation"):
            name = (g["args"]["domain"] + "/" if "domain" in g["args"] else "") + g["name"]
            gpu[name] += g["dur"]
        for name, cells in summary.items():
            self.assertEqual(cells[-1], rows[name][-1], name)
            self.assertEqual(cells, rows[name], f"{name}: summary and table agree")
            self.assertAlmostEqual(to_us(cells[0]), gpu[name], delta=0.0011 + gpu[name] * 1e-3)

    # ---- whose NVTX tool ----------------------------------------------------------------

    def test_program_naming_its_own_tool_keeps_it(self):
        report = os.path.join(self.dir, "tool.txt")
        r, t = self.profile(NVTX_INJECTION64_PATH=TOOL, NVTX_TOOL_REPORT=report, cupti=False)
        with open(report) as f:
            self.assertEqual(f.read().split(), ["initialised", "pushes=6"])
        self.assertEqual(r.stderr.count("NVTX_INJECTION64_PATH names another NVTX tool"), 1, r.stderr)
        self.assertEqual(ranges(t), [], "the ranges went to the program's tool")
        self.assertEqual(sum(e.get("name") == "cuLaunchKernel" for e in t["traceEvents"]), 12)

    def test_omniprof_run_names_the_library_and_keeps_a_tool(self):
        cmd = [CLI, "run", "-o", self.dir, "--autostart", "--", binary("nvtx_ranges"), "2"]
        r = subprocess.run(cmd, env=env_of(preload=False), capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        (path,) = traces(self.dir)
        self.assertEqual(len(by_name(ranges(load(path)))["iteration"]), 2)
        os.unlink(path)
        report = os.path.join(self.dir, "tool.txt")
        r = subprocess.run(cmd, env=env_of(preload=False, NVTX_INJECTION64_PATH=TOOL,
                                           NVTX_TOOL_REPORT=report),
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(report) as f:
            self.assertEqual(f.read().split(), ["initialised", "pushes=4"])
        (path,) = traces(self.dir)
        self.assertEqual(ranges(load(path)), [])
        env = subprocess.run([CLI, "run", "--", "sh", "-c", 'echo "$NVTX_INJECTION64_PATH"'],
                             env=env_of(preload=False), capture_output=True, text=True)
        self.assertEqual(os.path.realpath(env.stdout.strip()), os.path.realpath(LIB))

    def test_program_without_nvtx_is_untouched(self):
        bare = run([binary("driver_loop"), "4"], preload=False)
        r = run([binary("driver_loop"), "4"], OMNIPROF=f"autostart=1,dir={self.dir}")
        self.assertEqual((r.returncode, r.stdout), (bare.returncode, bare.stdout))
        self.assertNotIn("omniprof: nvtx", r.stderr)
        (path,) = traces(self.dir)
        t = load(path)
        self.assertEqual(ranges(t), [])
        self.assertEqual(sum(e.get("name") == "cuLaunchKernel" for e in t["traceEvents"]), 8)
        # a child the user keeps out of profiling gets no NVTX tool either
        for follow, present in (("false", False), ("true", True)):
            out = run(["sh", "-c", "exec env"], OMNIPROF=f"follow_exec={follow}")
            self.assertEqual("NVTX_INJECTION64_PATH=" in out.stdout, present, follow)

    def test_ranges_while_idle_change_nothing(self):
        bare = run([binary("nvtx_ranges"), "3"], preload=False)
        r = run([binary("nvtx_ranges"), "3"], OMNIPROF=f"dir={self.dir}")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (bare.returncode, bare.stdout, ""))
        self.assertEqual(traces(self.dir), [])


if __name__ == "__main__":
    unittest.main()
