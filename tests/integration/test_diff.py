#!/usr/bin/env python3
"""Integration tests of `omniprof diff`: synthetic runs whose kernels changed
by a known amount (one 2x slower, one removed) reported exactly, with
--fail-above's exit codes; rows by stage, Python frame and annotation;
demangled and template-grouped names; real pipeline runs (4 items against 8)
compared as directories and as a merged trace; the host-time fallback
without CUPTI; bad inputs refused in one line."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import synth_traces
from helpers import CLI, base_env, binary, traces


def diff(*args, expect=0, **env):
    r = subprocess.run([CLI, "diff", *map(str, args)], env=base_env(**env), capture_output=True,
                       text=True, timeout=120)
    if expect is not None:
        assert r.returncode == expect, (r.returncode, r.stdout, r.stderr)
    return r


RULE = re.compile(r"^-{20,}$")


def tables(text):
    """Each table of diff's output: (title line before it, {name: cells},
    total cells, the line after it).  Cells: calls before, calls after, time
    before, time after, avg before, avg after, delta, delta %."""
    lines = text.splitlines()
    out, i = [], 0
    while i < len(lines):
        if not RULE.match(lines[i]):
            i += 1
            continue
        title = lines[i - 1] if i else ""
        header, j = lines[i + 1], i + 3
        rows = {}
        while not RULE.match(lines[j]):
            tokens = lines[j].split()
            rows[" ".join(tokens[:-8])] = tokens[-8:]
            j += 1
        total = lines[j + 1].split()[-8:]
        out.append((title, header, rows, total, lines[j + 2]))
        i = j + 3
    return out


class Synthetic(unittest.TestCase):
    GEMM, NORM, GELU = "void gemm<float>(Params)", "layer_norm_kernel", "gelu_kernel"

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="omniprof-diff-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def pair(self, before, after):
        paths = []
        for name, tr in zip(("before", "after"), synth_traces.changed_runs(before, after)):
            p = os.path.join(self.dir, f"{name}.pt.trace.json.gz")
            tr.write(p)
            paths.append(p)
        return paths

    def test_slower_and_removed_kernels_exactly(self):
        before, after = self.pair({self.GEMM: (10, 5000), self.NORM: (10, 3000),
                                   self.GELU: (5, 2000)},
                                  {self.GEMM: (10, 10000), self.NORM: (10, 3000)})
        r = diff(before, after)
        (title, header, rows, total, tail), = tables(r.stdout)
        self.assertIn("by kernel, GPU time", r.stdout)
        self.assertEqual(re.split(r"\s{2,}", header.strip()),
                         ["Name", "Calls before", "Calls after", "GPU before", "GPU after",
                          "Avg before", "Avg after", "Delta", "Delta %"])
        self.assertEqual(list(rows), [self.GEMM, self.GELU, self.NORM], "by size of change")
        self.assertEqual(rows[self.GEMM], ["10", "10", "50.000us", "100.000us", "5.000us",
                                           "10.000us", "+50.000us", "+100.00%"])
        self.assertEqual(rows[self.GELU], ["5", "0", "10.000us", "0.000us", "2.000us", "-",
                                           "-10.000us", "gone"])
        self.assertEqual(rows[self.NORM], ["10", "10", "30.000us", "30.000us", "3.000us",
                                           "3.000us", "+0.000us", "+0.00%"])
        self.assertEqual(total, ["25", "20", "90.000us", "130.000us", "3.600us", "6.500us",
                                 "+40.000us", "+44.44%"])
        self.assertEqual(tail, "3 rows: 0 new, 1 gone")
        # the other way round: new, and 2x faster
        rows = tables(diff(after, before).stdout)[0][2]
        self.assertEqual(rows[self.GELU][-1], "new")
        self.assertEqual(rows[self.GEMM][-2:], ["-50.000us", "-50.00%"])

    def test_fail_above(self):
        before, after = self.pair({self.GEMM: (10, 5000), self.GELU: (5, 2000)},
                                  {self.GEMM: (10, 10000)})
        # 60 us -> 100 us: +66.67%
        r = diff(before, after, "--fail-above", "50", expect=1)
        self.assertIn("grew by 66.67%, more than 50%", r.stderr)
        diff(before, after, "--fail-above", "66.7", expect=0)
        diff(before, after, "--fail-above", "0", expect=1)
        diff(after, before, "--fail-above", "0", expect=0)
        diff(before, before, "--fail-above", "0", expect=0)
        diff(before, after, expect=0)
        for bad in ("-1", "x", "5%"):
            r = diff(before, after, "--fail-above", bad, expect=2)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def test_top(self):
        before, after = self.pair({self.GEMM: (10, 5000), self.NORM: (10, 3000),
                                   self.GELU: (5, 2000)},
                                  {self.GEMM: (10, 10000), self.NORM: (10, 3000)})
        (_, _, rows, total, tail), = tables(diff(before, after, "--top", "1").stdout)
        self.assertEqual(list(rows), [self.GEMM])
        self.assertEqual(total[-1], "+44.44%", "the total counts every row")
        self.assertEqual(tail, "3 rows: 0 new, 1 gone; 2 more not shown (in the total)")

    def test_demangled_and_grouped_names(self):
        before, after = self.pair({"_Z6kernelPfi": (4, 1000), "void k<float, 128>(P)": (3, 1000)},
                                  {"kernel(float*, int)": (4, 3000), "void k<half, 64>(P)": (3, 1000)})
        rows = tables(diff(before, after).stdout)[0][2]
        self.assertEqual(rows["kernel(float*, int)"][:4], ["4", "4", "4.000us", "12.000us"],
                         "a mangled name and its demangled form are one row")
        self.assertEqual(rows["void k<float, 128>(P)"][-1], "gone")
        self.assertEqual(rows["void k<half, 64>(P)"][-1], "new")
        rows = tables(diff(before, after, "--group-templates").stdout)[0][2]
        self.assertEqual(rows["void k<...>(P)"], ["3", "3", "3.000us", "3.000us", "1.000us",
                                                  "1.000us", "+0.000us", "+0.00%"])

    def python_run(self, forward_ns):
        tr = synth_traces.Trace(pid=77)
        t = 1_790_000_000_000_000_000
        for _ in range(3):
            # omniprof's form: the launch's own call stack, innermost first
            tr.launch("attn", t + 10_000, forward_ns, launch_ns=t,
                      stack=["libtorch.so+0x10", "model.py(12): forward", "train.py(40): main"])
            # torch.profiler's form: python_function ranges around the launch
            tr.range("python_function", "train.py(40): main", t + 100_000, 90_000)
            tr.range("python_function", "model.py(30): decode", t + 110_000, 50_000)
            tr.range("python_function", "<built-in method mm>", t + 120_000, 10_000)
            tr.launch("mm", t + 130_000, 2_000, launch_ns=t + 121_000)
            # no Python anywhere
            tr.launch("copy_kernel", t + 300_000, 1_000, launch_ns=t + 250_000)
            t += 1_000_000
        return tr

    def test_by_python(self):
        paths = []
        for name, ns in (("b", 4000), ("a", 8000)):
            p = os.path.join(self.dir, f"py-{name}.json")
            self.python_run(ns).write(p)
            paths.append(p)
        (_, _, rows, total, _), = tables(diff(*paths, "--by", "python").stdout)
        self.assertEqual(list(rows), ["model.py(12): forward", "model.py(30): decode",
                                      "(no python)"])
        self.assertEqual(rows["model.py(12): forward"][:4], ["3", "3", "12.000us", "24.000us"])
        self.assertEqual(rows["model.py(30): decode"][:4], ["3", "3", "6.000us", "6.000us"])
        self.assertEqual(rows["(no python)"][:4], ["3", "3", "3.000us", "3.000us"])

    def nvtx_run(self, decode_ns):
        tr = synth_traces.Trace(pid=88)
        t = 1_790_000_000_000_000_000
        for step in range(2):
            tr.range("user_annotation", f"ProfilerStep#{step}", t, 900_000)
            tr.range("user_annotation", "attention", t + 1_000, 20_000)
            tr.launch("attn", t + 30_000, 5_000, launch_ns=t + 2_000)
            tr.range("gpu_user_annotation", "decode", t + 100_000, 50_000, pid=0, tid=7)
            tr.launch("dec", t + 110_000, decode_ns, launch_ns=t + 50_000)
            tr.launch("other", t + 400_000, 1_000, launch_ns=t + 300_000)
            t += 1_000_000
        return tr

    def test_by_nvtx(self):
        paths = []
        for name, ns in (("b", 4000), ("a", 2000)):
            p = os.path.join(self.dir, f"nvtx-{name}.json")
            self.nvtx_run(ns).write(p)
            paths.append(p)
        (_, _, rows, _, _), = tables(diff(*paths, "--by", "nvtx").stdout)
        self.assertEqual(rows["decode"][2:4], ["8.000us", "4.000us"], "GPU-side range")
        self.assertEqual(rows["attention"][2:4], ["10.000us", "10.000us"],
                         "the range around the launch")
        self.assertEqual(rows["(none)"][2:4], ["2.000us", "2.000us"], "ProfilerStep is no range")
        self.assertEqual(len(rows), 3)


class Runs(unittest.TestCase):
    """Real pipeline runs: 4 items, then 8 (every kernel twice as often)."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="omniprof-diff-runs-")
        cls.small, cls.big = os.path.join(cls.dir, "small"), os.path.join(cls.dir, "big")
        for out, items in ((cls.small, 4), (cls.big, 8)):
            r = subprocess.run([CLI, "run", "-o", out, "--autostart", "--", binary("pipeline"),
                                str(items)], env=base_env(OMNIPROF_CUPTI="true"),
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stderr
            assert len(traces(out)) == 3
        cls.merged = os.path.join(cls.dir, "big-merged.json.gz")
        r = subprocess.run([CLI, "merge", cls.big, "-o", cls.merged], env=base_env(),
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, True)

    def test_by_stage(self):
        (_, _, rows, total, _), = tables(diff(self.small, self.big, "--by", "stage").stdout)
        self.assertEqual(sorted(rows), ["stage 0", "stage 1", "stage 2"])
        for cells in rows.values():
            self.assertEqual(cells[:2], ["4", "8"])
            self.assertEqual(cells[-1], "+100.00%")
        self.assertEqual(total[-1], "+100.00%")

    def test_kernels_with_a_section_per_stage(self):
        out = diff(self.small, self.big).stdout
        found = tables(out)
        self.assertEqual([t[0] for t in found[1:]], ["stage 0", "stage 1", "stage 2"])
        self.assertEqual(sorted(found[0][2]), ["code2wav_kernel", "talker_kernel",
                                               "thinker_kernel"])
        self.assertEqual([list(t[2]) for t in found[1:]],
                         [["thinker_kernel"], ["talker_kernel"], ["code2wav_kernel"]])

    def test_a_merged_trace_is_its_directory(self):
        for by in ("kernel", "stage"):
            found = tables(diff(self.big, self.merged, "--by", by, "--fail-above", "0").stdout)
            for _, _, rows, total, _ in found:
                self.assertTrue(all(c[-2:] == ["+0.000us", "+0.00%"] for c in rows.values()), rows)
                self.assertEqual(total[0], total[1])
            self.assertEqual(len(found), 4 if by == "kernel" else 1)

    def test_without_gpu_activity_host_times(self):
        small, big = os.path.join(self.dir, "h-small"), os.path.join(self.dir, "h-big")
        for out, n in ((small, 3), (big, 6)):
            r = subprocess.run([CLI, "run", "-o", out, "--autostart", "--", binary("driver_loop"),
                                str(n)], env=base_env(), capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
        r = diff(small, big)
        self.assertIn("host time of the launching calls", r.stdout)
        _, _, rows, total, _ = tables(r.stdout)[0]
        self.assertEqual(rows["vec_add"][:2], ["3", "6"])
        self.assertEqual(rows["scale"][:2], ["3", "6"])
        # every launch, copy and memset, in one row when nothing groups them
        for by, row in (("python", "(no python)"), ("nvtx", "(none)"), ("stage", "(no stage)")):
            rows = tables(diff(small, big, "--by", by).stdout)[0][2]
            self.assertEqual(list(rows), [row])
            self.assertEqual(rows[row][:4], total[:4], by)


class BadInputs(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="omniprof-diff-bad-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.good = os.path.join(self.dir, "good.json")
        synth_traces.changed_runs({"k": (1, 1000)}, {})[0].write(self.good)

    def refused(self, *args, says):
        r = diff(*args, expect=2)
        lines = r.stderr.strip().splitlines()
        self.assertTrue(lines and "omniprof" in lines[0], r.stderr)
        self.assertIn(says, r.stderr)
        return lines

    def test_bad_inputs(self):
        self.assertEqual(len(self.refused(self.good, os.path.join(self.dir, "nope.json"),
                                          says="No such file or directory")), 1)
        bad = os.path.join(self.dir, "bad.json")
        with open(bad, "w") as f:
            f.write("[1, 2]")
        self.assertEqual(len(self.refused(bad, self.good, says="not a readable trace")), 1)
        empty = os.path.join(self.dir, "empty")
        os.mkdir(empty)
        self.assertEqual(len(self.refused(self.good, empty, says="holds no trace files")), 1)
        cut = os.path.join(self.dir, "cut.json.gz")
        synth_traces.ranks([0], iterations=20)[0].write(cut)
        with open(cut, "rb") as f:
            data = f.read()
        with open(cut, "wb") as f:
            f.write(data[: len(data) // 2])
        self.assertEqual(len(self.refused(self.good, cut, says="truncated gzip")), 1)

    def test_usage(self):
        self.refused(self.good, says="usage")
        self.refused(self.good, self.good, self.good, says="usage")
        self.assertEqual(len(self.refused(self.good, self.good, "--by", "color",
                                          says="--by")), 1)
        self.refused(self.good, self.good, "--top", "-3", says="--top")


if __name__ == "__main__":
    unittest.main()
