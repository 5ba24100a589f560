#!/usr/bin/env bash
# Memory: the peak total PSS of all vpipe processes (the scheduler and every stage; the shared
# frame pool counted once, split between the processes that map it) against the ffmpeg CLI's
# peak RSS, on the same job: 1080p30 H.264 -> scale 1280x720 -> libx264 veryfast crf 23.
#   bench/memory.sh [runs]     (default 3; the medians are printed)
# Both are sampled every 20 ms from /proc; measures, asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
vpipe=${VPIPE:-build/vpipe}
runs=${1:-3}
source bench/lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The largest sum of Pss (kB) over a process tree rooted at $1, sampled until it exits.
peak_tree_pss() {
  local root=$1 peak=0 sum pids
  while kill -0 "$root" 2>/dev/null; do
    pids="$root $( (pgrep -P "$root" || true) | tr '\n' ' ')"
    sum=0
    for p in $pids; do
      v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
      sum=$((sum + ${v:-0}))
    done
    [ "$sum" -gt "$peak" ] && peak=$sum
    sleep 0.02
  done
  echo "$peak"
}
# The last VmHWM (peak RSS, kB) seen for process $1 before it exits.
peak_rss() {
  local pid=$1 hwm=0 v
  while kill -0 "$pid" 2>/dev/null; do
    v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$v" ] && hwm=$v
    sleep 0.02
  done
  echo "$hwm"
}

for _ in $(seq "$runs"); do
  "$vpipe" run -q -y -i "$input" --vf scale=1280:720:flags=bilinear -c:v libx264 --preset veryfast --crf 23 \
    -an -o "$tmp/v.mp4" >/dev/null 2>&1 &
  peak_tree_pss $! >>"$tmp/v.txt"
  wait
  ffmpeg -nostdin -v error -y -i "$input" -vf scale=1280:720:flags=bilinear -c:v libx264 \
    -preset veryfast -crf 23 -an "$tmp/f.mp4" &
  peak_rss $! >>"$tmp/f.txt"
  wait
done
v=$(median <"$tmp/v.txt"); f=$(median <"$tmp/f.txt")
printf "job: %s -> scale 1280x720 -> libx264 veryfast (%s runs, medians)\n" "$input" "$runs"
printf "vpipe total PSS %.1f MiB, ffmpeg peak RSS %.1f MiB, ratio %.2f (target <= 1.1)\n" \
  "$(awk "BEGIN { print $v / 1024 }")" "$(awk "BEGIN { print $f / 1024 }")" "$(awk "BEGIN { print $v / $f }")"
