#!/usr/bin/env python3
"""Python programs as they are: samples/omni_server.py (a launcher and three
stage workers started by multiprocessing, spawn or fork, each launching
through ctypes) and small Python programs, under the preload against the
fake CUDA driver, with Debian's python3 (and pyenv's 3.8 to 3.13 where a
test says so):

  - summary --by python / python-stack / --frames-from: rows equal the
    launches made from each line;
  - stage rules: each worker is found by the rule that fits it (process
    title, CUDA_VISIBLE_DEVICES), written to its own stage-N_* file by
    omniprof start/stop --stages; a stage known only after CUDA started is
    found at the start request; the launcher shows stage ? in list;
  - step_on=py:MODULE:QUALNAME with delay 2 / max 3 records exactly
    iterations 3 to 5, for methods, static and class methods, functions,
    in a module imported after start; a name that never appears warns once;
  - multiprocessing fork workers, which end with os._exit(), write their
    sessions.
The program's output and exit status are the same with and without omniprof.
"""
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from helpers import CLI, LIB, api_events, base_env, entries, load, traces, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.normpath(os.path.join(HERE, "../../samples"))
SERVER = os.path.join(SAMPLES, "omni_server.py")
PY = "/usr/bin/python3"
PYENV = os.path.expanduser("~/.pyenv/versions")
PYENV_VERSIONS = ("3.8.18", "3.9.18", "3.10.13", "3.11.7", "3.12.1", "3.13.0")
RULES = "stage_env=CUDA_VISIBLE_DEVICES,stage_map=2-3:1,stage_title=omni-stage([0-9]+)"
OWN_KERNELS = {0: {"encoder_attn", "encoder_mlp"}, 1: {"decoder_step"}, 2: {"vocoder_conv"}}


def marks(path):
    """{name: line} of the lines of path that end in '# @name'."""
    found = {}
    with open(path, encoding="utf-8") as f:
        for number, text in enumerate(f, 1):
            m = re.search(r"# @([\w-]+)$", text.rstrip())
            if m:
                found[m.group(1)] = number
    return found


LINES = marks(SERVER)


def env_of(**extra):
    """The tests' environment without CUDA_VISIBLE_DEVICES (a stage rule
    reads it) and without a preload."""
    e = base_env(**extra)
    e.pop("CUDA_VISIBLE_DEVICES", None)
    return e


def run(cmd, preload=True, **extra):
    e = env_of(**extra)
    if preload:
        e["LD_PRELOAD"] = LIB
    return subprocess.run(list(map(str, cmd)), env=e, capture_output=True, text=True,
                          timeout=120)


def cli(*args, **extra):
    return subprocess.run([CLI, *args], env=env_of(**extra), capture_output=True, text=True,
                          timeout=60)


def launches(trace):
    return [e for e in api_events(trace) if e["name"] == "cuLaunchKernel"]


def table_rows(text):
    """{name: (Self CUDA, # of Calls)} of a summary table."""
    rows = {}
    for line in text.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) == 13 and cells[0] != "Name" and cells[-1].isdigit():
            rows[cells[0]] = (cells[1], int(cells[-1]))
    return rows


def stat_fields(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def in_group(pid, group):
    fields = stat_fields(pid)
    return bool(fields) and fields[0] != "Z" and int(fields[2]) == group


def group_alive(group):
    return any(in_group(int(n), group) for n in os.listdir("/proc") if n.isdigit())


def interpreters():
    found = [("debian", PY)]
    for v in PYENV_VERSIONS:
        path = os.path.join(PYENV, v, "bin", "python3")
        if os.access(path, os.X_OK):
            found.append((v, path))
        else:
            print(f"test_pyserver: no {path}: Python {v} is not tested", file=sys.stderr)
    return found


class PythonServer(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="omniprof-pyserver-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.groups = []

    def tearDown(self):
        for group in self.groups:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
            wait_for(lambda: not group_alive(group))

    def profile(self, cmd, omniprof, **extra):
        """cmd bare and under omniprof (autostart, into a new directory):
        the same output and exit status; returns {stage: trace} and the
        run."""
        bare = run(cmd, preload=False, **extra)
        self.assertEqual(bare.returncode, 0, bare.stderr)
        out = tempfile.mkdtemp(dir=self.dir)
        r = run(cmd, OMNIPROF=f"autostart=1,dir={out},{omniprof}", **extra)
        self.assertEqual((r.returncode, r.stdout), (bare.returncode, bare.stdout), r.stderr)
        found = {}
        for path in traces(out):
            t = load(path)
            found.setdefault(t["omniprof"]["stage"], []).append((path, t))
        return found, r

    # ---- summary --by python -------------------------------------------------

    def test_by_python_rows_equal_the_launches_of_each_line(self):
        n = 7
        for cupti in ("false", "true"):
            with self.subTest(cupti=cupti):
                by_stage, _ = self.profile([PY, SERVER, "--requests", n], RULES,
                                           OMNIPROF_CUPTI=cupti)
                self.assertEqual(sorted(by_stage), [0, 1, 2])
                want = {0: {("enc-attn", "Encoder.forward"): 2 * n,
                            ("enc-mlp", "Encoder.forward"): n},
                        1: {("grid", "GPU.launch_grid"): n},
                        2: {("voc-conv", "Vocoder.forward"): 3 * n}}
                for stage, [(path, t)] in by_stage.items():
                    r = cli("summary", path, "--by", "python")
                    self.assertEqual(r.returncode, 0, r.stderr)
                    rows = table_rows(r.stdout)
                    self.assertEqual(
                        {name: calls for name, (_, calls) in rows.items()},
                        {f"{SERVER}({LINES[mark]}): {func}": calls
                         for (mark, func), calls in want[stage].items()}, r.stdout)
                    self.assertEqual(sum(c for _, c in rows.values()), len(launches(t)))
                    gpu = {cell for cell, _ in rows.values()}
                    if cupti == "true":
                        self.assertTrue(all(c.endswith("us") for c in gpu), r.stdout)
                    else:
                        self.assertEqual(gpu, {"-"}, "no GPU activity without CUPTI")

    def test_by_python_stack(self):
        by_stage, _ = self.profile([PY, SERVER, "--requests", 4], RULES)
        [(path, _)] = by_stage[1]
        r = cli("summary", path, "--by", "python-stack")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = table_rows(r.stdout)
        self.assertEqual([c for _, c in rows.values()], [4], r.stdout)
        self.assertTrue(next(iter(rows)).startswith(f"#1 {SERVER}({LINES['grid']}): "
                                                    "GPU.launch_grid <- "))
        legend = r.stdout.split("#1, innermost first:\n")[1].splitlines()
        self.assertEqual([l.strip() for l in legend[:3]],
                         [f"{SERVER}({LINES['grid']}): GPU.launch_grid",
                          f"{SERVER}({LINES['dec-step']}): Decoder.execute_model",
                          f"{SERVER}({LINES['dec-step'] + 4}): Decoder.forward"])
        # then serve, worker, and multiprocessing's own frames down to spawn's
        self.assertTrue(any("multiprocessing/spawn.py" in l for l in legend), legend)

    def test_library_frames_give_way_and_frames_from_picks(self):
        """Frames under lib/python3*/site-packages are the library's: the row
        is the program's innermost frame; --frames-from picks the library's."""
        site = os.path.join(self.dir, "env", "lib", "python3.11", "site-packages")
        os.makedirs(site)
        with open(os.path.join(site, "fakeops.py"), "w") as f:
            f.write("def launch(lib, fn):\n"
                    "    return lib.cuLaunchKernel(fn, 1, 1, 1, 32, 1, 1, 0, None, None, None)\n")
        app = os.path.join(self.dir, "app.py")
        with open(app, "w") as f:
            f.write("import sys\n"
                    f"sys.path[:0] = [{SAMPLES!r}, {site!r}]\n"
                    "import fakeops\n"
                    "from py_launch import Driver\n"
                    "d = Driver(False)\n"
                    "def a():\n"
                    "    fakeops.launch(d.lib, d.fn)\n"
                    "def b():\n"
                    "    fakeops.launch(d.lib, d.fn)\n"
                    "for _ in range(3):\n"
                    "    a()\n"
                    "for _ in range(5):\n"
                    "    b()\n"
                    "print('app: 8 launches')\n")
        by_stage, _ = self.profile([PY, app], "")
        [(path, _)] = by_stage[-1]
        r = cli("summary", path, "--by", "python")
        self.assertEqual({k: c for k, (_, c) in table_rows(r.stdout).items()},
                         {f"{app}(7): a": 3, f"{app}(9): b": 5}, r.stdout)
        r = cli("summary", path, "--frames-from", os.path.join(self.dir, "env") + "/")
        self.assertEqual({k: c for k, (_, c) in table_rows(r.stdout).items()},
                         {f"{site}/fakeops.py(2): launch": 8}, r.stdout)
        r = cli("summary", path, "--by", "python-stack")
        self.assertEqual(sorted(c for _, c in table_rows(r.stdout).values()), [3, 5], r.stdout)
        r = cli("summary", path, "--by", "kernel", "--frames-from", "/x")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--frames-from goes with --by python", r.stderr)

    # ---- stages by rule ----------------------------------------------------------

    def serve_in_background(self, *omniprof_args):
        p = subprocess.Popen([CLI, "run", "-o", self.dir, *omniprof_args, "--", PY, SERVER,
                              "--requests", "4000", "--interval", "0.005"],
                             env=env_of(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
        self.groups.append(p.pid)
        self.addCleanup(p.communicate)
        return p

    def test_each_stage_found_by_its_rule_and_written_to_its_own_file(self):
        p = self.serve_in_background("--set", "stage_env=CUDA_VISIBLE_DEVICES", "--set",
                                     "stage_map=2-3:1", "--set", "stage_title=omni-stage([0-9]+)")
        stages = wait_for(lambda: (lambda s: s if len(s) == 3 else None)(
            {e["stage"]: pid for pid, e in entries().items()
             if e["stage"] >= 0 and in_group(pid, p.pid)}))
        launcher = [pid for pid, e in entries().items()
                    if in_group(pid, p.pid) and "omni_server.py" in e["cmdline"]]
        self.assertEqual(len(launcher), 1)
        self.assertTrue(entries()[launcher[0]]["stage_pending"])
        listed = {int(c[0]): c[1] for c in map(str.split, cli("list").stdout.splitlines()[1:])
                  if c and c[0].isdigit()}
        self.assertEqual(listed[launcher[0]], "?", "the launcher's stage is not known")
        self.assertIn("? (no stage rule has matched yet)", cli("status", str(launcher[0])).stdout)
        for stage, pid in stages.items():
            self.assertEqual(listed[pid], str(stage))
            self.assertFalse(entries()[pid]["stage_pending"])
            self.assertTrue(entries()[pid]["worker"].startswith(f"stage-{stage}_"))
        r = cli("start", "--stages", "0,1,2", "--wait")
        self.assertEqual(r.stdout.count(": recording"), 3, r.stdout + r.stderr)
        time.sleep(0.5)
        r = cli("stop", "--stages", "0,1,2", "--wait")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        files = traces(self.dir)
        self.assertEqual(len(files), 3, r.stdout)
        for path in files:
            t = load(path)
            stage = t["omniprof"]["stage"]
            self.assertTrue(os.path.basename(path).startswith(f"stage-{stage}_"), path)
            self.assertEqual(t["omniprof"]["pid"], stages[stage])
            kernels = collections.Counter(e["args"]["kernel"] for e in launches(t))
            self.assertEqual(set(kernels), OWN_KERNELS[stage])
        # one stage alone: one more file, its own
        cli("start", "--stages", "1", "--wait")
        time.sleep(0.3)
        r = cli("stop", "--stages", "1", "--wait")
        new = [f for f in traces(self.dir) if f not in files]
        self.assertEqual([os.path.basename(f)[:8] for f in new], ["stage-1_"], r.stdout)

    def test_a_stage_known_after_cuda_started_is_found_at_the_start_request(self):
        # a file, not -c: the command line would hold the title the rule looks for
        script = os.path.join(self.dir, "late.py")
        with open(script, "w") as f:
            f.write("import ctypes, sys, time\n"
                    f"sys.path.insert(0, {SAMPLES!r})\n"
                    "from py_launch import Driver\n"
                    "d = Driver(False)\n"
                    "print('up', flush=True)\n"
                    "sys.stdin.readline()\n"
                    "ctypes.CDLL(None).prctl(15, b'omni-stage5', 0, 0, 0)\n"
                    "print('named', flush=True)\n"
                    "for _ in range(4000):\n"
                    "    d.launch()\n"
                    "    time.sleep(0.002)\n")
        e = env_of(LD_PRELOAD=LIB, OMNIPROF=f"dir={self.dir},stage_title=omni-stage([0-9]+)")
        p = subprocess.Popen([PY, script], env=e, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        self.groups.append(p.pid)
        self.addCleanup(p.communicate)
        self.assertEqual(p.stdout.readline(), "up\n")
        wait_for(lambda: p.pid in entries())
        self.assertTrue(entries()[p.pid]["stage_pending"])
        r = cli("start", "--stages", "5")
        self.assertIn("no profiled process has stage 5", r.stderr)
        p.stdin.write("\n")
        p.stdin.flush()
        self.assertEqual(p.stdout.readline(), "named\n")
        r = cli("start", "--stages", "5", "--wait")
        self.assertIn(f"pid {p.pid} (stage 5): recording", r.stdout, r.stderr)
        time.sleep(0.2)
        r = cli("stop", "--stages", "5", "--wait")
        (path,) = traces(self.dir)
        self.assertTrue(os.path.basename(path).startswith("stage-5_"), path)
        self.assertEqual(load(path)["omniprof"]["stage"], 5)
        self.assertTrue(launches(load(path)))

    # ---- step_on=py: ---------------------------------------------------------------

    def test_step_on_python_records_iterations_3_to_5(self):
        """The decoder's execute_model is each iteration; delay 2, max 3: its
        launches of iterations 3, 4 and 5 (gridDim.x) and nothing else."""
        for mode in ([], ["--fork"]):
            with self.subTest(mode=mode or "spawn"):
                by_stage, r = self.profile(
                    [PY, SERVER, "--requests", 10, *mode],
                    RULES + ",record_shapes=1,delay_iterations=2,max_iterations=3,"
                    "step_on=py:__main__:Decoder.execute_model")
                self.assertEqual(list(by_stage), [1], "the other stages never step")
                [(_, t)] = by_stage[1]
                self.assertEqual([(e["args"]["kernel"], e["args"]["grid"][0]) for e in launches(t)],
                                 [("decoder_step", i) for i in (3, 4, 5)])
                self.assertNotIn("omniprof: step_on", r.stderr)

    def test_step_on_python_methods_functions_a_module_imported_late(self):
        """In every interpreter: a method, a staticmethod, a classmethod and a
        module function of a module imported after omniprof started; the
        program sees its functions as they were."""
        mod = os.path.join(self.dir, "runner_mod.py")
        with open(mod, "w") as f:
            f.write("class Runner:\n"
                    "    def __init__(self, d):\n"
                    "        self.d = d\n"
                    "    def execute_model(self, i):\n"
                    "        '''Runs one iteration.'''\n"
                    "        return self.d.lib.cuLaunchKernel(self.d.fn, i, 1, 1, 32, 1, 1, 0,\n"
                    "                                         None, None, None)\n"
                    "    @staticmethod\n"
                    "    def before(i):\n"
                    "        return i\n"
                    "    @classmethod\n"
                    "    def named(cls, i):\n"
                    "        return cls.__name__\n"
                    "def tick(i):\n"
                    "    return i\n")
        app = os.path.join(self.dir, "app.py")
        with open(app, "w") as f:
            f.write("import inspect, sys, time\n"
                    f"sys.path[:0] = [{SAMPLES!r}, {self.dir!r}]\n"
                    "from py_launch import Driver\n"
                    "d = Driver(False)\n"
                    "time.sleep(0.2)\n"
                    "import runner_mod\n"
                    "time.sleep(0.6)\n"
                    "R = runner_mod.Runner\n"
                    "r = R(d)\n"
                    "for i in range(1, 11):\n"
                    "    R.before(i), r.named(i), runner_mod.tick(i)\n"
                    "    r.execute_model(i)\n"
                    "print(R.execute_model.__name__, R.execute_model.__doc__,\n"
                    "      r.execute_model.__qualname__, r.named(0), R.before(7), runner_mod.tick(8),\n"
                    "      list(inspect.signature(R.execute_model).parameters))\n")
        # the step after execute_model ends iteration i; the others run
        # before the launch of iteration i, so they end iteration i - 1
        cases = {"Runner.execute_model": [3, 4, 5], "Runner.before": [2, 3, 4],
                 "Runner.named": [2, 3, 4], "tick": [2, 3, 4]}
        for label, python in interpreters():
            for name, grids in cases.items():
                with self.subTest(python=label, name=name):
                    by_stage, r = self.profile(
                        [python, app], "record_shapes=1,delay_iterations=2,max_iterations=3,"
                        f"step_on=py:runner_mod:{name}")
                    self.assertEqual(r.stdout, "execute_model Runs one iteration. "
                                               "Runner.execute_model Runner 7 8 ['self', 'i']\n")
                    [(_, t)] = by_stage[-1]
                    self.assertEqual([e["args"]["grid"][0] for e in launches(t)], grids)
                    self.assertNotIn("omniprof: step_on", r.stderr)

    def test_step_on_python_name_that_never_appears_warns_once(self):
        app = os.path.join(self.dir, "app.py")
        with open(app, "w") as f:
            f.write("import sys, time\n"
                    f"sys.path.insert(0, {SAMPLES!r})\n"
                    "from py_launch import Driver\n"
                    "d = Driver(False)\n"
                    "for _ in range(40):\n"
                    "    d.launch()\n"
                    "    time.sleep(0.1)\n"
                    "print('done')\n")
        _, r = self.profile([PY, app], "delay_iterations=1,step_on=py:no_such_module:f")
        warnings = [l for l in r.stderr.splitlines() if l.startswith("omniprof: step_on:")]
        self.assertEqual(len(warnings), 1, r.stderr)
        self.assertIn("py:no_such_module:f is not there after 20 tries: module no_such_module "
                      "is not imported", warnings[0])

    # ---- fork workers ------------------------------------------------------------------

    def test_fork_workers_ending_in_os_exit_write_their_sessions(self):
        """In every interpreter: each fork worker (os._exit) writes its own
        stage's file, found by its rule after the fork."""
        n = 6
        per_request = {0: 3, 1: 1, 2: 3}
        for label, python in interpreters():
            with self.subTest(python=label):
                by_stage, r = self.profile([python, SERVER, "--requests", n, "--fork",
                                            "--settle", "0.1"], RULES)
                self.assertIn("started with fork", r.stdout)
                self.assertIn("worker exit codes [0, 0, 0]", r.stdout)
                self.assertEqual(sorted(by_stage), [0, 1, 2], r.stderr)
                for stage, [(path, t)] in by_stage.items():
                    self.assertTrue(os.path.basename(path).startswith(f"stage-{stage}_"))
                    kernels = collections.Counter(e["args"]["kernel"] for e in launches(t))
                    self.assertEqual(set(kernels), OWN_KERNELS[stage])
                    self.assertEqual(sum(kernels.values()), per_request[stage] * n)


if __name__ == "__main__":
    unittest.main()
