"""Shared helpers of the integration tests: where the build is, how to run a
program under the preload against the fake CUDA libraries, and how to read
what omniprof wrote.

Environment (set by ctest): OMNI_BUILD (the build directory) and
OMNI_FAKE_CUDA (the directory holding the fake libcuda.so.1/libcudart.so).
"""
import collections
import decimal
import glob
import gzip
import json
import os
import shutil
import subprocess
import tempfile
import time

BUILD = os.environ.get("OMNI_BUILD", os.path.join(os.path.dirname(__file__), "../../build"))
FAKE = os.environ.get("OMNI_FAKE_CUDA", os.path.join(BUILD, "fake"))
LIB = os.path.join(BUILD, "lib", "libomniprof.so")
CLI = os.path.join(BUILD, "bin", "omniprof")


def binary(name):
    return os.path.join(BUILD, "bin", name)


# Every process of a test run registers in this run's own registry, so the
# omniprof commands the tests run see exactly the processes they started.
RUNTIME_DIR = tempfile.mkdtemp(prefix="omniprof-registry-")
os.chmod(RUNTIME_DIR, 0o700)


def base_env(**extra):
    """The environment of a test process: the fake CUDA libraries, this run's
    registry, and CUPTI off — these tests check the interposed record, which
    is what omniprof records without CUPTI; test_cupti.py turns it on."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OMNIPROF") and k not in ("LD_PRELOAD", "CUDA_INJECTION64_PATH")}
    env["LD_LIBRARY_PATH"] = FAKE
    env["OMNIPROF_RUNTIME_DIR"] = RUNTIME_DIR
    env["OMNIPROF_CUPTI"] = "false"
    env.update(extra)
    return env


def run(cmd, preload=True, timeout=120, **env):
    e = base_env(**env)
    if preload:
        e["LD_PRELOAD"] = LIB
    return subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=timeout)


def spawn(cmd, **env):
    """Starts cmd under the preload, with pipes, for tests that signal it."""
    return subprocess.Popen(cmd, env=dict(base_env(LD_PRELOAD=LIB), **env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def entries(runtime_dir=RUNTIME_DIR):
    """A registry (this run's unless told): {pid: entry} of the processes
    omniprof runs in."""
    found = {}
    for f in os.listdir(runtime_dir):
        if f.endswith(".json") and f[0].isdigit():
            try:
                found[int(f[:-5])] = json.loads(read_text(os.path.join(runtime_dir, f)))
            except (OSError, ValueError):
                pass  # removed or replaced while we looked
    return found


def wait_for(predicate, timeout=20.0):
    """Polls predicate until it gives a true value, which it returns."""
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


def wait_ready(p):
    """Waits until omniprof in process p has taken its signals (it registers
    after that), so a signal sent now reaches omniprof, not the default action."""
    wait_for(lambda: p.pid in entries() or p.poll() is not None)


def wait_traces(d, n):
    """Waits until directory d holds n trace files; returns them."""
    return wait_for(lambda: (lambda f: f if len(f) >= n else None)(traces(d)))


def traces(d):
    return sorted(glob.glob(os.path.join(d, "*.pt.trace.json.gz")))


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def load(path):
    """A trace, parsed, after the checks every trace must pass (check_trace)."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        trace = json.load(f)
    check_trace(trace, path)
    _checked.add(path)
    return trace


_checked = set()  # traces load() has checked already


def trace_dir(test, prefix):
    """A temporary directory for a test's output.  When the test ends, every
    trace omniprof left in it, at any depth, passes check_trace (those the
    test loaded were checked then), and the directory is removed."""
    d = tempfile.mkdtemp(prefix=prefix)
    test.addCleanup(shutil.rmtree, d, True)
    test.addCleanup(check_traces_in, d)  # cleanups run last-in first-out
    return d


def check_traces_in(d):
    for root, _, files in os.walk(d):
        for name in files:
            path = os.path.join(root, name)
            if path in _checked or not name.endswith((".pt.trace.json", ".pt.trace.json.gz")):
                continue
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rb") as f:
                data = f.read()
            # a trace without GPU records or flows has nothing to check: the
            # long ones (millions of interposed calls) are not parsed for nothing
            if b'"ac2g"' in data or any(f'"cat": "{c}"'.encode() in data for c in GPU_CATEGORIES):
                check_trace(json.loads(data), path)


GPU_CATEGORIES = ("kernel", "gpu_memcpy", "gpu_memset", "cuda_sync", "cuda_event")


def check_trace(trace, path=""):
    """What holds in every trace omniprof writes: each GPU record starts after
    the API call that caused it began (same correlation id), never before it;
    and the ac2g flows pair: each id has exactly one start ("s", on a host
    call) and one end ("f", bound to a GPU record)."""
    if "omniprof" not in trace:
        return  # another profiler's (the Kineto fixture, trimmed): not ours to hold to this
    ev = trace["traceEvents"]
    calls = {}
    for e in ev:
        if e.get("ph") == "X" and e.get("cat") in ("cuda_driver", "cuda_runtime"):
            calls.setdefault(e["args"]["correlation"], e)
    for g in ev:
        if g.get("cat") in GPU_CATEGORIES:
            call = calls.get(g["args"]["correlation"])
            if call is not None and abs_ns(trace, g) < abs_ns(trace, call):
                raise AssertionError(f"{path}: {g['name']} (correlation {g['args']['correlation']})"
                                     f" starts before its call {call['name']}")
    flows = collections.defaultdict(list)
    for e in ev:
        if e.get("cat") == "ac2g":
            flows[e["id"]].append(e["ph"])
    for fid, phases in flows.items():
        if sorted(phases) != ["f", "s"]:
            raise AssertionError(f"{path}: flow {fid} has {phases}, not one s and one f")


def api_events(trace):
    """The host API calls: CUDA driver and runtime events."""
    return [e for e in trace["traceEvents"]
            if e.get("ph") == "X" and e.get("cat") in ("cuda_driver", "cuda_runtime")]


def launches(trace):
    return [e for e in api_events(trace) if e.get("name") == "cuLaunchKernel"]


def per_kernel(trace):
    return collections.Counter(e["args"]["kernel"] for e in launches(trace))


def per_api(trace):
    """(API name, kernel name or None) -> count."""
    return collections.Counter((e["name"], e["args"].get("kernel")) for e in api_events(trace))


def abs_ns(trace, ev):
    """An event's real time in ns: base + ts, exactly (ts has three decimals;
    the float json gives back prints as the decimal that was written)."""
    return trace["baseTimeNanoseconds"] + int(decimal.Decimal(repr(ev["ts"])) * 1000)
