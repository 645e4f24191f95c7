#!/usr/bin/env python3
"""Rewrites a copy of a trace as if the host that wrote it had its clock off
by DELTA: baseTimeNanoseconds moves by DELTA nanoseconds and every event
keeps its ts (relative to the base), so the whole trace claims to have
happened DELTA later.  How the merge tests make skewed clocks.

  shift_clock.py SRC DST DELTA_NS [--rank R] [--host H]

SRC and DST: .json or .json.gz.  --rank writes distributedInfo.rank (as
torch.profiler does), --host names the host in omniprof's own metadata.
"""
import argparse
import gzip
import json


def load(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def save(trace, path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as f:
        json.dump(trace, f)


def shift(src, dst, delta_ns, rank=None, host=None):
    trace = load(src)
    trace["baseTimeNanoseconds"] = trace.get("baseTimeNanoseconds", 0) + delta_ns
    if rank is not None:
        trace.setdefault("distributedInfo", {})["rank"] = rank
        if "omniprof" in trace:
            trace["omniprof"]["rank"] = rank
    if host is not None:
        trace.setdefault("omniprof", {})["host"] = host
    save(trace, dst)
    return trace


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("delta_ns", type=int)
    p.add_argument("--rank", type=int)
    p.add_argument("--host")
    a = p.parse_args()
    shift(a.src, a.dst, a.delta_ns, a.rank, a.host)


if __name__ == "__main__":
    main()
