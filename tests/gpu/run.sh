#!/usr/bin/env bash
# GPU checks, on a machine with an NVIDIA GPU, run on what `./run.sh gpu-carry`
# built on the development machine (gpu_carry/: omniprof, the samples and the
# shared libraries a bare GPU machine lacks).  Finishes in well under 4 minutes.
#
#   bash tests/gpu/run.sh            (from the repository root)
#   bash tests/gpu/run.sh --dry-run  (here, without a GPU: see below)
#
# Runs the samples — CUDA runtime static and shared (nvcc, built here), driver
# API, dlopen/dlsym, NVTX — and PyTorch loops (tests/gpu/torch_loop.py: plain,
# and marked with torch.cuda.nvtx and record_function) under omniprof with
# CUPTI, checks each trace (tests/gpu/check_trace.py, check_nvtx.py,
# check_torch.py: the loop's Python frames on its launches, its NVTX ranges
# and their GPU projection), then prints the launch overhead:
# bare, omniprof, torch.profiler, on the same loop in the same run.
#
# --dry-run runs the same profiles and checks on the development machine, so
# that the script and its checkers are known to work before a GPU runs them:
# the build's omniprof and samples ($OMNI_BUILD, default build/), the fake
# CUDA driver and CUPTI (tests/fake), and tests/gpu/fake_torch standing in for
# PyTorch (NVTX through the toolkit's libnvtx3interop or libnvToolsExt,
# $OMNI_NVTX_LIB); the nvcc samples and the overhead need the real thing and
# are left out.  tests/integration/test_gpu_checks.py runs it.
set -uo pipefail
cd "$(dirname "$0")/../.."
CUDA=${CUDA_HOME:-/usr/local/cuda}
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
if [ $DRY -eq 1 ]; then
    C=${OMNI_BUILD:-$PWD/build}
    [ -f "$C/lib/libomniprof.so" ] || { echo "gpu: no build in $C (./run.sh build)"; exit 2; }
    export LD_LIBRARY_PATH="${OMNI_FAKE_CUDA:-$C/fake}" OMNIPROF_CUPTI=true
    if [ -z "${OMNI_NVTX_LIB:-}" ]; then
        OMNI_NVTX_LIB=$(ls "$CUDA"/lib64/libnvtx3interop.so.1 "$CUDA"/lib64/libnvToolsExt.so.1 2>/dev/null | head -n 1)
    fi
    export PYTHONPATH="$PWD/tests/gpu/fake_torch" OMNI_NVTX_LIB
    echo "gpu: dry run (the fake CUDA driver and CUPTI, tests/gpu/fake_torch)"
else
    C=$PWD/gpu_carry
    [ -f "$C/lib/libomniprof.so" ] || { echo "gpu: no gpu_carry/ (run ./run.sh gpu-carry first)"; exit 2; }
    nvidia-smi -L || { echo "gpu: no GPU here"; exit 2; }
    export LD_LIBRARY_PATH="$C/libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
LOOP=$PWD/tests/gpu/torch_loop.py
OUT=$(mktemp -d)
W=$OUT/work
mkdir -p "$W"
failed=0
profile() { # [CONFIG=k=v,...] profile NAME CHECKS... -- CMD...
    local name=$1; shift
    local checks=()
    while [ "$1" != "--" ]; do checks+=("$1"); shift; done
    shift
    local dir=$OUT/$name
    OMNIPROF="autostart=1,dir=$dir${CONFIG:+,$CONFIG}" LD_PRELOAD="$C/lib/libomniprof.so" timeout 60 "$@" \
        >"$W/$name.out" 2>"$W/$name.err"
    local rc=$?
    local trace
    trace=$(ls "$dir"/*.pt.trace.json.gz 2>/dev/null | head -n 1)
    if [ $rc -ne 0 ] || [ -z "$trace" ]; then
        echo "$name: FAILED (exit $rc)"; tail -n 5 "$W/$name.err"; failed=1; return
    fi
    grep -h "omniprof:" "$W/$name.err" | grep -v "wrote" | head -n 3
    python3 tests/gpu/check_trace.py "$trace" "${checks[@]}" || failed=1
}

if [ $DRY -eq 0 ]; then
    echo "== building the runtime sample with nvcc"
    "$CUDA/bin/nvcc" -O2 -cudart static -o "$W/rt_static" tests/gpu/rt_loop.cu || failed=1
    "$CUDA/bin/nvcc" -O2 -cudart shared -o "$W/rt_shared" tests/gpu/rt_loop.cu || failed=1
fi

echo "== traces"
if [ $DRY -eq 0 ]; then
    profile rt_static rt_add=100 rt_scale=100 -- "$W/rt_static" 100
    profile rt_shared rt_add=100 rt_scale=100 -- "$W/rt_shared" 100
fi
profile driver_loop vec_add=50 scale=50 steps=50 "sync:Context Sync=50" -- "$C/bin/driver_loop" 50
profile driver_streams vec_add=20 scale=20 steps=20 "sync:Context Sync=20" "sync:Stream Sync=20" \
    "sync:Event Sync=20" "sync:Stream Wait Event=20" -- "$C/bin/driver_loop" 20 0 2
profile dlsym_launch dl_kernel=20 dl_kernel_ex=20 -- "$C/bin/dlsym_launch" 20
profile nvtx_ranges nvtx_k1=6 nvtx_k2=6 -- "$C/bin/nvtx_ranges" 3
python3 tests/gpu/check_nvtx.py "$(ls "$OUT"/nvtx_ranges/*.pt.trace.json.gz | head -n 1)" 3 || failed=1
check_torch() { # check_torch frames|nvtx NAME N: check_torch.py on profile NAME's trace
    python3 tests/gpu/check_torch.py "$1" "$(ls "$OUT/$2"/*.pt.trace.json.gz 2>/dev/null | head -n 1)" \
        "$LOOP" "$3" || failed=1
}
# the loop's launches carry its Python frames (file, line, function): with the
# default stack_depth (32 native frames of PyTorch's and CUDA's own before the
# first Python frame; the Python part is kept whole), and with room for all
# (when only the first fails, the Python part was cut after all)
profile torch_loop "~add=5" -- python3 "$LOOP" 5
check_torch frames torch_loop 5
CONFIG=stack_depth=128 profile torch_loop_deep "~add=5" -- python3 "$LOOP" 5
check_torch frames torch_loop_deep 5
# torch.cuda.nvtx ranges and record_function under emit_nvtx, on the host and the GPU
profile torch_nvtx "~add=10" -- python3 "$LOOP" --nvtx 3
check_torch nvtx torch_nvtx 3

if [ $DRY -eq 1 ]; then
    rm -rf "$OUT"
    [ $failed -eq 0 ] && echo "gpu: dry run: all checks passed" || echo "gpu: dry run: FAILED"
    exit $failed
fi

echo "== overhead per launch, PyTorch x.add_(1) (microseconds)"
bare=$(python3 tests/gpu/overhead.py)
omni=$(OMNIPROF="autostart=1,dir=$OUT/overhead,with_stack=false" LD_PRELOAD="$C/lib/libomniprof.so" \
       python3 tests/gpu/overhead.py)
omni_stack=$(OMNIPROF="autostart=1,dir=$OUT/overhead2" LD_PRELOAD="$C/lib/libomniprof.so" \
       python3 tests/gpu/overhead.py)
torch=$(python3 tests/gpu/overhead.py --torch-profiler)
printf '%-34s %8s %10s\n' "mode" "us" "above bare"
for m in bare omni omni_stack torch; do
    label=$(case $m in bare) echo bare;; omni) echo "omniprof (CUPTI, no stacks)";;
            omni_stack) echo "omniprof (CUPTI, stacks)";; torch) echo "torch.profiler";; esac)
    printf '%-34s %8s %10s\n' "$label" "${!m}" "$(awk -v a="${!m}" -v b="$bare" 'BEGIN{printf "%+.2f", a-b}')"
done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
rm -rf "$OUT"
[ $failed -eq 0 ] && echo "gpu: all checks passed" || echo "gpu: FAILED"
exit $failed
