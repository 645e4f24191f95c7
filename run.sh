#!/usr/bin/env bash
# omniprof's one entry point for a fresh Debian 12 machine with the CUDA toolkit.
#
#   ./run.sh demo    install what is missing, build, profile the sample, show the result
#   ./run.sh test    install what is missing (with the report page's browser tests:
#                    Debian's chromium, Node.js 20+, npm ci in writer/page), build
#                    (warnings are errors), run every test
#   ./run.sh check   quick pre-commit check: clang-format on every C file, the strict
#                    build (in build-check/), the unit tests
#   ./run.sh format-check [BASE]   clang-format on the C files changed since BASE
#                    (default: where HEAD left origin/main, else HEAD~1, else every file)
#   ./run.sh bench   build and print the benchmarks (launch overhead, writer, trace reader)
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
          # HTA (../shared/third_party/hta), which tests/integration/test_hta.py runs
          python3-pandas python3-numpy python3-plotly python3-networkx python3-pydot
          python3-yaml python3-psutil)
# Debian 12's clang-format is version 14, the one .clang-format is checked with.
FORMAT_PACKAGES=(clang-format)
# The report page's browser tests (tests/integration/test_report.py): a real
# browser, some 100+ MB with its libraries, so only for ./run.sh test.
BROWSER_PACKAGES=(chromium)

say() { printf '== %s\n' "$*"; }

# install_missing [PACKAGE...]: the given packages, or the build's.
install_missing() {
    local missing=() wanted=("$@")
    [ ${#wanted[@]} -eq 0 ] && wanted=("${PACKAGES[@]}")
    for p in "${wanted[@]}"; do
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

# build [strict [DIR]]: strict makes warnings errors; DIR defaults to $BUILD.
build() {
    install_missing
    local cuda werror=OFF dir=${2:-$BUILD}
    cuda=$(cuda_root)
    [ "${1:-}" = strict ] && werror=ON
    say "building in $dir (CUDA toolkit: $cuda)"
    cmake -S "$ROOT" -B "$dir" -DCUDAToolkit_ROOT="$cuda" -DOMNIPROF_WERROR=$werror >/dev/null
    cmake --build "$dir" -j"$(nproc)" >/dev/null
}

# The fake driver stands in for libcuda on machines without a GPU.
driver_path() {
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        echo ""
    else
        echo "$BUILD/fake"
    fi
}

# --- layout (clang-format) ---------------------------------------------------

clang_format_bin() {
    command -v clang-format-14 || command -v clang-format || {
        echo "omniprof: clang-format not found" >&2
        return 1
    }
}

# Whether this folder is a git checkout git will read (not a tarball, nor one
# unpacked inside some other repository, nor one owned by another user).
in_git() {
    [ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$(pwd -P)" ]
}

# Every C source and header git tracks; none is exempt.  Outside git the
# folders are searched.
all_c_files() {
    if in_git; then
        git ls-files -- '*.c' '*.h'
    else
        find collector control preload samples tests writer -name '*.[ch]' | sort
    fi
}

# Where the changes to check begin, printed as a commit; nothing printed means
# "check every file".  With BASE: where HEAD left BASE (BASE itself when they
# share no history here).  Without: where HEAD left origin/main; else, when
# HEAD is on origin/main (CI on main) or there is no origin/main, HEAD~1.  A
# shallow clone may have neither: then every file.
format_base() {
    local want=${1:-} base head
    in_git || return 0
    if [ -n "$want" ]; then
        if ! git rev-parse -q --verify "$want^{commit}" >/dev/null 2>&1; then
            echo "omniprof: format-check: no commit '$want' here; checking every C file" >&2
            return 0
        fi
        git merge-base HEAD "$want" 2>/dev/null || git rev-parse "$want^{commit}"
        return 0
    fi
    head=$(git rev-parse -q --verify 'HEAD^{commit}' 2>/dev/null) || return 0
    if base=$(git merge-base HEAD origin/main 2>/dev/null) && [ "$base" != "$head" ]; then
        echo "$base"
        return 0
    fi
    git rev-parse -q --verify 'HEAD~1^{commit}' 2>/dev/null || true
}

# C files changed since BASE, committed or not, and new untracked ones.
changed_c_files() {
    {
        git diff --name-only --diff-filter=ACMR "$1" -- '*.c' '*.h'
        git ls-files --others --exclude-standard -- '*.c' '*.h'
    } | sort -u | while read -r f; do [ -f "$f" ] && echo "$f"; done
}

# format_files quiet|diff FILE...: lists each file whose layout differs from
# what clang-format makes of it (with the count of places), and with diff the
# changes it would make.  Fails when any file differs.
format_files() {
    local show=$1 cf version out places f bad=()
    shift
    cf=$(clang_format_bin)
    version=$("$cf" --version | sed -n 's/.*version \([0-9][0-9.]*\).*/\1/p')
    [ "${version%%.*}" = 14 ] ||
        say "note: .clang-format is checked with clang-format 14; $version may lay some code out differently"
    if out=$("$cf" --dry-run --Werror "$@" 2>&1); then
        say "layout: $# C files as clang-format $version lays them out"
        return 0
    fi
    places=$(grep -c ': error: code should be clang-formatted' <<<"$out" || true)
    if [ "$places" -eq 0 ]; then
        echo "$out" >&2 # not drift: an unreadable file, a bad .clang-format
        return 1
    fi
    grep ': error: code should be clang-formatted' <<<"$out" | cut -d: -f1 | uniq -c |
        while read -r n f; do printf '   %4d  %s\n' "$n" "$f"; done
    mapfile -t bad < <(grep ': error: code should be clang-formatted' <<<"$out" | cut -d: -f1 | uniq)
    if [ "$show" = diff ]; then
        for f in "${bad[@]}"; do
            "$cf" "$f" | diff -u --label "$f" --label "$f (clang-format)" "$f" - || true
        done | head -n 300 || true
    fi
    say "layout: ${#bad[@]} of $# C files differ from .clang-format in $places places (clang-format $version)"
    say "fix with: clang-format -i ${bad[*]}"
    return 1
}

# ./run.sh format-check [BASE]: the C files changed since BASE (see format_base).
format_check() {
    install_missing "${FORMAT_PACKAGES[@]}"
    local base files=()
    base=$(format_base "${1:-}")
    if [ -n "$base" ]; then
        mapfile -t files < <(changed_c_files "$base")
        say "clang-format: ${#files[@]} C files changed since $(git rev-parse --short "$base")"
        [ ${#files[@]} -eq 0 ] && return 0
    else
        mapfile -t files < <(all_c_files)
        say "clang-format: every C file (${#files[@]}; no base commit here)"
    fi
    format_files diff "${files[@]}"
}

# ./run.sh check: what a commit should pass, in well under a minute: the
# layout of every C file, the strict build (-Wall -Wextra ... -Werror) in its
# own folder, and the unit tests.
CHECK_BUILD=${OMNIPROF_CHECK_BUILD_DIR:-$ROOT/build-check}
check() {
    install_missing "${PACKAGES[@]}" "${FORMAT_PACKAGES[@]}"
    local start=$SECONDS rc=0 last=0 results=() files=()
    # step NAME CMD...: runs CMD in a subshell that stops at its first error
    # (never called from a condition, where bash would ignore set -e).
    step() {
        local name=$1 t0=$SECONDS verdict=ok
        shift
        set +e
        (
            set -e
            "$@"
        )
        last=$?
        set -e
        [ $last -eq 0 ] || { verdict=FAILED; rc=1; }
        results+=("$(printf '%-8s %-40s %3d s' "$verdict" "$name" $((SECONDS - t0)))")
    }
    mapfile -t files < <(all_c_files)
    say "layout of every C file (${#files[@]})"
    step "layout (clang-format, ${#files[@]} files)" format_files quiet "${files[@]}"
    step "strict build ($(basename "$CHECK_BUILD")/, -Werror)" build strict "$CHECK_BUILD"
    if [ $last -eq 0 ]; then
        say "unit tests"
        step "unit tests (ctest -R '^unit_')" \
            ctest --test-dir "$CHECK_BUILD" -R '^unit_' --output-on-failure --no-tests=error
    else
        results+=("$(printf '%-8s %-40s' skipped "unit tests (the build failed)")")
    fi
    say "check: $((SECONDS - start)) s"
    printf '   %s\n' "${results[@]}"
    return $rc
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
    say "omniprof stop --stages 0,2 --wait --report"
    "$omniprof" stop --stages 0,2 --wait --report
    wait "$pid"
    for table in "$out"/profiler_out_stage-*.txt; do
        say "top of $table"
        head -n 6 "$table" | cut -c1-160
    done
    local trace
    trace=$(ls "$out"/stage-0_*.pt.trace.json.gz | head -n 1)
    say "omniprof summary $trace --top 3"
    "$omniprof" summary "$trace" --top 3 | cut -c1-160
    say "the report: open $out/report.html in a browser (one page, both stages)"
    say "traces in $out: open them in https://ui.perfetto.dev, chrome://tracing or TensorBoard"
}

# What the report page's browser tests need besides the build: Debian's
# chromium, Node.js 20 or newer with npm (playwright-core's minimum), and
# writer/page/node_modules from its lock (npm ci: playwright-core, and uplot
# for check-vendor.mjs), made again when the lock is newer.  The build itself
# needs none of it: the chart library it inlines is vendored.
browser_deps() {
    install_missing "${BROWSER_PACKAGES[@]}"
    command -v node >/dev/null && command -v npm >/dev/null || install_missing nodejs npm
    local major page="$ROOT/writer/page"
    major=$(node -p 'process.versions.node.split(".")[0]')
    if [ "$major" -lt 20 ]; then
        echo "omniprof: the report's browser tests need Node.js 20 or newer (playwright-core); this is $(node --version)" >&2
        return 1
    fi
    if [ ! -f "$page/node_modules/.package-lock.json" ] ||
        [ "$page/package-lock.json" -nt "$page/node_modules/.package-lock.json" ]; then
        say "npm ci in writer/page (playwright-core, uplot: as package-lock.json pins them)"
        if ! (cd "$page" && npm ci --no-audit --no-fund --prefer-offline >/dev/null); then
            echo "omniprof: npm ci in writer/page failed: the npm registry is unreachable and npm's cache lacks the locked packages" >&2
            return 1
        fi
    fi
}

run_tests() {
    browser_deps
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
    cp "$BUILD/bin/driver_loop" "$BUILD/bin/dlsym_launch" "$BUILD/bin/nvtx_ranges" "$c/bin/"
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
check) check ;;
format-check) format_check "${2:-}" ;;
bench) bench ;;
gpu-carry) gpu_carry ;;
build) build ;;
*) echo "usage: $0 demo|test|check|format-check [BASE]|bench|build|gpu-carry" >&2; exit 2 ;;
esac
