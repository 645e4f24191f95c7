#!/usr/bin/env bash
# Launch overhead: ns per cuLaunchKernel against the fake driver, bare,
# preloaded but idle, and recording.  Prints numbers; asserts nothing.
#   OMNI_BUILD=build bash tests/bench/run.sh [LAUNCHES] [ROUNDS]
set -euo pipefail
B=${OMNI_BUILD:-build}
N=${1:-200000}
R=${2:-7}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export LD_LIBRARY_PATH="$B/fake"
bare=$("$B/bin/bench_launch" "$N" "$R")
idle=$(LD_PRELOAD="$B/lib/libomniprof.so" OMNIPROF="dir=$out" "$B/bin/bench_launch" "$N" "$R")
rec=$(LD_PRELOAD="$B/lib/libomniprof.so" OMNIPROF="dir=$out,autostart=1,buffer_size=512,log_level=warn" \
      "$B/bin/bench_launch" "$N" "$R")
best() { sed -E 's/.*best ([0-9.]+) ns.*/\1/' <<<"$1"; }
printf '%-28s %10s %14s\n' "mode" "ns/launch" "above bare"
printf '%-28s %10s %14s\n' "bare (fake driver)" "$(best "$bare")" "-"
for m in idle rec; do
    v=$(best "${!m}")
    label=$([ $m = idle ] && echo "preloaded, idle" || echo "preloaded, recording")
    printf '%-28s %10s %14s\n' "$label" "$v" "$(awk -v a="$v" -v b="$(best "$bare")" 'BEGIN{printf "%+.1f", a-b}')"
done
echo "($R rounds of $N launches, best round; $(nproc) cores; $(uname -m))"
