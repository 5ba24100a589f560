#!/usr/bin/env bash
# Live latency: a 1080p30 realtime test source (paced like a camera) through filter loads from
# none to more than this machine can do in real time; prints capture->packet latency
# percentiles and the drop rate for each. Output: libx264 (live defaults: veryfast,
# zerolatency) into MPEG-TS, the way a live feed is sent.
#   bench/live-latency.sh [seconds] [budget_ms] [loads...]
# Defaults: 10 s per load, a 500 ms budget, loads "none" "gblur=2" "gblur=6" "stress=60".
# A load "preset=P" is no filter but x264 at preset P (veryslow: far past real time at 1080p on
# a few cores). For "none" and "preset=P", GStreamer runs the same job beside vpipe (GST=0:
# not): videotestsrc is-live, a leaky queue (leaky=downstream max-size-buffers=1: GStreamer's
# answer to overload), x264enc zerolatency, mpegtsmux; its latency is the latency tracer's
# (source to sink), its drops the frames missing from its file. The pipeline is printed.
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
  vf=() preset=()
  case $load in
    none) ;;
    preset=*) preset=(--preset "${load#preset=}") ;;
    *) vf=(--vf "$load") ;;
  esac
  "$vpipe" run -q -i "testsrc:size=1920x1080:rate=30:duration=$seconds" --realtime \
    --latency-budget "$budget" "${vf[@]}" "${preset[@]}" -o "$tmp/out.ts" -y \
    --stats-json "$tmp/s.json" >/dev/null 2>&1
  python3 - "$tmp/s.json" "$load" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
l, d = s["latency_ms"], s["drops"]["total"]
decoded = s["frames_decoded"]
print(f"{sys.argv[2]:<12} {s['frames']:>7} {d:>7} {l['p50']:>8.1f} {l['p95']:>8.1f} "
      f"{l['p99']:>8.1f} {l['max']:>8.1f} {100.0 * d / max(decoded, 1):>6.1f}%")
PY
  if [ "${GST:-1}" != 0 ] && command -v gst-launch-1.0 >/dev/null && [[ $load == none || $load == preset=* ]]; then
    speed=veryfast
    [[ $load == preset=* ]] && speed=${load#preset=}
    frames=$((30 * seconds))
    pipeline="videotestsrc is-live=true num-buffers=$frames ! video/x-raw,format=I420,width=1920,height=1080,framerate=30/1 ! queue leaky=downstream max-size-buffers=1 ! x264enc tune=zerolatency speed-preset=$speed threads=$(nproc) ! mpegtsmux ! filesink location=$tmp/gst.ts"
    [ -n "${shown:-}" ] || { echo "  gst: gst-launch-1.0 $pipeline"; shown=1; }
    rm -f "$tmp/trace.log"
    # shellcheck disable=SC2086
    GST_TRACERS=latency GST_DEBUG=GST_TRACER:7 GST_DEBUG_FILE="$tmp/trace.log" GST_DEBUG_NO_COLOR=1 \
      gst-launch-1.0 -q $pipeline >/dev/null 2>&1
    out=$(ffprobe -v error -select_streams v -count_packets -show_entries stream=nb_read_packets \
      -of csv=p=0 "$tmp/gst.ts" | grep -m1 .)
    python3 - "$tmp/trace.log" "gst $load" "$frames" "$out" <<'PY'
import re, sys
times = sorted(int(t) / 1e6 for t in re.findall(r"latency,.*?time=\(guint64\)(\d+)",
                                                 open(sys.argv[1]).read()))
frames, out = int(sys.argv[3]), int(sys.argv[4])
pick = lambda q: times[min(len(times) - 1, int(q * len(times)))] if times else float("nan")
print(f"{sys.argv[2]:<12} {out:>7} {frames - out:>7} {pick(0.5):>8.1f} {pick(0.95):>8.1f} "
      f"{pick(0.99):>8.1f} {times[-1] if times else float('nan'):>8.1f} "
      f"{100.0 * (frames - out) / frames:>6.1f}%")
PY
  fi
done
