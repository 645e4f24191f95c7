#!/usr/bin/env python3
"""Checks the traces of tests/gpu/torch_loop.py written under omniprof with
CUPTI on a real GPU.  Prints one line; exit 1 on a failure.

  check_torch.py frames TRACE.json.gz SCRIPT N
      each of the loop's N add kernels was launched by a call whose "Call
      stack" holds the loop's Python frames, innermost first and in a row:
      step (the x.add_ line), run, main, <module> of SCRIPT (file, line,
      function); frames of other files (a library's Python) only inside them

  check_torch.py nvtx TRACE.json.gz SCRIPT N
      the torch.cuda.nvtx ranges as pushed: N "iteration", N "forward", each
      forward inside an iteration on its thread; record_function's
      "rf_block" (under emit_nvtx) around emit_nvtx's own aten::add_ range;
      the launches inside each (forward 2, iteration 3, rf_block 1); and
      each range's GPU projection: one gpu_user_annotation of the same name
      and range id, on the stream its kernels ran on, from the first one's
      start to the last one's end, counting them

Kernels are those whose name holds "add" (PyTorch's add kernel, "...
CUDAFunctorOnSelf_add<float>...", as check_trace.py's ~add); SCRIPT's lines
are found by their "# @<name>" marks.  check_frames and check_nvtx return
the problems found, for tests that run them on traces made without a GPU.
"""
import collections
import gzip
import json
import os
import re
import sys

PY_FRAME = re.compile(r"^(?P<file>.+)\((?P<line>-?\d+)\): (?P<func>.+)$")
API = ("cuda_runtime", "cuda_driver")


def load(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def marks(script):
    """{name: line} of SCRIPT's lines that end in '# @name'."""
    found = {}
    with open(script, encoding="utf-8") as f:
        for number, text in enumerate(f, 1):
            m = re.search(r"# @([\w-]+)$", text.rstrip())
            if m:
                found[m.group(1)] = number
    return found


def ns(us):
    """A trace time (us, three decimals) as integer ns."""
    return int(round(us * 1000))


def span(e):
    return ns(e["ts"]), ns(e["ts"] + e.get("dur", 0))


def add_kernels(ev):
    return [e for e in ev if e.get("ph") == "X" and e.get("cat") == "kernel" and "add" in e["name"]]


def launches_by_correlation(ev):
    return {e["args"]["correlation"]: e for e in ev
            if e.get("ph") == "X" and e.get("cat") in API and "correlation" in e.get("args", {})}


def stack_of(call):
    """The launch's "Call stack": omniprof's array, or Kineto's "a;b;c"."""
    stack = call.get("args", {}).get("Call stack") or []
    return stack.split(";") if isinstance(stack, str) else stack


def same_file(a, b):
    return a == b or os.path.realpath(a) == os.path.realpath(b)


# ---- Python frames -------------------------------------------------------------------

def check_frames(trace, script, n):
    ev = trace["traceEvents"]
    at = marks(script)
    want = [(at["launch"], "step"), (at["step"], "run"), (at["run"], "main"),
            (at["main"], "<module>")]
    kernels = add_kernels(ev)
    api = launches_by_correlation(ev)
    problems = []
    if len(kernels) != n:
        problems.append(f"{len(kernels)} add kernels, {n} expected")
    for k in kernels:
        call = api.get(k["args"].get("correlation"))
        if call is None:
            problems.append(f"kernel {k['name'][:40]}: no launch of its correlation")
            break
        stack = stack_of(call)
        frames = [(m["file"], int(m["line"]), m["func"]) for m in map(PY_FRAME.match, stack) if m]
        ours = [i for i, f in enumerate(frames) if same_file(f[0], script)]
        got = [frames[i][1:] for i in ours]
        if got != want:
            problems.append(f"{call['name']} (correlation {call['args']['correlation']}): frames "
                            f"of {os.path.basename(script)} {got}, expected {want}; its stack: "
                            f"{len(stack)} frames, {len(frames)} of Python {frames[:8]}")
            break
        if ours != list(range(ours[0], ours[0] + len(ours))) or ours[-1] != len(frames) - 1:
            problems.append(f"{call['name']}: the loop's frames are not the outermost ones in a "
                            f"row: {frames}")
            break
    return problems


# ---- NVTX ranges ---------------------------------------------------------------------

def inside(inner, outer):
    """Whether event inner lies within X event outer, on its thread."""
    if (inner["pid"], inner["tid"]) != (outer["pid"], outer["tid"]):
        return False
    (s, e), (os_, oe) = span(inner), span(outer)
    return os_ <= s and e <= oe


def check_projection(r, gpu, kernels, problems):
    """r's gpu_user_annotation against the kernels launched inside r."""
    spans = [g for g in gpu if g["name"] == r["name"] and
             g["args"].get("range id") == r["args"].get("range id")]
    streams = {(k["pid"], k["tid"]) for k in kernels}
    if len(spans) != 1 or len(streams) != 1:
        problems.append(f"{r['name']} (range id {r['args'].get('range id')}): {len(spans)} GPU "
                        f"spans, kernels on {len(streams)} streams; one of each expected")
        return
    (g,) = spans
    first = min(ns(k["ts"]) for k in kernels)
    last = max(span(k)[1] for k in kernels)
    start, end = span(g)
    if (g["pid"], g["tid"]) not in streams or start != first or abs(end - last) > 10 or \
            g["args"].get("GPU records") != len(kernels):
        problems.append(f"{r['name']}: GPU span {g['pid']}/{g['tid']} {start}..{end} ns, "
                        f"{g['args'].get('GPU records')} records; its kernels on {streams} "
                        f"{first}..{last} ns, {len(kernels)}")


def check_nvtx(trace, script, n):
    del script  # the ranges are found by name
    ev = trace["traceEvents"]
    ranges = [e for e in ev if e.get("ph") == "X" and e.get("cat") == "user_annotation"]
    gpu = [e for e in ev if e.get("ph") == "X" and e.get("cat") == "gpu_user_annotation"]
    by = collections.defaultdict(list)
    for r in ranges:
        name = r["name"]
        by["rf_block" if name.startswith("rf_block,") else name].append(r)
    problems = []
    counts = {name: len(by[name]) for name in ("iteration", "forward", "rf_block")}
    if counts != {"iteration": n, "forward": n, "rf_block": 1}:
        problems.append(f"ranges {counts}, expected iteration {n}, forward {n}, rf_block 1")
        return problems
    for it in by["iteration"]:
        held = [f for f in by["forward"] if inside(f, it)]
        if len(held) != 1:
            problems.append(f"iteration at {it['ts']} holds {len(held)} forward ranges, not 1")
            break
    rf = by["rf_block"][0]
    if not [r for r in ranges if r["name"].startswith("aten::add_") and inside(r, rf)]:
        problems.append("rf_block holds no aten::add_ range of emit_nvtx")
    api = launches_by_correlation(ev)
    kernels = collections.defaultdict(list)  # id of a range: the add kernels launched inside
    for k in add_kernels(ev):
        call = api.get(k["args"].get("correlation"))
        if call is None:
            problems.append(f"kernel {k['name'][:40]}: no launch of its correlation")
            return problems
        for r in by["iteration"] + by["forward"] + by["rf_block"]:
            if inside(call, r):
                kernels[id(r)].append(k)
    for name, launched in (("forward", 2), ("iteration", 3), ("rf_block", 1)):
        for r in by[name]:
            got = len(kernels[id(r)])
            if got != launched:
                problems.append(f"{name} at {r['ts']}: {got} add kernels launched inside, "
                                f"{launched} expected")
                return problems
            check_projection(r, gpu, kernels[id(r)], problems)
    return problems


def main(argv):
    what, path, script, n = argv[1], argv[2], argv[3], int(argv[4])
    check = {"frames": check_frames, "nvtx": check_nvtx}[what]
    try:
        trace = load(path)
    except (OSError, ValueError) as e:
        print(f"torch {what}: FAILED: no trace to check ({e})")
        return 1
    problems = check(trace, script, n)
    status = "ok" if not problems else "FAILED: " + "; ".join(problems[:3])
    print(f"torch {what}: {status}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
