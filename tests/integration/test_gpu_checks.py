#!/usr/bin/env python3
"""The GPU checks (tests/gpu/) tried here, without a GPU, so that a GPU
machine's short time is not spent finding a broken script: run.sh parses
(bash -n) and its dry run (the build's omniprof and samples, the fake CUDA
driver and CUPTI, tests/gpu/fake_torch standing in for PyTorch) passes every
check it makes on a GPU but the nvcc samples and the overhead; and the
checkers of the PyTorch loops (check_torch.py) fail, naming what is wrong,
on traces where the loop's Python frames, ranges or GPU spans are not what
the loop made."""
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from helpers import BUILD, FAKE, RUNTIME_DIR, load, run, traces

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GPU = os.path.join(ROOT, "tests", "gpu")
LOOP = os.path.join(GPU, "torch_loop.py")
FAKE_TORCH = os.path.join(GPU, "fake_torch")
NVTX_LIB = os.environ.get("OMNI_NVTX_LIB", "/usr/local/cuda/lib64/libnvtx3interop.so.1")
sys.path.insert(0, GPU)
import check_torch  # noqa: E402  (tests/gpu, found above)


def loop_trace(directory, *args):
    """torch_loop.py under omniprof with the fake CUPTI and fake_torch."""
    r = run([sys.executable, LOOP, *map(str, args)], OMNIPROF=f"autostart=1,dir={directory}",
            OMNIPROF_CUPTI="true", PYTHONPATH=FAKE_TORCH, OMNI_NVTX_LIB=NVTX_LIB)
    assert r.returncode == 0, r.stderr
    (path,) = traces(directory)
    return path, load(path)


class DryRun(unittest.TestCase):
    def test_run_sh_parses_and_its_dry_run_passes(self):
        script = os.path.join(GPU, "run.sh")
        self.assertEqual(subprocess.run(["bash", "-n", script]).returncode, 0)
        env = dict(os.environ, OMNI_BUILD=BUILD, OMNI_FAKE_CUDA=FAKE, OMNI_NVTX_LIB=NVTX_LIB,
                   OMNIPROF_RUNTIME_DIR=RUNTIME_DIR)
        env = {k: v for k, v in env.items() if k not in ("LD_PRELOAD", "OMNIPROF")}
        r = subprocess.run(["bash", script, "--dry-run"], capture_output=True, text=True,
                           timeout=240, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[-1], "gpu: dry run: all checks passed")
        checked = [line for line in lines if line.endswith(": ok")]
        # driver_loop twice, dlsym_launch, nvtx_ranges, the PyTorch loop three times;
        # nvtx_ranges' ranges; the loop's frames twice and its ranges
        self.assertEqual(len(checked), 11, r.stdout)
        self.assertIn("torch frames: ok", lines)
        self.assertIn("torch nvtx: ok", lines)


class Checkers(unittest.TestCase):
    """check_torch.py on the dry run's traces, as they are and spoiled."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="omniprof-gpu-checks-")
        cls.frames_path, cls.frames = loop_trace(os.path.join(cls.dir, "frames"), 5)
        cls.nvtx_path, cls.nvtx = loop_trace(os.path.join(cls.dir, "nvtx"), "--nvtx", 3)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def command(self, *args):
        return subprocess.run([sys.executable, os.path.join(GPU, "check_torch.py"), *map(str, args)],
                              capture_output=True, text=True)

    def test_the_loops_pass(self):
        r = self.command("frames", self.frames_path, LOOP, 5)
        self.assertEqual((r.returncode, r.stdout), (0, "torch frames: ok\n"), r.stderr)
        r = self.command("nvtx", self.nvtx_path, LOOP, 3)
        self.assertEqual((r.returncode, r.stdout), (0, "torch nvtx: ok\n"), r.stderr)
        r = self.command("frames", self.frames_path, LOOP, 6)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "torch frames: FAILED: 5 add kernels, 6 expected\n")
        r = self.command("nvtx", "", LOOP, 3)
        self.assertEqual(r.returncode, 1)
        self.assertTrue(r.stdout.startswith("torch nvtx: FAILED: no trace to check"), r.stdout)

    def launches(self, t):
        return [e for e in t["traceEvents"] if e.get("name") == "cuLaunchKernel"]

    def spoiled_frames(self, change):
        t = copy.deepcopy(self.frames)
        change(self.launches(t)[3]["args"]["Call stack"])
        return check_torch.check_frames(t, LOOP, 5)

    def test_frames_found_missing_moved_or_out_of_order(self):
        at = check_torch.marks(LOOP)
        self.assertEqual(check_torch.check_frames(self.frames, LOOP, 5), [])

        def frame(stack, func):
            return next(i for i, f in enumerate(stack) if f.endswith("): " + func))

        def drop_run(stack):
            del stack[frame(stack, "run")]

        def other_line(stack):
            i = frame(stack, "step")
            stack[i] = stack[i].replace(f"({at['launch']})", f"({at['launch'] + 1})")

        def swap(stack):
            i, j = frame(stack, "step"), frame(stack, "run")
            stack[i], stack[j] = stack[j], stack[i]

        def outer_python(stack):
            stack.insert(frame(stack, "<module>") + 1, "/usr/lib/python3/runpy.py(88): _run_code")

        for change, says in ((drop_run, "frames of torch_loop.py"),
                             (other_line, "frames of torch_loop.py"),
                             (swap, "frames of torch_loop.py"),
                             (outer_python, "not the outermost ones in a row"),
                             (lambda stack: stack.clear(), "its stack: 0 frames")):
            with self.subTest(change=change.__name__):
                problems = self.spoiled_frames(change)
                self.assertEqual(len(problems), 1, problems)
                self.assertIn(says, problems[0])

    def spoiled_nvtx(self, change):
        t = copy.deepcopy(self.nvtx)
        change(t["traceEvents"])
        return check_torch.check_nvtx(t, LOOP, 3)

    def test_ranges_and_their_gpu_spans(self):
        self.assertEqual(check_torch.check_nvtx(self.nvtx, LOOP, 3), [])

        def of(ev, cat, name):
            return [e for e in ev if e.get("cat") == cat and e["name"].startswith(name)]

        def drop_forward(ev):
            ev.remove(of(ev, "user_annotation", "forward")[1])

        def forward_out_of_iteration(ev):
            f = of(ev, "user_annotation", "forward")[0]
            f["ts"] -= 100

        def no_emit_nvtx_range(ev):
            ev.remove(of(ev, "user_annotation", "aten::add_")[0])

        def drop_gpu_span(ev):
            ev.remove(of(ev, "gpu_user_annotation", "forward")[2])

        def late_gpu_span(ev):
            of(ev, "gpu_user_annotation", "iteration")[0]["ts"] += 0.5

        def short_gpu_span(ev):
            of(ev, "gpu_user_annotation", "rf_block")[0]["dur"] -= 0.5

        def other_stream(ev):
            of(ev, "gpu_user_annotation", "forward")[0]["tid"] += 1

        def records(ev):
            of(ev, "gpu_user_annotation", "iteration")[1]["args"]["GPU records"] = 2

        for change, says in ((drop_forward, "ranges {'iteration': 3, 'forward': 2"),
                             (forward_out_of_iteration, "holds 0 forward ranges"),
                             (no_emit_nvtx_range, "no aten::add_ range"),
                             (drop_gpu_span, "forward (range id"),
                             (late_gpu_span, "iteration: GPU span"),
                             (short_gpu_span, "rf_block, op_id = 0: GPU span"),
                             (other_stream, "forward: GPU span 0/8"),
                             (records, "2 records")):
            with self.subTest(change=change.__name__):
                problems = self.spoiled_nvtx(change)
                self.assertTrue(problems)
                self.assertIn(says, problems[0])


if __name__ == "__main__":
    unittest.main()
