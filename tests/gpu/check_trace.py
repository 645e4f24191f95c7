#!/usr/bin/env python3
"""Checks one trace written on a real GPU: kernels in the trace = launches
made (per name), every kernel has one flow from its launch, no kernel starts
before the call that launched it.  Prints one line; exit 1 on a failure.

  check_trace.py TRACE.json.gz NAME=COUNT [NAME=COUNT...]

NAME matches a kernel whose name holds it as a whole identifier ("scale"
matches "scale" and "scale(float*, int)", not "rescale" or "scale_ex");
~NAME matches any kernel whose name contains NAME (for library kernels
such as PyTorch's "...CUDAFunctorOnSelf_add<float>...").
"""
import collections
import gzip
import json
import re
import sys

path, expected = sys.argv[1], dict(a.split("=") for a in sys.argv[2:])
with gzip.open(path, "rt") as f:
    t = json.load(f)
ev = t["traceEvents"]
kernels = [e for e in ev if e.get("ph") == "X" and e.get("cat") == "kernel"]
api = {e["args"]["correlation"]: e for e in ev
       if e.get("ph") == "X" and e.get("cat") in ("cuda_runtime", "cuda_driver")}
starts = collections.Counter(e["id"] for e in ev if e.get("cat") == "ac2g" and e["ph"] == "s")
ends = collections.Counter(e["id"] for e in ev if e.get("cat") == "ac2g" and e["ph"] == "f")
problems = []
names = collections.Counter(e["name"] for e in kernels)

def matches(pattern, kernel):
    if pattern.startswith("~"):
        return pattern[1:] in kernel
    return re.search(r"(?<![A-Za-z0-9_])" + re.escape(pattern) + r"(?![A-Za-z0-9_])", kernel)


for name, count in expected.items():
    got = sum(n for k, n in names.items() if matches(name, k))
    if got != int(count):
        problems.append(f"{name}: {got} kernels, {count} launched")
for k in kernels:
    c = k["args"]["correlation"]
    call = api.get(c)
    if call is None or starts[c] != 1 or ends[c] < 1:
        problems.append(f"kernel {k['name'][:40]} (correlation {c}) has no flow from its launch")
        break
    if k["ts"] < call["ts"]:
        problems.append(f"kernel {k['name'][:40]} starts {call['ts'] - k['ts']:.3f} us before its call")
        break
status = "ok" if not problems else "FAILED: " + "; ".join(problems[:3])
print(f"{path.split('/')[-1][:60]}: {len(kernels)} kernels, source {t['omniprof']['event_source']}, "
      f"dropped {t['omniprof']['dropped_gpu_records']}: {status}")
sys.exit(0 if not problems else 1)
