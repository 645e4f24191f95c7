#!/usr/bin/env bash
# Launch overhead: ns per cuLaunchKernel against the fake driver, bare,
# preloaded but idle, recording, and recording with host stacks; then the
# writer's throughput (bench_writer).  Prints numbers; asserts nothing.
# cupti=false: this measures omniprof's own record path; with the fake CUPTI
# the numbers would be the fake's (CUPTI's real cost is measured by
# tests/gpu/run.sh on a GPU).
#   OMNI_BUILD=build bash tests/bench/run.sh [LAUNCHES] [ROUNDS]
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
echo
"$B/bin/bench_writer" "${WRITER_EVENTS:-1000000}"
