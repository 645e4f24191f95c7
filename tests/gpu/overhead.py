#!/usr/bin/env python3
"""Per-launch overhead of a PyTorch x.add_(1) loop: prints microseconds per
launch.  Run bare, under omniprof (LD_PRELOAD, recording), or with
--torch-profiler (torch.profiler recording CUDA)."""
import sys
import time

import torch

n = 20000
x = torch.zeros(1024, device="cuda")
for _ in range(2000):
    x.add_(1)
torch.cuda.synchronize()


def loop():
    t0 = time.perf_counter()
    for _ in range(n):
        x.add_(1)
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / n * 1e6


if "--torch-profiler" in sys.argv:
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]):
        us = loop()
else:
    us = loop()
print(f"{us:.2f}")
