#!/usr/bin/env bash
# Launch overhead: ns per cuLaunchKernel against the fake driver, bare,
# preloaded but idle, recording, and recording with host stacks; the same
# from a Python loop through ctypes, 30 Python frames deep (bench_python.py),
# with native stacks only (python_stack=false) and with Python frames; then
# an NVTX range's (bench_nvtx), bare, idle and recording; then the writer's
# throughput (bench_writer); then the trace reader's and `omniprof
# summary`'s, on traces generated here (bench_reader, gen_trace.py): cost
# must grow linearly with the input (one long string token, many distinct
# kernel names); then `omniprof merge`'s events per second and peak memory,
# which must not grow with the input (bench_merge).  Prints numbers;
# asserts nothing.
# cupti=false: this measures omniprof's own record path; with the fake CUPTI
# the numbers would be the fake's (CUPTI's real cost is measured by
# tests/gpu/run.sh on a GPU).  Then the CUPTI path's memory under a launch
# storm with the fake CUPTI (peak resident memory, ns/launch, exit time).
#   OMNI_BUILD=build bash tests/bench/run.sh [LAUNCHES] [ROUNDS]
#   (WRITER_EVENTS, READER_EVENTS: the writer's and the mixed trace's events;
#    MERGE_EVENTS: events of each of merge's 4 inputs; STORM_SECONDS: each
#    launch storm's length)
# PYTHONS: the interpreters of the Python case (default: python3 on PATH).
set -euo pipefail
B=${OMNI_BUILD:-build}
N=${1:-200000}
R=${2:-7}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export LD_LIBRARY_PATH="$B/fake"
bare=$("$B/bin/bench_launch" "$N" "$R")
idle=$(LD_PRELOAD="$B/lib/libomniprof.so" OMNIPROF="dir=$out,cupti=false" "$B/bin/bench_launch" "$N" "$R")
rec=$(LD_PRELOAD="$B/lib/libomniprof.so" \
      OMNIPROF="dir=$out,autostart=1,buffer_size=512,log_level=warn,with_stack=false,cupti=false" \
      "$B/bin/bench_launch" "$N" "$R")
stacks=$(LD_PRELOAD="$B/lib/libomniprof.so" OMNIPROF="dir=$out,autostart=1,buffer_size=512,log_level=warn,cupti=false" \
      "$B/bin/bench_launch" "$N" "$R")
best() { sed -E 's/.*best ([0-9.]+) ns.*/\1/' <<<"$1"; }
printf '%-30s %10s %14s\n' "mode" "ns/launch" "above bare"
printf '%-30s %10s %14s\n' "bare (fake driver)" "$(best "$bare")" "-"
for m in idle rec stacks; do
    v=$(best "${!m}")
    case $m in
    idle) label="preloaded, idle" ;;
    rec) label="recording, with_stack=false" ;;
    stacks) label="recording, with stacks" ;;
    esac
    printf '%-30s %10s %14s\n' "$label" "$v" "$(awk -v a="$v" -v b="$(best "$bare")" 'BEGIN{printf "%+.1f", a-b}')"
done
echo "($R rounds of $N launches, best round; $(nproc) cores; $(uname -m))"

# The CUPTI path under a launch storm (tests/integration/cupti_storm: 4
# threads launching as fast as they can, STORM_SECONDS each run) with the
# fake CUPTI, recording from start to exit: the peak resident memory (VmHWM,
# read by the fake driver after omniprof's exit work), the cost per launch
# (per thread: wall time x threads / launches), the time from the end of
# the storm to the process's end (writing the session), and the trace.
# The bound is what the settings allow on the CUPTI path (collector/cupti.c):
# 2.4 x buffer_size (events, GPU records, the writer's indexes) + the
# activity buffers, above the idle run's peak.
storm() { # LABEL OMNIPROF-SETTINGS (empty: not preloaded)
    local label=$1 settings=$2 d="$out/storm" t0 t1 line peak ns secs pre=()
    rm -rf "$d" "$out/report"
    mkdir -p "$d"
    [ -n "$settings" ] && pre=(env LD_PRELOAD="$B/lib/libomniprof.so" OMNIPROF_CUPTI=true
        OMNIPROF="dir=$d,log_level=error,$settings")
    t0=$EPOCHREALTIME
    line=$(FAKE_CUDA_REPORT="$out/report" "${pre[@]}" "$B/bin/cupti_storm" 4 "${STORM_SECONDS:-1.5}")
    t1=$EPOCHREALTIME
    peak=$(sed -E 's/.*vmhwm_kb=([0-9]+).*/\1/' "$out/report")
    ns=$(sed -E 's/.*ns_per_launch=([0-9.]+).*/\1/' <<<"$line")
    secs=$(sed -E 's/.*seconds=([0-9.]+).*/\1/' <<<"$line")
    local trace
    trace=$(find "$d" -name '*.pt.trace.json.gz' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
    printf '%-44s %9.1f %10.1f %8.2f %10.1f\n' "$label" "$(awk -v k="$peak" 'BEGIN{print k / 1024}')" \
        "$ns" "$(awk -v a="$t0" -v b="$t1" -v s="$secs" 'BEGIN{print b - a - s}')" \
        "$(awk -v b="$trace" 'BEGIN{print b / 1048576}')"
}
echo
echo "CUPTI path, launch storm (fake CUPTI, 4 threads x ${STORM_SECONDS:-1.5} s, recording to exit)"
printf '%-44s %9s %10s %8s %10s\n' "settings" "peak MiB" "ns/launch" "exit s" "trace MiB"
storm "bare (no omniprof)" ""
storm "preloaded, CUPTI idle" "buffer_size=1,cupti_buffer_size=8"
storm "default: buffer_size=64, cupti_buffer_size=32" "autostart=1"
storm "smallest: buffer_size=1, cupti_buffer_size=8" "autostart=1,buffer_size=1,cupti_buffer_size=8"
echo "(bound above the idle peak: 2.4 x buffer_size + activity buffers = 186 MiB default, 10.4 MiB smallest)"
echo

# The Python case: each mode run in turn, twice, best of all rounds kept
# (a shared machine's noise only ever adds).
here=$(cd "$(dirname "$0")" && pwd)
PN=$((N / 4))
for py in ${PYTHONS:-python3}; do
    command -v "$py" >/dev/null 2>&1 || { echo "bench_python: no $py"; continue; }
    declare -A pbest=()
    for pass in 1 2; do
        for m in bare idle native python; do
            rec="dir=$out,autostart=1,buffer_size=512,log_level=warn,cupti=false"
            case $m in
            bare) vars=() ;;
            idle) vars=(LD_PRELOAD="$B/lib/libomniprof.so" OMNIPROF="dir=$out,cupti=false") ;;
            native) vars=(LD_PRELOAD="$B/lib/libomniprof.so" OMNIPROF="$rec,python_stack=false") ;;
            python) vars=(LD_PRELOAD="$B/lib/libomniprof.so" OMNIPROF="$rec") ;;
            esac
            line=$(env "${vars[@]}" "$py" "$here/bench_python.py" "$PN" "$R" 30)
            v=$(best "$line")
            if [ -z "${pbest[$m]:-}" ] || awk -v a="$v" -v b="${pbest[$m]}" 'BEGIN{exit !(a<b)}'; then
                pbest[$m]=$v
            fi
            if [ $m = bare ]; then
                about=${line#*(}
            fi
        done
    done
    echo "Python: ${about%)}"
    printf '%-34s %10s %12s %16s\n' "mode" "ns/launch" "above bare" "above native"
    for m in bare idle native python; do
        case $m in
        bare) label="bare (ctypes, fake driver)" ;;
        idle) label="preloaded, idle" ;;
        native) label="recording, python_stack=false" ;;
        python) label="recording, Python frames" ;;
        esac
        printf '%-34s %10s %12s %16s\n' "$label" "${pbest[$m]}" \
            "$(awk -v a="${pbest[$m]}" -v b="${pbest[bare]}" 'BEGIN{printf "%+.1f", a-b}')" \
            "$(awk -v a="${pbest[$m]}" -v b="${pbest[native]}" 'BEGIN{printf "%+.1f", a-b}')"
    done
    echo
    unset pbest
done

# NVTX: ns per nvtxRangePushA/nvtxRangePop pair around a launch (the loop's
# time less the same loop without the range): bare (no NVTX tool, NVTX's
# own no-op), preloaded and idle (omniprof is the tool; the range's
# description onto the thread's stack and off), recording; then the same
# with nvtxRangeStartA/nvtxRangeEnd (idle: a table slot claimed and freed).
rng() { sed -E 's/.*range (-?[0-9.]+) ns.*/\1/' <<<"$1"; }
nvtx_bare=$(env -u NVTX_INJECTION64_PATH "$B/bin/bench_nvtx" "$N" "$R")
for kind in "" startend; do
    v=$(LD_PRELOAD="$B/lib/libomniprof.so" OMNIPROF="dir=$out,cupti=false" \
          env -u NVTX_INJECTION64_PATH "$B/bin/bench_nvtx" "$N" "$R" $kind)
    printf -v "nvtx_idle${kind:+_se}" '%s' "$v"
    v=$(LD_PRELOAD="$B/lib/libomniprof.so" \
          OMNIPROF="dir=$out,autostart=1,buffer_size=512,log_level=warn,with_stack=false,cupti=false" \
          env -u NVTX_INJECTION64_PATH "$B/bin/bench_nvtx" "$N" "$R" $kind)
    printf -v "nvtx_rec${kind:+_se}" '%s' "$v"
done
printf '%-30s %10s %14s\n' "NVTX mode" "ns/range" "above bare"
for m in nvtx_bare nvtx_idle nvtx_rec nvtx_idle_se nvtx_rec_se; do
    v=$(rng "${!m}")
    case $m in
    nvtx_bare) label="bare (no NVTX tool)" ;;
    nvtx_idle) label="push/pop, idle" ;;
    nvtx_rec) label="push/pop, recording" ;;
    nvtx_idle_se) label="start/end, idle" ;;
    nvtx_rec_se) label="start/end, recording" ;;
    esac
    printf '%-30s %10s %14s\n' "$label" "$v" "$(awk -v a="$v" -v b="$(rng "$nvtx_bare")" 'BEGIN{printf "%+.1f", a-b}')"
done
echo "($R rounds of $N push/launch/pop iterations, best round)"
echo
"$B/bin/bench_writer" "${WRITER_EVENTS:-1000000}"

# The reader: traces made at run time, gzip'd as omniprof writes them.
gen="$(dirname "$0")/gen_trace.py"
py=${PYTHON:-python3}
echo
echo "bench_reader: generating traces in $out"
"$py" "$gen" "$out/tok8.json.gz" long $((8 << 20))
"$py" "$gen" "$out/tok32.json.gz" long $((32 << 20))
for n in 10000 40000 300000; do
    "$py" "$gen" "$out/names$n.json.gz" names "$n"
done
"$py" "$gen" "$out/mixed.json.gz" mixed "${READER_EVENTS:-1200000}"
report=$("$B/bin/bench_reader" \
    "one 8 MiB string token" "$out/tok8.json.gz" \
    "one 32 MiB string token" "$out/tok32.json.gz" \
    "10k distinct kernel names" "$out/names10000.json.gz" \
    "40k distinct kernel names" "$out/names40000.json.gz" \
    "300k distinct kernel names" "$out/names300000.json.gz" \
    "mixed Kineto-like events" "$out/mixed.json.gz")
echo "$report"
# summary time ratios against input-size ratios: linear when they match
awk '{ t[$1 $2] = $(NF - 1); b[$1 $2] = $(NF - 7) }
     END { printf "summary time, 32 MiB vs 8 MiB token: x%.1f for x%.1f the input\n", t["one32"] / t["one8"], b["one32"] / b["one8"];
           printf "summary time, 40k vs 10k names: x%.1f for x%.1f the input\n", t["40kdistinct"] / t["10kdistinct"], b["40kdistinct"] / b["10kdistinct"];
           printf "summary time, 300k vs 10k names: x%.1f for x%.1f the input\n", t["300kdistinct"] / t["10kdistinct"], b["300kdistinct"] / b["10kdistinct"] }' <<<"$report"

# merge: 4 inputs of MERGE_EVENTS events each (Kineto-like, gzip'd as
# omniprof writes them), and 4 of a quarter of that: the peak RSS must stay
# the same for 4x the input.  Plain input and output show what the reader
# and the writer cost without zlib.
m=${MERGE_EVENTS:-500000}
echo
echo "bench_merge: 4 inputs x $m events (and x $((m / 4))), generated in $out"
"$py" "$gen" "$out/m0.json.gz" mixed "$m"
"$py" "$gen" "$out/q0.json.gz" mixed $((m / 4))
for k in 1 2 3; do
    cp "$out/m0.json.gz" "$out/m$k.json.gz"
    cp "$out/q0.json.gz" "$out/q$k.json.gz"
done
for k in 0 1 2 3; do gzip -dc "$out/m$k.json.gz" >"$out/p$k.json"; done
merge() { "$B/bin/bench_merge" -r 2 "$1" "$B/bin/omniprof" merge "${@:2}"; }
printf '%-40s %9s %8s %8s %12s %12s %9s\n' "merge (best of 2)" "events" "wall s" "CPU s" \
    "events/CPU s" "events/wall s" "RSS MiB"
merge "4 x $m, gzip in, gzip out" "$out"/m?.json.gz -o "$out/merged.json.gz"
merge "4 x $m, gzip in, plain out" "$out"/m?.json.gz -o "$out/merged.json"
merge "4 x $m, plain in, plain out" "$out"/p?.json -o "$out/merged.json"
merge "4 x $((m / 4)), gzip in, gzip out" "$out"/q?.json.gz -o "$out/merged.json.gz"
merge "4 x $m, --align=collective" "$out"/m?.json.gz -o "$out/merged.json.gz" --align=collective
