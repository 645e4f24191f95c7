#!/usr/bin/env python3
"""An ordinary Python program that launches CUDA kernels through ctypes,
from classes and methods of its own, and knows nothing of omniprof.

    py_launch.py [--pydll] [--iterations N] [--depth D] [--generator]
                 [--coroutine] [--settrace] [--threads T] [--gc] [--daemon] [--fork]
                 [--helper LIB [--native-thread] [--c-fork]]

ctypes.CDLL releases the GIL around each driver call (as PyTorch does);
--pydll uses ctypes.PyDLL, which keeps it.  --depth adds D recursive Python
frames between the loop and the launch.  --generator launches from inside a
generator, --coroutine from coroutines run by asyncio.  --settrace runs
everything under a trace function.  --threads starts T Python threads that launch too, while --gc
keeps a thread collecting garbage.  --daemon leaves a daemon thread
launching without end while the interpreter exits.  --fork forks after the loop: the child
launches from Python too.  --helper loads LIB, a small C library
(tests/integration/py_helper.c), through which --native-thread launches from
a C thread that never runs Python, and --c-fork from a child that C forks
and that launches before Python runs in it again.

The lines that launch or call towards a launch end in "# @<name>" so that
tests can find them; the output is the same with or without a profiler.
"""
import argparse
import asyncio
import ctypes
import gc
import os
import sys
import threading

PTX = (b".version 8.0\n.target sm_80\n.address_size 64\n"
       b".visible .entry py_kernel()\n{\n    ret;\n}\n")


class Driver:
    """The CUDA driver API, reached through ctypes."""

    def __init__(self, pydll):
        loader = ctypes.PyDLL if pydll else ctypes.CDLL
        self.lib = loader("libcuda.so.1")
        launch = self.lib.cuLaunchKernel
        launch.restype = ctypes.c_int
        launch.argtypes = [ctypes.c_void_p] + [ctypes.c_uint] * 7 + [ctypes.c_void_p] * 3
        dev, ctx = ctypes.c_int(), ctypes.c_void_p()
        mod, self.fn = ctypes.c_void_p(), ctypes.c_void_p()
        self.check(self.lib.cuInit(0), "cuInit")
        self.check(self.lib.cuDeviceGet(ctypes.byref(dev), 0), "cuDeviceGet")
        self.check(self.lib.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev), "cuDevicePrimaryCtxRetain")
        self.check(self.lib.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
        self.ctx = ctx
        self.check(self.lib.cuModuleLoadData(ctypes.byref(mod), PTX), "cuModuleLoadData")
        self.check(self.lib.cuModuleGetFunction(ctypes.byref(self.fn), mod, b"py_kernel"),
                   "cuModuleGetFunction")

    @staticmethod
    def check(result, what):
        if result != 0:
            raise RuntimeError(f"{what} failed: {result}")

    def bind(self):
        """Makes the context current on the calling thread."""
        self.check(self.lib.cuCtxSetCurrent(self.ctx), "cuCtxSetCurrent")

    def launch(self):
        self.check(self.lib.cuLaunchKernel(self.fn, 1, 1, 1, 32, 1, 1, 0, None, None, None), "launch")  # @launch


class Layer:
    def __init__(self, driver):
        self.driver = driver

    def forward(self, depth):
        if depth > 0:
            return self.forward(depth - 1)  # @recurse
        return self.driver.launch()  # @forward


class Model:
    def __init__(self, driver, depth):
        self.layer = Layer(driver)
        self.depth = depth

    def step(self):
        self.layer.forward(self.depth)  # @step


def launches(model, n):
    for _ in range(n):
        model.step()  # @gen
        yield


async def step_soon(model):
    await asyncio.sleep(0)
    model.step()  # @coro


async def steps(model, n):
    for _ in range(n):
        await step_soon(model)  # @coro-loop


def run(model, n, generator, coroutine):
    if coroutine:
        asyncio.run(steps(model, n))  # @run-coro
    elif generator:
        for _ in launches(model, n):  # @run-gen
            pass
    else:
        for _ in range(n):
            model.step()  # @run


def thread_body(model, n, driver):
    driver.bind()
    for _ in range(n):
        model.step()  # @thread


def forever(model, driver, started):
    driver.bind()
    while True:
        model.step()  # @daemon
        started.set()


def collector(stop):
    while not stop.is_set():
        junk = [[i] * 4 for i in range(2000)]
        junk.append(junk)
        del junk
        gc.collect()  # @collect


def fork_child(model, n):
    """os.fork(): the child launches n times from Python and exits as Python
    programs do (atexit work runs); returns its exit status (in the parent)."""
    pid = os.fork()
    if pid == 0:
        for _ in range(n):
            model.step()  # @fork-child
        sys.exit(0)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status


def tracer(frame, event, arg):
    return tracer


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--pydll", action="store_true")
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--depth", type=int, default=0)
    p.add_argument("--generator", action="store_true")
    p.add_argument("--coroutine", action="store_true")
    p.add_argument("--settrace", action="store_true")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--gc", action="store_true")
    p.add_argument("--daemon", action="store_true")
    p.add_argument("--fork", action="store_true")
    p.add_argument("--helper")
    p.add_argument("--native-thread", action="store_true")
    p.add_argument("--c-fork", action="store_true")
    a = p.parse_args()
    if a.settrace:
        sys.settrace(tracer)
    driver = Driver(a.pydll)
    model = Model(driver, a.depth)
    stop = threading.Event()
    helpers = [threading.Thread(target=collector, args=(stop,))] if a.gc else []
    workers = [threading.Thread(target=thread_body, args=(model, a.iterations, driver))
               for _ in range(a.threads)]
    if a.daemon:
        started = threading.Event()
        threading.Thread(target=forever, args=(model, driver, started), daemon=True).start()
        started.wait()
    for t in helpers + workers:
        t.start()
    run(model, a.iterations, a.generator, a.coroutine)  # @main
    for t in workers:
        t.join()
    stop.set()
    for t in helpers:
        t.join()
    print(f"py_launch: {a.iterations * (1 + a.threads)} launches from Python")
    if a.fork:
        status = fork_child(model, a.iterations)  # @main-fork
        print(f"py_launch: forked child exited with {status}")
    if a.helper:
        helper = ctypes.CDLL(a.helper)
        if a.native_thread:
            print(f"py_launch: {helper.native_launch_thread(a.iterations)} from a C thread")
        if a.c_fork:
            print(f"py_launch: {helper.fork_and_launch(a.iterations)} from a C fork child")
    return 0


if __name__ == "__main__":
    sys.exit(main())  # @module
