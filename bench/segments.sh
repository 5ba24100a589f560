#!/usr/bin/env bash
# Segment-parallel against one pipeline and the ffmpeg CLI, side by side: 1080p H.264 input,
# scale 1280x720 -> libx264 (veryfast and medium, crf 23, no audio). Prints median fps of each,
# the ratio to ffmpeg, output sizes, and the segments' size growth and PSNR against the single
# run (the cost of the extra keyframes). Then the segment jobs' scaling: J jobs of 2 cores each
# (the run confined to 2J cores with taskset), fps_J / (J * fps_1).
#   bench/segments.sh [runs]        (default 3; CSV=FILE also writes the rows; PRESETS="veryfast")
# Measures, asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
vpipe=${VPIPE:-build/vpipe}
runs=${1:-3}
source bench/lib.sh
frames=$(video_frames "$input")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cores=$(nproc)
vf_v="--vf resize=1280x720"
vf_f="-vf scale=1280:720:flags=bilinear"

fps_of() { awk -v n="$frames" '$3 == 0 { print n / $1 }' "$1" | median; }
[ -n "${CSV:-}" ] && echo "preset,single_fps,segments_fps,ffmpeg_fps,single_vs_ffmpeg,segments_vs_ffmpeg,segments_vs_single,single_bytes,segments_bytes,size_growth_pct,psnr_segments_vs_single_db,cores" >"$CSV"
echo "job: $input ($frames frames) $vf_v -> libx264 crf 23, $cores CPUs, median of $runs; segments: --segments auto"
printf "%-9s %9s %9s %9s %8s %8s %8s %11s %7s\n" preset single segments ffmpeg seg/ff seg/single size+% bytes psnr_dB
for preset in ${PRESETS:-veryfast medium}; do
  : >"$tmp/s.txt"; : >"$tmp/g.txt"; : >"$tmp/f.txt"
  for _ in $(seq "$runs"); do
    timed "$vpipe" run -q -y -i "$input" $vf_v -c:v libx264 --preset "$preset" --crf 23 -an -o "$tmp/single.mp4" >>"$tmp/s.txt"
    timed "$vpipe" run -q -y -i "$input" $vf_v -c:v libx264 --preset "$preset" --crf 23 -an --segments auto -o "$tmp/seg.mp4" >>"$tmp/g.txt"
    timed ffmpeg -nostdin -v error -y -i "$input" $vf_f -c:v libx264 -preset "$preset" -crf 23 -an "$tmp/f.mp4" >>"$tmp/f.txt"
  done
  s=$(fps_of "$tmp/s.txt"); g=$(fps_of "$tmp/g.txt"); f=$(fps_of "$tmp/f.txt")
  sb=$(stat -c %s "$tmp/single.mp4"); gb=$(stat -c %s "$tmp/seg.mp4")
  p=$(ffmpeg -nostdin -i "$tmp/seg.mp4" -i "$tmp/single.mp4" -lavfi psnr -f null - 2>&1 | sed -n 's/.*average:\([0-9.inf]*\).*/\1/p' | tail -1)
  ps=$(ffmpeg -nostdin -i "$tmp/single.mp4" -i "$tmp/f.mp4" -lavfi psnr -f null - 2>&1 | sed -n 's/.*average:\([0-9.inf]*\).*/\1/p' | tail -1)
  row=$(awk -v s="$s" -v g="$g" -v f="$f" -v sb="$sb" -v gb="$gb" 'BEGIN { printf "%.1f %.1f %.1f %.2f %.2f %.2f %.1f", s, g, f, s / f, g / f, g / s, 100 * (gb - sb) / sb }')
  read -r s g f sf gf gs growth <<<"$row"
  printf "%-9s %9s %9s %9s %8s %8s %8s %11s %7s   (single vs ffmpeg: %s dB)\n" "$preset" "$s" "$g" "$f" "$gf" "$gs" "$growth" "$sb->$gb" "$p" "$ps"
  [ -n "${CSV:-}" ] && echo "$preset,$s,$g,$f,$sf,$gf,$gs,$sb,$gb,$growth,$p,$cores" >>"$CSV"
done

# Scaling of segment jobs: J jobs of 2 cores each, 2J segments.
if [ "${SCALING:-1}" = 1 ] && command -v taskset >/dev/null; then
  echo
  echo "segment jobs of 2 cores each (taskset -c 0-(2J-1), --jobs J --segments 2J), veryfast"
  printf "%6s %9s %11s\n" jobs fps efficiency
  [ -n "${CSV:-}" ] && echo "jobs,fps,efficiency,cores_used" >"${CSV%.csv}-jobs.csv"
  base=""
  for j in 1 2 4 8; do
    [ $((2 * j)) -le "$cores" ] || continue
    : >"$tmp/j.txt"
    for _ in $(seq "$runs"); do
      timed taskset -c "0-$((2 * j - 1))" "$vpipe" run -q -y -i "$input" $vf_v -c:v libx264 --preset veryfast --crf 23 -an \
        --segments $((2 * j)) --jobs "$j" --split exact -o "$tmp/j.mp4" >>"$tmp/j.txt"
    done
    fps=$(fps_of "$tmp/j.txt")
    [ -z "$base" ] && base=$fps
    eff=$(awk -v f="$fps" -v b="$base" -v j="$j" 'BEGIN { printf "%.2f", f / (j * b) }')
    printf "%6d %9.1f %11s\n" "$j" "$fps" "$eff"
    [ -n "${CSV:-}" ] && echo "$j,$fps,$eff,$((2 * j))" >>"${CSV%.csv}-jobs.csv"
  done
fi
