#!/usr/bin/env bash
# GPU checks, on a machine with an NVIDIA GPU, run on what `./run.sh gpu-carry`
# built on the development machine (gpu_carry/: omniprof, the samples and the
# shared libraries a bare GPU machine lacks).  Finishes in well under 4 minutes.
#
#   bash tests/gpu/run.sh            (from the repository root)
#
# Runs the samples — CUDA runtime static and shared (nvcc, built here), driver
# API, dlopen/dlsym, NVTX — and a PyTorch loop under omniprof with CUPTI,
# checks each trace (tests/gpu/check_trace.py, check_nvtx.py), then prints
# the launch overhead:
# bare, omniprof, torch.profiler, on the same loop in the same run.
set -uo pipefail
cd "$(dirname "$0")/../.."
C=$PWD/gpu_carry
[ -f "$C/lib/libomniprof.so" ] || { echo "gpu: no gpu_carry/ (run ./run.sh gpu-carry first)"; exit 2; }
nvidia-smi -L || { echo "gpu: no GPU here"; exit 2; }
export LD_LIBRARY_PATH="$C/libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
CUDA=${CUDA_HOME:-/usr/local/cuda}
OUT=$(mktemp -d)
W=$OUT/work
mkdir -p "$W"
failed=0
profile() { # profile NAME CHECKS... -- CMD...
    local name=$1; shift
    local checks=()
    while [ "$1" != "--" ]; do checks+=("$1"); shift; done
    shift
    local dir=$OUT/$name
    OMNIPROF="autostart=1,dir=$dir" LD_PRELOAD="$C/lib/libomniprof.so" timeout 60 "$@" \
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

echo "== building the runtime sample with nvcc"
"$CUDA/bin/nvcc" -O2 -cudart static -o "$W/rt_static" tests/gpu/rt_loop.cu || failed=1
"$CUDA/bin/nvcc" -O2 -cudart shared -o "$W/rt_shared" tests/gpu/rt_loop.cu || failed=1

echo "== traces"
profile rt_static rt_add=100 rt_scale=100 -- "$W/rt_static" 100
profile rt_shared rt_add=100 rt_scale=100 -- "$W/rt_shared" 100
profile driver_loop vec_add=50 scale=50 steps=50 "sync:Context Sync=50" -- "$C/bin/driver_loop" 50
profile driver_streams vec_add=20 scale=20 steps=20 "sync:Context Sync=20" "sync:Stream Sync=20" \
    "sync:Event Sync=20" "sync:Stream Wait Event=20" -- "$C/bin/driver_loop" 20 0 2
profile dlsym_launch dl_kernel=20 dl_kernel_ex=20 -- "$C/bin/dlsym_launch" 20
profile nvtx_ranges nvtx_k1=6 nvtx_k2=6 -- "$C/bin/nvtx_ranges" 3
python3 tests/gpu/check_nvtx.py "$(ls "$OUT"/nvtx_ranges/*.pt.trace.json.gz | head -n 1)" 3 || failed=1
profile torch_loop "~add=5" -- python3 -c "import torch; x = torch.zeros(16, device='cuda'); [x.add_(1) for _ in range(5)]; torch.cuda.synchronize()"

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
