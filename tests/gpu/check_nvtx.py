#!/usr/bin/env python3
"""Checks the NVTX side of samples/nvtx_ranges' trace on a real GPU: every
range of the sample, the stream the program named "side stream" is the one
its nvtx_k2 kernels ran on (the driver's cuStreamGetId id is CUPTI's), and
each range's gpu_user_annotation spans lie on streams that ran its kernels.
Prints one line; exit 1 on a failure.

  check_nvtx.py TRACE.json.gz ITERATIONS
"""
import collections
import gzip
import json
import sys

path, n = sys.argv[1], int(sys.argv[2])
with gzip.open(path, "rt") as f:
    ev = json.load(f)["traceEvents"]
problems = []
ranges = collections.Counter(e["name"] for e in ev
                             if e.get("cat") == "user_annotation" and e.get("ph") == "X")
want = {"iteration": n, "forward": n, "registered step": n, "worker": n,
        "w\u00f6rker inner": n, "handoff": 1}
if dict(ranges) != want:
    problems.append(f"ranges {dict(ranges)}, expected {want}")
named = [e["tid"] for e in ev if e.get("name") == "thread_name" and
         e["args"]["name"].endswith(" side stream")]
k2 = {e["tid"] for e in ev if e.get("cat") == "kernel" and e["name"].startswith("nvtx_k2")}
if named != list(k2):
    problems.append(f"'side stream' names stream {named}, nvtx_k2 ran on {sorted(k2)}")
spans = {e["tid"] for e in ev if e.get("cat") == "gpu_user_annotation" and
         e["name"] == "registered step"}
if spans != k2:
    problems.append(f"'registered step' projected onto {sorted(spans)}, its kernels on {sorted(k2)}")
status = "ok" if not problems else "FAILED: " + "; ".join(problems)
print(f"nvtx: {status}")
sys.exit(1 if problems else 0)
