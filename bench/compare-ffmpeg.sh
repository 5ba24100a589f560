#!/usr/bin/env bash
# Same job, vpipe vs the ffmpeg CLI, alternating runs; prints the median fps of each and the
# ratio vpipe/ffmpeg. Jobs (1080p30 H.264 input, made by samples/make-samples.sh bench):
#   decode -> null;  scale 1280x720 -> libx264 veryfast crf 23;  gblur sigma 3 -> libx264
#   veryfast;  scale -> mpeg4 q5;  x264 alone (the gblur job without the blur: no tool can
#   run gblur->x264 faster than that, which bounds the gblur ratio on a machine this job fills);
#   and a three-rendition ladder (720p, 480p, 360p x264 from one decode: vpipe's three outputs,
#   ffmpeg's split and three encoders).
#   Both tools run ffmpeg's own filters (vpipe's --vf scale and gblur are libavfilter's, in its
#   workers), so both encode the same pictures: vpipe's own resize (OpenCV's bilinear) gives
#   other pictures, which cost x264 more (a 52% larger file at the same CRF here). With HEAVY=1 (the default on 8 cores or more) also the HEAVY filtergraph, the same
#   for both: gblur sigma 8, unsharp 7x7 amount 1.5, hqdn3d -> libx264 veryfast; vpipe runs the
#   per-frame part (gblur, unsharp) on its workers and hqdn3d, which keeps state, in order.
#   bench/compare-ffmpeg.sh [runs]      (default 5 runs of each; CSV=FILE also writes the rows;
#   ONLY=REGEX runs only the jobs whose names match)
# GStreamer beside them: where gst-launch-1.0 is installed (gstreamer1.0-tools, -plugins-good,
# -plugins-bad, -plugins-ugly, -libav; GST=0 leaves it out), the same job as a gst-launch-1.0
# pipeline (avdec_h264, videoscale, x264enc pass=qual: CRF), run in turn with the other two; its
# pipelines are printed under the table. Jobs without an equivalent show "-": GStreamer has no
# gblur or hqdn3d, and its avenc_mpeg4 wrote no frames on Debian 12 (1.22) in any muxer tried.
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

# name | vpipe arguments | ffmpeg arguments (output appended) | GStreamer elements after the
# decoder, ending in a sink ("" where GStreamer has no equivalent)
x264gst="x264enc speed-preset=veryfast pass=qual quantizer=23 ! mp4mux"
jobs=(
  "decode->null|-o null|-f null -|fakesink sync=false"
  "scale->x264|--vf scale=1280:720:flags=bilinear -c:v libx264 --preset veryfast --crf 23 -an -o $tmp/v.mp4|-vf scale=1280:720:flags=bilinear -c:v libx264 -preset veryfast -crf 23 -an $tmp/f.mp4|videoscale method=bilinear ! video/x-raw,width=1280,height=720 ! $x264gst ! filesink location=$tmp/g.mp4"
  "gblur->x264|--vf gblur=sigma=3 -c:v libx264 --preset veryfast --crf 23 -an -o $tmp/v.mp4|-vf gblur=sigma=3 -c:v libx264 -preset veryfast -crf 23 -an $tmp/f.mp4|"
  "scale->mpeg4|--vf scale=1280:720:flags=bilinear -c:v mpeg4 --crf 5 -an -o $tmp/v.mp4|-vf scale=1280:720:flags=bilinear -c:v mpeg4 -q:v 5 -an $tmp/f.mp4|"
  "x264-alone|-c:v libx264 --preset veryfast --crf 23 -an -o $tmp/v.mp4|-c:v libx264 -preset veryfast -crf 23 -an $tmp/f.mp4|$x264gst ! filesink location=$tmp/g.mp4"
  # A three-rendition ladder from one decode: vpipe's three outputs against ffmpeg's split and
  # three encoders in one command, and GStreamer's tee (fps: input frames per second).
  "ladder->x264x3|-s 1280x720 -c:v libx264 --preset veryfast --crf 23 -an $tmp/v720.mp4 -s 854x480 -c:v libx264 --preset veryfast --crf 23 -an $tmp/v480.mp4 -s 640x360 -c:v libx264 --preset veryfast --crf 23 -an $tmp/v360.mp4|-filter_complex [0:v]split=3[a][b][c];[a]scale=1280:720[a2];[b]scale=854:480[b2];[c]scale=640:360[c2] -map [a2] -c:v libx264 -preset veryfast -crf 23 $tmp/f720.mp4 -map [b2] -c:v libx264 -preset veryfast -crf 23 $tmp/f480.mp4 -map [c2] -c:v libx264 -preset veryfast -crf 23 $tmp/f360.mp4|tee name=t t. ! queue ! videoscale ! video/x-raw,width=1280,height=720 ! $x264gst ! filesink location=$tmp/g720.mp4 t. ! queue ! videoscale ! video/x-raw,width=854,height=480 ! $x264gst ! filesink location=$tmp/g480.mp4 t. ! queue ! videoscale ! video/x-raw,width=640,height=360 ! $x264gst ! filesink location=$tmp/g360.mp4"
)
gst=0
if [ "${GST:-1}" = 1 ] && command -v gst-launch-1.0 >/dev/null; then gst=1; fi
gst_decode="filesrc location=$input ! qtdemux ! h264parse ! avdec_h264"
if [ "${HEAVY:-$([ "$(nproc)" -ge 8 ] && echo 1 || echo 0)}" = 1 ]; then
  jobs+=("heavy->x264|--vf gblur=sigma=8,unsharp=7:7:1.5,hqdn3d -c:v libx264 --preset veryfast --crf 23 -an -o $tmp/v.mp4|-vf gblur=sigma=8,unsharp=7:7:1.5,hqdn3d -c:v libx264 -preset veryfast -crf 23 -an $tmp/f.mp4|")
fi

# One row per job: median fps and median CPU milliseconds per frame (user + system, all processes)
# of each tool, and the ratios (fps: vpipe/ffmpeg, higher is better; CPU: vpipe/ffmpeg, lower is
# better). With CSV=FILE the rows are also written there.
[ -n "${CSV:-}" ] && echo "job,vpipe_fps,ffmpeg_fps,fps_ratio,vpipe_cpu_ms_per_frame,ffmpeg_cpu_ms_per_frame,cpu_ratio,gst_fps,vpipe_gst_fps_ratio,gst_cpu_ms_per_frame,runs,frames,nproc" >"$CSV"
printf "%-14s %10s %10s %8s %12s %12s %9s %8s %8s %9s   (%s frames of %s, %s runs each, %s CPUs, wall clock incl. start-up)\n" \
  job vpipe_fps ffmpeg_fps ratio vpipe_cpu_ms ffmpeg_cpu_ms cpu_ratio gst_fps v/gst gst_cpu_ms "$frames" "$input" "$runs" "$(nproc)"
fps_of() { awk -v n="$frames" '{ print n / $1 }' "$1" | median; }
cpu_of() { awk -v n="$frames" '{ print 1000 * $2 / n }' "$1" | median; }
pipelines=()
for job in "${jobs[@]}"; do
  IFS='|' read -r name vargs fargs gargs <<<"$job"
  [[ -n "${ONLY:-}" && ! "$name" =~ ${ONLY} ]] && continue
  : >"$tmp/v.txt"; : >"$tmp/f.txt"; : >"$tmp/g.txt"
  with_gst=$([ "$gst" = 1 ] && [ -n "$gargs" ] && echo 1 || echo 0)
  for _ in $(seq "$runs"); do
    # shellcheck disable=SC2086
    timed "$vpipe" run -q -y -i "$input" $vargs >>"$tmp/v.txt"
    # shellcheck disable=SC2086
    timed ffmpeg -nostdin -v error -y -i "$input" $fargs >>"$tmp/f.txt"
    if [ "$with_gst" = 1 ]; then
      # shellcheck disable=SC2086
      timed gst-launch-1.0 -q $gst_decode ! $gargs >>"$tmp/g.txt"
    fi
  done
  if awk '$3 != 0 { bad = 1 } END { exit !bad }' "$tmp/v.txt" "$tmp/f.txt" "$tmp/g.txt"; then
    printf "%-14s a run failed (exit codes: vpipe %s, ffmpeg %s, gst %s)\n" "$name" "$(awk '{ printf "%s ", $3 }' "$tmp/v.txt")" "$(awk '{ printf "%s ", $3 }' "$tmp/f.txt")" "$(awk '{ printf "%s ", $3 }' "$tmp/g.txt")"
    continue
  fi
  v=$(fps_of "$tmp/v.txt"); f=$(fps_of "$tmp/f.txt"); vc=$(cpu_of "$tmp/v.txt"); fc=$(cpu_of "$tmp/f.txt")
  row=$(awk -v v="$v" -v f="$f" -v vc="$vc" -v fc="$fc" 'BEGIN { printf "%.1f %.1f %.2f %.2f %.2f %.2f", v, f, v / f, vc, fc, vc / fc }')
  read -r v f r vc fc cr <<<"$row"
  g=- gr=- gc=-
  if [ "$with_gst" = 1 ]; then
    read -r g gr gc < <(awk -v v="$v" -v g="$(fps_of "$tmp/g.txt")" -v gc="$(cpu_of "$tmp/g.txt")" 'BEGIN { printf "%.1f %.2f %.2f\n", g, v / g, gc }')
    pipelines+=("$name: gst-launch-1.0 $gst_decode ! $gargs")
  fi
  printf "%-14s %10s %10s %8s %12s %12s %9s %8s %8s %9s\n" "$name" "$v" "$f" "$r" "$vc" "$fc" "$cr" "$g" "$gr" "$gc"
  if [ -n "${CSV:-}" ]; then echo "$name,$v,$f,$r,$vc,$fc,$cr,$g,$gr,$gc,$runs,$frames,$(nproc)" >>"$CSV"; fi
done
[ "$gst" = 1 ] || echo "(no GStreamer rows: gst-launch-1.0 is not installed, or GST=0)"
for p in "${pipelines[@]}"; do echo "$p"; done
