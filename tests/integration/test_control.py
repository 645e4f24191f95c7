#!/usr/bin/env python3
"""Integration tests of the omniprof command: the registry, list/status,
start/stop by stage with --wait, the HTTP endpoints, summary, and the
iteration sources besides omni_step (the step signal and step_on) — on the
three-stage pipeline sample and others, against the fake CUDA driver."""
import glob
import gzip
import json
import os
import re
import signal
import subprocess
import time
import unittest
import urllib.error
import urllib.request

from helpers import (CLI, LIB, abs_ns, api_events, base_env, binary, entries, load, per_kernel,
                     read_text, spawn, trace_dir, traces, wait_for)

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../fixtures")


def cli(*args, timeout=60, **env):
    return subprocess.run([CLI, *args], env=base_env(**env), capture_output=True, text=True,
                          timeout=timeout)


def stat_fields(pid):
    """Fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def parent(pid):
    """The parent pid of a live process, None once it is gone."""
    fields = stat_fields(pid)
    return int(fields[1]) if fields and fields[0] != "Z" else None


def group_alive(group):
    """Whether a process of process group `group` still runs (zombies do not)."""
    for name in os.listdir("/proc"):
        fields = stat_fields(name) if name.isdigit() else None
        if fields and fields[0] != "Z" and int(fields[2]) == group:
            return True
    return False


class Control(unittest.TestCase):
    def setUp(self):
        self.dir = trace_dir(self, "omniprof-control-")
        self.procs = []
        self.groups = []

    def tearDown(self):
        # The pipeline's stage processes outlive a killed launcher (and hold
        # its stdout): end the whole group first, so that the next test's
        # `--stages` reaches only its own processes.
        for group in self.groups:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
            wait_for(lambda: not group_alive(group))
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.communicate()

    def pipeline(self, items=400, sleep_ms=10):
        """Runs the pipeline under `omniprof run` in a process group of its
        own; returns {stage: pid} of its three stage processes."""
        p = subprocess.Popen([CLI, "run", "-o", self.dir, "--", binary("pipeline"), str(items),
                              str(sleep_ms)], env=base_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.procs.append(p)
        self.groups.append(p.pid)
        stages = wait_for(lambda: (lambda s: s if len(s) == 3 else None)(
            {e["stage"]: pid for pid, e in entries().items()
             if e["stage"] >= 0 and parent(pid) == p.pid}))
        return p, stages

    def test_list_shows_stages(self):
        _, stages = self.pipeline()
        r = cli("list")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = [l.split() for l in r.stdout.splitlines()[1:]]
        listed = {int(c[0]): c[1] for c in rows}
        for stage, pid in stages.items():
            self.assertEqual(listed[pid], str(stage))
        r = cli("status", str(stages[1]))
        self.assertIn("stage:        1", r.stdout)
        self.assertIn("state:        idle", r.stdout)

    def test_start_stop_stages_0_and_2(self):
        p, stages = self.pipeline()
        r = cli("start", "--stages", "0,2", "--wait")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.count(": recording"), 2, r.stdout)
        time.sleep(0.4)
        r = cli("stop", "--stages", "0,2", "--wait")
        self.assertEqual(r.returncode, 0, r.stderr)
        paths = re.findall(r"^  (/\S+)$", r.stdout, re.M)
        self.assertEqual(len(paths), 4, r.stdout)
        self.assertTrue(all(os.path.exists(x) for x in paths), "--wait prints files that exist")
        files = traces(self.dir)
        self.assertEqual(len(files), 2)
        own = {0: "thinker_kernel", 2: "code2wav_kernel"}
        for f in files:
            t = load(f)
            stage = t["omniprof"]["stage"]
            self.assertIn(stage, own)
            self.assertTrue(os.path.basename(f).startswith(f"stage-{stage}_"))
            kernels = per_kernel(t)
            self.assertEqual(set(kernels), {own[stage]}, "each file holds only its own kernels")
            self.assertGreater(kernels[own[stage]], 5)
        # a second round gives a second file per stage
        cli("start", "--stages", "0,2", "--wait")
        time.sleep(0.3)
        cli("stop", "--stages", "0,2", "--wait")
        self.assertEqual(len(traces(self.dir)), 4)
        self.assertEqual(len(glob.glob(os.path.join(self.dir, "stage-1_*"))), 0)
        p.kill()

    def test_stop_when_idle_and_unknown_stage(self):
        self.pipeline()
        r = cli("stop", "--stages", "1", "--wait")
        self.assertIn("not recording: nothing to write", r.stdout)
        r = cli("start", "--stages", "9")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no profiled process has stage 9", r.stderr)

    def recording(self, args, config=""):
        """driver_loop ARGS under the preload, started with `omniprof start
        --pid --wait`; returns its Popen."""
        p = spawn([binary("driver_loop"), *args], OMNIPROF=f"dir={self.dir}{config}")
        self.procs.append(p)
        wait_for(lambda: p.pid in entries())
        r = cli("start", "--pid", str(p.pid), "--wait")
        self.assertIn(": recording", r.stdout)
        return p

    def test_stop_after_max_iterations_names_the_files_written(self):
        p = self.recording(["500", "10"], ",max_iterations=3")
        (trace,) = wait_for(lambda: traces(self.dir))   # the session ends by itself
        r = cli("stop", "--pid", str(p.pid), "--wait")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("max_iterations (3) had ended the session; it was written", r.stdout)
        paths = re.findall(r"^  (/\S+)$", r.stdout, re.M)
        self.assertEqual(paths[0], trace)
        self.assertEqual(len(paths), 2)
        self.assertEqual(load(trace)["omniprof"]["steps"], 3)

    def test_killed_process_entry_is_cleaned(self):
        p = spawn([binary("driver_loop"), "500", "10"], OMNIPROF=f"dir={self.dir}")
        self.procs.append(p)
        wait_for(lambda: p.pid in entries())
        p.kill()
        p.wait()
        self.assertIn(p.pid, entries(), "a killed process cannot clean up after itself")
        r = cli("list")
        self.assertIn("stale entr", r.stdout)
        self.assertNotIn(p.pid, entries())

    def test_stop_wait_reports_a_long_write(self):
        # a session big enough that writing it takes many of --wait's polls:
        # the answer is what the stop did, not the state it passed through
        p = self.recording(["100000000", "0"])
        time.sleep(0.5)
        r = cli("stop", "--pid", str(p.pid), "--wait")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        events = int(re.search(r": wrote (\d+) events", r.stdout).group(1))
        self.assertGreater(events, 10000)
        paths = re.findall(r"^  (/\S+)$", r.stdout, re.M)
        self.assertEqual(len(paths), 2, r.stdout)
        with gzip.open(paths[0], "rt", encoding="utf-8") as f:  # too big for json.load
            self.assertIn(f'"events": {events},', f.read())
        p.kill()

    def test_unreaped_process_is_not_listed(self):
        # killed but not waited for: a zombie still has its /proc entry
        p = spawn([binary("driver_loop"), "500", "10"], OMNIPROF=f"dir={self.dir}")
        self.procs.append(p)
        wait_for(lambda: p.pid in entries())
        p.kill()
        wait_for(lambda: stat_fields(p.pid)[0] == "Z")
        r = cli("list")
        self.assertNotIn(f"{p.pid} ", r.stdout)
        self.assertNotIn(p.pid, entries())
        r = cli("start", "--pid", str(p.pid))
        self.assertEqual(r.returncode, 1, r.stdout)
        p.wait()

    def private_registry(self):
        """A registry of this test's own, so that counts are exact."""
        reg = os.path.join(self.dir, "registry")
        os.mkdir(reg, 0o700)
        return reg

    def test_exited_process_removes_its_entry(self):
        reg = self.private_registry()
        p = spawn([binary("driver_loop"), "40", "10"], OMNIPROF=f"dir={self.dir}",
                  OMNIPROF_RUNTIME_DIR=reg)
        self.procs.append(p)
        entry = wait_for(lambda: entries(reg).get(p.pid))
        self.assertEqual((entry["pid"], entry["state"]), (p.pid, "idle"))
        self.assertIn("driver_loop 40 10", entry["cmdline"])
        self.assertEqual(os.listdir(reg), [f"{p.pid}.json"], "the entry, while it runs")
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("iterations=40 ", out)
        # the process's own exit removed it: no omniprof command has run
        self.assertEqual(os.listdir(reg), [], "nothing left after exit")

    def test_list_removes_the_entries_of_dead_processes(self):
        reg = self.private_registry()
        live = spawn([binary("driver_loop"), "500", "10"], OMNIPROF=f"dir={self.dir}",
                     OMNIPROF_RUNTIME_DIR=reg)
        self.procs.append(live)
        model = wait_for(lambda: entries(reg).get(live.pid))
        gone = subprocess.Popen(["true"])
        gone.wait()
        planted = {
            # a process that has exited
            gone.pid: dict(model, pid=gone.pid),
            # a live pid that is another process now: its start time differs
            os.getpid(): dict(model, pid=os.getpid(), start_time=model["start_time"] + 1),
        }
        for pid, e in planted.items():
            with open(os.path.join(reg, f"{pid}.json"), "w") as f:
                json.dump(e, f)
        with open(os.path.join(reg, "999999.json"), "w") as f:
            f.write("{ half an entry")  # a broken entry
        with open(os.path.join(reg, ".999998.json.tmp"), "w") as f:
            f.write("{")  # a publisher's file being written: not an entry
        self.assertEqual(len(entries(reg)), 3)  # the live one and the two planted

        r = cli("list", OMNIPROF_RUNTIME_DIR=reg)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("(3 stale entries of exited processes removed)", r.stdout)
        pids = [int(line.split()[0]) for line in r.stdout.splitlines()[1:-1]]
        self.assertEqual(pids, [live.pid])
        self.assertEqual(sorted(os.listdir(reg)), [".999998.json.tmp", f"{live.pid}.json"])
        r = cli("list", OMNIPROF_RUNTIME_DIR=reg)
        self.assertNotIn("stale", r.stdout)
        self.assertEqual(len(r.stdout.splitlines()), 2, r.stdout)

    def test_registry_must_be_private(self):
        real = os.path.join(self.dir, "real")
        os.mkdir(real, 0o700)
        link = os.path.join(self.dir, "link")
        os.symlink(real, link)
        shared = os.path.join(self.dir, "shared")
        os.mkdir(shared)
        os.chmod(shared, 0o777)
        for bad, why in ((link, "is a symbolic link"), (shared, "is open to other users")):
            r = subprocess.run([binary("driver_loop"), "2"], capture_output=True, text=True,
                               env=base_env(LD_PRELOAD=LIB, OMNIPROF_RUNTIME_DIR=bad,
                                            OMNIPROF=f"dir={self.dir}"))
            self.assertEqual(r.returncode, 0, "the program runs anyway")
            self.assertIn(f"omniprof: registry: {bad} {why}", r.stderr)
            r = cli("list", OMNIPROF_RUNTIME_DIR=bad)
            self.assertEqual(r.returncode, 2)
            self.assertIn(why, r.stderr)
        self.assertEqual(os.listdir(real), [], "nothing was written through the link")

    # ---- HTTP ---------------------------------------------------------------

    def serve(self):
        s = subprocess.Popen([CLI, "serve", "--listen", "127.0.0.1:0"], env=base_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(s)
        line = s.stdout.readline()
        port = int(re.search(r":(\d+) ", line).group(1))
        return f"http://127.0.0.1:{port}"

    def http(self, url, body=None, method="POST"):
        data = body.encode() if isinstance(body, str) else body
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def test_http_endpoints(self):
        _, stages = self.pipeline()
        base = self.serve()
        status, body = self.http(base + "/processes", method="GET")
        self.assertEqual(status, 200)
        self.assertEqual({p["stage"] for p in body["processes"]} >= {0, 1, 2}, True)
        status, body = self.http(base + "/start_profile", '{"stages": [0]}')
        self.assertEqual(status, 200, body)
        self.assertEqual([(p["pid"], p["result"]) for p in body["processes"]],
                         [(stages[0], "recording")])
        time.sleep(0.3)
        status, body = self.http(base + "/stop_profile", '{"stages": [0]}')
        self.assertEqual(status, 200, body)
        (proc,) = body["processes"]
        self.assertTrue(proc["ok"])
        self.assertEqual(len(proc["files"]), 2, proc)
        self.assertTrue(all(os.path.exists(f) for f in proc["files"]))
        self.assertEqual(set(per_kernel(load(proc["files"][0]))), {"thinker_kernel"})
        # no body / null stages: every process
        status, body = self.http(base + "/start_profile", "")
        self.assertEqual(status, 200)
        self.assertEqual(len(body["processes"]), 4)
        status, body = self.http(base + "/stop_profile", '{"stages": null}')
        self.assertEqual(status, 200)

    def test_http_errors(self):
        self.pipeline()
        base = self.serve()
        for text, code, words in (("{not json", 400, "not JSON"),
                                  ('{"stages": "0"}', 400, "list of stage numbers"),
                                  ('{"stages": [-1]}', 400, "stage numbers"),
                                  ('{"stages": []}', 400, "empty"),
                                  ('{"stage": [0]}', 400, "unknown field"),
                                  ('{"stages": [4294967296]}', 400, "stage numbers"),
                                  ('{"stages": [1.0]}', 400, "stage numbers"),
                                  ('{"stages": [0], "stages": [2]}', 400, "given twice"),
                                  ("[1, 2]", 400, "object"),
                                  ('{"stages": [7]}', 404, "no profiled process has stage 7")):
            status, body = self.http(base + "/start_profile", text)
            self.assertEqual(status, code, text)
            self.assertIn(words, body["error"], text)
        status, _ = self.http(base + "/start_profile", method="GET")
        self.assertEqual(status, 405)
        status, _ = self.http(base + "/nowhere", "{}")
        self.assertEqual(status, 404)
        status, body = self.http(base + "/processes", method="GET")
        self.assertEqual(status, 200, "the server still answers after all that")

    # ---- iteration sources ---------------------------------------------------

    def test_step_on_drives_delay_and_max(self):
        # threads_launch calls no omni_step: every completed cuLaunchKernel is
        # a step; delay 2 / max 3 records launches 3, 4 and 5
        r = subprocess.run([binary("threads_launch"), "1", "10"], capture_output=True, text=True,
                           env=base_env(LD_PRELOAD=LIB, OMNIPROF=f"dir={self.dir},autostart=1,"
                                        "step_on=cuLaunchKernel,delay_iterations=2,max_iterations=3"))
        self.assertEqual(r.returncode, 0, r.stderr)
        (t,) = [load(f) for f in traces(self.dir)]
        self.assertEqual(per_kernel(t), {"mt_kernel": 3})
        calls = [e for e in t["traceEvents"] if e.get("name") == "cuLaunchKernel"]
        self.assertEqual(len(calls), 3)
        # each step opens a ProfilerStep on the thread whose call it was, and
        # the launch made in it carries the span's External id
        spans = [e for e in t["traceEvents"] if e.get("name", "").startswith("ProfilerStep#")]
        self.assertEqual([s["name"] for s in spans], ["ProfilerStep#1", "ProfilerStep#2",
                                                       "ProfilerStep#3"])
        self.assertEqual({s["tid"] for s in spans}, {calls[0]["tid"]})
        self.assertNotEqual(calls[0]["tid"], calls[0]["pid"], "a worker thread's")
        self.assertEqual([c["args"]["External id"] for c in calls],
                         [s["args"]["External id"] for s in spans])

    def test_step_on_a_synchronisation(self):
        r = subprocess.run([binary("memory_paths"), "6"], capture_output=True, text=True,
                           env=base_env(LD_PRELOAD=LIB, OMNIPROF=f"dir={self.dir},autostart=1,"
                                        "step_on=cuStreamSynchronize,delay_iterations=1,"
                                        "max_iterations=2"))
        self.assertEqual(r.returncode, 0, r.stderr)
        (t,) = [load(f) for f in traces(self.dir)]
        # memory_paths also calls omni_step at the top of each iteration: both
        # count.  omni_step 1 is the delay; the synchronisation ends recorded
        # step 1 and the next omni_step step 2: one loop's worth of calls
        # (without step_on it would be two loops, two launches).
        calls = [e["name"] for e in api_events(t)]
        self.assertEqual(t["omniprof"]["steps"], 2)
        self.assertEqual(calls.count("cuLaunchCooperativeKernel"), 1, calls)
        self.assertEqual(calls.count("cuStreamSynchronize"), 1, calls)
        self.assertEqual((calls[0], calls[-1]), ("cuMemAllocPitch_v2", "cuMemFree_v2"), calls)
        self.assertIn("step_on=cuStreamSynchronize", t["omniprof"]["config"])

    def test_bad_step_on_is_a_config_error(self):
        r = subprocess.run([binary("driver_loop"), "2"], capture_output=True, text=True,
                           env=base_env(LD_PRELOAD=LIB, OMNIPROF="step_on=cuNothing"))
        self.assertEqual(r.returncode, 0)
        self.assertIn("step_on: 'cuNothing' is not a call omniprof intercepts", r.stderr)

    def test_step_signal_drives_delay_and_max(self):
        p = spawn([binary("threads_launch"), "1", "100000", "1000"],
                  OMNIPROF=f"dir={self.dir},autostart=1,delay_iterations=1,max_iterations=2")
        self.procs.append(p)
        e = wait_for(lambda: entries().get(p.pid))
        sig = e["step_signal"]
        self.assertGreaterEqual(sig, signal.SIGRTMIN)
        r = cli("status", str(p.pid))
        self.assertIn(f"step SIGRTMIN+{sig - signal.SIGRTMIN}", r.stdout)
        time.sleep(0.2)
        t1 = time.time_ns()
        os.kill(p.pid, sig)          # count 1 = delay: recording begins
        time.sleep(0.3)
        os.kill(p.pid, sig)          # 2 recorded
        time.sleep(0.3)
        t3 = time.time_ns()
        os.kill(p.pid, sig)          # more than max: the session ends and is written
        (f,) = wait_for(lambda: traces(self.dir))
        t = load(f)
        ts = [t["baseTimeNanoseconds"] + round(e["ts"] * 1000) for e in t["traceEvents"]
              if e.get("name") == "cuLaunchKernel"]
        self.assertGreater(len(ts), 100)
        self.assertTrue(all(t1 <= x <= t3 + 200_000_000 for x in ts))
        self.assertEqual(t["omniprof"]["steps"], 2)
        # a signal marks the process's iteration: its main thread's (pid as tid)
        spans = [e for e in t["traceEvents"] if e.get("name", "").startswith("ProfilerStep#")]
        self.assertEqual([(s["name"], s["tid"]) for s in spans],
                         [("ProfilerStep#1", p.pid), ("ProfilerStep#2", p.pid)])
        self.assertEqual(abs_ns(t, spans[1]) + round(spans[1]["dur"] * 1000),
                         t["omniprof"]["session_end_ns"],
                         "the last iteration ends when the session stopped")

    def test_toggle_signal_of_the_program_is_left_alone_with_a_key_to_change_it(self):
        cmd = ["/bin/sh", "-c", f"trap '' USR1; exec {binary('driver_loop')} 30 10"]
        p = spawn(cmd, OMNIPROF=f"dir={self.dir},stop_signal=none")
        out, err = p.communicate(timeout=30)
        self.assertIn("SIGUSR1 is already handled by the program", err)
        self.assertIn("set toggle_signal= to another signal", err)

    # ---- summary -------------------------------------------------------------

    def test_summary_of_a_kineto_trace(self):
        (fixture,) = glob.glob(os.path.join(FIXTURES, "kineto-h200/*.pt.trace.json.gz"))
        r = cli("summary", fixture)
        self.assertEqual(r.returncode, 0, r.stderr)
        torch = read_text(os.path.join(FIXTURES, "kineto-h200/profiler_out_stage-0.txt"))
        # torch's table: the Self CUDA column and the calls of every GPU row
        want, got = [], []
        for line in torch.splitlines():
            cells = re.split(r"\s{2,}", line.strip())
            if len(cells) >= 14 and cells[1] == "0.00%" and cells[6] != "0.000us":
                want.append((cells[0][:30], cells[6], cells[-1]))
        for line in r.stdout.splitlines():
            cells = re.split(r"\s{2,}", line.strip())
            if len(cells) >= 13 and cells[1].endswith("us"):
                got.append((cells[0][:30], cells[1], cells[-1]))
        self.assertEqual(len(want), 6)
        self.assertEqual(got, want, "same rows, same Self CUDA times and calls, same order")
        self.assertIn("Self CUDA time total: 62.524us", r.stdout)

    def test_summary_of_an_omniprof_trace_and_top(self):
        r = subprocess.run([binary("driver_loop"), "7"], capture_output=True, text=True,
                           env=base_env(LD_PRELOAD=LIB, OMNIPROF=f"dir={self.dir},autostart=1,"
                                        "use_gzip=false"))
        (f,) = glob.glob(os.path.join(self.dir, "*.pt.trace.json"))
        r = cli("summary", f)
        self.assertEqual(r.returncode, 0, r.stderr)
        calls = {l.split()[0]: l.split()[-1] for l in r.stdout.splitlines()
                 if l.strip().startswith(("vec_add", "scale"))}
        self.assertEqual(calls, {"vec_add": "7", "scale": "7"})
        r = cli("summary", f, "--top", "1")
        self.assertIn("(4 more rows, not shown", r.stdout)
        r = cli("summary", os.path.join(self.dir, "nope.json"))
        self.assertEqual(r.returncode, 1)
        bad = os.path.join(self.dir, "bad.json.gz")
        with gzip.open(bad, "wt") as g:
            g.write('{"traceEvents": [')
        r = cli("summary", bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not a readable trace", r.stderr)

    def test_run_options(self):
        r = cli("run", "-o", self.dir, "--autostart", "--no-stack", "--memory", "--shapes",
                "--stage", "3", "--delay", "1", "--max", "2", "--", binary("driver_loop"), "6")
        self.assertEqual(r.returncode, 0, r.stderr)
        (t,) = [load(f) for f in traces(self.dir)]
        self.assertEqual((t["with_stack"], t["profile_memory"], t["record_shapes"],
                          t["omniprof"]["stage"]), (0, 1, 1, 3))
        self.assertEqual(per_kernel(t), {"vec_add": 2, "scale": 2})
        report = os.path.join(self.dir, "fake.txt")
        r = cli("run", "--profiler", "cuda", "--autostart", "--", binary("driver_loop"), "3",
                FAKE_CUDA_REPORT=report)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("profiler_start=1 profiler_stop=1", read_text(report))


if __name__ == "__main__":
    unittest.main()
