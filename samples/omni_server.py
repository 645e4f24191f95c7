#!/usr/bin/env python3
"""A three-stage inference server in Python, laid out as vLLM-Omni runs one:
a launcher process feeds requests through three stage worker processes,
each of which launches CUDA kernels (through ctypes, from classes and
methods of its own).  It knows nothing of omniprof.

    omni_server.py [--requests N] [--interval S] [--settle S] [--fork]

The launcher starts the workers with multiprocessing's spawn start method,
or with fork (--fork: such workers end with os._exit(), as every
multiprocessing fork worker does).  All of them inherit one environment, so
each worker says which stage it is the way servers do, after it started and
before it starts CUDA:

    stage 0  Encoder   names its process "omni-stage0" with prctl(PR_SET_NAME)
                       (through ctypes: what setproctitle does for the process
                       name; the command line is not rewritten)
    stage 1  Decoder   sets CUDA_VISIBLE_DEVICES=3 in os.environ
    stage 2  Vocoder   names its process "omni-stage2" with prctl(PR_SET_NAME)

Per request: the encoder launches encoder_attn twice and encoder_mlp once,
the decoder launches decoder_step once (with gridDim.x = the request's
number, 1, 2, ...: its iteration), the vocoder launches vocoder_conv three
times.  Lines that launch end in "# @<name>" so that tests can find them.
The workers wait --settle seconds once CUDA is up before the first request;
the output is the same with or without a profiler, and so is the exit
status (0).
"""
import argparse
import ctypes
import functools
import multiprocessing
import os
import sys
import time

KERNELS = ("encoder_attn", "encoder_mlp", "decoder_step", "vocoder_conv")
PTX = b".version 8.0\n.target sm_80\n.address_size 64\n" + b"".join(
    b".visible .entry " + k.encode() + b"()\n{\n    ret;\n}\n" for k in KERNELS)
PR_SET_NAME = 15


def name_process(title):
    """The process name /proc/self/comm shows (at most 15 bytes)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NAME, title.encode(), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME)")


class GPU:
    """The CUDA driver API through ctypes: one context, the server's kernels."""

    def __init__(self):
        self.lib = ctypes.CDLL("libcuda.so.1")
        launch = self.lib.cuLaunchKernel
        launch.restype = ctypes.c_int
        launch.argtypes = [ctypes.c_void_p] + [ctypes.c_uint] * 7 + [ctypes.c_void_p] * 3
        dev, ctx, mod = ctypes.c_int(), ctypes.c_void_p(), ctypes.c_void_p()
        self.check(self.lib.cuInit(0), "cuInit")
        self.check(self.lib.cuDeviceGet(ctypes.byref(dev), 0), "cuDeviceGet")
        self.check(self.lib.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev), "cuCtxRetain")
        self.check(self.lib.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
        self.check(self.lib.cuModuleLoadData(ctypes.byref(mod), PTX), "cuModuleLoadData")
        self.functions = {}
        for name in KERNELS:
            fn = ctypes.c_void_p()
            self.check(self.lib.cuModuleGetFunction(ctypes.byref(fn), mod, name.encode()), name)
            self.functions[name] = fn

    @staticmethod
    def check(result, what):
        if result != 0:
            raise RuntimeError(f"{what} failed: {result}")

    def kernel(self, name):
        """A launcher of one kernel, 1 block of 32 threads: calling it is the
        launch itself (functools.partial adds no Python frame)."""
        return functools.partial(self.lib.cuLaunchKernel, self.functions[name], 1, 1, 1, 32, 1, 1,
                                 0, None, None, None)

    def launch_grid(self, name, blocks):
        fn = self.functions[name]
        return self.lib.cuLaunchKernel(fn, blocks, 1, 1, 32, 1, 1, 0, None, None, None)  # @grid


class Encoder:
    stage = 0

    def __init__(self, gpu):
        self.attn = gpu.kernel("encoder_attn")
        self.mlp = gpu.kernel("encoder_mlp")

    def forward(self, request):
        for _ in range(2):
            GPU.check(self.attn(), "encoder_attn")  # @enc-attn
        GPU.check(self.mlp(), "encoder_mlp")  # @enc-mlp
        return request


class Decoder:
    stage = 1

    def __init__(self, gpu):
        self.gpu = gpu

    def execute_model(self, request):
        GPU.check(self.gpu.launch_grid("decoder_step", request + 1), "decoder_step")  # @dec-step
        return request

    def forward(self, request):
        return self.execute_model(request)


class Vocoder:
    stage = 2

    def __init__(self, gpu):
        self.conv = gpu.kernel("vocoder_conv")

    def forward(self, request):
        for _ in range(3):
            GPU.check(self.conv(), "vocoder_conv")  # @voc-conv
        return request


STAGES = (Encoder, Decoder, Vocoder)


def become(stage):
    """What a worker does, before CUDA, to say which stage it is."""
    if stage == 1:
        os.environ["CUDA_VISIBLE_DEVICES"] = "3"
    else:
        name_process(f"omni-stage{stage}")


def serve(model, inbox, outbox):
    """One request at a time until the launcher says stop (None)."""
    done = 0
    while True:
        request = inbox.get()
        if request is None:
            break
        outbox.put(model.forward(request))
        done += 1
    outbox.put(None)
    return done


def worker(stage, inbox, outbox, ready, settle):
    become(stage)
    model = STAGES[stage](GPU())
    ready.put(stage)
    time.sleep(settle)
    serve(model, inbox, outbox)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=10)
    p.add_argument("--interval", type=float, default=0.0)
    p.add_argument("--settle", type=float, default=0.5)
    p.add_argument("--fork", action="store_true")
    a = p.parse_args()
    ctx = multiprocessing.get_context("fork" if a.fork else "spawn")
    queues = [ctx.Queue() for _ in range(len(STAGES) + 1)]
    ready = ctx.Queue()
    workers = [ctx.Process(target=worker, args=(s, queues[s], queues[s + 1], ready, a.settle),
                           name=f"stage-{s}") for s in range(len(STAGES))]
    for w in workers:
        w.start()
    started = sorted(ready.get() for _ in workers)
    for request in range(a.requests):
        queues[0].put(request)
        if a.interval:
            time.sleep(a.interval)
    queues[0].put(None)
    results = []
    while True:
        r = queues[-1].get()
        if r is None:
            break
        results.append(r)
    for w in workers:
        w.join()
    print(f"omni_server: stages {started} started with {ctx.get_start_method()}")
    print(f"omni_server: {len(results)} of {a.requests} requests through "
          f"{len(STAGES)} stages, in order: {results == list(range(a.requests))}")
    print(f"omni_server: worker exit codes {[w.exitcode for w in workers]}")
    return 0 if all(w.exitcode == 0 for w in workers) else 1


if __name__ == "__main__":
    sys.exit(main())
