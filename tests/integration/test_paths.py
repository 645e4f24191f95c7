#!/usr/bin/env python3
"""Integration tests: every way an unmodified program reaches CUDA — runtime
API, driver API linked or dlopen'ed, cuGetProcAddress with its variants,
many threads, fork, exec, CUDA_INJECTION64_PATH — is recorded exactly once,
in the right thread, under the right kernel name.  Samples run against the
fake libcuda.so.1 and libcudart.so (helpers.py)."""
import glob
import os
import re
import subprocess
import unittest

from helpers import (BUILD, LIB, api_events, binary, load, per_api, per_kernel, read_text, run,
                     trace_dir, traces)


def launch_counts(trace):
    """per_api() of the kernel launches only."""
    return {k: n for k, n in per_api(trace).items() if k[1] is not None}


class Paths(unittest.TestCase):
    def setUp(self):
        self.dir = trace_dir(self, "omniprof-paths-")

    def profile(self, name, *args, expect_files=1, **env):
        """Runs a sample with autostart; returns (result, traces)."""
        omni = f"autostart=1,dir={self.dir}"
        if "OMNIPROF" in env:
            omni += "," + env.pop("OMNIPROF")
        r = run([binary(name), *map(str, args)], OMNIPROF=omni, **env)
        self.assertEqual(r.returncode, 0, r.stderr)
        bare = run([binary(name), *map(str, args)], preload=False)
        same = [re.sub(r"pid=\d+", "pid=N", out) for out in (r.stdout, bare.stdout)]
        self.assertEqual(same[0], same[1], "the program's output is unchanged")
        files = traces(self.dir)
        self.assertEqual(len(files), expect_files, r.stderr)
        return r, [load(f) for f in files]

    def test_runtime_api(self):
        report = os.path.join(self.dir, "fake.txt")
        _, (t,) = self.profile("runtime_launch", 7, FAKE_CUDA_REPORT=report,
                               OMNIPROF="record_shapes=1")
        self.assertIn("launches=35 ", read_text(report), "7 x (2 kernels + a graph of 3)")
        self.assertEqual(per_api(t), {
            ("cudaLaunchKernel", "rt_scale"): 7, ("cudaLaunchKernelExC", "rt_add"): 7,
            ("cudaGraphLaunch", None): 7,
            ("cudaMallocAsync", None): 7, ("cudaFreeAsync", None): 7,
            ("cudaMallocManaged", None): 7, ("cudaFree", None): 7,
            ("cudaMallocHost", None): 7, ("cudaHostAlloc", None): 7, ("cudaFreeHost", None): 14,
            ("cudaDeviceSynchronize", None): 1,
        }, "one record per runtime call, none for the driver calls beneath it")
        ev = api_events(t)
        self.assertTrue(all(e["cat"] == "cuda_runtime" for e in ev))
        ex = next(e for e in ev if e["name"] == "cudaLaunchKernelExC")
        self.assertEqual((ex["args"]["grid"], ex["args"]["block"], ex["args"]["dynamic shared memory"]),
                         ([8, 1, 1], [32, 4, 1], 128))
        managed = [e["args"]["Bytes"] for e in ev if e["name"] == "cudaMallocManaged"]
        self.assertEqual(managed, [8192] * 7)

    def test_driver_api_through_dlopen_and_dlsym(self):
        _, (t,) = self.profile("dlsym_launch", 6, OMNIPROF="record_shapes=1")
        self.assertEqual(per_api(t), {
            ("cuLaunchKernel", "dl_kernel"): 6, ("cuLaunchKernelEx", "dl_kernel_ex"): 6,
            ("cuMemAlloc_v2", None): 6, ("cuMemFree_v2", None): 6,
            ("cuMemAllocHost_v2", None): 6, ("cuMemFreeHost", None): 6,
            ("cuCtxSynchronize", None): 1,
        })
        ex = next(e for e in api_events(t) if e["name"] == "cuLaunchKernelEx")
        self.assertEqual((ex["args"]["grid"], ex["args"]["block"], ex["args"]["dynamic shared memory"]),
                         ([2, 2, 1], [128, 1, 1], 256))

    def test_cuGetProcAddress_variants(self):
        report = os.path.join(self.dir, "fake.txt")
        _, (t,) = self.profile("procaddr_launch", 5, FAKE_CUDA_REPORT=report)
        self.assertEqual(per_api(t), {
            ("cuLaunchKernel_ptsz", "pt_kernel"): 5, ("cuLaunchKernel", "legacy_kernel"): 5,
            ("cuGraphLaunch_ptsz", None): 5, ("cuMemAlloc_v2", None): 5, ("cuMemFree_v2", None): 5,
            ("cuMemAllocAsync_ptsz", None): 5, ("cuMemFreeAsync_ptsz", None): 5,
            ("cuCtxSynchronize", None): 1,
        })
        # the driver really ran what was recorded: 5 + 5 kernels and 5 graphs of 2
        self.assertIn("launches=20 ", read_text(report))

    def test_every_kind_of_driver_allocation(self):
        _, (t,) = self.profile("memory_paths", 3)
        self.assertEqual(per_api(t), {
            ("cuMemAllocPitch_v2", None): 3, ("cuMemAllocAsync", None): 3,
            ("cuMemAllocManaged", None): 3, ("cuMemHostAlloc", None): 3, ("cuMemCreate", None): 3,
            ("cuMemMap", None): 3, ("cuLaunchCooperativeKernel", "coop_kernel"): 3,
            ("cuMemUnmap", None): 3, ("cuMemRelease", None): 3, ("cuMemFreeHost", None): 3,
            ("cuMemFree_v2", None): 6, ("cuMemFreeAsync", None): 3,
            ("cuStreamSynchronize", None): 3,
        })
        sizes = {e["name"]: e["args"]["Bytes"] for e in api_events(t) if e["name"] != "cuMemFree_v2"
                 and "Bytes" in e["args"]}
        self.assertEqual((sizes["cuMemAllocPitch_v2"], sizes["cuMemCreate"], sizes["cuMemMap"],
                          sizes["cuMemUnmap"], sizes["cuMemHostAlloc"]),
                         (1024 * 16, 2 << 20, 2 << 20, -(2 << 20), 65536))
        created = [e["args"]["Addr"] for e in api_events(t) if e["name"] == "cuMemCreate"]
        released = [e["args"]["Addr"] for e in api_events(t) if e["name"] == "cuMemRelease"]
        self.assertEqual(created, released)

    def test_driver_api_linked(self):
        _, (t,) = self.profile("driver_loop", 4)
        self.assertEqual(per_api(t), {("cuLaunchKernel", "vec_add"): 4,
                                      ("cuLaunchKernel", "scale"): 4,
                                      ("cuMemAlloc_v2", None): 2, ("cuMemFree_v2", None): 2,
                                      ("cuMemcpyHtoD_v2", None): 1, ("cuMemsetD32_v2", None): 1,
                                      ("cuMemcpyDtoH_v2", None): 1, ("cuCtxSynchronize", None): 4})
        # no CUPTI: the device the allocations name is still described
        self.assertEqual([(d["id"], d["name"]) for d in t["deviceProperties"]],
                         [(0, "omniprof fake GPU")])

    def test_lookups_answer_with_wrappers_only_for_wrapped_names(self):
        bare = dict(l.split("=") for l in run([binary("dlsym_probe")], preload=False)
                    .stdout.split())
        pre = dict(l.split("=") for l in run([binary("dlsym_probe")]).stdout.split())
        self.assertEqual(bare["handle_cuLaunchKernel"], "libcuda.so.1")
        for k in ("handle_cuLaunchKernel", "handle_cuMemAlloc_v2", "handle_cuGetProcAddress_v2",
                  "default_cuLaunchKernel", "next_cuLaunchKernel"):
            self.assertEqual(pre[k], "libomniprof.so", k)
        # names omniprof does not wrap, and libc's, come back untouched
        for k in ("handle_cuDeviceGetName", "next_printf", "next_missing", "dlvsym_printf",
                  "next_missing_error", "next_dlvsym_printf"):
            self.assertEqual(pre[k], bare[k], k)
        self.assertEqual(pre["next_missing"], "none")

    def test_sanitized_programs_run_as_without_omniprof(self):
        # A sanitizer runtime resolves its interceptors with dlsym(RTLD_NEXT)
        # from its initialiser, before its own interceptors (dlopen, strcmp,
        # dl_iterate_phdr) work and before other objects' constructors ran.
        env = {"ASAN_OPTIONS": "detect_leaks=0:verify_asan_link_order=0"}
        for s in ("asan", "tsan"):
            prog = [binary(f"driver_loop_{s}"), "4"]
            bare = run(prog, preload=False, **env)
            if s == "tsan" and bare.returncode != 0:
                continue  # ThreadSanitizer cannot run on every kernel's memory layout
            self.assertEqual(bare.returncode, 0, bare.stderr)
            runtime = re.search(rf"(/\S*lib{s}\.so\S*)", subprocess.run(
                ["ldd", prog[0]], capture_output=True, text=True).stdout).group(1)
            for i, preload in enumerate((LIB, f"{runtime} {LIB}")):
                out = os.path.join(self.dir, f"{s}{i}")
                r = run(prog, preload=False, LD_PRELOAD=preload,
                        OMNIPROF=f"autostart=1,dir={out}", **env)
                self.assertEqual((r.returncode, r.stdout), (0, bare.stdout), r.stderr)
                (t,) = [load(f) for f in traces(out)]
                self.assertEqual(per_kernel(t), {"vec_add": 4, "scale": 4})

    def test_threads_all_recorded_under_their_ids(self):
        _, (t,) = self.profile("threads_launch", 8, 10000)
        ev = api_events(t)
        self.assertEqual(len(ev), 80000)
        self.assertEqual(t["omniprof"]["dropped_events"], 0)
        by_tid = {}
        for e in ev:
            by_tid[e["tid"]] = by_tid.get(e["tid"], 0) + 1
        self.assertEqual(sorted(by_tid.values()), [10000] * 8)
        self.assertNotIn(t["omniprof"]["pid"], by_tid, "the main thread launched nothing")
        names = {e["args"]["name"] for e in t["traceEvents"] if e.get("name") == "thread_name"}
        self.assertEqual(len(names), 8)

    def test_full_buffers_count_drops_and_warn_once(self):
        r, (t,) = self.profile("threads_launch", 8, 10000, OMNIPROF="buffer_size=1")
        kept = len(api_events(t))
        dropped = t["omniprof"]["dropped_events"]
        self.assertGreater(dropped, 0)
        self.assertGreater(kept, 1000)
        self.assertEqual(kept + dropped, 80000)
        warnings = [l for l in r.stderr.splitlines() if "dropped" in l]
        self.assertEqual(len(warnings), 1, r.stderr)
        self.assertIn(f"{dropped} events dropped: event buffers full (buffer_size=1 MiB)", warnings[0])

    def test_fork_does_not_wait_for_a_trace_being_written(self):
        # gzip level 9 makes the write of 300k events take seconds; a fork made
        # meanwhile (a data-loader worker, a subprocess) goes ahead at once
        r = run([binary("fork_during_write"), "300000", self.dir],
                OMNIPROF=f"autostart=1,dir={self.dir},gzip_level=9")
        self.assertEqual(r.returncode, 0, r.stderr)
        times = dict((k, float(v)) for k, v in re.findall(r"(\w+_ms)=([\d.]+)", r.stdout))
        self.assertGreater(times["write_ms"], 400, "the write must outlast the fork's start")
        self.assertLess(times["fork_ms"], times["write_ms"] / 4, r.stdout)
        (table,) = glob.glob(os.path.join(self.dir, "profiler_out_*.txt"))
        self.assertRegex(read_text(table), r"fork_kernel .* 300000\n")

    def test_fork_while_other_threads_take_stacks(self):
        # An unwinder's locks (libunwind's slow path, the loader's) copied
        # taken into a fork child would hang it at its first stack; the
        # locking unwinder holds one around every unwind, nearly all the time.
        unwinder = os.path.join(BUILD, "lib", "liblocking_unwinder.so")
        # (the parent's own trace is not the point: a small buffer keeps the
        # write at its _exit short)
        r = run([binary("fork_while_unwinding"), "3", "20"], preload=False,
                LD_PRELOAD=f"{LIB} {unwinder}", OMNIPROF=f"autostart=1,dir={self.dir},buffer_size=2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "forks=20 hung=0")

    def test_fork_gives_each_process_its_own_file(self):
        r, ts = self.profile("fork_launch", 5, 3, expect_files=2)
        pids = {int(m) for m in re.findall(r"pid=(\d+)", r.stdout)}
        by_pid = {t["omniprof"]["pid"]: t for t in ts}
        self.assertEqual(set(by_pid), pids)
        kernels = sorted(tuple(sorted(launch_counts(t).items())) for t in ts)
        self.assertEqual(kernels, [((("cuLaunchKernel", "child_kernel"), 3),),
                                   ((("cuLaunchKernel", "parent_kernel"), 5),)])
        for pid, t in by_pid.items():
            self.assertTrue(all(e["pid"] == pid and e["tid"] == pid for e in api_events(t)))

    def test_exec_writes_before_the_image_is_replaced_and_profiles_the_new_one(self):
        r, ts = self.profile("exec_self", 5, 3, expect_files=2)
        self.assertEqual(len({t["omniprof"]["pid"] for t in ts}), 1, "exec keeps the pid")
        kernels = [launch_counts(t) for t in ts]  # files sort by time: before, then after
        self.assertEqual(kernels, [{("cuLaunchKernel", "before_exec"): 5},
                                   {("cuLaunchKernel", "after_exec"): 3}])

    def test_follow_exec_false_leaves_exec_children_alone(self):
        r, (t,) = self.profile("exec_self", 5, 3, OMNIPROF="follow_exec=false")
        self.assertEqual(launch_counts(t), {("cuLaunchKernel", "before_exec"): 5})
        r = run(["/bin/sh", "-c", "env"], OMNIPROF="follow_exec=false")
        self.assertNotIn("OMNIPROF", r.stdout)
        self.assertNotIn("libomniprof", r.stdout)
        r = run(["/bin/sh", "-c", "env"], OMNIPROF="follow_exec=true")
        self.assertIn("OMNIPROF=follow_exec=true", r.stdout)
        self.assertIn("LD_PRELOAD=" + LIB, r.stdout)

    # log_level=debug: an autostart says "recording started" only at debug level
    def test_injection_path_alone_initialises(self):
        r = run([binary("driver_loop"), "3"], preload=False, CUDA_INJECTION64_PATH=LIB,
                OMNIPROF=f"autostart=1,dir={self.dir},log_level=debug")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.count("omniprof: recording started"), 1, r.stderr)

    def test_injection_path_with_preload_initialises_once(self):
        r = run([binary("driver_loop"), "3"], CUDA_INJECTION64_PATH=LIB,
                OMNIPROF=f"autostart=1,dir={self.dir},log_level=debug")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.count("omniprof: recording started"), 1, r.stderr)
        (t,) = [load(f) for f in traces(self.dir)]
        self.assertEqual(per_api(t)[("cuLaunchKernel", "vec_add")], 3)

    def test_hooks_before_start_and_after_exit_work(self):
        r, (t,) = self.profile("late_launch", 4)
        self.assertIn("errno_kept=1 early=0", r.stdout)
        self.assertIn("atexit launch=0", r.stderr)
        self.assertIn("library destructor launch=0", r.stderr)
        # A library constructor runs before omniprof's (nothing recorded yet),
        # the program's atexit handler before omniprof writes (recorded), a
        # library destructor after it (forwarded only).
        self.assertEqual(per_api(t), {("cuLaunchKernel", "late_kernel"): 5})


if __name__ == "__main__":
    unittest.main()
