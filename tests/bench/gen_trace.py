#!/usr/bin/env python3
"""Synthetic Kineto-style traces for tests/bench/run.sh (bench_reader).

  gen_trace.py OUT long BYTES        one kernel whose name is a BYTES-long string token
  gen_trace.py OUT names N [REPS]    N distinct kernel names, each launched REPS times
  gen_trace.py OUT mixed EVENTS      about EVENTS events of every kind Kineto writes

Each kernel ("X", cat kernel, pid device, tid stream) has its launching
cuda_runtime call and the ac2g flow pair, joined by correlation id, as
torch.profiler writes them.  OUT ending in .gz is gzip'd (level 1).
"""
import gzip
import sys

HEAD = ('{\n  "schemaVersion": 1,\n  "deviceProperties": [{"id": 0, "name": "NVIDIA H200"}],\n'
        '  "distributedInfo": {"backend": "nccl", "rank": 0, "world_size": 1},\n'
        '  "displayTimeUnit": "ms",\n  "baseTimeNanoseconds": 1790857026000000000,\n'
        '  "traceEvents": [\n')
TAIL = '\n  ],\n  "traceName": "synthetic"\n}\n'


def launch(out, corr, name, ts):
    """A cudaLaunchKernel, its flow and its kernel: three lines of events."""
    out.write('  {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 415, '
              f'"tid": 415, "ts": {ts}.125, "dur": 4.250, '
              f'"args": {{"External id": {corr}, "cbid": 211, "correlation": {corr}}}}},\n')
    out.write(f'  {{"ph": "s", "id": {corr}, "pid": 415, "tid": 415, "ts": {ts}.125, '
              '"cat": "ac2g", "name": "ac2g"},\n')
    out.write(f'  {{"ph": "X", "cat": "kernel", "name": "{name}", "pid": 0, "tid": 7, '
              f'"ts": {ts + 6}.500, "dur": 2.{corr % 1000:03d}, '
              f'"args": {{"External id": {corr}, "device": 0, "stream": 7, '
              f'"correlation": {corr}, "grid": [128, 1, 1], "block": [256, 1, 1]}}}}')


def mixed_one(out, i, ts):
    """A cpu_op with a call stack, a python_function, a memory instant event."""
    out.write(f',\n  {{"ph": "X", "cat": "cpu_op", "name": "aten::op_{i % 50}", "pid": 415, '
              f'"tid": 415, "ts": {ts}.001, "dur": 9.500, "args": {{"External id": {i}, '
              '"Input Dims": [[16, 512], [512, 512]], '
              '"Call stack": "model.py(12): forward;torch/nn/module.py(1500): _call_impl"}},\n')
    out.write(f'  {{"ph": "X", "cat": "python_function", "name": "model.py({i % 300}): forward", '
              f'"pid": 415, "tid": 415, "ts": {ts}.002, "dur": 8.000, '
              f'"args": {{"Python parent id": null, "Python id": {i}}}}},\n')
    out.write(f'  {{"ph": "i", "cat": "cpu_instant_event", "s": "t", "name": "[memory]", '
              f'"pid": 415, "tid": 415, "ts": {ts}.003, "args": {{"Total Reserved": 73400320, '
              f'"Bytes": {512 * (i % 64)}, "Device Id": 0, "Addr": {139759857958912 + i}}}}}')


def write(out, kind, n, reps):
    out.write(HEAD)
    if kind == "long":
        launch(out, 1, "k" * n, 1000)
    elif kind == "names":
        corr, ts = 0, 1000
        for _ in range(reps):
            for k in range(n):
                corr += 1
                ts += 10
                if corr > 1:
                    out.write(",\n")
                launch(out, corr, f"void kernel_{k:07d}<float, 128>(Params)", ts)
    else:
        for i in range(max(1, n // 6)):
            if i:
                out.write(",\n")
            launch(out, i + 1, f"void kernel_{i % 200}<float>(Params)", 1000 + 20 * i)
            mixed_one(out, i, 1000 + 20 * i)
    out.write(TAIL)


def main():
    path, kind, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    opener = (lambda p: gzip.open(p, "wt", compresslevel=1)) if path.endswith(".gz") else (
        lambda p: open(p, "w"))
    with opener(path) as out:
        write(out, kind, n, reps)


if __name__ == "__main__":
    main()
