#!/usr/bin/env bash
# Two vpipe builds on the same jobs, runs alternating (A, B, A, B, ...), so that a refactor can
# show it costs no speed: the median fps and CPU ms per frame of each, and B/A.
#   bench/compare-builds.sh OLD_VPIPE NEW_VPIPE [runs]     (default 5 runs of each)
# Jobs (1080p30 H.264 from samples/make-samples.sh bench): decode -> null; scale -> x264;
# gblur -> x264 with 2 workers; a three-rendition ladder (720p, 480p, 360p x264 from one
# decode). ONLY=REGEX runs only the jobs whose names match. Measures, asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: bench/compare-builds.sh OLD_VPIPE NEW_VPIPE [runs]" >&2; exit 2; }
a=$1 b=$2 runs=${3:-5}
source bench/lib.sh
frames=$(video_frames "$input")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
jobs=(
  "decode->null|-o null"
  "scale->x264|--vf resize=1280x720 -c:v libx264 --preset veryfast --crf 23 -an -o $tmp/o.mp4"
  "gblur->x264|--vf gblur=3 -w 2 -c:v libx264 --preset veryfast --crf 23 -an -o $tmp/o.mp4"
  "ladder->x264x3|-s 1280x720 -c:v libx264 --preset veryfast --crf 23 -an $tmp/v720.mp4 -s 854x480 -c:v libx264 --preset veryfast --crf 23 -an $tmp/v480.mp4 -s 640x360 -c:v libx264 --preset veryfast --crf 23 -an $tmp/v360.mp4"
)
printf "%-14s %9s %9s %7s %10s %10s %7s   (%s frames of %s, %s runs each, %s CPUs)\n" \
  job A_fps B_fps B/A A_cpu_ms B_cpu_ms B/A "$frames" "$input" "$runs" "$(nproc)"
for job in "${jobs[@]}"; do
  IFS='|' read -r name args <<<"$job"
  [[ -n "${ONLY:-}" && ! "$name" =~ ${ONLY} ]] && continue
  : >"$tmp/a" && : >"$tmp/b"
  for _ in $(seq "$runs"); do
    for side in a b; do
      bin=$a && [ $side = b ] && bin=$b
      # shellcheck disable=SC2086
      read -r wall cpu rc < <(timed "$bin" run -q -y -i "$input" $args)
      [ "$rc" = 0 ] || { echo "$name: $bin exited $rc" >&2; exit 1; }
      echo "$wall $cpu" >>"$tmp/$side"
    done
  done
  fps() { awk -v f="$frames" '{ print f / $1 }' "$1" | median; }
  cpu() { awk -v f="$frames" '{ print 1000 * $2 / f }' "$1" | median; }
  fa=$(fps "$tmp/a") fb=$(fps "$tmp/b") ca=$(cpu "$tmp/a") cb=$(cpu "$tmp/b")
  printf "%-14s %9.1f %9.1f %7.3f %10.2f %10.2f %7.3f\n" "$name" "$fa" "$fb" \
    "$(echo "$fb / $fa" | bc -l)" "$ca" "$cb" "$(echo "$cb / $ca" | bc -l)"
done
