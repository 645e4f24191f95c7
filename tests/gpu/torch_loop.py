#!/usr/bin/env python3
"""PyTorch loops for tests/gpu/run.sh, whose traces check_torch.py checks.

    torch_loop.py N            N x.add_(1), each from step() called by run()
    torch_loop.py --nvtx N     N iterations marked with torch.cuda.nvtx:
                               "iteration" around "forward" (two x.add_(1))
                               and one x.add_(1) after it; then one x.add_(1)
                               in record_function("rf_block") under emit_nvtx

The lines that launch, or call towards a launch, end in "# @<name>" so that
check_torch.py finds them (file, line and function of each Python frame a
launch must carry).  Top-level functions only: their qualified name is their
name in every Python version.
"""
import sys

import torch


def step(x):
    x.add_(1)  # @launch


def run(x, n):
    for _ in range(n):
        step(x)  # @step


def iteration(x):
    torch.cuda.nvtx.range_push("iteration")
    torch.cuda.nvtx.range_push("forward")
    x.add_(1)  # @forward-1
    x.add_(1)  # @forward-2
    torch.cuda.nvtx.range_pop()
    x.add_(1)  # @after-forward
    torch.cuda.nvtx.range_pop()


def annotated(x, n):
    for _ in range(n):
        iteration(x)
    with torch.autograd.profiler.emit_nvtx():
        with torch.autograd.profiler.record_function("rf_block"):
            x.add_(1)  # @record-function


def main():
    nvtx = sys.argv[1:2] == ["--nvtx"]
    n = int(sys.argv[-1])
    x = torch.zeros(16, device="cuda")
    if nvtx:
        annotated(x, n)
    else:
        run(x, n)  # @run
    torch.cuda.synchronize()


main()  # @main
