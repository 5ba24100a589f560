#!/usr/bin/env bash
# Same job, vpipe vs the ffmpeg CLI, alternating runs; prints the median fps of each and the
# ratio vpipe/ffmpeg. Jobs (1080p30 H.264 input, made by samples/make-samples.sh bench):
#   decode -> null;  scale 1280x720 -> libx264 veryfast crf 23;  gblur sigma 3 -> libx264
#   veryfast;  scale -> mpeg4 q5;  x264 alone (the gblur job without the blur: no tool can
#   run gblur->x264 faster than that, which bounds the gblur ratio on a machine this job fills);
#   and a three-rendition ladder (720p, 480p, 360p x264 from one decode: vpipe's three outputs,
#   ffmpeg's split and three encoders).
#   Both tools run ffmpeg's own filters (vpipe's --vf gblur is libavfilter's gblur, in its
#   workers). With HEAVY=1 (the default on 8 cores or more) also the HEAVY filtergraph, the same
#   for both: gblur sigma 8, unsharp 7x7 amount 1.5, hqdn3d -> libx264 veryfast; vpipe runs the
#   per-frame part (gblur, unsharp) on its workers and hqdn3d, which keeps state, in order.
#   bench/compare-ffmpeg.sh [runs]      (default 5 runs of each; CSV=FILE also writes the rows;
#   ONLY=REGEX runs only the jobs whose names match)
# Measures, asserts nothing: compare ratios from one run of this script, not absolute fps.
set -euo pipefail
set -f  # the filtergraphs' [labels] are not file patterns
cd "$(dirname "$0")/.."
vpipe=${VPIPE:-build/vpipe}
runs=${1:-5}
source bench/lib.sh
frames=$(video_frames "$input")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# name | vpipe arguments | ffmpeg arguments (output appended)
jobs=(
  "decode->null|-o null|-f null -"
  "scale->x264|--vf resize=1280x720 -c:v libx264 --preset veryfast --crf 23 -an -o $tmp/v.mp4|-vf scale=1280:720:flags=bilinear -c:v libx264 -preset veryfast -crf 23 -an $tmp/f.mp4"
  "gblur->x264|--vf gblur=sigma=3 -c:v libx264 --preset veryfast --crf 23 -an -o $tmp/v.mp4|-vf gblur=sigma=3 -c:v libx264 -preset veryfast -crf 23 -an $tmp/f.mp4"
  "scale->mpeg4|--vf resize=1280x720 -c:v mpeg4 --crf 5 -an -o $tmp/v.mp4|-vf scale=1280:720:flags=bilinear -c:v mpeg4 -q:v 5 -an $tmp/f.mp4"
  "x264-alone|-c:v libx264 --preset veryfast --crf 23 -an -o $tmp/v.mp4|-c:v libx264 -preset veryfast -crf 23 -an $tmp/f.mp4"
  # A three-rendition ladder from one decode: vpipe's three outputs against ffmpeg's split and
  # three encoders in one command (fps: input frames per second).
  "ladder->x264x3|-s 1280x720 -c:v libx264 --preset veryfast --crf 23 -an $tmp/v720.mp4 -s 854x480 -c:v libx264 --preset veryfast --crf 23 -an $tmp/v480.mp4 -s 640x360 -c:v libx264 --preset veryfast --crf 23 -an $tmp/v360.mp4|-filter_complex [0:v]split=3[a][b][c];[a]scale=1280:720[a2];[b]scale=854:480[b2];[c]scale=640:360[c2] -map [a2] -c:v libx264 -preset veryfast -crf 23 $tmp/f720.mp4 -map [b2] -c:v libx264 -preset veryfast -crf 23 $tmp/f480.mp4 -map [c2] -c:v libx264 -preset veryfast -crf 23 $tmp/f360.mp4"
)
if [ "${HEAVY:-$([ "$(nproc)" -ge 8 ] && echo 1 || echo 0)}" = 1 ]; then
  jobs+=("heavy->x264|--vf gblur=sigma=8,unsharp=7:7:1.5,hqdn3d -c:v libx264 --preset veryfast --crf 23 -an -o $tmp/v.mp4|-vf gblur=sigma=8,unsharp=7:7:1.5,hqdn3d -c:v libx264 -preset veryfast -crf 23 -an $tmp/f.mp4")
fi

# One row per job: median fps and median CPU milliseconds per frame (user + system, all processes)
# of each tool, and the ratios (fps: vpipe/ffmpeg, higher is better; CPU: vpipe/ffmpeg, lower is
# better). With CSV=FILE the rows are also written there.
[ -n "${CSV:-}" ] && echo "job,vpipe_fps,ffmpeg_fps,fps_ratio,vpipe_cpu_ms_per_frame,ffmpeg_cpu_ms_per_frame,cpu_ratio,runs,frames,nproc" >"$CSV"
printf "%-14s %10s %10s %8s %12s %12s %9s   (%s frames of %s, %s runs each, %s CPUs, wall clock incl. start-up)\n" \
  job vpipe_fps ffmpeg_fps ratio vpipe_cpu_ms ffmpeg_cpu_ms cpu_ratio "$frames" "$input" "$runs" "$(nproc)"
for job in "${jobs[@]}"; do
  IFS='|' read -r name vargs fargs <<<"$job"
  [[ -n "${ONLY:-}" && ! "$name" =~ ${ONLY} ]] && continue
  : >"$tmp/v.txt"; : >"$tmp/f.txt"
  for _ in $(seq "$runs"); do
    # shellcheck disable=SC2086
    timed "$vpipe" run -q -y -i "$input" $vargs >>"$tmp/v.txt"
    # shellcheck disable=SC2086
    timed ffmpeg -nostdin -v error -y -i "$input" $fargs >>"$tmp/f.txt"
  done
  if awk '$3 != 0 { bad = 1 } END { exit !bad }' "$tmp/v.txt" "$tmp/f.txt"; then
    printf "%-14s a run failed (exit codes: vpipe %s, ffmpeg %s)\n" "$name" "$(awk '{ printf "%s ", $3 }' "$tmp/v.txt")" "$(awk '{ printf "%s ", $3 }' "$tmp/f.txt")"
    continue
  fi
  v=$(awk -v n="$frames" '{ print n / $1 }' "$tmp/v.txt" | median); f=$(awk -v n="$frames" '{ print n / $1 }' "$tmp/f.txt" | median)
  vc=$(awk -v n="$frames" '{ print 1000 * $2 / n }' "$tmp/v.txt" | median); fc=$(awk -v n="$frames" '{ print 1000 * $2 / n }' "$tmp/f.txt" | median)
  row=$(awk -v v="$v" -v f="$f" -v vc="$vc" -v fc="$fc" 'BEGIN { printf "%.1f %.1f %.2f %.2f %.2f %.2f", v, f, v / f, vc, fc, vc / fc }')
  read -r v f r vc fc cr <<<"$row"
  printf "%-14s %10s %10s %8s %12s %12s %9s\n" "$name" "$v" "$f" "$r" "$vc" "$fc" "$cr"
  [ -n "${CSV:-}" ] && echo "$name,$v,$f,$r,$vc,$fc,$cr,$runs,$frames,$(nproc)" >>"$CSV"
done
