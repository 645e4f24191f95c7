#!/usr/bin/env bash
# omniprof's one entry point for a fresh Debian 12 machine with the CUDA toolkit.
#
#   ./run.sh demo    install what is missing, build, profile the sample, show the result
#   ./run.sh test    install what is missing, build (warnings are errors), run every test
#   ./run.sh bench   build and print the launch-overhead benchmark
#   ./run.sh build   install what is missing and build
#   ./run.sh gpu-carry   build gpu_carry/ for tests/gpu/run.sh on a GPU machine
#
# Installs Debian packages with apt-get when they are missing (as root, or with sudo).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
BUILD=${OMNIPROF_BUILD_DIR:-$ROOT/build}

PACKAGES=(build-essential cmake pkg-config zlib1g-dev libunwind-dev libinih-dev
          libcriterion-dev libmicrohttpd-dev libyajl-dev python3
          # HTA (tests/third_party/hta), which tests/integration/test_hta.py runs
          python3-pandas python3-numpy python3-plotly python3-networkx python3-pydot
          python3-yaml python3-psutil)

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
    local out="$ROOT/demo_out" fake pid
    fake=$(driver_path)
    rm -rf "$out"
    [ -n "$fake" ] && say "no GPU here: the samples run against the fake CUDA driver ($fake)"
    export LD_LIBRARY_PATH="$fake${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    local omniprof="$BUILD/bin/omniprof"
    say "omniprof run -o demo_out -- pipeline 300 10    (stages 0 -> 1 -> 2, in the background)"
    "$omniprof" run -o "$out" -- "$BUILD/bin/pipeline" 300 10 2>&1 &
    pid=$!
    for _ in $(seq 50); do
        [ "$("$omniprof" list | awk '$2 ~ /^[0-9]+$/' | wc -l)" -ge 3 ] && break
        sleep 0.1
    done
    say "omniprof list"
    "$omniprof" list
    say "omniprof start --stages 0,2 --wait"
    "$omniprof" start --stages 0,2 --wait
    sleep 1
    say "omniprof stop --stages 0,2 --wait"
    "$omniprof" stop --stages 0,2 --wait
    wait "$pid"
    for table in "$out"/profiler_out_stage-*.txt; do
        say "top of $table"
        head -n 6 "$table" | cut -c1-160
    done
    local trace
    trace=$(ls "$out"/stage-0_*.pt.trace.json.gz | head -n 1)
    say "omniprof summary $trace --top 3"
    "$omniprof" summary "$trace" --top 3 | cut -c1-160
    say "traces in $out: open them in https://ui.perfetto.dev, chrome://tracing or TensorBoard"
}

run_tests() {
    build strict
    say "running the test suite"
    ctest --test-dir "$BUILD" --output-on-failure
}

# What tests/gpu/run.sh needs on a GPU machine that has the CUDA toolkit and
# PyTorch but none of Debian's -dev libraries: the library, the samples, and
# the shared libraries it links that such a machine lacks.
gpu_carry() {
    build
    local c="$ROOT/gpu_carry"
    rm -rf "$c"
    mkdir -p "$c/lib" "$c/bin" "$c/libs"
    cp "$BUILD/lib/libomniprof.so" "$c/lib/"
    cp "$BUILD/bin/driver_loop" "$BUILD/bin/dlsym_launch" "$c/bin/"
    ldd "$BUILD/lib/libomniprof.so" | awk '/=> \//{print $3}' |
        grep -E 'libunwind|liblzma|libinih' | xargs -r cp -L -t "$c/libs/"
    say "gpu_carry/: $(du -sh "$c" | cut -f1); run there: bash tests/gpu/run.sh"
}

bench() {
    build
    # the benchmarked processes read every OMNIPROF_* variable: this script's
    # own (OMNIPROF_BUILD_DIR) would turn profiling off in them
    OMNI_BUILD="$BUILD" env -u OMNIPROF_BUILD_DIR bash "$ROOT/tests/bench/run.sh"
}

case "${1:-}" in
demo) demo ;;
test) run_tests ;;
bench) bench ;;
gpu-carry) gpu_carry ;;
build) build ;;
*) echo "usage: $0 demo|test|bench|build|gpu-carry" >&2; exit 2 ;;
esac
