"""Test helper: a Python program that launches kernels of the fake CUDA
driver through ctypes and then ends in a chosen way.

    python3 py_ending.py MODE LAUNCHES

    fork       a multiprocessing fork worker launches and ends with
               sys.exit(5) (multiprocessing ends it with os._exit(5)); the
               parent prints "<worker pid> <exit code>"
    interrupt  launches, prints how SIGINT and SIGTERM are handled, and
               raises KeyboardInterrupt (Python then ends by SIGINT)
    wait       launches, prints how they are handled and "ready", and
               sleeps until a signal ends it
"""
import ctypes
import multiprocessing
import signal
import sys
import time

PTX = (b".version 8.0\n.target sm_80\n.address_size 64\n"
       b".visible .entry py_kernel()\n{\n    ret;\n}\n")


def launch(n):
    cu = ctypes.CDLL("libcuda.so.1")
    dev, ctx = ctypes.c_int(), ctypes.c_void_p()
    mod, fn = ctypes.c_void_p(), ctypes.c_void_p()
    for call in (lambda: cu.cuInit(0),
                 lambda: cu.cuDeviceGet(ctypes.byref(dev), 0),
                 lambda: cu.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev),
                 lambda: cu.cuCtxSetCurrent(ctx),
                 lambda: cu.cuModuleLoadData(ctypes.byref(mod), PTX),
                 lambda: cu.cuModuleGetFunction(ctypes.byref(fn), mod, b"py_kernel")):
        if call() != 0:
            sys.exit("py_ending: CUDA setup failed")
    for _ in range(n):
        if cu.cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, None, None, None) != 0:
            sys.exit("py_ending: cuLaunchKernel failed")


def worker(n):
    launch(n)
    sys.exit(5)


def handling():
    """Whether Python still handles SIGINT itself and sees SIGTERM at its
    default action, as it does without omniprof."""
    return (f"sigint_python={signal.getsignal(signal.SIGINT) is signal.default_int_handler} "
            f"sigterm_default={signal.getsignal(signal.SIGTERM) == signal.SIG_DFL}")


def main():
    mode, n = sys.argv[1], int(sys.argv[2])
    if mode == "fork":
        p = multiprocessing.get_context("fork").Process(target=worker, args=(n,))
        p.start()
        p.join()
        print(p.pid, p.exitcode, flush=True)
        return
    launch(n)
    print(handling(), flush=True)
    if mode == "interrupt":
        raise KeyboardInterrupt
    print("ready", flush=True)
    time.sleep(60)


if __name__ == "__main__":
    main()
