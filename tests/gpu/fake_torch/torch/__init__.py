"""A stand-in for the few parts of PyTorch tests/gpu/torch_loop.py uses, so
that its traces and the checks of tests/gpu/check_torch.py can be tried on
a machine without a GPU (tests/integration/test_gpu_checks.py): the same
calls reach the CUDA driver (the fake one) through ctypes, and NVTX through
the toolkit's libnvtx3interop (its path in $OMNI_NVTX_LIB).

    torch.zeros(n, device="cuda")      a tensor; launches a fill kernel
    Tensor.add_(v)                     launches CUDAFunctorOnSelf_add_float
    torch.cuda.synchronize()           cuCtxSynchronize
    torch.cuda.nvtx.range_push/pop     nvtxRangePushA / nvtxRangePop
    torch.autograd.profiler.emit_nvtx  a range per op ("aten::add_, seq = N")
    torch.autograd.profiler.record_function(name)
                                       under emit_nvtx, a range "name, op_id = N"
"""
import contextlib
import ctypes
import os
import types

PTX = (b".version 8.0\n.target sm_80\n.address_size 64\n"
       b".visible .entry FillFunctor_float()\n{\n    ret;\n}\n"
       b".visible .entry CUDAFunctorOnSelf_add_float()\n{\n    ret;\n}\n")


class _Driver:
    def __init__(self):
        self.lib = ctypes.CDLL("libcuda.so.1")
        launch = self.lib.cuLaunchKernel
        launch.restype = ctypes.c_int
        launch.argtypes = [ctypes.c_void_p] + [ctypes.c_uint] * 7 + [ctypes.c_void_p] * 3
        dev, ctx, mod = ctypes.c_int(), ctypes.c_void_p(), ctypes.c_void_p()
        self.check(self.lib.cuInit(0))
        self.check(self.lib.cuDeviceGet(ctypes.byref(dev), 0))
        self.check(self.lib.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev))
        self.check(self.lib.cuCtxSetCurrent(ctx))
        self.check(self.lib.cuModuleLoadData(ctypes.byref(mod), PTX))
        self.fn = {}
        for name in (b"FillFunctor_float", b"CUDAFunctorOnSelf_add_float"):
            fn = ctypes.c_void_p()
            self.check(self.lib.cuModuleGetFunction(ctypes.byref(fn), mod, name))
            self.fn[name.decode()] = fn

    @staticmethod
    def check(result):
        if result != 0:
            raise RuntimeError(f"CUDA error {result}")

    def launch(self, name):
        self.check(self.lib.cuLaunchKernel(self.fn[name], 1, 1, 1, 32, 1, 1, 0, None, None, None))


_driver = None
_nvtx_lib = None
_emit = {"on": False, "seq": 0}


def _cuda():
    global _driver
    if _driver is None:
        _driver = _Driver()
    return _driver


def _nvtx():
    global _nvtx_lib
    if _nvtx_lib is None:
        _nvtx_lib = ctypes.CDLL(os.environ.get("OMNI_NVTX_LIB", "libnvtx3interop.so.1"))
        _nvtx_lib.nvtxRangePushA.argtypes = [ctypes.c_char_p]
    return _nvtx_lib


def _range_push(message):
    return _nvtx().nvtxRangePushA(message.encode())


def _range_pop():
    return _nvtx().nvtxRangePop()


class Tensor:
    def __init__(self, n):
        self.n = n
        _cuda().launch("FillFunctor_float")

    def add_(self, value):
        del value
        if _emit["on"]:
            _range_push(f"aten::add_, seq = {_emit['seq']}")
            _emit["seq"] += 1
        _cuda().launch("CUDAFunctorOnSelf_add_float")
        if _emit["on"]:
            _range_pop()
        return self


def zeros(n, device=None):
    del device
    return Tensor(n)


@contextlib.contextmanager
def _emit_nvtx():
    _emit["on"] = True
    try:
        yield
    finally:
        _emit["on"] = False


@contextlib.contextmanager
def _record_function(name):
    if _emit["on"]:
        _range_push(f"{name}, op_id = {_emit['seq']}")
    try:
        yield
    finally:
        if _emit["on"]:
            _range_pop()


cuda = types.SimpleNamespace(
    synchronize=lambda: _cuda().check(_cuda().lib.cuCtxSynchronize()),
    nvtx=types.SimpleNamespace(range_push=_range_push, range_pop=_range_pop))
autograd = types.SimpleNamespace(
    profiler=types.SimpleNamespace(emit_nvtx=_emit_nvtx, record_function=_record_function))
