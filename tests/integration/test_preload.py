#!/usr/bin/env python3
"""Integration tests of the skeleton: unmodified programs run under
LD_PRELOAD=libomniprof.so against the fake CUDA driver; every check parses the
files omniprof wrote (helpers.py says how).
"""
import collections
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time
import unittest

from helpers import (CLI, LIB, api_events, base_env, load, per_kernel, launches, abs_ns, read_text,
                     run, spawn, trace_dir, traces, binary, wait_ready, wait_traces)

SAMPLE = binary("driver_loop")
RUNTIME_SAMPLE = binary("runtime_alloc")


class Preload(unittest.TestCase):
    def setUp(self):
        self.dir = trace_dir(self, "omniprof-it-")

    def bare_output(self, *args):
        r = run([SAMPLE, *args], preload=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    # (a)
    def test_autostart_n_iterations_one_file_exact_counts(self):
        r = run([SAMPLE, "25"], OMNIPROF=f"autostart=true,dir={self.dir},record_shapes=true")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, self.bare_output("25"))
        files = traces(self.dir)
        self.assertEqual(len(files), 1)
        t = load(files[0])
        self.assertEqual(per_kernel(t), {"vec_add": 25, "scale": 25})
        self.assertEqual(t["omniprof"]["steps"], 25)
        self.assertEqual(t["omniprof"]["dropped_events"], 0)
        pid = t["omniprof"]["pid"]
        self.assertTrue(os.path.basename(files[0]).startswith(f"{os.uname().nodename}_{pid}."))
        k = launches(t)
        self.assertTrue(all(e["cat"] == "cuda_driver" and e["pid"] == pid and e["tid"] == pid
                            for e in k))
        self.assertEqual(k[0]["args"]["grid"], [4, 1, 1])
        self.assertEqual(k[0]["args"]["block"], [256, 1, 1])
        self.assertEqual(k[1]["args"]["dynamic shared memory"], 64)
        self.assertEqual([e["args"]["kernel"] for e in k[:4]], ["vec_add", "scale"] * 2)
        allocs = [e for e in t["traceEvents"] if e.get("name") == "cuMemAlloc_v2"]
        self.assertEqual([e["args"]["Bytes"] for e in allocs], [4096, 4096])
        meta = {e["name"] for e in t["traceEvents"] if e["ph"] == "M"}
        self.assertTrue({"process_name", "thread_name"} <= meta)
        # the table agrees with the trace
        table = read_text(os.path.join(self.dir, f"profiler_out_{os.uname().nodename}_{pid}.txt"))
        rows = {line.split()[0]: line.split() for line in table.splitlines()
                if line.strip().startswith(("vec_add", "scale"))}
        self.assertEqual(rows["vec_add"][-1], "25", "# of Calls is the last column")
        self.assertEqual(rows["scale"][-1], "25")

    def test_runtime_allocations_recorded_once(self):
        r = run([RUNTIME_SAMPLE, "6"], OMNIPROF=f"autostart=1,dir={self.dir}")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "runtime_alloc: allocations=6 bytes=21504\n")
        t = load(traces(self.dir)[0])
        x = api_events(t)
        names = collections.Counter(e["name"] for e in x)
        # the runtime reaches the driver through cuGetProcAddress pointers:
        # one record per cudaMalloc, none for the driver call beneath it
        self.assertEqual(names, {"cudaMalloc": 6, "cudaFree": 6, "cudaDeviceSynchronize": 1})
        mallocs = [e for e in x if e["name"] == "cudaMalloc"]
        self.assertEqual([e["args"]["Bytes"] for e in mallocs], [1024 * i for i in range(1, 7)])
        self.assertTrue(all(e["cat"] == "cuda_runtime" and e["args"]["Device Id"] == 0
                            and e["args"]["Addr"] != 0 for e in mallocs))
        frees = [e for e in x if e["name"] == "cudaFree"]
        self.assertEqual([e["args"]["Addr"] for e in frees], [e["args"]["Addr"] for e in mallocs])

    # (b)
    def test_signals_bound_the_session(self):
        p = spawn([SAMPLE, "400", "10"], OMNIPROF=f"dir={self.dir}")
        try:
            wait_ready(p)
            t_on = time.time_ns()
            p.send_signal(signal.SIGUSR1)
            time.sleep(0.6)
            t_off = time.time_ns()
            p.send_signal(signal.SIGUSR2)
            files = wait_traces(self.dir, 1)
            self.assertIsNone(p.poll(), "the file exists while the program still runs")
            self.assertEqual(len(files), 1)
        finally:
            p.kill()
            p.communicate()
        t = load(files[0])
        k = launches(t)
        self.assertGreater(len(k), 10)
        for e in k:
            self.assertGreaterEqual(abs_ns(t, e), t_on)
            self.assertLess(abs_ns(t, e), t_off + 200_000_000)
        c = per_kernel(t)
        self.assertLessEqual(abs(c["vec_add"] - c["scale"]), 1)

    def test_two_toggles_give_two_files(self):
        p = spawn([SAMPLE, "400", "10"], OMNIPROF=f"dir={self.dir}")
        try:
            wait_ready(p)
            marks = []
            for i in range(2):
                marks.append(time.time_ns())
                p.send_signal(signal.SIGUSR1)
                time.sleep(0.4)
                marks.append(time.time_ns())
                p.send_signal(signal.SIGUSR1)
                wait_traces(self.dir, i + 1)
            files = traces(self.dir)
        finally:
            p.kill()
            p.communicate()
        self.assertEqual(len(files), 2)
        for i, f in enumerate(files):
            t = load(f)
            k = launches(t)
            self.assertGreater(len(k), 4)
            self.assertTrue(all(marks[2 * i] <= abs_ns(t, e) < marks[2 * i + 1] + 200_000_000
                                for e in k))

    # (c)
    def test_delay_and_max_from_environment(self):
        r = run([SAMPLE, "10"], OMNIPROF_AUTOSTART="1", OMNIPROF_DELAY_ITERATIONS="2",
                OMNIPROF_MAX_ITERATIONS="3", OMNIPROF_DIR=self.dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        files = traces(self.dir)
        self.assertEqual(len(files), 1)
        t = load(files[0])
        self.assertEqual(per_kernel(t), {"vec_add": 3, "scale": 3})
        steps = [e["name"] for e in t["traceEvents"]
                 if e.get("cat") == "user_annotation" and e["ph"] == "i"]
        self.assertEqual(steps, ["omni_step #1", "omni_step #2", "omni_step #3"])
        spans = [e["name"] for e in t["traceEvents"]
                 if e.get("cat") == "user_annotation" and e["ph"] == "X"]
        self.assertEqual(spans, ["ProfilerStep#1", "ProfilerStep#2", "ProfilerStep#3"])
        self.assertIn("max_iterations (3) reached", r.stderr)

    def test_delay_and_max_from_ini(self):
        ini = os.path.join(self.dir, "omniprof.ini")
        with open(ini, "w") as f:
            f.write(f"[omniprof]\nautostart = true\ndelay_iterations = 4\nmax_iterations = 2\n"
                    f"torch_profiler_dir = {self.dir}/out\n")
        r = run([SAMPLE, "10"], OMNIPROF_CONFIG=ini)
        self.assertEqual(r.returncode, 0, r.stderr)
        files = traces(os.path.join(self.dir, "out"))
        self.assertEqual(len(files), 1)
        self.assertEqual(per_kernel(load(files[0])), {"vec_add": 2, "scale": 2})

    def test_variables_override_the_ini(self):
        ini = os.path.join(self.dir, "omniprof.ini")
        with open(ini, "w") as f:
            f.write(f"autostart = true\nmax_iterations = 2\ndir = {self.dir}\n")
        r = run([SAMPLE, "10"], OMNIPROF_CONFIG=ini, OMNIPROF="max_iterations=4")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(per_kernel(load(traces(self.dir)[0])), {"vec_add": 4, "scale": 4})

    # (d)
    def test_invalid_config_leaves_the_program_alone(self):
        bare = run([SAMPLE, "5"], preload=False)
        for env in ({"OMNIPROF_DELAY_ITERATIONS": "-1"},
                    {"OMNIPROF": "autostart=maybe"},
                    {"OMNIPROF": "profiler=torch,autostart=1"}):
            r = run([SAMPLE, "5"], OMNIPROF_DIR=self.dir, **env) if "OMNIPROF_DELAY_ITERATIONS" \
                in env else run([SAMPLE, "5"], **env)
            self.assertEqual(r.returncode, bare.returncode)
            self.assertEqual(r.stdout, bare.stdout)
            lines = r.stderr.splitlines()
            self.assertEqual(len(lines), 1, r.stderr)
            self.assertTrue(lines[0].startswith("omniprof: config: "), lines[0])
            self.assertTrue(lines[0].endswith("profiling is off"), lines[0])
        self.assertEqual(traces(self.dir), [])
        self.assertFalse(os.path.exists("omniprof_traces") and traces("omniprof_traces"))
        r = run([SAMPLE, "5"], OMNIPROF_DELAY_ITERATIONS="-1")
        self.assertIn("OMNIPROF_DELAY_ITERATIONS: delay_iterations: -1 is negative", r.stderr)

    def test_unwritable_directory_is_reported_and_harmless(self):
        r = run([SAMPLE, "5"], OMNIPROF="autostart=1,dir=/proc/self/nope")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout, self.bare_output("5"))
        self.assertIn("omniprof: writer: cannot use directory /proc/self/nope", r.stderr)

    # (e)
    def test_programs_without_cuda_are_unaffected(self):
        for cmd, out in ((["/bin/true"], ""),
                         ([sys.executable, "-c", "print(sum(range(10)))"], "45\n")):
            r = run(cmd)
            self.assertEqual((r.returncode, r.stdout, r.stderr), (0, out, ""))
            r = run(cmd, OMNIPROF=f"autostart=1,dir={self.dir}")
            self.assertEqual((r.returncode, r.stdout), (0, out))
        r = run(["/bin/sh", "-c", "exit 7"])
        self.assertEqual(r.returncode, 7)

    def test_program_closing_all_descriptors(self):
        # the program closes omniprof's control pipe; omniprof makes a new one,
        # and never writes into the file that took a freed descriptor number
        p = spawn([binary("close_fds"), "150"], OMNIPROF=f"dir={self.dir}")
        wait_ready(p)
        time.sleep(0.2)
        p.send_signal(signal.SIGUSR1)
        time.sleep(0.4)
        p.send_signal(signal.SIGUSR2)
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("own_file_bytes=0", out)
        # a daemon closing its descriptors is routine: nothing is said of it
        self.assertNotIn("control pipe", err)
        (t,) = [load(f) for f in traces(self.dir)]
        self.assertGreater(per_kernel(t)["daemon_kernel"], 10)

    def test_stages_not_selected_ignore_signals(self):
        p = spawn([SAMPLE, "200", "10"], OMNIPROF=f"dir={self.dir},stage=1,stages=0,2")
        wait_ready(p)
        p.send_signal(signal.SIGUSR1)
        time.sleep(0.3)
        p.send_signal(signal.SIGUSR2)
        _, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0)
        self.assertEqual(traces(self.dir), [])
        self.assertIn("stage 1 is not in stages", err)

    def test_a_signal_the_program_owns_is_not_taken(self):
        # the shell's trap '' makes SIGUSR1 ignored across exec: the program owns it
        cmd = ["/bin/sh", "-c", f"trap '' USR1; exec {SAMPLE} 200 10"]
        p = spawn(cmd, OMNIPROF=f"dir={self.dir},stop_signal=SIGRTMIN+2")
        wait_ready(p)
        p.send_signal(signal.SIGUSR1)   # ignored: the program keeps running, nothing starts
        time.sleep(0.2)
        p.send_signal(signal.SIGRTMIN + 2)
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("launches=400", out)
        self.assertEqual(traces(self.dir), [])
        warnings = [l for l in err.splitlines() if "SIGUSR1" in l]
        self.assertEqual(len(warnings), 1, err)
        self.assertIn("omniprof: signals: SIGUSR1 is already handled by the program", warnings[0])
        self.assertIn("toggle_signal", warnings[0])

    def test_stage_and_rank_name_the_files(self):
        r = run([SAMPLE, "3"], OMNIPROF=f"autostart=1,dir={self.dir},stage=2", RANK="5")
        self.assertEqual(r.returncode, 0, r.stderr)
        name = os.path.basename(traces(self.dir)[0])
        self.assertRegex(name, r"^stage-2_.+_\d+_rank5\.\d+\.pt\.trace\.json\.gz$")
        t = load(traces(self.dir)[0])
        self.assertEqual((t["omniprof"]["stage"], t["omniprof"]["rank"]), (2, 5))

    def test_the_launchers_variables_name_the_job_in_the_trace(self):
        cases = ((dict(RANK="5", WORLD_SIZE="8", LOCAL_RANK="1", TORCHELASTIC_RUN_ID="run-7"),
                  {"rank": 5, "world_size": 8, "local_rank": 1}, "run-7"),
                 (dict(OMPI_COMM_WORLD_RANK="2", OMPI_COMM_WORLD_SIZE="4",
                       OMPI_COMM_WORLD_LOCAL_RANK="0", OMPI_MCA_ess_base_jobid="1516568577",
                       PMIX_NAMESPACE="1516568577", PMIX_RANK="2"),
                  {"rank": 2, "world_size": 4, "local_rank": 0}, "1516568577"),
                 (dict(SLURM_PROCID="3", SLURM_NTASKS="16", SLURM_LOCALID="3", SLURM_JOB_ID="42",
                       SLURM_STEP_ID="0"),
                  {"rank": 3, "world_size": 16, "local_rank": 3}, "42.0"),
                 # a batch script's step: Slurm's own number, not a step of the job's
                 (dict(SLURM_PROCID="0", SLURM_NTASKS="4", SLURM_JOB_ID="43",
                       SLURM_STEP_ID="4294967294"),
                  {"rank": 0, "world_size": 4}, "43"),
                 (dict(PMI_RANK="1", PMI_SIZE="2"), {"rank": 1, "world_size": 2}, None),
                 # PMIx alone: the size and local rank from the MPI over it
                 (dict(PMIX_RANK="6", OMPI_COMM_WORLD_SIZE="8", OMPI_COMM_WORLD_LOCAL_RANK="2",
                       PMIX_NAMESPACE="prterun-vm-1@1"),
                  {"rank": 6, "world_size": 8, "local_rank": 2}, "prterun-vm-1@1"),
                 (dict(PMIX_RANK="7", PMI_SIZE="9"), {"rank": 7, "world_size": 9}, None))
        for k, (env, info, job) in enumerate(cases):
            d = os.path.join(self.dir, str(k))
            r = run([SAMPLE, "1"], OMNIPROF=f"autostart=1,dir={d}", **env)
            self.assertEqual(r.returncode, 0, r.stderr)
            t = load(traces(d)[0])
            self.assertEqual(t["distributedInfo"], info, env)
            self.assertEqual(t["omniprof"].get("job"), job, env)
            self.assertEqual(t["omniprof"]["host"], socket.gethostname())
        r = run([SAMPLE, "1"], OMNIPROF=f"autostart=1,dir={self.dir}/none")
        t = load(traces(f"{self.dir}/none")[0])
        self.assertNotIn("distributedInfo", t)
        self.assertNotIn("job", t["omniprof"])

    def test_processes_started_in_different_seconds_share_one_clock(self):
        procs, started = [], []
        for i in range(2):
            if i:
                time.sleep(1.2)
            started.append(time.time_ns())
            procs.append(spawn([SAMPLE, "30", "50"], OMNIPROF=f"autostart=1,dir={self.dir}"))
        for p in procs:
            _, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, err)
        ended = time.time_ns()
        by_pid = {t["omniprof"]["pid"]: t for t in map(load, traces(self.dir))}
        first, second = (by_pid[p.pid] for p in procs)
        # one base: Kineto's, the real-time clock rounded down to three months
        self.assertEqual(first["baseTimeNanoseconds"], second["baseTimeNanoseconds"])
        self.assertEqual(first["baseTimeNanoseconds"] % (7889238 * 10**9), 0)
        ts = []
        for i, t in enumerate((first, second)):
            x = launches(t)
            # base + ts is the real time each call was made, in its process's life
            self.assertTrue(all(started[i] <= abs_ns(t, e) <= ended for e in x))
            ts.append([e["ts"] for e in x])
            self.assertTrue(any(round(v * 1000) % 1000 for v in ts[-1]), "ns decimals kept")
        # so ts compare across the processes directly: the second began 1.2 s
        # after the first, and ran while the first still ran
        self.assertGreater(min(ts[1]) - min(ts[0]), 1.2e6)
        self.assertLess(min(ts[1]), max(ts[0]))

    def test_profiler_cuda_brackets_the_window(self):
        report = os.path.join(self.dir, "fake.txt")
        r = run([SAMPLE, "10"], OMNIPROF="profiler=cuda,autostart=1,delay_iterations=2,"
                "max_iterations=3", FAKE_CUDA_REPORT=report)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(read_text(report).split()[:3],
                         ["launches=20", "profiler_start=1", "profiler_stop=1"])
        self.assertEqual(traces(self.dir), [])

    def test_uncompressed_output(self):
        r = run([SAMPLE, "4"], OMNIPROF=f"autostart=1,dir={self.dir},use_gzip=false")
        self.assertEqual(r.returncode, 0, r.stderr)
        files = glob.glob(os.path.join(self.dir, "*.pt.trace.json"))
        self.assertEqual(len(files), 1)
        with open(files[0]) as f:
            self.assertEqual(len(launches(json.load(f))), 8)


class Cli(unittest.TestCase):
    def setUp(self):
        self.dir = trace_dir(self, "omniprof-cli-")

    def cli(self, *args, **env):
        return subprocess.run([CLI, *args], env=base_env(**env), capture_output=True, text=True,
                              timeout=60)

    def test_run_profiles_and_keeps_the_exit_code(self):
        r = self.cli("run", "-o", self.dir, "--autostart", "--set", "max_iterations=2", "--",
                     SAMPLE, "6")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("launches=12", r.stdout)
        self.assertEqual(per_kernel(load(traces(self.dir)[0])), {"vec_add": 2, "scale": 2})
        self.assertEqual(self.cli("run", "--", "/bin/sh", "-c", "exit 3").returncode, 3)
        self.assertEqual(self.cli("run", "--", "/nonexistent/cmd").returncode, 127)

    def test_command_line_beats_the_environment(self):
        r = self.cli("run", "-o", self.dir, "--set", "max_iterations=1", "--", SAMPLE, "6",
                     OMNIPROF_MAX_ITERATIONS="5", OMNIPROF_AUTOSTART="1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(per_kernel(load(traces(self.dir)[0])), {"vec_add": 1, "scale": 1})

    def test_run_keeps_existing_preloads(self):
        r = self.cli("run", "--", "/bin/sh", "-c", 'echo "$LD_PRELOAD"', LD_PRELOAD="libfoo.so")
        self.assertEqual(r.stdout.strip(), os.path.realpath(LIB) + ":libfoo.so")

    def test_bad_options_are_refused_before_running(self):
        r = self.cli("run", "--set", "delay_iterations=-3", "--", "/bin/true")
        self.assertEqual(r.returncode, 2)
        self.assertIn("omniprof: config: --set: delay_iterations: -3 is negative", r.stderr)
        r = self.cli("run", "--set", "profiler=torch", "--", "/bin/true")
        self.assertEqual(r.returncode, 2)
        self.assertIn("profiler=torch needs torch_profiler_dir", r.stderr)


if __name__ == "__main__":
    unittest.main()
