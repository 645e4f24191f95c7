#!/usr/bin/env python3
"""Checks one trace written on a real GPU: kernels in the trace = launches
made (per name), every kernel has one flow from its launch, no GPU record
(kernel, copy, memset, synchronisation, event record) starts before the call
that made it, every flow has one start and one end, every GPU record carries
its call's External id.  Prints one line; exit 1 on a failure.

  check_trace.py TRACE.json.gz NAME=COUNT [NAME=COUNT...]

NAME matches a kernel whose name holds it as a whole identifier ("scale"
matches "scale" and "scale(float*, int)", not "rescale" or "scale_ex");
~NAME matches any kernel whose name contains NAME (for library kernels
such as PyTorch's "...CUDAFunctorOnSelf_add<float>...").  steps=N: the
ProfilerStep#N spans; "sync:KIND=N": the cuda_sync events of a kind
("Context Sync", "Stream Sync", "Event Sync", "Stream Wait Event").
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


syncs = collections.Counter(e["name"] for e in ev if e.get("cat") == "cuda_sync")
steps = sum(1 for e in ev if e.get("ph") == "X" and e["name"].startswith("ProfilerStep#"))
for name, count in expected.items():
    if name == "steps":
        got, what = steps, "ProfilerStep spans"
    elif name.startswith("sync:"):
        got, what = syncs[name[5:]], "cuda_sync events"
    else:
        got, what = sum(n for k, n in names.items() if matches(name, k)), "kernels"
    if got != int(count):
        problems.append(f"{name}: {got} {what}, {count} expected")
gpu = [e for e in ev if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset", "cuda_sync",
                                         "cuda_event")]
for g in gpu:
    call = api.get(g["args"]["correlation"])
    if call is None:
        continue
    if g["ts"] < call["ts"]:
        problems.append(f"{g['cat']} {g['name'][:40]} starts {call['ts'] - g['ts']:.3f} us "
                        f"before its call {call['name']}")
        break
    if g["args"].get("External id") != call["args"].get("External id"):
        problems.append(f"{g['name'][:40]}: External id {g['args'].get('External id')}, its call's "
                        f"{call['args'].get('External id')}")
        break
unpaired = [i for i in set(starts) | set(ends) if (starts[i], ends[i]) != (1, 1)]
if unpaired:
    problems.append(f"{len(unpaired)} flows without one start and one end (id {unpaired[0]})")
for k in kernels:
    c = k["args"]["correlation"]
    call = api.get(c)
    if call is None or starts[c] != 1 or ends[c] < 1:
        problems.append(f"kernel {k['name'][:40]} (correlation {c}) has no flow from its launch")
        break
status = "ok" if not problems else "FAILED: " + "; ".join(problems[:3])
print(f"{path.split('/')[-1][:60]}: {len(kernels)} kernels, {sum(syncs.values())} syncs, "
      f"{steps} steps, source {t['omniprof']['event_source']}, "
      f"dropped {t['omniprof']['dropped_gpu_records']}: {status}")
sys.exit(0 if not problems else 1)
