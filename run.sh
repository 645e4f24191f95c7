#!/usr/bin/env bash
# omniprof's one entry point for a fresh Debian 12 machine with the CUDA toolkit.
#
#   ./run.sh demo    install what is missing, build, profile the sample, show the result
#   ./run.sh test    install what is missing (with the report page's browser tests:
#                    Debian's chromium, Node.js 20+, npm ci in writer/page; with the
#                    cluster tests: Open MPI, Slurm and munge), build
#                    (warnings are errors), run every test
#   ./run.sh check   quick pre-commit check: clang-format on every C file, the strict
#                    build (in build-check/), the unit tests
#   ./run.sh format-check [BASE]   clang-format on the C files changed since BASE
#                    (default: where HEAD left origin/main, else HEAD~1, else every file)
#   ./run.sh bench   build and print the benchmarks (launch overhead, writer, trace reader)
#   ./run.sh build   install what is missing and build
#   ./run.sh gpu-carry   build gpu_carry/ for tests/gpu/run.sh on a GPU machine
#   ./run.sh fuzz [SECONDS] [NAME...]   run each fuzz harness of tests/fuzz/ (or the
#                    NAMEs) SECONDS (default 300) under libFuzzer, built with clang in
#                    build-fuzz/; fails, naming the input, when one fails
#
# Installs Debian packages with apt-get when they are missing (as root, or with sudo).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
# (OMNI_*, not OMNIPROF_*: every OMNIPROF_<KEY> variable is a configuration
# key to the profiled processes the tests and benchmarks run)
BUILD=${OMNI_BUILD_DIR:-$ROOT/build}

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
# Jobs of many ranks (tests/integration/test_cluster.py): Open MPI's mpirun and
# headers (an MPI program under mpirun), and Slurm with munge (the test
# configures and starts a one-node cluster of its own; the packages' own
# services are not used).  About 60 MB installed; only for ./run.sh test.
CLUSTER_PACKAGES=(openmpi-bin libopenmpi-dev slurmctld slurmd slurm-client munge)

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
CHECK_BUILD=${OMNI_CHECK_BUILD_DIR:-$ROOT/build-check}
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
    install_missing "${CLUSTER_PACKAGES[@]}" # before the build: CMake looks for MPI
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
    OMNI_BUILD="$BUILD" bash "$ROOT/tests/bench/run.sh"
}

# --- fuzzing (libFuzzer) -----------------------------------------------------

FUZZ_BUILD=${OMNIPROF_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
# libFuzzer's runtime (libclang_rt.fuzzer) is in libclang-rt-14-dev, which
# clang only recommends.
FUZZ_PACKAGES=(clang libclang-rt-14-dev)

# The harnesses: tests/fuzz/fuzz_NAME.c, each listed in tests/fuzz/CMakeLists.txt.
fuzz_names() {
    local f
    for f in "$ROOT"/tests/fuzz/fuzz_*.c; do
        f=${f##*/fuzz_}
        echo "${f%.c}"
    done
}

# fuzz_build NAME...: configures build-fuzz/ with clang and OMNIPROF_FUZZ,
# and builds build-fuzz/bin/fuzz_NAME.
fuzz_build() {
    install_missing "${PACKAGES[@]}" "${FUZZ_PACKAGES[@]}"
    local cc cuda probe targets=()
    cc=$(command -v clang-14 || command -v clang) || {
        echo "omniprof: clang not found" >&2
        return 1
    }
    mkdir -p "$FUZZ_BUILD"
    probe="$FUZZ_BUILD/libfuzzer-probe"
    if ! printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d && n; }\n' |
        "$cc" -fsanitize=fuzzer -x c - -o "$probe" 2>"$probe.log"; then
        cat "$probe.log" >&2
        echo "omniprof: $cc cannot link libFuzzer (-fsanitize=fuzzer): install libclang-rt-14-dev" >&2
        return 1
    fi
    cuda=$(cuda_root)
    say "building the fuzz harnesses in $FUZZ_BUILD ($("$cc" --version | head -n 1))"
    cmake -S "$ROOT" -B "$FUZZ_BUILD" -DCMAKE_C_COMPILER="$cc" -DOMNIPROF_FUZZ=ON \
        -DOMNIPROF_TESTS=OFF -DCUDAToolkit_ROOT="$cuda" >/dev/null
    for n in "$@"; do targets+=(--target "fuzz_$n"); done
    cmake --build "$FUZZ_BUILD" -j"$(nproc)" "${targets[@]}" >/dev/null
}

# fuzz_one NAME SECONDS: one harness on one core.  New inputs go to
# build-fuzz/corpus/NAME/ (tests/fuzz/corpus/NAME/ and regressions/NAME/ are
# read, never written); an input that fails is copied to
# tests/fuzz/regressions/NAME/.  Prints one line of numbers; fails when the
# harness does.
fuzz_one() {
    local name=$1 seconds=$2 rc=0 log art src same f kind dst dict=() dirs=() found done_line
    local corpus="$FUZZ_BUILD/corpus/$name" artifacts="$FUZZ_BUILD/artifacts/$name"
    local seeds="$ROOT/tests/fuzz/corpus/$name" regressions="$ROOT/tests/fuzz/regressions/$name"
    log="$FUZZ_BUILD/logs/$name.log"
    mkdir -p "$corpus" "$FUZZ_BUILD/logs"
    rm -rf "$artifacts"
    mkdir -p "$artifacts"
    [ -f "$ROOT/tests/fuzz/$name.dict" ] && dict=(-dict="$ROOT/tests/fuzz/$name.dict")
    dirs=("$corpus" "$seeds")
    [ -d "$regressions" ] && dirs+=("$regressions")
    "$FUZZ_BUILD/bin/fuzz_$name" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" "${dirs[@]}" \
        >"$log" 2>&1 || rc=$?
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
    if [ $rc -eq 0 ]; then
        # "#52211  DONE   cov: 476 ft: 2129 corp: 323/853Kb lim: 7420 exec/s: 512 rss: 96Mb"
        awk -v n="$name" -v s="$seconds" '{
            for (i = 1; i < NF; i++) v[$i] = $(i + 1)
            printf "   fuzz_%-10s %9s runs in %4d s (%s/s)  cov %s  ft %s  corpus %s  rss %s\n",
                   n, substr($1, 2), s, v["exec/s:"], v["cov:"], v["ft:"], v["corp:"], v["rss:"]
        }' <<<"${done_line:-#0 DONE}"
        return 0
    fi
    # the report: the log without libFuzzer's progress lines
    grep -vE '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED)' "$log" | tail -n 50 >&2
    say "fuzz_$name FAILED (exit $rc; the whole log: $log)"
    mkdir -p "$regressions"
    found=()
    for art in "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-*; do
        [[ -f $art && $art != *.min ]] || continue
        src=$art
        # a crash is made as small as libFuzzer can in a few seconds, so that
        # the regression says what breaks
        if [[ ${art##*/} == crash-* ]] &&
            "$FUZZ_BUILD/bin/fuzz_$name" -minimize_crash=1 -max_total_time=20 -timeout=30 \
                -artifact_prefix="$artifacts/" -exact_artifact_path="$art.min" "$art" \
                >"$log.minimize" 2>&1 &&
            [ -s "$art.min" ] && [ "$(stat -c %s "$art.min")" -lt "$(stat -c %s "$art")" ] &&
            ! "$FUZZ_BUILD/bin/fuzz_$name" -runs=1 "$art.min" >/dev/null 2>&1; then
            src=$art.min
        fi
        # named as libFuzzer names it (kind-sha1), unless it is a regression already
        same=""
        for f in "$regressions"/*; do
            [ -f "$f" ] && cmp -s "$f" "$src" && same=$f && break
        done
        if [ -n "$same" ]; then
            say "the failing input is a regression already: ${same#"$ROOT"/}"
            found+=("${same#"$ROOT"/}")
            continue
        fi
        kind=${art##*/}
        dst="$regressions/${kind%%-*}-$(sha1sum <"$src" | cut -c1-40)"
        cp "$src" "$dst"
        found+=("${dst#"$ROOT"/}")
    done
    if [ ${#found[@]} -eq 0 ]; then
        say "no failing input was written"
        return 1
    fi
    for art in "${found[@]}"; do
        say "failing input: $art ($(stat -c %s "$ROOT/$art") bytes)"
        say "replay it: $FUZZ_BUILD/bin/fuzz_$name $art"
        # a CI log keeps what a fresh clone's failure found
        if [ "$(stat -c %s "$ROOT/$art")" -le 16384 ]; then
            echo "or, in a fresh clone:"
            echo "base64 -d > $art <<'EOF'"
            base64 "$ROOT/$art"
            echo EOF
        fi
    done
    return 1
}

# ./run.sh fuzz [SECONDS] [NAME...]
fuzz() {
    local seconds=300 names=() failed=() n start=$SECONDS
    if [[ ${1:-} =~ ^[0-9]+$ ]]; then
        seconds=$1
        shift
    fi
    [ "$seconds" -gt 0 ] || { echo "omniprof: fuzz: SECONDS must be at least 1" >&2; return 2; }
    mapfile -t names < <(fuzz_names)
    if [ $# -gt 0 ]; then
        for n in "$@"; do
            [ -f "$ROOT/tests/fuzz/fuzz_$n.c" ] || {
                echo "omniprof: fuzz: no harness '$n' (there are: ${names[*]})" >&2
                return 2
            }
        done
        names=("$@")
    fi
    fuzz_build "${names[@]}"
    say "fuzzing ${names[*]}: $seconds s each, one at a time"
    for n in "${names[@]}"; do
        fuzz_one "$n" "$seconds" || failed+=("$n")
    done
    say "fuzz: $((SECONDS - start)) s"
    if [ ${#failed[@]} -gt 0 ]; then
        say "failed: ${failed[*]} (inputs in tests/fuzz/regressions/; ctest replays them)"
        return 1
    fi
}

case "${1:-}" in
demo) demo ;;
test) run_tests ;;
check) check ;;
format-check) format_check "${2:-}" ;;
bench) bench ;;
gpu-carry) gpu_carry ;;
fuzz)
    shift
    fuzz "$@"
    ;;
build) build ;;
*) echo "usage: $0 demo|test|check|format-check [BASE]|bench|build|gpu-carry|fuzz [SECONDS] [NAME...]" >&2; exit 2 ;;
esac
