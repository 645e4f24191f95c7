#!/usr/bin/env python3
"""Python call stacks: samples/py_launch.py (an ordinary Python program that
launches through ctypes) runs under the preload with every CPython found
here — Debian's /usr/bin/python3 (libpython linked into the executable) and
pyenv's 3.8 to 3.13 (shared libpython) — with ctypes.CDLL (the GIL released
around the launch) and ctypes.PyDLL (the GIL held).  Each launch's recorded
stack must hold exactly the sample's Python frames (file, line, function;
the qualname from 3.11), innermost first, in place of the interpreter's
frames, with the native frames of ctypes above them and the interpreter's
entry below; a loop must intern one stack.  The program's output and exit
status must be what they are without omniprof.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from helpers import BUILD, LIB, api_events, binary, load, run, traces

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.normpath(os.path.join(HERE, "../../samples/py_launch.py"))
HELPER = os.path.join(BUILD, "lib", "libpy_helper.so")
ANCHORS = os.path.join(BUILD, "lib", "libomniprof_anchors.so")
PYENV = os.path.expanduser("~/.pyenv/versions")
PYENV_VERSIONS = ("3.8.18", "3.9.18", "3.10.13", "3.11.7", "3.12.1", "3.13.0")

PY_FRAME = re.compile(r"^(?P<file>.+)\((?P<line>-?\d+)\): (?P<func>.+)$")
# a native frame of the interpreter itself: libpython3.X.so or python3.X
INTERPRETER = re.compile(r"(^|\()(lib)?python3\.\d+(\.so[.\d]*)?\+0x")


def interpreters():
    """[(label, path)] of the interpreters to test; missing ones are named
    on stderr and left out."""
    found = []
    for label, path in [("debian", "/usr/bin/python3")] + [
            (v, os.path.join(PYENV, v, "bin", "python3")) for v in PYENV_VERSIONS]:
        if os.access(path, os.X_OK):
            found.append((label, path))
        else:
            print(f"test_python: no {path}: Python {label} is not tested", file=sys.stderr)
    return found


INTERPRETERS = interpreters()


def version_of(python):
    out = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"],
                         capture_output=True, text=True, check=True).stdout.split()
    return tuple(int(x) for x in out)


def marks():
    """{name: line} of the sample's lines that end in '# @name'."""
    found = {}
    with open(SAMPLE, encoding="utf-8") as f:
        for number, text in enumerate(f, 1):
            m = re.search(r"# @([\w-]+)$", text.rstrip())
            if m:
                found[m.group(1)] = number
    return found


LINES = marks()


def python_frames(stack):
    """[(file, line, function)] of a 'Call stack', innermost first."""
    return [(m["file"], int(m["line"]), m["func"]) for m in map(PY_FRAME.match, stack) if m]


def expected(version, chain):
    """The sample's frames for a chain of (mark, qualname)."""
    return [(SAMPLE, LINES[mark], name if version >= (3, 11) else name.split(".")[-1])
            for mark, name in chain]


def loop_chain(depth, tail):
    return ([("launch", "Driver.launch"), ("forward", "Layer.forward")] +
            [("recurse", "Layer.forward")] * depth + [("step", "Model.step")] + tail)


MAIN_TAIL = [("main", "main"), ("module", "<module>")]


def launches_of(trace, kernel="py_kernel"):
    return [e for e in api_events(trace)
            if e["name"] == "cuLaunchKernel" and e["args"].get("kernel") == kernel]


def tree_stack(trace, ev):
    """The stack of ev as the stackFrames tree has it, leaf to root."""
    frames, node, walked = trace["stackFrames"], ev["sf"], []
    while node:
        walked.append(frames[node]["name"])
        node = frames[node].get("parent")
    return walked


class PythonStacks(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="omniprof-python-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def profile(self, python, *args, omniprof="", **env):
        """Runs the sample bare and under omniprof; checks that output and
        exit status agree; returns the traces written, by pid."""
        return self.profile_cmd([python, SAMPLE, *map(str, args)], omniprof, **env)

    def profile_cmd(self, cmd, omniprof="", **env):
        bare = run(cmd, preload=False)
        self.assertEqual(bare.returncode, 0, bare.stderr)
        out = tempfile.mkdtemp(dir=self.dir)
        r = run(cmd, OMNIPROF=f"autostart=1,dir={out},stack_depth=96" + (
            "," + omniprof if omniprof else ""), **env)
        self.assertEqual((r.returncode, r.stdout), (bare.returncode, bare.stdout), r.stderr)
        self.assertNotIn("omniprof: python", r.stderr)
        return {t["omniprof"]["pid"]: t for t in map(load, traces(out))}, r

    def check_merged(self, ev, frames, trace, in_a_row=True):
        """ev's stack: native frames of ctypes, then exactly `frames` (in a
        row, or with other libraries' native frames between them, never the
        interpreter's), then the native frames that entered the interpreter;
        none of the evaluation loop's own."""
        stack = ev["args"]["Call stack"]
        if frames is not None:
            self.assertEqual(python_frames(stack), frames, "\n".join(stack))
        at = [i for i, f in enumerate(stack) if PY_FRAME.match(f)]
        if in_a_row:
            self.assertEqual(at, list(range(at[0], at[0] + len(at))), "\n".join(stack))
        self.assertFalse([f for f in stack[at[0]:at[-1]] if INTERPRETER.search(f)],
                         "\n".join(stack))
        self.assertTrue(any("_ctypes" in f for f in stack[:at[0]]), "\n".join(stack))
        self.assertTrue(stack[at[-1] + 1:], "native frames below the outermost Python frame")
        self.assertFalse([f for f in stack if "_PyEval_EvalFrame" in f], "\n".join(stack))
        self.assertEqual(tree_stack(trace, ev), stack)

    def matrix(self, check):
        """check(python, version, loader_args) for every interpreter, with
        ctypes.CDLL and with ctypes.PyDLL."""
        for label, python in INTERPRETERS:
            version = version_of(python)
            for loader in ("CDLL", "PyDLL"):
                with self.subTest(python=label, loader=loader):
                    check(python, version, ["--pydll"] if loader == "PyDLL" else [])

    # ---- frames, in place of the interpreter's ------------------------------

    def test_loop_frames_exact_and_one_stack(self):
        def check(python, version, loader):
            by_pid, _ = self.profile(python, *loader, "--iterations", 120, "--depth", 3)
            (t,) = by_pid.values()
            launches = launches_of(t)
            self.assertEqual(len(launches), 120)
            want = expected(version, loop_chain(3, [("run", "run")] + MAIN_TAIL))
            for ev in (launches[0], launches[-1]):
                self.check_merged(ev, want, t)
            # one interned stack while 3.11+ specialises the loop's calls
            self.assertEqual(len({e["sf"] for e in launches}), 1)
            self.assertEqual(len({tuple(e["args"]["Call stack"]) for e in launches}), 1)

        self.matrix(check)

    def test_through_cupti_callbacks(self):
        """With CUPTI (the fake one) the launch is recorded in its callback,
        under the CUDA libraries' own frames: the same Python frames."""
        for label, python in INTERPRETERS:
            with self.subTest(python=label):
                version = version_of(python)
                by_pid, _ = self.profile(python, "--iterations", 30, "--depth", 1,
                                         OMNIPROF_CUPTI="true")
                (t,) = by_pid.values()
                self.assertEqual(t["omniprof"]["event_source"], "cupti")
                launches = launches_of(t)
                self.assertEqual(len(launches), 30)
                kernels = [e for e in t["traceEvents"] if e.get("cat") == "kernel"]
                self.assertEqual(len(kernels), 30)
                want = expected(version, loop_chain(1, [("run", "run")] + MAIN_TAIL))
                self.check_merged(launches[-1], want, t)
                self.assertEqual(len({e["sf"] for e in launches}), 1)

    def test_generator(self):
        def check(python, version, loader):
            by_pid, _ = self.profile(python, *loader, "--iterations", 120, "--generator")
            (t,) = by_pid.values()
            launches = launches_of(t)
            self.assertEqual(len(launches), 120)
            want = expected(version, loop_chain(0, [("gen", "launches"), ("run-gen", "run")] +
                                                MAIN_TAIL))
            self.check_merged(launches[-1], want, t)
            self.assertEqual(len({e["sf"] for e in launches}), 1)

        self.matrix(check)

    def check_task_steps_under(self, ev, frame):
        """The native frames between Python frames are asyncio's C task step,
        right under `frame` (the coroutine it sends into)."""
        stack = ev["args"]["Call stack"]
        at = [i for i, f in enumerate(stack) if PY_FRAME.match(f)]
        under = next(i for i in at if python_frames([stack[i]])[0] == frame)
        native = [i for i in range(at[0], at[-1]) if i not in at]
        self.assertTrue(native, "\n".join(stack))
        self.assertEqual(native, list(range(under + 1, under + 1 + len(native))), "\n".join(stack))
        self.assertTrue(all("_asyncio" in stack[i] for i in native), "\n".join(stack))

    def test_coroutines(self):
        """asyncio's C task steps sit between Python frames: they stay, in
        their place; the interpreter's own frames go."""
        def check(python, version, loader):
            by_pid, _ = self.profile(python, *loader, "--iterations", 60, "--coroutine")
            (t,) = by_pid.values()
            launches = launches_of(t)
            self.assertEqual(len(launches), 60)
            head = expected(version, loop_chain(0, [("coro", "step_soon"),
                                                    ("coro-loop", "steps")]))
            tail = expected(version, [("run-coro", "run")] + MAIN_TAIL)
            got = python_frames(launches[-1]["args"]["Call stack"])
            self.assertEqual(got[:len(head)], head)
            self.assertEqual(got[-len(tail):], tail)
            middle = got[len(head):-len(tail)]
            self.assertTrue(middle and all("/asyncio/" in f for f, _, _ in middle), middle)
            self.check_merged(launches[-1], None, t, in_a_row=False)
            self.check_task_steps_under(launches[-1], head[-1])
            self.assertEqual(len({e["sf"] for e in launches}), 1)

        self.matrix(check)

    def test_under_a_trace_function(self):
        """sys.settrace: 3.12+ instruments the code in place, 3.11's loop
        calls out from its cold part (Debian's build)."""
        def check(python, version, loader):
            by_pid, _ = self.profile(python, *loader, "--iterations", 40, "--settrace",
                                     "--coroutine")
            (t,) = by_pid.values()
            launches = launches_of(t)
            self.assertEqual(len(launches), 40)
            head = expected(version, loop_chain(0, [("coro", "step_soon"),
                                                    ("coro-loop", "steps")]))
            got = python_frames(launches[-1]["args"]["Call stack"])
            self.assertEqual(got[:len(head)], head)
            self.assertEqual(got[-3:], expected(version, [("run-coro", "run")] + MAIN_TAIL))
            self.check_merged(launches[-1], None, t, in_a_row=False)
            self.check_task_steps_under(launches[-1], head[-1])
            self.assertEqual(len({e["sf"] for e in launches}), 1)

        self.matrix(check)

    def test_loops_found_by_their_anchors(self):
        """3.11+: with a build whose evaluation loop the symbol does not
        cover (libomniprof_anchors.so trusts no symbol), each loop's native
        frame is found by where its _PyCFrame or shim frame lives, and the
        stacks are the same as with the symbol."""
        for label, python in INTERPRETERS:
            if version_of(python) < (3, 11):
                continue
            for args in (["--depth", "2"], ["--generator"], ["--coroutine"],
                         ["--threads", "2", "--depth", "1"]):
                with self.subTest(python=label, args=args):
                    stacks = []
                    for lib in (LIB, ANCHORS):
                        out = tempfile.mkdtemp(dir=self.dir)
                        r = run([python, SAMPLE, "--iterations", "30", *args], preload=False,
                                LD_PRELOAD=lib, OMNIPROF=f"autostart=1,dir={out},stack_depth=96")
                        self.assertEqual(r.returncode, 0, r.stderr)
                        (t,) = map(load, traces(out))
                        stacks.append(sorted({tuple(e["args"]["Call stack"])
                                              for e in launches_of(t)}))
                    self.assertEqual(stacks[1], stacks[0])
                    self.assertTrue(all(python_frames(st) for st in stacks[1]))

    def test_threads_while_others_collect_garbage(self):
        def check(python, version, loader):
            by_pid, _ = self.profile(python, *loader, "--iterations", 150, "--threads", 3,
                                     "--gc", "--depth", 1)
            (t,) = by_pid.values()
            pid = t["omniprof"]["pid"]
            launches = launches_of(t)
            self.assertEqual(len(launches), 4 * 150)
            main = [e for e in launches if e["tid"] == pid]
            workers = [e for e in launches if e["tid"] != pid]
            self.assertEqual((len(main), len({e["tid"] for e in workers})), (150, 3))
            want = expected(version, loop_chain(1, [("run", "run")] + MAIN_TAIL))
            for ev in main:
                self.assertEqual(python_frames(ev["args"]["Call stack"]), want)
            self.check_merged(main[-1], want, t)
            want = expected(version, loop_chain(1, [("thread", "thread_body")]))
            for ev in workers:
                got = python_frames(ev["args"]["Call stack"])
                self.assertEqual(got[:len(want)], want)
                # then threading's own frames, down to the thread's bootstrap
                self.assertTrue(got[len(want):] and all(
                    f.endswith("threading.py") for f, _, _ in got[len(want):]), got)
                self.assertTrue(got[-1][2].endswith("_bootstrap"), got)
            self.assertEqual(len({e["sf"] for e in main}), 1)
            self.assertEqual(len({e["sf"] for e in workers}), 1)

        self.matrix(check)

    def test_stack_depth_counts_the_native_frames_before_python(self):
        """stack_depth keeps that many native frames between the call and the
        first Python frame, then one entry says how many more were left out,
        and the Python frames follow whole (with the native frames among
        them), as a deep stack gives them: a PyTorch launch has tens of
        dispatcher frames above the model's line.  Launches at Python depths
        that change from one to the next, with asyncio's C task step between
        Python frames, below 40 native frames of a C library's own."""
        script = os.path.join(self.dir, "depths.py")
        text = "\n".join([
            "import asyncio, ctypes, sys",
            f"sys.path.insert(0, {os.path.dirname(SAMPLE)!r})",
            "from py_launch import Driver",
            "driver = Driver('--pydll' in sys.argv)",
            f"helper = ctypes.CDLL({HELPER!r})",
            "def down(n, deep):",
            "    if n:",
            "        return down(n - 1, deep)",
            "    if deep:",
            "        assert helper.deep_launch(40, 1) == 1",
            "    else:",
            "        driver.launch()",
            "async def step(n, deep):",
            "    down(n, deep)",
            "async def steps():",
            "    for n in [40, 3, 25, 0, 40, 12, 13, 14, 40, 33, 20, 11, 11, 60]:",
            "        await step(n, False)",
            "        await step(n, True)",
            "asyncio.run(steps())",
            ""])
        with open(script, "w", encoding="utf-8") as f:
            f.write(text)
        omitted = re.compile(r"^\[(\d+) native frames left out: stack_depth\]$")

        def check(python, version, loader):
            stacks = {}
            for depth in (256, 24, 52):
                by_pid, _ = self.profile_cmd([python, script, *loader],
                                             omniprof=f"stack_depth={depth}")
                (t,) = by_pid.values()
                launches = sorted(launches_of(t) + launches_of(t, "native_kernel"),
                                  key=lambda e: e["ts"])
                self.assertEqual(len(launches), 28)
                stacks[depth] = [e["args"]["Call stack"] for e in launches]
            for depth in (24, 52):
                for i, (whole, cut) in enumerate(zip(stacks[256], stacks[depth])):
                    first = next(k for k, f in enumerate(whole) if PY_FRAME.match(f))
                    if first <= depth:
                        want = whole
                    else:
                        want = whole[:depth] + [
                            f"[{first - depth} native frames left out: stack_depth]"] + whole[first:]
                    self.assertEqual(cut, want, f"launch {i}, stack_depth={depth}")
                    self.assertFalse([f for f in whole if omitted.match(f)])
            # every launch below the C library's 40 frames is cut at 24
            marked = [s for s in stacks[24][1::2] if any(omitted.match(f) for f in s)]
            self.assertEqual(len(marked), 14)
            self.assertTrue(all(len(python_frames(s)) >= 5 for s in stacks[24]))
            self.assertTrue(any("_asyncio" in f for s in stacks[24] for f in s))

        self.matrix(check)

    def test_names_in_any_script_and_lines_far_apart(self):
        """Latin-1, UCS-2 and UCS-4 names transcoded to UTF-8; a call far from
        its function's first line and far into its bytecode."""
        script = os.path.join(self.dir, "sc\u00e9nario_\u767a.py")
        body = ["    x = 0"] + ["    x += 1"] * 400 + [""] * 300
        text = "\n".join([
            "import sys",
            f"sys.path.insert(0, {os.path.dirname(SAMPLE)!r})",
            "from py_launch import Driver",
            "driver = Driver('--pydll' in sys.argv)",
            "def \u767a\u5c04_\U00020000():",
            *body,
            "    driver.launch()",
            "class \u00dcn\u00ef:",
            "    def m\u00e9tho(self):",
            "        \u767a\u5c04_\U00020000()",
            "for _ in range(30):",
            "    \u00dcn\u00ef().m\u00e9tho()",
            ""])
        with open(script, "w", encoding="utf-8") as f:
            f.write(text)
        lines = text.split("\n")
        at = {name: lines.index(line) + 1 for name, line in [
            ("launch", "    driver.launch()"), ("method", "        \u767a\u5c04_\U00020000()"),
            ("module", "    \u00dcn\u00ef().m\u00e9tho()")]}

        def check(python, version, loader):
            cmd = [python, script, *loader]
            by_pid, _ = self.profile_cmd(cmd)
            (t,) = by_pid.values()
            launches = launches_of(t)
            self.assertEqual(len(launches), 30)
            q = version >= (3, 11)
            want = [(SAMPLE, LINES["launch"], "Driver.launch" if q else "launch"),
                    (script, at["launch"], "\u767a\u5c04_\U00020000"),
                    (script, at["method"], "\u00dcn\u00ef.m\u00e9tho" if q else "m\u00e9tho"),
                    (script, at["module"], "<module>")]
            self.check_merged(launches[-1], want, t)
            self.assertEqual(len({e["sf"] for e in launches}), 1)

        self.matrix(check)

    def test_exit_while_a_daemon_thread_launches(self):
        """The interpreter finalises while a daemon thread launches without
        end: no crash, the same output, and the stacks recorded before are
        right."""
        for label, python in INTERPRETERS:
            with self.subTest(python=label):
                version = version_of(python)
                for _ in range(3):
                    by_pid, _ = self.profile(python, "--iterations", 200, "--daemon")
                    (t,) = by_pid.values()
                    pid = t["omniprof"]["pid"]
                    daemon = [e for e in launches_of(t) if e["tid"] != pid]
                    self.assertTrue(daemon)
                    want = expected(version, loop_chain(0, [("daemon", "forever")]))
                    for ev in daemon:
                        got = python_frames(ev["args"]["Call stack"])
                        # the last ones may be native only: finalising had begun
                        if got:
                            self.assertEqual(got[:len(want)], want)

    # ---- where there is no Python to show ----------------------------------

    def test_c_thread_c_fork_and_os_fork(self):
        for label, python in INTERPRETERS:
            with self.subTest(python=label):
                version = version_of(python)
                by_pid, r = self.profile(python, "--iterations", 30, "--fork", "--helper",
                                         HELPER, "--native-thread", "--c-fork")
                self.assertIn("forked child exited with 0", r.stdout)
                self.assertIn("30 from a C thread", r.stdout)
                self.assertIn("30 from a C fork child", r.stdout)
                self.assertEqual(len(by_pid), 3, "the process and its two children")
                kinds = {(bool(launches_of(t)), bool(launches_of(t, "native_kernel"))): t
                         for t in by_pid.values()}
                parent = kinds[(True, True)]  # Python's launches and the C thread's
                python_fork = kinds[(True, False)]
                c_fork = kinds[(False, True)]
                # the C thread never ran Python: native frames only
                native = launches_of(parent, "native_kernel")
                self.assertEqual(len(native), 30)
                for ev in native:
                    stack = ev["args"]["Call stack"]
                    self.assertEqual(python_frames(stack), [])
                    self.assertIn("launcher", " ".join(stack))
                # the C fork child launched before Python ran again in it
                for ev in launches_of(c_fork, "native_kernel"):
                    stack = ev["args"]["Call stack"]
                    self.assertEqual(python_frames(stack), [])
                    self.assertIn("fork_and_launch", " ".join(stack))
                # the os.fork child ran Python again: its frames are there
                want = expected(version, loop_chain(0, [("fork-child", "fork_child"),
                                                        ("main-fork", "main"),
                                                        ("module", "<module>")]))
                child = launches_of(python_fork)
                self.assertEqual(len(child), 30)
                self.check_merged(child[-1], want, python_fork)

    def test_libpython_opened_late(self):
        """A C program dlopen()s libpython after omniprof started: the
        session it starts then finds Python."""
        for label, python in INTERPRETERS:
            lib = glob.glob(os.path.join(os.path.dirname(os.path.dirname(python)), "lib",
                                         "libpython3*.so"))
            if not lib:
                continue  # Debian's: linked into the executable
            with self.subTest(python=label):
                version = version_of(python)
                cmd = [binary("py_embed"), lib[0], SAMPLE, "--iterations", "5"]
                prefix = os.path.dirname(os.path.dirname(python))
                r = run(cmd, PYTHONHOME=prefix, OMNIPROF=f"dir={self.dir}/{label}")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout, "py_launch: 5 launches from Python\n")
                (t,) = map(load, traces(f"{self.dir}/{label}"))
                launches = launches_of(t)
                self.assertEqual(len(launches), 5)
                got = python_frames(launches[-1]["args"]["Call stack"])
                want = expected(version, loop_chain(0, [("run", "run")] + MAIN_TAIL))
                self.assertEqual(got[:len(want)], want)
                self.assertEqual(got[-1][1:], (3, "<module>"), "runpy.run_path from <string>")
                self.assertIn("main (py_embed", " ".join(launches[-1]["args"]["Call stack"]))

    @unittest.skipUnless(os.environ.get("OMNI_FAST_UNWIND") == "check",
                         "the run of this file with OMNI_FAST_UNWIND=check")
    def test_fast_unwind_taken_and_tails_reused(self):
        """Under OMNI_FAST_UNWIND=check (every capture unwound both ways,
        any difference aborts) the fast unwinder is the one taken, on the
        main thread and on Python threads, and reuses the outer part."""
        def check(python, version, loader):
            _, r = self.profile(python, *loader, "--iterations", 50, "--depth", 4,
                                "--threads", 2)
            m = re.search(r"omni-unwind-check: (\d+) unwound, (\d+) reused a tail, "
                          r"(\d+) by libunwind", r.stderr)
            self.assertTrue(m, r.stderr)
            unwound, reused, fallback = map(int, m.groups())
            self.assertEqual((unwound, fallback), (150, 0), r.stderr)
            self.assertGreaterEqual(reused, 150 - 3, r.stderr)

        self.matrix(check)


        def check(python, version, loader):
            by_pid, _ = self.profile(python, *loader, "--iterations", 20, "--depth", 2,
                                     omniprof="python_stack=false")
            (t,) = by_pid.values()
            launches = launches_of(t)
            self.assertEqual(len(launches), 20)
            for ev in launches:
                self.assertEqual(python_frames(ev["args"]["Call stack"]), [])
            self.assertTrue(all(PY_FRAME.match(f["name"]) is None
                                for f in t["stackFrames"].values()))
            self.assertIn("python_stack=false", t["omniprof"]["config"])

        self.matrix(check)

    def test_program_without_python(self):
        r = run([binary("driver_loop"), "5"], OMNIPROF=f"autostart=1,dir={self.dir}")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("omniprof: python", r.stderr)
        (path,) = traces(self.dir)
        t = load(path)
        stacks = [e["args"]["Call stack"] for e in api_events(t) if "Call stack" in e["args"]]
        self.assertTrue(stacks)
        self.assertTrue(all(python_frames(s) == [] for s in stacks))

    def test_unknown_version_warns_once_and_keeps_native_stacks(self):
        python = os.path.join(PYENV, "3.7.16", "bin", "python3")
        if not os.access(python, os.X_OK):
            self.skipTest(f"no {python}")
        r = run([python, SAMPLE, "--iterations", "5"], OMNIPROF=f"autostart=1,dir={self.dir}")
        self.assertEqual(r.returncode, 0, r.stderr)
        warnings = [l for l in r.stderr.splitlines() if l.startswith("omniprof: python:")]
        self.assertEqual(len(warnings), 1, r.stderr)
        self.assertIn("3.7", warnings[0])
        t = load(traces(self.dir)[0])
        launches = launches_of(t)
        self.assertEqual(len(launches), 5)
        self.assertTrue(all(python_frames(e["args"]["Call stack"]) == [] and
                            "Call stack" in e["args"] for e in launches))


if __name__ == "__main__":
    unittest.main()
