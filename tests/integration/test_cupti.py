#!/usr/bin/env python3
"""Integration tests of the GPU timeline from CUPTI, against the fake
libcupti.so.13 fed by the fake driver and runtime (synthetic GPU times): API
events from callbacks, kernel/copy/memset events on (device, stream), flow
pairs linking each call to its GPU work, one clock, no double records, the
fallbacks when CUPTI is missing or already taken, and what each CUPTI call
that fails (FAKE_CUPTI_FAIL) costs: one warning naming it, a trace that
shows what is left, and a program that runs as it does without omniprof."""
import collections
import os
import signal
import time
import unittest

from helpers import (LIB, abs_ns, binary, load, run, spawn, trace_dir, traces, wait_ready,
                     wait_traces)


def cupti_env(**extra):
    return dict(OMNIPROF_CUPTI="true", **extra)


class Cupti(unittest.TestCase):
    def setUp(self):
        self.dir = trace_dir(self, "omniprof-cupti-")

    def profile(self, name, *args, omniprof="", **env):
        r = run([binary(name), *map(str, args)],
                OMNIPROF=f"autostart=1,dir={self.dir}" + ("," + omniprof if omniprof else ""),
                **cupti_env(**env))
        self.assertEqual(r.returncode, 0, r.stderr)
        (path,) = traces(self.dir)
        return r, load(path)

    @staticmethod
    def split(t):
        ev = t["traceEvents"]
        api = [e for e in ev if e["ph"] == "X" and e["cat"] in ("cuda_driver", "cuda_runtime")]
        gpu = [e for e in ev if e["ph"] == "X" and e["cat"] in ("kernel", "gpu_memcpy", "gpu_memset")]
        flows = [e for e in ev if e.get("cat") == "ac2g"]
        return api, gpu, flows

    def test_kernels_on_two_streams_with_flows(self):
        _, t = self.profile("driver_loop", 6, 0, 2)
        self.assertEqual(t["omniprof"]["event_source"], "cupti")
        api, gpu, flows = self.split(t)
        kernels = [e for e in gpu if e["cat"] == "kernel"]
        self.assertEqual(collections.Counter(e["name"] for e in kernels), {"vec_add": 6, "scale": 6})
        streams = {e["name"]: {(e["pid"], e["tid"])} for e in kernels}
        for e in kernels:
            streams[e["name"]].add((e["pid"], e["tid"]))
        self.assertEqual(len(streams["vec_add"]), 1)
        self.assertEqual(len(streams["scale"]), 1)
        self.assertNotEqual(streams["vec_add"], streams["scale"], "two streams, two tracks")
        self.assertEqual({pid for pid, _ in streams["vec_add"] | streams["scale"]}, {0}, "pid = device")
        copies = [e for e in gpu if e["cat"] == "gpu_memcpy"]
        self.assertEqual(sorted(e["name"] for e in copies),
                         ["Memcpy DtoH (Device -> Pageable)", "Memcpy HtoD (Pageable -> Device)"])
        self.assertTrue(all(e["args"]["bytes"] == 4096 and e["args"]["memory bandwidth (GB/s)"] > 0
                            for e in copies))
        # every GPU event: exactly one flow pair back to the call that made it
        launches = {e["args"]["correlation"]: e for e in api}
        starts = collections.Counter(f["id"] for f in flows if f["ph"] == "s")
        ends = collections.Counter(f["id"] for f in flows if f["ph"] == "f")
        for g in gpu:
            c = g["args"]["correlation"]
            self.assertEqual((starts[c], ends[c]), (1, 1), g["name"])
            call = launches[c]
            self.assertGreaterEqual(g["ts"], call["ts"], "GPU work never starts before its call")
            if g["cat"] == "kernel":
                self.assertEqual(call["name"], "cuLaunchKernel")
                self.assertEqual(call["args"]["kernel"], g["name"])
        f = next(f for f in flows if f["ph"] == "f")
        self.assertEqual(f["bp"], "e")
        # Kineto's kernel args and deviceProperties
        k = kernels[0]["args"]
        for key in ("device", "context", "stream", "correlation", "registers per thread",
                    "shared memory", "blocks per SM", "warps per SM", "grid", "block",
                    "est. achieved occupancy %"):
            self.assertIn(key, k)
        self.assertEqual(t["deviceProperties"][0]["numSms"], 132)
        # the GPU's process as Kineto names it: the program's name, labelled
        # "GPU 0", sorted after the host processes
        gpu_meta = {e["name"]: e["args"] for e in t["traceEvents"]
                    if e.get("ph") == "M" and e["pid"] == 0 and e["tid"] == 0}
        self.assertEqual(gpu_meta["process_name"], {"name": "driver_loop"})
        self.assertEqual(gpu_meta["process_labels"], {"labels": "GPU 0"})
        self.assertEqual(gpu_meta["process_sort_index"], {"sort_index": 5000000})
        streams = {e["args"]["name"] for e in t["traceEvents"]
                   if e.get("name") == "thread_name" and e["pid"] == 0}
        self.assertIn("stream 7 ", streams)

    def test_synchronisations_as_kineto_writes_them(self):
        # driver_loop with two streams: scale's stream waits for an event
        # recorded after vec_add; the host waits for an event recorded after
        # scale, for vec_add's stream, and for the device
        _, t = self.profile("driver_loop", 3, 0, 2)
        ev = t["traceEvents"]
        calls = {e["args"]["correlation"]: e for e in ev
                 if e.get("cat") in ("cuda_driver", "cuda_runtime")}
        syncs = [e for e in ev if e.get("cat") == "cuda_sync"]
        called = {"Event Sync": "cuEventSynchronize", "Stream Wait Event": "cuStreamWaitEvent",
                  "Stream Sync": "cuStreamSynchronize", "Context Sync": "cuCtxSynchronize"}
        self.assertEqual(collections.Counter(e["name"] for e in syncs),
                         {name: 3 for name in called})
        stream_of = {e["name"]: e["tid"] for e in ev if e.get("cat") == "kernel"}
        records = {e["args"]["correlation"]: e for e in ev if e.get("cat") == "cuda_event"}
        self.assertEqual(len(records), 6, "one cuda_event per cuEventRecord")
        for sync in syncs:
            a = sync["args"]
            self.assertEqual(a["cuda_sync_kind"], sync["name"])
            self.assertEqual(calls[a["correlation"]]["name"], called[sync["name"]])
            self.assertEqual((sync["pid"], a["device"], a["context"]), (0, 0, 1))
            if sync["name"] == "Stream Sync":
                self.assertEqual((sync["tid"], a["stream"]), (stream_of["vec_add"],) * 2)
            elif sync["name"] == "Stream Wait Event":
                self.assertEqual((sync["tid"], a["stream"]), (stream_of["scale"],) * 2)
            else:  # Kineto's: no stream is -1 in args, |-1| as the tid
                self.assertEqual((sync["tid"], a["stream"]), (1, -1))
            if sync["name"] in ("Event Sync", "Stream Wait Event"):
                # the record waited on: the last cuEventRecord of that event before
                rec = records[a["wait_on_cuda_event_record_corr_id"]]
                self.assertEqual(calls[rec["args"]["correlation"]]["name"], "cuEventRecord")
                self.assertEqual(a["correlation"] - rec["args"]["correlation"], 1,
                                 "this iteration's record, made just before")
                self.assertEqual(a["wait_on_stream"], rec["args"]["stream"])
                self.assertEqual(a["wait_on_cuda_event_id"], rec["args"]["event_id"])
                waited = "vec_add" if sync["name"] == "Stream Wait Event" else "scale"
                self.assertEqual(a["wait_on_stream"], stream_of[waited])
            else:
                self.assertNotIn("wait_on_stream", a)

    def test_versions_of_what_the_process_loaded(self):
        _, t = self.profile("driver_loop", 1)
        self.assertGreater(t["cuda_driver_version"], 10000)
        self.assertGreater(t["cupti_version"], 10000)
        self.assertNotIn("cuda_runtime_version", t, "a driver-API program loads no runtime")
        self.assertEqual(len(t["trace_id"]), 32)
        os.remove(traces(self.dir)[0])
        _, t = self.profile("runtime_launch", 1)
        self.assertEqual(t["cuda_runtime_version"], t["cuda_driver_version"])

    def test_external_ids_link_calls_their_iterations_and_gpu_work(self):
        _, t = self.profile("driver_loop", 3)
        ev = t["traceEvents"]
        spans = [e for e in ev if e.get("name", "").startswith("ProfilerStep#")]
        self.assertEqual([(s["name"], s["cat"], s["ph"]) for s in spans],
                         [(f"ProfilerStep#{n}", "user_annotation", "X") for n in (1, 2, 3)])
        for a, b in zip(spans, spans[1:]):
            self.assertEqual(abs_ns(t, a) + round(a["dur"] * 1000), abs_ns(t, b),
                             "one iteration ends where the next begins")
        calls = [e for e in ev if e.get("cat") in ("cuda_driver", "cuda_runtime")]
        correlations = {e["args"]["correlation"] for e in ev if "correlation" in e.get("args", {})}
        span_ids = [s["args"]["External id"] for s in spans]
        self.assertFalse(set(span_ids) & correlations, "span ids are no correlation ids")
        inside = 0
        for c in calls:
            span = next((s for s in spans if s["tid"] == c["tid"] and
                         abs_ns(t, s) <= abs_ns(t, c) < abs_ns(t, s) + round(s["dur"] * 1000)),
                        None)
            want = span["args"]["External id"] if span else c["args"]["correlation"]
            self.assertEqual(c["args"]["External id"], want, c["name"])
            inside += span is not None
        self.assertGreaterEqual(inside, 3 * 3, "the launches and syncs of each iteration")
        by_corr = {c["args"]["correlation"]: c for c in calls}
        gpu = [e for e in ev if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset", "cuda_sync")]
        self.assertTrue(gpu)
        for g in gpu:
            self.assertEqual(g["args"]["External id"],
                             by_corr[g["args"]["correlation"]]["args"]["External id"])

    def test_no_double_records(self):
        _, t = self.profile("driver_loop", 5)
        api, _, _ = self.split(t)
        counts = collections.Counter(e["name"] for e in api)
        self.assertEqual(counts["cuLaunchKernel"], 10, "CUPTI's callback only; the hook forwards")
        self.assertEqual(counts["cuMemAlloc_v2"], 2, "allocations stay with the hooks")

    def test_runtime_calls_are_one_record_with_their_kernels(self):
        _, t = self.profile("runtime_launch", 4)
        api, gpu, flows = self.split(t)
        counts = collections.Counter(e["name"] for e in api if e["cat"] == "cuda_runtime")
        self.assertEqual(counts["cudaLaunchKernel"], 4)
        self.assertEqual(counts["cudaLaunchKernelExC"], 4)
        self.assertEqual(counts["cudaGraphLaunch"], 4)
        self.assertFalse([e for e in api if e["name"] == "cuLaunchKernel"],
                         "the driver calls inside runtime calls are not recorded again")
        kernels = collections.Counter(e["name"] for e in gpu if e["cat"] == "kernel")
        self.assertEqual(kernels, {"rt_scale": 4 + 4 * 3, "rt_add": 4})
        # a graph launch names its graph, not a kernel, and links to each
        # kernel of its graph by a flow of its own
        graph_calls = [e for e in api if e["name"] == "cudaGraphLaunch"]
        self.assertEqual(len(graph_calls), 4)
        per_call = collections.defaultdict(list)
        for g in gpu:
            per_call[g["args"]["correlation"]].append(g)
        flow_at = collections.defaultdict(list)  # (ph, pid, tid, ts) -> flow ids
        for f in flows:
            flow_at[f["ph"], f["pid"], f["tid"], f["ts"]].append(f["id"])
        for call in graph_calls:
            self.assertNotIn("kernel", call["args"])
            self.assertGreater(call["args"]["graph exec"], 0)
            kernels = per_call[call["args"]["correlation"]]
            self.assertEqual([k["name"] for k in kernels], ["rt_scale"] * 3)
            self.assertEqual({k["args"]["graph id"] for k in kernels}, {call["args"]["graph id"]})
            ended = sorted(i for k in kernels for i in flow_at["f", k["pid"], k["tid"], k["ts"]])
            started = sorted(flow_at["s", call["pid"], call["tid"], call["ts"]])
            self.assertEqual(len(ended), 3)
            self.assertEqual(ended, started, "one flow per kernel, all from the call")

    def test_thousands_of_distinct_kernels_keep_their_names(self):
        # as many distinct kernels as a compiled model has: each GPU record
        # finds its own name among them
        _, t = self.profile("hostile_names", 3000)
        _, gpu, _ = self.split(t)
        names = collections.Counter(e["name"] for e in gpu)
        self.assertEqual({k: v for k, v in names.items() if k.startswith("many_")},
                         {f"many_{i}": 1 for i in range(3000)})
        self.assertEqual((names["say\"hi\""], names["back\\slash"], names["L" * 300]), (1, 2, 7))

    def test_table_has_gpu_times(self):
        self.profile("driver_loop", 8)
        (table,) = [f for f in os.listdir(self.dir) if f.startswith("profiler_out_")]
        with open(os.path.join(self.dir, table)) as f:
            text = f.read()
        rows = {l.split()[0]: l.split() for l in text.splitlines()
                if l.strip().startswith(("vec_add", "scale"))}
        self.assertEqual(rows["vec_add"][-1], "8")
        self.assertTrue(rows["vec_add"][1].endswith("us") and rows["vec_add"][1] != "-")
        self.assertNotIn("no GPU activity", text)

    def test_stacks_start_in_the_program(self):
        _, t = self.profile("call_chain", 3)
        api, _, _ = self.split(t)
        launch = next(e for e in api if e["name"] == "cuLaunchKernel")
        top = launch["args"]["Call stack"][0]
        self.assertTrue(top.startswith("inner_launch "), top)

    def test_dropped_records_are_reported(self):
        r, t = self.profile("threads_launch", 1, 20000, FAKE_CUPTI_BUFFER_RECORDS="100")
        dropped = t["omniprof"]["dropped_gpu_records"]
        kernels = sum(1 for e in t["traceEvents"] if e.get("cat") == "kernel")
        self.assertGreater(dropped, 0)
        self.assertEqual(kernels + dropped, 20000)
        self.assertIn(f"CUPTI dropped {dropped} activity records", r.stderr)

    def test_missing_cupti_falls_back_to_the_hooks(self):
        r, t = self.profile("driver_loop", 3, omniprof="cupti_path=/nonexistent/libcupti.so.13")
        self.assertEqual(r.stderr.count("omniprof: cupti: "), 1, r.stderr)
        self.assertIn("cupti_path /nonexistent/libcupti.so.13", r.stderr)
        self.assertEqual(t["omniprof"]["event_source"], "interposition")
        api, gpu, _ = self.split(t)
        self.assertEqual(sum(1 for e in api if e["name"] == "cuLaunchKernel"), 6)
        self.assertEqual(gpu, [])

    def test_refused_subscription_falls_back_to_the_hooks(self):
        r, t = self.profile("driver_loop", 3, FAKE_CUPTI_REFUSE="1")
        self.assertEqual(r.stderr.count("omniprof: cupti: "), 1, r.stderr)
        self.assertIn("CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED", r.stderr)
        self.assertIn("torch.profiler, nsys", r.stderr)
        api, _, _ = self.split(t)
        self.assertEqual(sum(1 for e in api if e["name"] == "cuLaunchKernel"), 6)

    def test_injection_path_alone_records_through_cupti(self):
        # no LD_PRELOAD: the driver loads omniprof at cuInit; CUPTI sees the calls
        r = run([binary("driver_loop"), "4"], preload=False, CUDA_INJECTION64_PATH=LIB,
                OMNIPROF=f"autostart=1,dir={self.dir}", **cupti_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        (t,) = [load(p) for p in traces(self.dir)]
        self.assertEqual(t["omniprof"]["event_source"], "cupti")
        api, gpu, flows = self.split(t)
        self.assertEqual(collections.Counter(e["name"] for e in gpu if e["cat"] == "kernel"),
                         {"vec_add": 4, "scale": 4})
        self.assertEqual(sum(1 for e in api if e["name"] == "cuLaunchKernel"), 8)

    def test_fork_before_cuda_each_process_has_its_gpu_side(self):
        r = run([binary("fork_launch"), "3", "2"], OMNIPROF=f"autostart=1,dir={self.dir}",
                **cupti_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        kernels = {}
        for path in traces(self.dir):
            t = load(path)
            self.assertEqual(t["omniprof"]["event_source"], "cupti")
            kernels.update(collections.Counter(e["name"] for e in t["traceEvents"]
                                               if e.get("cat") == "kernel"))
        self.assertEqual(kernels, {"parent_kernel": 3, "child_kernel": 2})

    def test_session_begun_before_cuda_gets_the_gpu_side(self):
        # autostart begins before each stage calls cuInit: CUPTI comes in
        # when CUDA does, and the session gets the GPU side from then on
        r = run([binary("pipeline"), "5"], OMNIPROF=f"autostart=1,dir={self.dir}", **cupti_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        stages = {}
        for path in traces(self.dir):
            t = load(path)
            if t["omniprof"]["stage"] >= 0:
                stages[t["omniprof"]["stage"]] = t
        self.assertEqual(set(stages), {0, 1, 2})
        for stage, kernel in ((0, "thinker_kernel"), (1, "talker_kernel"), (2, "code2wav_kernel")):
            t = stages[stage]
            self.assertEqual(t["omniprof"]["event_source"], "cupti")
            names = collections.Counter(e["name"] for e in t["traceEvents"] if e.get("cat") == "kernel")
            self.assertEqual(names, {kernel: 5})


class CuptiFailures(unittest.TestCase):
    """Each CUPTI call omniprof makes, made to fail by the fake CUPTI."""
    ITERATIONS = 3

    def setUp(self):
        self.dir = trace_dir(self, "omniprof-cupti-fail-")
        bare = run([binary("driver_loop"), str(self.ITERATIONS)], preload=False)
        self.assertEqual(bare.returncode, 0, bare.stderr)
        self.bare_stdout = bare.stdout

    def profile_failing(self, calls):
        """Runs driver_loop with FAKE_CUPTI_FAIL=calls; returns the cupti
        warnings and the one trace."""
        for f in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, f))
        r = run([binary("driver_loop"), str(self.ITERATIONS)],
                OMNIPROF=f"autostart=1,dir={self.dir}", **cupti_env(FAKE_CUPTI_FAIL=calls))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, self.bare_stdout, "the program's output is its own")
        (path,) = traces(self.dir)
        warnings = [l for l in r.stderr.splitlines() if l.startswith("omniprof: cupti: ")]
        return warnings, load(path)

    @staticmethod
    def counts(t):
        return collections.Counter(e["cat"] for e in t["traceEvents"] if e.get("ph") == "X")

    def assert_one_warning(self, warnings, call, consequence):
        self.assertEqual(len(warnings), 1, warnings)
        self.assertTrue(warnings[0].startswith(f"omniprof: cupti: {call} failed: "
                                               "CUPTI_ERROR_NOT_SUPPORTED (error 27); "),
                        warnings[0])
        self.assertIn(consequence, warnings[0])

    def test_setup_calls_fall_back_to_the_hooks(self):
        launches = 2 * self.ITERATIONS
        for call in ("cuptiGetVersion", "cuptiSubscribe", "cuptiActivityRegisterCallbacks"):
            with self.subTest(call=call):
                warnings, t = self.profile_failing(call)
                self.assert_one_warning(warnings, call, "recording the intercepted calls only")
                self.assertEqual(t["omniprof"]["event_source"], "interposition")
                c = self.counts(t)
                self.assertEqual(c["kernel"], 0)
                names = collections.Counter(e["name"] for e in t["traceEvents"]
                                            if e.get("cat") == "cuda_driver")
                self.assertEqual(names["cuLaunchKernel"], launches, "the hooks record them")

    def test_unnamed_callbacks_fall_back_to_the_hooks(self):
        warnings, t = self.profile_failing("cuptiGetCallbackName")
        self.assertEqual(len(warnings), 1, warnings)
        self.assertIn("cuptiGetCallbackName named none of the launch", warnings[0])
        self.assertEqual(t["omniprof"]["event_source"], "interposition")

    def test_callbacks_that_cannot_be_enabled_fall_back_to_the_hooks(self):
        warnings, t = self.profile_failing("cuptiEnableCallback")
        self.assertEqual(len(warnings), 1, warnings)
        self.assertRegex(warnings[0], r"^omniprof: cupti: cuptiEnableCallback\(on, \w+\) failed: "
                         r"CUPTI_ERROR_NOT_SUPPORTED \(error 27\); "
                         r"recording the intercepted calls only")
        self.assertEqual(t["omniprof"]["event_source"], "interposition")
        names = collections.Counter(e["name"] for e in t["traceEvents"] if e.get("ph") == "X")
        self.assertEqual(names["cuLaunchKernel"], 2 * self.ITERATIONS, "once each: no doubles")
        self.assertEqual(self.counts(t)["kernel"], 0)

    def test_kernel_activity_refused(self):
        warnings, t = self.profile_failing("cuptiActivityEnable:CONCURRENT_KERNEL")
        self.assert_one_warning(warnings, "cuptiActivityEnable(CONCURRENT_KERNEL)",
                                "the GPU timeline will lack kernels")
        self.assertEqual(t["omniprof"]["event_source"], "cupti")
        c = self.counts(t)
        self.assertEqual(c["kernel"], 0)
        self.assertEqual(c["gpu_memcpy"], 2, "the other kinds still come")
        launches = [e for e in t["traceEvents"] if e.get("name") == "cuLaunchKernel"]
        self.assertEqual(len(launches), 2 * self.ITERATIONS, "the calls still come from CUPTI")

    def test_every_activity_kind_refused_is_one_warning(self):
        warnings, t = self.profile_failing("cuptiActivityEnable")
        self.assert_one_warning(warnings, "cuptiActivityEnable(CONCURRENT_KERNEL, MEMCPY, MEMSET, "
                                "SYNCHRONIZATION, CUDA_EVENT, OVERHEAD)",
                                "the GPU timeline will lack kernels, copies, memsets")
        c = self.counts(t)
        self.assertEqual((c["kernel"], c["gpu_memcpy"], c["gpu_memset"]), (0, 0, 0))

    def test_calls_that_cost_part_of_the_timeline(self):
        # call -> (consequence named, kernels left in the timeline)
        cases = {
            "cuptiActivityFlushAll": ("lacks the records CUPTI still held", 0),
            "cuptiActivityGetNextRecord": ("the rest of that activity buffer is lost", 0),
            "cuptiActivityGetNumDroppedRecords": ("count of dropped GPU records may be too low",
                                                  2 * self.ITERATIONS),
            "cuptiActivityRegisterTimestampCallback": ("CUPTI's own CLOCK_REALTIME stamps",
                                                       2 * self.ITERATIONS),
            "cuptiActivityDisable": ("CUPTI goes on recording between sessions",
                                     2 * self.ITERATIONS),
        }
        for call, (consequence, kernels) in cases.items():
            with self.subTest(call=call):
                warnings, t = self.profile_failing(call)
                named = call + ("(CONCURRENT_KERNEL, MEMCPY, MEMSET, SYNCHRONIZATION, CUDA_EVENT, OVERHEAD)"
                                if call == "cuptiActivityDisable" else "")
                self.assert_one_warning(warnings, named, consequence)
                self.assertEqual(t["omniprof"]["event_source"], "cupti")
                self.assertEqual(self.counts(t)["kernel"], kernels)
                launches = [e for e in t["traceEvents"] if e.get("name") == "cuLaunchKernel"]
                self.assertEqual(len(launches), 2 * self.ITERATIONS)

    def test_warned_once_across_sessions(self):
        p = spawn([binary("driver_loop"), "400", "5"], OMNIPROF=f"dir={self.dir}",
                  **cupti_env(FAKE_CUPTI_FAIL="cuptiActivityEnable:CONCURRENT_KERNEL"))
        self.addCleanup(p.kill)
        wait_ready(p)
        for n in (1, 2):  # two sessions: start, stop (and write) with the toggle signal
            p.send_signal(signal.SIGUSR1)
            time.sleep(0.2)
            p.send_signal(signal.SIGUSR1)
            wait_traces(self.dir, n)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(err.count("cuptiActivityEnable(CONCURRENT_KERNEL) failed"), 1, err)
        self.assertEqual(err.count("omniprof: cupti: "), 1, err)
        self.assertIn("launches=800", out)
        for path in traces(self.dir):
            t = load(path)
            self.assertEqual(t["omniprof"]["event_source"], "cupti")
            ev = t["traceEvents"]
            self.assertFalse([e for e in ev if e.get("cat") == "kernel"])
            self.assertTrue([e for e in ev if e.get("name") == "cuLaunchKernel"])


if __name__ == "__main__":
    unittest.main()
