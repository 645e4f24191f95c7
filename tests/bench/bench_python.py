#!/usr/bin/env python3
"""ns per cuLaunchKernel from a Python loop through ctypes.CDLL (the GIL
released around each call, as PyTorch does), DEPTH Python frames deep.
tests/bench/run.sh runs it bare and under the preload; prints numbers,
asserts nothing about time.

    bench_python.py [LAUNCHES] [ROUNDS] [DEPTH]
        -> "bench_python: best <ns>/launch, mean <ns>/launch (...)"
"""
import ctypes
import sys
import time

PTX = (b".version 8.0\n.target sm_80\n.address_size 64\n"
       b".visible .entry bench_kernel()\n{\n    ret;\n}\n")


def setup():
    lib = ctypes.CDLL("libcuda.so.1")
    dev, ctx, mod, fn = ctypes.c_int(), ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
    for r in (lib.cuInit(0), lib.cuDeviceGet(ctypes.byref(dev), 0),
              lib.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev), lib.cuCtxSetCurrent(ctx),
              lib.cuModuleLoadData(ctypes.byref(mod), PTX),
              lib.cuModuleGetFunction(ctypes.byref(fn), mod, b"bench_kernel")):
        if r != 0:
            raise SystemExit(f"bench_python: CUDA setup failed ({r})")
    launch = lib.cuLaunchKernel
    launch.restype = ctypes.c_int
    launch.argtypes = [ctypes.c_void_p] + [ctypes.c_uint] * 7 + [ctypes.c_void_p] * 3
    return lib, launch, fn


def depth_here():
    f, n = sys._getframe(1), 0
    while f:
        n, f = n + 1, f.f_back
    return n


def loop(launch, fn, n, rounds):
    """Launches n kernels per round from here; returns (best, mean, depth)."""
    depth = depth_here()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            launch(fn, 1, 1, 1, 32, 1, 1, 0, None, None, None)
        times.append((time.perf_counter_ns() - t0) / n)
    return min(times), sum(times) / len(times), depth


def descend(levels, launch, fn, n, rounds):
    if levels > 0:
        return descend(levels - 1, launch, fn, n, rounds)
    return loop(launch, fn, n, rounds)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    depth = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    lib, launch, fn = setup()
    # <module>, main, descend's frames and loop: `depth` in all
    best, mean, seen = descend(depth - 4, launch, fn, n, rounds)
    lib.cuCtxSynchronize()
    print(f"bench_python: best {best:.1f} ns/launch, mean {mean:.1f} ns/launch "
          f"({rounds} rounds x {n} launches, {seen} Python frames deep, Python "
          f"{sys.version.split()[0]})")


if __name__ == "__main__":
    main()
