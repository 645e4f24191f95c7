"""Shared helpers of the integration tests: where the build is, how to run a
program under the preload against the fake CUDA libraries, and how to read
what omniprof wrote.

Environment (set by ctest): OMNI_BUILD (the build directory) and
OMNI_FAKE_CUDA (the directory holding the fake libcuda.so.1/libcudart.so).
"""
import collections
import glob
import gzip
import json
import os
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
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def api_events(trace):
    return [e for e in trace["traceEvents"] if e.get("ph") == "X"]


def launches(trace):
    return [e for e in api_events(trace) if e.get("name") == "cuLaunchKernel"]


def per_kernel(trace):
    return collections.Counter(e["args"]["kernel"] for e in launches(trace))


def per_api(trace):
    """(API name, kernel name or None) -> count."""
    return collections.Counter((e["name"], e["args"].get("kernel")) for e in api_events(trace))


def abs_ns(trace, ev):
    return trace["baseTimeNanoseconds"] + round(ev["ts"] * 1000)
