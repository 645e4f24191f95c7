#!/usr/bin/env python3
"""Integration tests of `omniprof merge`: traces of a real pipeline (stages
0, 1, 2) and of other ranks, written by omniprof against the fake CUDA
libraries, the H200 torch.profiler fixture, and synthetic ranks whose clocks
were skewed on purpose, merged and checked with a real JSON parser: every
event exactly once, pids and flow ids distinct, every process named and
sorted, times exact, clocks re-aligned by the collectives; bad inputs refused
in one line."""
import collections
import glob
import gzip
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
from decimal import Decimal

import shift_clock
import synth_traces
from helpers import CLI, base_env, binary, traces

FIXTURE = glob.glob(os.path.join(os.path.dirname(__file__),
                                 "../fixtures/kineto-h200/*.pt.trace.json.gz"))[0]
PROCESS_META = ("process_name", "process_sort_index")


def load(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f, parse_float=Decimal)


def ns(value):
    return int(Decimal(value) * 1000)


def merge(*args, expect=0):
    r = subprocess.run([CLI, "merge", *map(str, args)], env=base_env(), capture_output=True,
                       text=True, timeout=120)
    if expect is not None:
        assert r.returncode == expect, (r.returncode, r.stdout, r.stderr)
    return r


def kinds(trace):
    """(ph, cat, name) -> count, the process metadata merge rewrites left out."""
    return collections.Counter((e.get("ph"), e.get("cat"), e.get("name"))
                               for e in trace["traceEvents"]
                               if not (e.get("ph") == "M" and e.get("name") in PROCESS_META))


def contents(trace):
    """Every event but the process metadata, as it was but for what merge
    rewrites (pid, ts, id, sf) and an empty args (which it leaves out)."""
    out = collections.Counter()
    for e in trace["traceEvents"]:
        if e.get("ph") == "M" and e.get("name") in PROCESS_META:
            continue
        e = {k: v for k, v in e.items() if k not in ("pid", "ts", "id", "sf")}
        if e.get("args") == {}:
            del e["args"]
        out[json.dumps(e, sort_keys=True, default=str)] += 1
    return out


def process_names(trace):
    names = collections.defaultdict(list)
    for e in trace["traceEvents"]:
        if e.get("ph") == "M" and e.get("name") == "process_name":
            names[e["pid"]].append(e["args"]["name"])
    return names


def sort_index(trace):
    return {e["pid"]: e["args"]["sort_index"] for e in trace["traceEvents"]
            if e.get("ph") == "M" and e.get("name") == "process_sort_index"}


def index_order(trace):
    """Process names in process_sort_index order."""
    names = {p: v[0] for p, v in process_names(trace).items()}
    index = sort_index(trace)
    return [names[p] for p in sorted(names, key=lambda p: index[p])]


class Merge(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        """A pipeline (stages 0, 1, 2 as rank 0) and two driver_loop ranks,
        profiled with CUPTI (the fake one) so each has a GPU "pid 0"."""
        cls.dir = tempfile.mkdtemp(prefix="omniprof-merge-")
        cls.runs = os.path.join(cls.dir, "runs")
        env = dict(OMNIPROF_CUPTI="true")
        cmds = [(["--", binary("pipeline"), "6"], {"RANK": "0"}),
                (["--", binary("driver_loop"), "5"], {"RANK": "1"}),
                (["--stage", "1", "--", binary("driver_loop"), "3", "0", "2"], {"RANK": "2"})]
        for args, extra in cmds:
            r = subprocess.run([CLI, "run", "-o", cls.runs, "--autostart", *args],
                               env=base_env(**env, **extra), capture_output=True, text=True,
                               timeout=120)
            assert r.returncode == 0, r.stderr
        cls.inputs = traces(cls.runs)
        assert len(cls.inputs) == 5, cls.inputs

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, True)

    def out(self, name):
        return os.path.join(self.dir, name)

    def test_every_event_once_pids_flows_names_and_order(self):
        out = self.out("all.json.gz")
        r = merge(self.runs, "-o", out)
        self.assertIn("merged 5 traces", r.stdout)
        m = load(out)
        ins = [load(p) for p in self.inputs]
        # every event of every input exactly once (process metadata replaced)
        want, whole = collections.Counter(), collections.Counter()
        for t in ins:
            want += kinds(t)
            whole += contents(t)
        self.assertEqual(kinds(m), want)
        self.assertEqual(contents(m), whole, "and each as it was")
        # pids: each input's pids become pids no other input has
        pids = m["mergedPids"]
        by_input = collections.defaultdict(set)
        for pid, rec in pids.items():
            by_input[rec["input"]].add(int(pid))
        self.assertEqual(len(by_input), 5)
        self.assertEqual(sum(len(v) for v in by_input.values()), len(pids))
        gpu0 = [int(p) for p, rec in pids.items() if rec["kind"] == "gpu" and rec["pid"] == 0]
        self.assertEqual(len(gpu0), 5, "a GPU 0 per input, each its own process")
        used = {e["pid"] for e in m["traceEvents"] if "pid" in e}
        self.assertEqual(used, {int(p) for p in pids})
        # every pid named once
        names = process_names(m)
        self.assertEqual(set(names), used)
        self.assertTrue(all(len(v) == 1 for v in names.values()), names)
        # flows: every s has exactly one f, and no id is shared by two inputs
        s = collections.Counter(e["id"] for e in m["traceEvents"] if e["ph"] == "s")
        f = collections.Counter(e["id"] for e in m["traceEvents"] if e["ph"] == "f")
        self.assertTrue(s)
        self.assertEqual(s, f)
        self.assertTrue(all(n == 1 for n in s.values()))
        self.assertEqual(sum(len({e["id"] for e in t["traceEvents"] if e["ph"] == "s"})
                             for t in ins), len(s))

    def test_process_names_and_stage_order(self):
        out = self.out("names.json")
        merge(*self.inputs, "-o", out)
        m = load(out)
        names = {p: v[0] for p, v in process_names(m).items()}
        recs = {r["file"]: r for r in m["mergedInputs"]}
        expected = []
        for path in self.inputs:
            t = load(path)
            o = t["omniprof"]
            rec = recs[path]
            self.assertEqual((rec["stage"] if "stage" in rec else -1, rec["rank"], rec["pid"]),
                             (o["stage"], o["rank"], o["pid"]))
            parts = ([f"stage-{o['stage']}"] if o["stage"] >= 0 else []) + \
                [f"rank {o['rank']}", rec["host"], str(o["pid"])]
            expected.append((o["stage"] if o["stage"] >= 0 else 1 << 40, o["rank"], o["pid"],
                             " · ".join(parts), ", ".join(parts)))
        self.assertTrue(all(r["host"] for r in m["mergedInputs"]))
        expected.sort()
        index = sort_index(m)
        order = sorted(names, key=lambda p: index[p])
        got = [names[p] for p in order if not names[p].startswith("GPU")]
        self.assertEqual(got, [e[3] for e in expected], "processes by stage, then rank, then pid")
        gpus = [names[p] for p in order if names[p].startswith("GPU")]
        self.assertEqual(gpus, [f"GPU 0 ({e[4]})" for e in expected])
        # each GPU right after its process
        kinds_in_order = ["gpu" if names[p].startswith("GPU") else "cpu" for p in order]
        self.assertEqual(kinds_in_order, ["cpu", "gpu"] * 5)
        self.assertEqual(len(set(index.values())), len(index))

    def test_times_exact_and_stack_frames_renumbered(self):
        out = self.out("times.json.gz")
        merge(self.runs, "-o", out)
        m = load(out)
        base = m["baseTimeNanoseconds"]
        self.assertEqual(base, min(load(p)["baseTimeNanoseconds"] for p in self.inputs))
        recs = m["mergedInputs"]
        first = {}
        for e in m["traceEvents"]:
            if e["ph"] == "X" and e.get("cat") == "kernel":
                first.setdefault(e["pid"], []).append(base + ns(e["ts"]))
        pids = m["mergedPids"]
        for k, rec in enumerate(recs):
            t = load(rec["file"])
            want = sorted(t["baseTimeNanoseconds"] + ns(e["ts"]) for e in t["traceEvents"]
                          if e["ph"] == "X" and e.get("cat") == "kernel")
            gpu = [int(p) for p, r in pids.items() if r["input"] == k and r["kind"] == "gpu"]
            got = sorted(sum((first[p] for p in gpu), []))
            self.assertEqual(got, want, "absolute ns kept exactly")
            self.assertEqual(rec["clock_offset_ns"], 0)
        frames = m["stackFrames"]
        refs = {e["sf"] for e in m["traceEvents"] if "sf" in e}
        self.assertTrue(refs)
        self.assertTrue(refs <= set(frames))
        self.assertTrue(all(f.get("parent", next(iter(frames))) in frames for f in frames.values()))
        prefixes = {ref.split("-")[0] for ref in refs}
        self.assertEqual(len(prefixes), 5, "a prefix per input")
        self.assertEqual(sum(len(load(p).get("stackFrames", {})) for p in self.inputs), len(frames))

    def test_args_as_written_with_escapes_and_odd_spacing(self):
        """merge copies each event's args as they were read: escapes, nested
        values, whitespace and newlines inside them, names that need escaping
        (a hostile_names run through the fake CUPTI) come out as the same
        values through a real JSON parser."""
        runs = self.out("hostile")
        r = subprocess.run([CLI, "run", "-o", runs, "--autostart", "--", binary("hostile_names")],
                           env=base_env(OMNIPROF_CUPTI="true"), capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        (hostile,) = traces(runs)
        odd = self.out("odd.json")
        with open(odd, "w", encoding="utf-8") as f:
            f.write('{"traceEvents": [\n'
                    ' {"ph": "X", "name": "a\\"b", "pid": 1, "tid": 2, "ts": 1.5, "dur": 2.000,\n'
                    '  "args"  :  {\n    "s" : "q\\"\\\\\\/\\u00e9\\n\\ud83d\\ude00",\n'
                    '    "n": [1, [2.50, -3e2], {"k": null, "t": true}] ,"e": {}\n  }\n },\n'
                    ' {"ph": "i", "s": "t", "name": "m", "pid": 1, "tid": 2, "ts": 3,'
                    ' "args": {"caf\\u00e9": "\u00e9"}}\n]}\n')
        out = self.out("odd-merged.json")
        merge(hostile, odd, "-o", out)
        merged = load(out)
        self.assertEqual(contents(merged), contents(load(hostile)) + contents(load(odd)))
        by_name = {e["name"]: e for e in merged["traceEvents"] if e.get("pid") is not None}
        self.assertEqual(by_name['a"b']["args"]["s"], 'q"\\/\u00e9\n\U0001F600')
        self.assertEqual(by_name["m"]["args"], {"caf\u00e9": "\u00e9"})

    def test_gzip_and_plain_outputs_hold_the_same(self):
        merge(self.runs, "-o", self.out("same.json.gz"))
        merge(self.runs, "-o", self.out("same.json"))
        gz, plain = load(self.out("same.json.gz")), load(self.out("same.json"))
        self.assertEqual(gz.pop("traceName"), self.out("same.json.gz"))
        self.assertEqual(plain.pop("traceName"), self.out("same.json"))
        self.assertEqual(gz, plain)

    def test_kineto_fixture_merges_with_omniprof(self):
        out = self.out("kineto.json.gz")
        merge(FIXTURE, self.inputs[0], "-o", out)
        m, k, o = load(out), load(FIXTURE), load(self.inputs[0])
        self.assertEqual(kinds(m), kinds(k) + kinds(o))
        names = process_names(m)
        used = {e["pid"] for e in m["traceEvents"] if "pid" in e}
        self.assertEqual(set(names), used)
        self.assertTrue(all(isinstance(p, int) for p in used), "string pids become numbers")
        # the fixture names its stage and host in its file name, its pid in its events
        self.assertIn("stage-0 · gpuhost · 415", [v[0] for v in names.values()])
        self.assertIn("GPU 0 (stage-0, gpuhost, 415)", [v[0] for v in names.values()])
        # Kineto's flows keep their shape (one s, any f) under ids of their own
        kf = collections.Counter((e["ph"], e["id"]) for e in k["traceEvents"] if e["ph"] in "sf")
        mf = collections.Counter((e["ph"], e["id"]) for e in m["traceEvents"] if e["ph"] in "sf")
        of = collections.Counter((e["ph"], e["id"]) for e in o["traceEvents"] if e["ph"] in "sf")
        self.assertEqual(sorted(mf.values()), sorted(list(kf.values()) + list(of.values())))
        self.assertEqual(contents(m), contents(k) + contents(o))
        # times: the fixture is 57 days before the omniprof run; both exact
        base = m["baseTimeNanoseconds"]
        self.assertEqual(base, k["baseTimeNanoseconds"])
        kts = sorted(k["baseTimeNanoseconds"] + ns(e["ts"]) for e in k["traceEvents"]
                     if e.get("cat") == "cpu_op")
        mts = sorted(base + ns(e["ts"]) for e in m["traceEvents"] if e.get("cat") == "cpu_op")
        self.assertEqual(kts, mts)

    def test_stage_rank_and_host_from_file_names(self):
        """A torch trace knows none of them itself: its file name says; its own
        pid (in its events) wins over the name's."""
        named = self.out("run7-stage-3_my_host_77_rank5.1790857026000000000.pt.trace.json")
        with gzip.open(FIXTURE, "rb") as f, open(named, "wb") as g:
            g.write(f.read())
        bare = self.out("plain_name.json")
        shutil.copy(named, bare)
        out = self.out("named.json")
        merge(named, bare, "-o", out)
        m = load(out)
        names = sorted(v[0] for v in process_names(m).values())
        self.assertIn("stage-3 · rank 5 · my_host · 415", names)
        self.assertIn("GPU 0 (stage-3, rank 5, my_host, 415)", names)
        self.assertIn("plain_name · 415", names, "nothing known but the pid: the file's name")
        recs = {os.path.basename(r["file"]): r for r in m["mergedInputs"]}
        self.assertEqual({k: recs[os.path.basename(named)].get(k)
                          for k in ("stage", "rank", "host", "pid")},
                         {"stage": 3, "rank": 5, "host": "my_host", "pid": 415})
        self.assertEqual(index_order(m)[:3], ["stage-3 · rank 5 · my_host · 415",
                                              "GPU 0 (stage-3, rank 5, my_host, 415)",
                                              "GPU 1 (stage-3, rank 5, my_host, 415)"])

    def test_a_directory_with_other_json_and_a_merged_input(self):
        d = self.out("mixed-dir")
        os.makedirs(d, exist_ok=True)
        for p in self.inputs[:2]:
            shutil.copy(p, d)
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write('{"not": "a trace"}')
        inner = os.path.join(d, "inner.json.gz")
        r = merge(d, "-o", inner)
        self.assertIn("left out", r.stderr)
        self.assertIn("config.json", r.stderr)
        # merging again into the same directory leaves the output itself out
        r = merge(d, "-o", inner)
        self.assertIn("merged 2 traces", r.stdout)
        outer = self.out("outer.json")
        merge(inner, self.inputs[2], "-o", outer)
        m = load(outer)
        names = [v[0] for v in process_names(m).values()]
        self.assertEqual(len(names), 6)
        self.assertEqual(len([n for n in names if n.startswith("GPU 0 (")]), 3,
                         "the merged input keeps the names it had")

    def test_align_wall_keeps_a_shifted_copy_apart_and_none_ignores_bases(self):
        src = self.inputs[0]
        skewed = self.out("skewed.pt.trace.json.gz")
        shift_clock.shift(src, skewed, 3_200_000_123, rank=7, host="otherhost")
        out = self.out("wall.json")
        merge(src, skewed, "-o", out)
        m = load(out)
        recs = sorted(m["mergedInputs"], key=lambda r: r["rank"])
        self.assertEqual(recs[1]["baseTimeNanoseconds"] - recs[0]["baseTimeNanoseconds"],
                         3_200_000_123)
        self.assertEqual(recs[1]["host"], "otherhost")
        self.assertEqual(recs[1]["ts_shift_ns"] - recs[0]["ts_shift_ns"], 3_200_000_123)
        kern = collections.defaultdict(list)
        for e in m["traceEvents"]:
            if e.get("cat") == "kernel":
                kern[m["mergedPids"][str(e["pid"])]["rank"]].append(ns(e["ts"]))
        a, b = sorted(kern[recs[0]["rank"]]), sorted(kern[7])
        self.assertEqual([y - x for x, y in zip(a, b)], [3_200_000_123] * len(a))
        merge(src, skewed, "-o", out, "--align=none")
        m = load(out)
        self.assertTrue(all(r["ts_shift_ns"] == 0 for r in m["mergedInputs"]))
        r = merge(src, skewed, "-o", out, "--align=collective")
        self.assertIn("no NCCL kernel in any input: wall clock kept", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 2, r.stderr)


class Collective(unittest.TestCase):
    """Four ranks on four hosts whose clocks are off by known amounts."""

    SKEWS = [0, 3_200_000_000, -1_500_000, 250_123]

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="omniprof-align-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def write(self, traces, hosts):
        paths = []
        for tr, host in zip(traces, hosts):
            p = os.path.join(self.dir, f"{host}_{tr.pid}.{tr.base()}.pt.trace.json.gz")
            tr.write(p)
            paths.append(p)
        return paths

    def offsets(self, stderr):
        found = {}
        for line in stderr.splitlines():
            m = re.match(r"omniprof: merge: clock of (.*): offset ([-+]\d+\.\d{3}) us", line)
            self.assertTrue(m, line)
            found[m.group(1)] = int(Decimal(m.group(2)) * 1000)
        return found

    def check_truth(self, m, traces, tolerance_ns=10_000):
        """Every kernel of every rank at its true time on rank 0's clock."""
        base = m["baseTimeNanoseconds"]
        pids = m["mergedPids"]
        for tr in traces:
            true = sorted(s + traces[0].skew for ev, s, _ in tr.events if ev.get("cat") == "kernel")
            got = sorted(base + ns(e["ts"]) for e in m["traceEvents"] if e.get("cat") == "kernel"
                         and pids[str(e["pid"])]["rank"] == tr.rank)
            self.assertEqual(len(got), len(true))
            worst = max(abs(a - b) for a, b in zip(got, true))
            self.assertLessEqual(worst, tolerance_ns, f"rank {tr.rank}")

    def test_four_ranks_realigned_and_offsets_printed(self):
        traces = synth_traces.ranks(self.SKEWS)
        paths = self.write(traces, [f"host{r}" for r in range(4)])
        out = os.path.join(self.dir, "aligned.json.gz")
        r = merge(*reversed(paths), "-o", out, "--align=collective")
        found = self.offsets(r.stderr)
        self.assertEqual(len(found), 4, r.stderr)
        for rank, skew in enumerate(self.SKEWS):
            label = f"rank {rank} · host{rank} · {1000 + rank}"
            self.assertLessEqual(abs(found[label] - (-skew)), 10_000, (label, found))
        m = load(out)
        self.check_truth(m, traces)
        applied = {rec["rank"]: rec["clock_offset_ns"] for rec in m["mergedInputs"]}
        for line_label, off in found.items():
            rank = int(re.search(r"rank (\d+)", line_label).group(1))
            self.assertEqual(applied[rank], off, "the offsets printed are the ones applied")
        # wall (the default) leaves the skew in
        merge(*paths, "-o", out)
        m = load(out)
        with self.assertRaises(AssertionError):
            self.check_truth(m, traces)

    def test_a_host_shares_one_clock_and_shifted_copies_follow(self):
        """Ranks 0, 1 on host a; 2, 3 on host b, whose clock is 3.2 s ahead:
        the shift script makes b's traces from true ones."""
        traces = synth_traces.ranks([0, 0, 0, 0], iterations=25, seed=11)
        paths = self.write(traces, ["a", "a", "b", "b"])
        for p in paths[2:]:
            shift_clock.shift(p, p, 3_200_000_000)
        for tr in traces[2:]:
            tr.skew = 3_200_000_000
        out = os.path.join(self.dir, "hosts.json")
        r = merge(*paths, "-o", out, "--align=collective")
        found = self.offsets(r.stderr)
        self.assertEqual(found["rank 1 · a · 1001"], 0)
        self.assertIn("same host as the reference", r.stderr)
        self.assertEqual(found["rank 2 · b · 1002"], found["rank 3 · b · 1003"], "one clock per host")
        self.assertLessEqual(abs(found["rank 2 · b · 1002"] + 3_200_000_000), 10_000)
        for tr in traces:
            tr.skew = 0
        self.check_truth(load(out), traces)


class BadInputs(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="omniprof-bad-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.good = os.path.join(self.dir, "good.pt.trace.json.gz")
        synth_traces.ranks([0], iterations=3)[0].write(self.good)

    def refused(self, *inputs, says):
        out = os.path.join(self.dir, "out.json.gz")
        r = merge(*inputs, "-o", out, expect=2)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("omniprof: "), lines[0])
        self.assertIn(says, lines[0])
        self.assertFalse(os.path.exists(out), "nothing written")
        self.assertEqual([f for f in os.listdir(self.dir) if ".tmp." in f], [], "no temporary left")

    def test_truncated_gzip(self):
        with open(self.good, "rb") as f:
            data = f.read()
        bad = os.path.join(self.dir, "cut.json.gz")
        with open(bad, "wb") as f:
            f.write(data[: len(data) * 2 // 3])
        self.refused(self.good, bad, says="truncated gzip")

    def test_not_a_trace(self):
        bad = os.path.join(self.dir, "config.json")
        with open(bad, "w") as f:
            f.write('{"a": [1, 2, 3]}')
        self.refused(self.good, bad, says="no traceEvents array")
        with open(bad, "w") as f:
            f.write('{"traceEvents": [1')
        self.refused(bad, says="not a readable trace")

    def test_empty_directory_and_missing_file(self):
        empty = os.path.join(self.dir, "empty")
        os.mkdir(empty)
        self.refused(empty, says="holds no trace files")
        self.refused(self.good, os.path.join(self.dir, "missing.json"),
                     says="No such file or directory")

    def test_usage(self):
        for args in ([self.good], ["-o", "x.json"], [self.good, "-o", "x", "--align=sideways"]):
            r = merge(*args, expect=2)
            self.assertIn("omniprof", r.stderr)


if __name__ == "__main__":
    unittest.main()
