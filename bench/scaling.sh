#!/usr/bin/env bash
# Transform scaling: one transform-heavy job (1080p test source, a CPU-heavy chain, null
# output) with 1..N workers; prints fps, scaling efficiency (fps_N / (N * fps_1)) and the CPU
# milliseconds per frame of all processes.
#   bench/scaling.sh [max_workers] [vf] [frames]
# Defaults: max_workers = nproc, vf = "stress=40", 150 frames, the 1080p test source (INPUT=FILE:
# a 30 fps file instead). Each N runs RUNS times (default 3);
# the median counts. WORKERS="1 2 4 8" picks the counts (the first should be 1); CSV=FILE also
# writes the rows. This measures, it does not assert: the machines are shared and noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
vpipe=${VPIPE:-build/vpipe}
max=${1:-$(nproc)}
vf=${2:-stress=40}
frames=${3:-150}
runs=${RUNS:-3}
size=${SIZE:-1920x1080}
workers=${WORKERS:-$(seq 1 "$max")}
duration=$(awk "BEGIN { print $frames / 30 }")
BENCH_INPUT=/dev/null source bench/lib.sh
# INPUT=FILE (a 30 fps clip) instead of the test source: a test source's single-threaded
# generation can be slower than many workers.
input=${INPUT:-"testsrc:size=$size:rate=30:duration=$duration"}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "job: $input -> --vf \"$vf\" -> null ($(nproc) CPUs, $runs runs each)"
printf "%8s %10s %11s %12s\n" workers fps efficiency cpu_ms/frame
[ -n "${CSV:-}" ] && echo "workers,fps,efficiency,cpu_ms_per_frame,vf,size,frames,nproc" >"$CSV"
base=""
for n in $workers; do
  : >"$tmp/t.txt"
  for _ in $(seq "$runs"); do
    timed "$vpipe" run -q -i "$input" -t "$duration" -o null --vf "$vf" --workers "$n" >>"$tmp/t.txt"
  done
  if awk '$3 != 0 { bad = 1 } END { exit !bad }' "$tmp/t.txt"; then
    printf "%8d failed (exit codes %s)\n" "$n" "$(awk '{ printf "%s ", $3 }' "$tmp/t.txt")"
    continue
  fi
  fps=$(awk -v n="$frames" '{ print n / $1 }' "$tmp/t.txt" | median)
  cpu=$(awk -v n="$frames" '{ print 1000 * $2 / n }' "$tmp/t.txt" | median)
  [ -z "$base" ] && base=$(awk -v f="$fps" -v n="$n" 'BEGIN { print f / n }')
  eff=$(awk "BEGIN { printf \"%.2f\", $fps / ($n * $base) }")
  printf "%8d %10.1f %11s %12.2f\n" "$n" "$fps" "$eff" "$cpu"
  [ -n "${CSV:-}" ] && printf "%d,%.1f,%s,%.2f,%s,%s,%d,%d\n" "$n" "$fps" "$eff" "$cpu" "$vf" "$size" "$frames" "$(nproc)" >>"$CSV"
done
