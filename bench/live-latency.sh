#!/usr/bin/env bash
# Live latency: a 1080p30 realtime test source (paced like a camera) through filter loads from
# none to more than this machine can do in real time; prints capture->packet latency
# percentiles and the drop rate for each. Output: libx264 (live defaults: veryfast,
# zerolatency) into MPEG-TS, the way a live feed is sent.
#   bench/live-latency.sh [seconds] [budget_ms] [loads...]
# Defaults: 10 s per load, a 500 ms budget, loads "none" "gblur=2" "gblur=6" "stress=60".
# This measures, it does not assert: the machines are shared and noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
vpipe=${VPIPE:-build/vpipe}
seconds=${1:-10}
budget=${2:-500}
shift $(( $# > 2 ? 2 : $# ))
loads=("$@")
[ ${#loads[@]} -eq 0 ] && loads=(none gblur=2 gblur=6 stress=60)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "source: testsrc 1920x1080 @ 30 fps, ${seconds} s, --realtime; budget ${budget} ms; $(nproc) CPUs"
printf "%-12s %7s %7s %8s %8s %8s %8s %7s\n" load frames drops "p50 ms" "p95 ms" "p99 ms" "max ms" "drop %"
for load in "${loads[@]}"; do
  vf=()
  [ "$load" != none ] && vf=(--vf "$load")
  "$vpipe" run -q -i "testsrc:size=1920x1080:rate=30:duration=$seconds" --realtime \
    --latency-budget "$budget" "${vf[@]}" -o "$tmp/out.ts" -y --stats-json "$tmp/s.json" \
    >/dev/null 2>&1
  python3 - "$tmp/s.json" "$load" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
l, d = s["latency_ms"], s["drops"]["total"]
decoded = s["frames_decoded"]
print(f"{sys.argv[2]:<12} {s['frames']:>7} {d:>7} {l['p50']:>8.1f} {l['p95']:>8.1f} "
      f"{l['p99']:>8.1f} {l['max']:>8.1f} {100.0 * d / max(decoded, 1):>6.1f}%")
PY
done
