#!/usr/bin/env bash
# omniprof's one entry point for a fresh Debian 12 machine with the CUDA toolkit.
#
#   ./run.sh demo    install what is missing, build, profile the sample, show the result
#   ./run.sh test    install what is missing, build (warnings are errors), run every test
#   ./run.sh bench   build and print the launch-overhead benchmark
#   ./run.sh build   install what is missing and build
#
# Installs Debian packages with apt-get when they are missing (as root, or with sudo).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
BUILD=${OMNIPROF_BUILD_DIR:-$ROOT/build}

PACKAGES=(build-essential cmake pkg-config zlib1g-dev libunwind-dev libinih-dev
          libcriterion-dev libmicrohttpd-dev libyajl-dev python3)

say() { printf '== %s\n' "$*"; }

install_missing() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]}"
    local sudo=()
    [ "$(id -u)" -ne 0 ] && sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

cuda_root() {
    for d in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda /usr/local/cuda-13.0 /usr/local/cuda-12*; do
        [ -n "$d" ] && [ -f "$d/include/cuda.h" ] && { echo "$d"; return 0; }
    done
    echo "omniprof: no CUDA toolkit found (looked at \$CUDA_HOME and /usr/local/cuda*)" >&2
    return 1
}

build() {
    install_missing
    local cuda werror=OFF
    cuda=$(cuda_root)
    [ "${1:-}" = strict ] && werror=ON
    say "building in $BUILD (CUDA toolkit: $cuda)"
    cmake -S "$ROOT" -B "$BUILD" -DCUDAToolkit_ROOT="$cuda" -DOMNIPROF_WERROR=$werror >/dev/null
    cmake --build "$BUILD" -j"$(nproc)" >/dev/null
}

# The fake driver stands in for libcuda on machines without a GPU.
driver_path() {
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        echo ""
    else
        echo "$BUILD/fake"
    fi
}

demo() {
    build
    local out="$ROOT/demo_out" fake
    fake=$(driver_path)
    rm -rf "$out"
    if [ -n "$fake" ]; then
        say "no GPU here: the sample runs against the fake CUDA driver ($fake)"
    fi
    say "omniprof run -o demo_out --autostart --max 20 -- driver_loop 50"
    LD_LIBRARY_PATH="$fake${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        "$BUILD/bin/omniprof" run -o "$out" --autostart --max 20 -- "$BUILD/bin/driver_loop" 50 2>&1
    local trace table
    trace=$(ls "$out"/*.pt.trace.json.gz)
    table=$(ls "$out"/profiler_out_*.txt)
    say "trace: $trace"
    say "table: $table"
    say "open the trace in https://ui.perfetto.dev, chrome://tracing or TensorBoard"
    say "top kernels:"
    head -n 16 "$table"
}

run_tests() {
    build strict
    say "running the test suite"
    ctest --test-dir "$BUILD" --output-on-failure
}

bench() {
    build
    OMNI_BUILD="$BUILD" bash "$ROOT/tests/bench/run.sh"
}

case "${1:-}" in
demo) demo ;;
test) run_tests ;;
bench) bench ;;
build) build ;;
*) echo "usage: $0 demo|test|bench|build" >&2; exit 2 ;;
esac
