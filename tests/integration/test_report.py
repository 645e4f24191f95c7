"""The report page, in a real browser: `omniprof report`, report=true (the page a
process writes beside its trace) and `omniprof stop --report`, for the pipeline demo
(three stage processes under `omniprof run`), the H200 Kineto fixture, hostile names,
a before/after comparison (the table of `omniprof diff` for the same traces) and a
trace of a million events.

Pages are opened by Debian's chromium driven by playwright-core
(tests/browser/check_page.mjs, from writer/page/node_modules): every test asserts no
console error, no page error, no dialog and no request but the page's own file, and
checks what the charts were given against the tables beside them and against the
numbers of the trace itself.  Screenshots go to <build>/test-artifacts/.
"""
import collections
import gzip
import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import synth_traces
from helpers import (BUILD, CLI, LIB, RUNTIME_DIR, base_env, binary, entries, load, read_text,
                     run, traces, wait_for)
from test_diff import tables as diff_tables

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHECK_PAGE = os.path.join(ROOT, "tests", "browser", "check_page.mjs")
PAGE_DIR = os.path.join(ROOT, "writer", "page")
CHROMIUM = os.environ.get("OMNI_CHROMIUM", "/usr/bin/chromium")
FIXTURE_DIR = os.path.join(ROOT, "tests", "fixtures", "kineto-h200")
FIXTURE = os.path.join(FIXTURE_DIR, "stage-0_gpuhost_4242.1795843162373984441.pt.trace.json.gz")
GEN_TRACE = os.path.join(ROOT, "tests", "bench", "gen_trace.py")
ARTIFACTS = os.path.join(BUILD, "test-artifacts")
UNIT_NS = {"us": 1e3, "ms": 1e6, "s": 1e9}
DATA = re.compile(r'<script id="omniprof-data" type="application/json">(.*?)</script>', re.S)


def page_data(path):
    """The JSON a page carries (what its charts are drawn from)."""
    return json.loads(DATA.search(read_text(path)).group(1))


def browse(page, screenshot=None, full=False):
    """What the browser saw of a page (check_page.mjs's JSON)."""
    cmd = ["node", CHECK_PAGE, page]
    if screenshot:
        os.makedirs(ARTIFACTS, exist_ok=True)
        cmd += ["--screenshot", os.path.join(ARTIFACTS, screenshot)] + (["--full"] if full else [])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180,
                       env=dict(os.environ, OMNI_CHROMIUM=CHROMIUM, OMNI_PAGE_DIR=PAGE_DIR))
    if r.returncode != 0:
        raise AssertionError(f"check_page.mjs failed ({r.returncode}): {r.stderr[-3000:]}")
    return json.loads(r.stdout)


def report(*args, env=None):
    r = subprocess.run([CLI, "report", *args], capture_output=True, text=True, timeout=300,
                       env=env or base_env())
    if r.returncode != 0:
        raise AssertionError(f"omniprof report {args}: {r.returncode}\n{r.stderr}")
    return r


def kernel_events(trace):
    return [e for e in trace["traceEvents"] if e.get("ph") == "X" and e.get("cat") == "kernel"]


def gz_bytes_trace(path, events, **top):
    doc = dict(top, traceEvents=events)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        json.dump(doc, f)


class PageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = [what for what, ok in (
            (f"chromium ({CHROMIUM})", os.access(CHROMIUM, os.X_OK)),
            ("node", shutil.which("node")),
            ("writer/page/node_modules/playwright-core (npm ci in writer/page)",
             os.path.isdir(os.path.join(PAGE_DIR, "node_modules", "playwright-core"))))
            if not ok]
        if missing:
            raise AssertionError("the report's browser tests need " + ", ".join(missing) +
                                 ": ./run.sh test installs them")

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="omniprof-report-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def assertClean(self, seen):
        """No error, no dialog, no request but the page: the page stands alone."""
        self.assertEqual(seen["pageErrors"], [])
        self.assertEqual([m for m in seen["console"] if m["type"] in ("error", "warning")], [])
        self.assertEqual(seen["dialogs"], [])
        self.assertEqual(seen["requests"], [seen["url"]])
        self.assertEqual(seen["blocked"], [])
        dom = seen["dom"]
        self.assertIn("default-src 'none'", dom["csp"])
        self.assertEqual(dom["scripts"], 3, "the data, the chart library, the page's script")
        self.assertEqual(dom["images"], 0)

    def assertChartsDrawn(self, run, kinds):
        drawn = {c["kind"] for c in run["charts"]}
        self.assertLessEqual(set(kinds), drawn, run["title"])
        for c in run["charts"]:
            self.assertTrue(c["canvas"], c["kind"])
            self.assertGreater(c["width"], 300)
            self.assertGreater(c["height"], 100)
            self.assertTrue(c["title"], c["kind"])
            self.assertTrue(all(len(s) == len(c["data"][0]) for s in c["data"]), c["kind"])

    def assertBarsMatchTable(self, run):
        """The kernel chart's bars are the time table's Self CUDA of the same
        names, longest first (the summed rest, when there is one, last)."""
        (bars,) = [c for c in run["charts"] if c["kind"] == "kernels"]
        unit = UNIT_NS[bars["series"][1]]
        table = {r[0]["text"]: r[1]["value"] for r in run["tables"]["time-table"]["rows"]}
        self.assertEqual(len(bars["names"]), len(bars["data"][1]))
        self.assertTrue(bars["names"])
        shown = [(n, v) for n, v in zip(bars["names"], bars["data"][1]) if not n.startswith("other (")]
        for name, value in shown:
            self.assertLessEqual(abs(value * unit - table[name]), 1, name)
        self.assertEqual([v for _, v in shown], sorted((v for _, v in shown), reverse=True))


class Pipeline(PageTest):
    """The demo: three stages under `omniprof run --report`, stages 0 and 2 profiled."""

    def test_pipeline_stages_in_one_page_and_each_beside_its_trace(self):
        env = base_env(OMNIPROF_CUPTI="true")  # the fake CUPTI: GPU records, as the demo
        p = subprocess.Popen([CLI, "run", "-o", self.dir, "--report", "--",
                              binary("pipeline"), "300", "10"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: len([e for e in entries().values() if e["stage"] in (0, 1, 2)]) >= 3)
            ctl = lambda *a: subprocess.run([CLI, *a], env=env, capture_output=True, text=True,
                                            timeout=60)
            r = ctl("start", "--stages", "0,2", "--wait")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            time.sleep(1.0)
            stop = ctl("stop", "--stages", "0,2", "--wait", "--report")
            self.assertEqual(stop.returncode, 0, stop.stdout + stop.stderr)
        finally:
            out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        page = os.path.join(self.dir, "report.html")
        self.assertIn(f"{page}: 2 traces", stop.stdout)
        for stage in (0, 2):
            (trace,) = [t for t in traces(self.dir) if os.path.basename(t).startswith(f"stage-{stage}_")]
            own = os.path.join(self.dir, "report_" + os.path.basename(trace).split(".")[0] + ".html")
            self.assertIn(own, stop.stdout, "stop --wait names the page each process wrote")
            # the process's page and the command's page of its trace say the same
            cli_page = os.path.join(self.dir, f"cli-{stage}.html")
            report(trace, "-o", cli_page)
            (mine,), (theirs,) = page_data(own)["runs"], page_data(cli_page)["runs"]
            self.assertEqual(mine, theirs)
            # and what they say is the trace's
            t = load(trace)
            kernels = kernel_events(t)
            self.assertEqual(len(mine["rows"]), 1)
            name, kind, gpu_calls, gpu_total = mine["rows"][0][:4]
            self.assertEqual(name, ["thinker_kernel", "talker_kernel", "code2wav_kernel"][stage])
            self.assertEqual(gpu_calls, len(kernels))
            self.assertEqual(gpu_total, sum(round(k["dur"] * 1000) for k in kernels))
            steps = [e for e in t["traceEvents"] if str(e.get("name", "")).startswith("omni_step #")]
            self.assertEqual(mine["iterations"]["count"], len(steps))
            self.assertEqual(mine["steps"], t["omniprof"]["steps"])
            self.assertEqual(mine["stage"], stage)
            (dev,) = mine["timeline"]["devices"]
            self.assertEqual(dev["busy_ns"], gpu_total, "kernels of one stream do not overlap")
            table = read_text(os.path.join(self.dir, f"profiler_out_{os.path.basename(trace).split('.')[0]}.txt"))
            calls = int(next(l for l in table.splitlines() if l.strip().startswith(name)).split()[-1])
            self.assertEqual(calls, gpu_calls, "the page's table is profiler_out's")

        seen = browse(page, "report-pipeline.png")
        self.assertClean(seen)
        runs = seen["dom"]["runs"]
        self.assertEqual([r["title"].split(" \u00b7 ")[0] for r in runs], ["stage 0", "stage 2"])
        data = page_data(page)
        for run, d in zip(runs, data["runs"]):
            self.assertChartsDrawn(run, ["kernels", "timeline", "utilisation", "iterations"])
            self.assertBarsMatchTable(run)
            (it,) = [c for c in run["charts"] if c["kind"] == "iterations"]
            self.assertEqual(it["data"][0], [x[0] for x in d["iterations"]["items"]])
            self.assertEqual([round(v * 1e6) for v in it["data"][1]],
                             [x[2] for x in d["iterations"]["items"]])
            (tl,) = [c for c in run["charts"] if c["kind"] == "timeline"]
            self.assertEqual(tl["series"][1:], ["iteration", "GPU 0 stream 7"])
            self.assertEqual(run["facts"]["iterations"], str(d["steps"]))
            self.assertEqual(run["trace"], os.path.basename(d["trace"]))
            self.assertTrue(os.path.exists(os.path.join(self.dir, run["trace"])))
            self.assertIn("ui.perfetto.dev", run["howto"])
            self.assertIn("Open trace file", run["howto"])
        self.assertGreater(seen["zoom"]["before"][1] - seen["zoom"]["before"][0],
                           2 * (seen["zoom"]["after"][1] - seen["zoom"]["after"][0]),
                           "dragging across the timeline zooms in")
        self.assertGreater(os.path.getsize(os.path.join(ARTIFACTS, "report-pipeline.png")), 10000)


class Kineto(PageTest):
    """torch.profiler's trace of an H200 run, against torch's own table."""

    def test_fixture_numbers_are_torch_table_numbers(self):
        page = os.path.join(self.dir, "kineto.html")
        report(FIXTURE, "-o", page)
        (d,) = page_data(page)["runs"]
        self.assertEqual((d["source"], d["stage"], d["host"]), ("torch.profiler", 0, "gpuhost"))
        self.assertEqual(d["devices"], [{"id": 0, "name": "NVIDIA H200"}])
        # torch's table: Self CUDA (us) and # of Calls of every GPU row it shows,
        # names cut to 55 characters ("...")
        torch = []
        for line in read_text(os.path.join(FIXTURE_DIR, "profiler_out_stage-0.txt")).splitlines():
            cells = re.split(r"\s{2,}", line.strip())
            if len(cells) < 15 or cells[4] != "0.000us" or cells[6] == "0.000us" or \
                    cells[0] == "Activity Buffer Request":
                continue
            prefix = cells[0][:-3] if cells[0].endswith("...") else cells[0]
            torch.append((prefix, round(float(cells[6][:-2]) * 1000), int(cells[-1])))
        self.assertEqual(len(torch), len(d["rows"]))
        for r in d["rows"]:
            match = [t for t in torch if r[0].startswith(t[0]) and t[1:] == (r[3], r[2])]
            self.assertTrue(match, f"{r[0]}: {r[3]} ns in {r[2]} records is not in torch's table")
            torch.remove(match[0])
        (copy,) = d["copies"]
        self.assertEqual(copy[:5], ["Memcpy DtoH (Device -> Pageable)", 1, 4, 4 * 32768, 8127])
        t = load(FIXTURE)
        mem = [e["args"] for e in t["traceEvents"] if e.get("name") == "[memory]"
               and e["args"].get("Device Type") == 1]
        (gpu0,) = [m for m in d["memory"] if m["device"] == 0]
        self.assertEqual(gpu0["peak_allocated"], max(a["Total Allocated"] for a in mem))
        self.assertEqual(gpu0["points"], len(mem))

        seen = browse(page, "report-kineto.png")
        self.assertClean(seen)
        (run,) = seen["dom"]["runs"]
        self.assertChartsDrawn(run, ["kernels", "bandwidth", "timeline", "utilisation", "memory"])
        self.assertBarsMatchTable(run)
        (bw,) = [c for c in run["charts"] if c["kind"] == "bandwidth"]
        self.assertAlmostEqual(bw["data"][1][0], 4 * 32768 / 8127)
        self.assertEqual(seen["sorted"]["down"], sorted(seen["sorted"]["down"], reverse=True))
        self.assertEqual(seen["sorted"]["up"], sorted(seen["sorted"]["up"]))
        self.assertIn("GPU 0: NVIDIA H200", run["facts"]["devices"])


class Hostile(PageTest):
    """Names that try to end the script, open comments, inject markup."""

    NAMES = ["</script><script>alert(1)</script>", "<!--<script>", "<img src=x onerror=alert(2)>",
             "say \"hi\" 'there'", "caf\u00e9", "back\\slash", "</SCRIPT ><svg onload=alert(3)>"]

    def assertSafe(self, page, names, screenshot):
        html = read_text(page)
        self.assertEqual(html.lower().count("</script"), 3, "only the page's own scripts end")
        self.assertNotIn("<!--", html)
        seen = browse(page, screenshot)
        self.assertClean(seen)
        (run,) = seen["dom"]["runs"]
        shown = [r[0]["text"] for r in run["tables"]["time-table"]["rows"]]
        self.assertEqual(sorted(shown), sorted(names), "names shown as text, exactly")
        return seen

    def test_hostile_names_in_a_trace(self):
        events = []
        for i, name in enumerate(self.NAMES):
            for k in range(i + 1):
                events.append({"ph": "X", "cat": "kernel", "name": name, "pid": 0, "tid": 7,
                               "ts": 1000 + 10 * len(events), "dur": i + 1})
        events.append({"ph": "M", "name": "process_name", "pid": 1, "tid": 0,
                       "args": {"name": "</script><b>x</b>"}})
        trace = os.path.join(self.dir, "stage-3_ev<il>'#?%_77.123.pt.trace.json.gz")
        gz_bytes_trace(trace, events, deviceProperties=[{"id": 0, "name": "<script>alert(4)</script>"}],
                       baseTimeNanoseconds=1790000000000000000)
        page = os.path.join(self.dir, "page.html")
        report(self.dir, "-o", page)
        seen = self.assertSafe(page, self.NAMES, "report-hostile.png")
        (run,) = seen["dom"]["runs"]
        self.assertEqual(run["facts"]["program"], "</script><b>x</b>")
        self.assertEqual(run["facts"]["host"], "ev<il>'#?%")
        self.assertIn("<script>alert(4)</script>", run["facts"]["devices"])
        # the link is the file, each part URL-encoded
        self.assertEqual(run["trace"], "stage-3_ev%3Cil%3E'%23%3F%25_77.123.pt.trace.json.gz")

    def test_hostile_names_from_the_process(self):
        """hostile_names (quotes, control bytes, invalid UTF-8, 300 characters) with
        report=true: the process's own page."""
        r = run([binary("hostile_names")], OMNIPROF=f"autostart=1,report=1,dir={self.dir}")
        self.assertEqual(r.returncode, 0, r.stderr)
        (page,) = [os.path.join(self.dir, f) for f in os.listdir(self.dir) if f.startswith("report_")]
        names = ["say\"hi\"", "back\\slash", "ctrl\x01\x1f", "bad\ufffd\ufffd_utf8", "caf\u00e9_kernel",
                 "vector_add(float*, float*, int)", "L" * 300]
        (d,) = page_data(page)["runs"]
        self.assertEqual(sorted(r[0] for r in d["rows"]), sorted(names))
        self.assertEqual({r[0]: r[6] for r in d["rows"]}, {n: i + 1 for i, n in enumerate(names)})
        self.assertFalse(d["gpu"], "without CUPTI the rows are the launches")
        self.assertSafe(page, names, "report-hostile-process.png")


class BeforeAfter(PageTest):
    def test_largest_changes_first_in_chart_and_table(self):
        def trace(path, kernels):
            events, ts = [], 1000
            for name, durs in kernels.items():
                for dur in durs:
                    events.append({"ph": "X", "cat": "kernel", "name": name, "pid": 0, "tid": 7,
                                   "ts": ts, "dur": dur})
                    ts += 100
            gz_bytes_trace(path, events)
        before = os.path.join(self.dir, "before.pt.trace.json.gz")
        after = os.path.join(self.dir, "after.pt.trace.json.gz")
        trace(before, {"gemm": [10, 10, 10], "relu": [1, 1], "gone": [0.5]})
        trace(after, {"gemm": [5, 5, 5], "relu": [3, 3], "new": [2]})
        page = os.path.join(self.dir, "diff.html")
        report("--before", before, "--after", after, "-o", page)
        diff = page_data(page)["diff"]
        self.assertTrue(diff["gpu"])
        self.assertEqual(diff["rows"], [["gemm", 30000, 15000, 3, 3, None],
                                        ["relu", 2000, 6000, 2, 2, None],
                                        ["new", 0, 2000, 0, 1, "new"], ["gone", 500, 0, 1, 0, "gone"]])
        self.assertEqual(diff["total"], [32500, 23000, 6, 6, None])
        self.assertEqual((diff["new"], diff["gone"]), (1, 1))
        seen = browse(page, "report-diff.png")
        self.assertClean(seen)
        self.assertEqual([r["title"].split(" \u00b7 ")[0] for r in seen["dom"]["runs"]],
                         ["before", "after"])
        chart = seen["dom"]["diff"]["chart"]
        self.assertEqual(chart["series"], ["name", "slower", "faster"])
        self.assertEqual(chart["data"][1], [None, 0.004, 0.002, None])
        self.assertEqual(chart["data"][2], [-0.015, None, None, -0.0005])
        self.assertEqual([r[0]["text"] for r in seen["dom"]["diff"]["rows"]],
                         ["gemm", "relu", "new", "gone"])


class SameAsDiff(PageTest):
    """The page's before/after is `omniprof diff --by kernel`'s table for the same
    traces: the same rows in the same order (demangled names, new and gone), the same
    numbers, the same total; the browser shows the very cells diff prints."""

    def both(self, before, after):
        """diff's first table (every stage) and the page's "diff" and what the
        browser saw of it, for before and after as both commands take them."""
        r = subprocess.run([CLI, "diff", before, after], capture_output=True, text=True,
                           timeout=120, env=base_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        table = diff_tables(r.stdout)[0]
        page = os.path.join(self.dir, "same.html")
        report("--before", before, "--after", after, "-o", page)
        return r.stdout, table, page_data(page)["diff"], page

    def assertSameNumbers(self, text, table, d):
        _, header, rows, total, tail = table
        self.assertEqual(d["gpu"], "by kernel, GPU time" in text)
        self.assertEqual([r[0] for r in d["rows"]], list(rows), "the same rows, in diff's order")

        def same(cells, numbers, change, what):
            """diff's cells (calls, time before/after, ..., Delta %) hold numbers
            [before ns, after ns, before calls, after calls] to their last digit."""
            self.assertEqual(cells[:2], [str(numbers[2]), str(numbers[3])], what)
            for text_ns, ns in ((cells[2], numbers[0]), (cells[3], numbers[1]),
                                (cells[6], numbers[1] - numbers[0])):
                m = re.fullmatch(r"([+-]?)([\d.]+)(us|ms|s)", text_ns)
                self.assertTrue(m, text_ns)
                value = float(m.group(2)) * UNIT_NS[m.group(3)] * (-1 if m.group(1) == "-" else 1)
                self.assertLessEqual(abs(value - ns), UNIT_NS[m.group(3)] / 2000, (what, text_ns))
            self.assertEqual(change, cells[7] if cells[7] in ("new", "gone") else None, what)

        for r in d["rows"]:
            same(rows[r[0]], r[1:5], r[5], r[0])
        same(total, d["total"][:4], d["total"][4], "Total")
        n = len(d["rows"]) + d["rows_more"]
        self.assertEqual(tail, f"{n} rows: {d['new']} new, {d['gone']} gone")
        return header, rows, total, tail

    def assertSameCells(self, page, header, rows, total, tail):
        seen = browse(page)
        self.assertClean(seen)
        shown = seen["dom"]["diff"]
        self.assertEqual(shown["head"], re.split(r"\s{2,}", header.strip()))
        self.assertEqual([[c["text"] for c in r] for r in shown["rows"]],
                         [[name] + cells for name, cells in rows.items()])
        self.assertEqual(shown["foot"], ["Total"] + total)
        self.assertEqual(shown["count"], tail)

    def test_synthetic_runs_demangled_new_and_gone(self):
        paths = []
        for name, tr in zip(("before", "after"), synth_traces.changed_runs(
                {"_Z6kernelPfi": (4, 1000), "void k<float, 128>(P)": (3, 1000),
                 "gemm": (10, 5_000_000), "same": (2, 700)},
                {"kernel(float*, int)": (4, 3000), "void k<half, 64>(P)": (3, 1000),
                 "gemm": (10, 2_500_123), "same": (2, 700)})):
            paths.append(os.path.join(self.dir, f"{name}.pt.trace.json.gz"))
            tr.write(paths[-1])
        text, table, d, page = self.both(*paths)
        self.assertTrue(d["gpu"])
        self.assertEqual(d["rows"][1], ["kernel(float*, int)", 4000, 12000, 4, 4, None],
                         "a mangled name and its demangled form are one row, as in diff")
        self.assertSameCells(page, *self.assertSameNumbers(text, table, d))

    def test_pipeline_runs_as_directories(self):
        small, big = os.path.join(self.dir, "small"), os.path.join(self.dir, "big")
        for out, items in ((small, 4), (big, 8)):
            r = subprocess.run([CLI, "run", "-o", out, "--autostart", "--", binary("pipeline"),
                                str(items)], env=base_env(OMNIPROF_CUPTI="true"),
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
        text, table, d, _ = self.both(small, big)
        self.assertEqual(sorted(r[0] for r in d["rows"]),
                         ["code2wav_kernel", "talker_kernel", "thinker_kernel"])
        self.assertEqual(d["total"][2] * 2, d["total"][3], "every kernel twice as often")
        self.assertSameNumbers(text, table, d)

    def test_without_gpu_activity_host_times(self):
        small, big = os.path.join(self.dir, "h-small"), os.path.join(self.dir, "h-big")
        for out, n in ((small, 3), (big, 6)):
            r = subprocess.run([CLI, "run", "-o", out, "--autostart", "--", binary("driver_loop"),
                                str(n)], env=base_env(), capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
        text, table, d, page = self.both(small, big)
        self.assertFalse(d["gpu"])
        self.assertIn("host time of the launching calls", text)
        self.assertSameCells(page, *self.assertSameNumbers(text, table, d))


class Iterations(PageTest):
    """ProfilerStep#N spans (torch.profiler's, and omniprof's beside its omni_step
    instants) are the iterations when a trace has them; the instants otherwise."""

    def test_spans_first_instants_else(self):
        events = []
        for n, (start, dur) in enumerate([(1000, 300), (1300, 500), (1800, 200)], 1):
            events.append({"ph": "X", "cat": "user_annotation", "name": f"ProfilerStep#{n}",
                           "pid": 1, "tid": 1, "ts": start, "dur": dur})
            events.append({"ph": "i", "s": "p", "cat": "user_annotation", "name": f"omni_step #{n}",
                           "pid": 1, "tid": 1, "ts": start})
            events.append({"ph": "X", "cat": "kernel", "name": "k", "pid": 0, "tid": 7,
                           "ts": start + 10, "dur": 50})
        both = os.path.join(self.dir, "both.pt.trace.json.gz")
        gz_bytes_trace(both, events)
        instants = os.path.join(self.dir, "instants.pt.trace.json.gz")
        gz_bytes_trace(instants, [e for e in events if not e["name"].startswith("ProfilerStep")])
        page = os.path.join(self.dir, "steps.html")
        report(both, instants, "-o", page)
        spans, marks = [r["iterations"] for r in page_data(page)["runs"]]
        self.assertEqual(spans["source"], "ProfilerStep#N")
        self.assertEqual(spans["items"], [[1, 0, 300000], [2, 300000, 500000], [3, 800000, 200000]])
        # each instant begins an iteration that lasts until the next (the last to
        # the end of the events: the last kernel ends at 1860 us)
        self.assertEqual(marks["source"], "omni_step")
        self.assertEqual(marks["items"], [[1, 0, 300000], [2, 300000, 500000], [3, 800000, 60000]])
        seen = browse(page)
        self.assertClean(seen)
        for run in seen["dom"]["runs"]:
            self.assertEqual(run["facts"]["iterations"], "3")
            (tl,) = [c for c in run["charts"] if c["kind"] == "timeline"]
            self.assertEqual(tl["series"][1], "iteration")


class Big(PageTest):
    """A million events: written in seconds, small, quick to open; progress on a tty
    (report, summary, merge and diff)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="omniprof-report-big-")
        cls.trace = os.path.join(cls.tmp, "big.pt.trace.json.gz")
        subprocess.run([sys.executable, GEN_TRACE, cls.trace, "mixed", "1000000"], check=True,
                       timeout=600)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_a_million_events(self):
        page = os.path.join(self.dir, "big.html")
        t0 = time.monotonic()
        report(self.trace, "-o", page)
        seconds = time.monotonic() - t0
        size = os.path.getsize(page)
        print(f"\nreport of a 1M-event trace ({os.path.getsize(self.trace) >> 20} MiB gzip'd): "
              f"{seconds:.2f} s, page {size >> 10} KiB", file=sys.stderr)
        self.assertLess(seconds, 60)
        self.assertLess(size, 1 << 20, "aggregated, never every event")
        (d,) = page_data(page)["runs"]
        self.assertEqual(d["events"], 999996)
        self.assertEqual(sum(r[2] for r in d["rows"]), 166666)
        seen = browse(page, "report-1M.png")
        self.assertClean(seen)
        print(f"opened in {seen['loadMs']} ms", file=sys.stderr)
        self.assertLess(seen["loadMs"], 15000)
        self.assertChartsDrawn(seen["dom"]["runs"][0], ["kernels", "timeline", "utilisation"])

    def progress_of(self, *cmd):
        """stderr of cmd when it is a terminal (a pty), and when it is a pipe."""
        master, slave = pty.openpty()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=slave, env=base_env())
        os.close(slave)
        tty = b""
        while True:
            ready, _, _ = select.select([master], [], [], 120)
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            tty += chunk
        p.wait(timeout=120)
        os.close(master)
        piped = subprocess.run(cmd, capture_output=True, text=True, env=base_env(), timeout=300)
        return tty.decode("utf-8", "replace"), piped.stderr

    def test_progress_on_a_terminal_only(self):
        page = os.path.join(self.dir, "p.html")
        tty, piped = self.progress_of(CLI, "report", self.trace, "-o", page)
        self.assertRegex(tty, r"omniprof report: +\d+\.\d% \([\d.]+ of [\d.]+ MiB\) big\.pt\.trace")
        self.assertTrue(tty.endswith("\r\x1b[K"), "the line is erased when done")
        self.assertEqual(piped, "")
        tty, piped = self.progress_of(CLI, "summary", self.trace, "--top", "1")
        self.assertIn("omniprof summary: ", tty)
        self.assertEqual(piped, "")

    def test_progress_of_merge_and_diff(self):
        merged = os.path.join(self.dir, "merged.json.gz")
        tty, piped = self.progress_of(CLI, "merge", self.trace, "-o", merged)
        self.assertRegex(tty, r"omniprof merge: +\d+\.\d% \([\d.]+ of [\d.]+ MiB\) big\.pt\.trace")
        self.assertTrue(tty.endswith("\r\x1b[K"), "the line is erased when done")
        self.assertEqual(piped, "")
        # both sides in one count: the second file is read from half way on
        tty, piped = self.progress_of(CLI, "diff", self.trace, merged)
        shown = re.findall(r"omniprof diff: +(\d+\.\d)% \([\d.]+ of ([\d.]+) MiB\) ([^\s\x1b]+)", tty)
        self.assertTrue(shown, tty[-500:])
        total = (os.path.getsize(self.trace) + os.path.getsize(merged)) / 1048576
        self.assertTrue(all(abs(float(mib) - total) < 0.06 for _, mib, _ in shown), shown)
        self.assertEqual({name for _, _, name in shown}, {"big.pt.trace.json.gz", "merged.json.gz"})
        self.assertTrue(all(float(pct) >= 45 for pct, _, name in shown if name == "merged.json.gz"))
        self.assertTrue(tty.endswith("\r\x1b[K"))
        self.assertEqual(piped, "")


if __name__ == "__main__":
    unittest.main()
