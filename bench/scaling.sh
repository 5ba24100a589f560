#!/usr/bin/env bash
# Transform scaling: one transform-heavy job (1080p test source, a CPU-heavy chain, null
# output) with 1..N workers; prints fps and scaling efficiency (fps_N / (N * fps_1)).
#   bench/scaling.sh [max_workers] [vf] [frames]
# Defaults: max_workers = nproc, vf = "stress=40", 150 frames. Each N runs 3 times; the median
# fps counts. This measures, it does not assert: the machines are shared and noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
vpipe=${VPIPE:-build/vpipe}
max=${1:-$(nproc)}
vf=${2:-stress=40}
frames=${3:-150}
duration=$(awk "BEGIN { print $frames / 30 }")
input="testsrc:size=1920x1080:rate=30:duration=$duration"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

median_fps() {
  local n=$1
  for run in 1 2 3; do
    "$vpipe" run -q -i "$input" -o null --vf "$vf" --workers "$n" --stats-json "$tmp/s.json" >/dev/null 2>&1
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fps"])' "$tmp/s.json"
  done | sort -g | sed -n 2p
}

echo "job: $input -> --vf \"$vf\" -> null ($(nproc) CPUs)"
printf "%8s %10s %11s\n" workers fps efficiency
base=""
for n in $(seq 1 "$max"); do
  fps=$(median_fps "$n")
  [ -z "$base" ] && base=$fps
  eff=$(awk "BEGIN { printf \"%.2f\", $fps / ($n * $base) }")
  printf "%8d %10.1f %11s\n" "$n" "$fps" "$eff"
done
