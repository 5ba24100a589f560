#!/usr/bin/env bash
# Where the time goes, vpipe beside the ffmpeg CLI on the same jobs (1080p30 H.264 from
# samples/make-samples.sh bench): decode -> null, scale -> x264, gblur -> x264.
#   bench/profile.sh [runs]      (default 3 runs of each tool per job, alternating; medians)
# 1. perf stat over every process and thread (perf follows forks): task-clock, cycles,
#    instructions, context switches, CPU migrations (where a wake-up moved a task to another
#    CPU) and page faults, each per frame.
# 2. perf record (task-clock samples, one run each): the share of each process or thread
#    (vpipe's stages by name: vpipe:decode, vpipe:xform-0, vpipe:encode; ffmpeg's threads) and of
#    each library, the top ones.
# ONLY=REGEX picks jobs; VPIPE=BINARY. Needs perf (linux-perf) with perf_event_paranoid <= 2.
# This measures, it does not assert: the machines are shared and noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
vpipe=${VPIPE:-build/vpipe}
source bench/lib.sh
frames=$(video_frames "$input")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v perf >/dev/null || { echo "bench/profile.sh: perf is not installed (apt-get install linux-perf)" >&2; exit 2; }
jobs=(
  "decode->null|-o null|-f null -"
  "scale->x264|--vf scale=1280:720:flags=bilinear -c:v libx264 --preset veryfast --crf 23 -an -o $tmp/o.mp4|-vf scale=1280:720:flags=bilinear -c:v libx264 -preset veryfast -crf 23 -an -y $tmp/f.mp4"
  "gblur->x264|--vf gblur=3 -c:v libx264 --preset veryfast --crf 23 -an -o $tmp/o.mp4|-vf gblur=sigma=3 -c:v libx264 -preset veryfast -crf 23 -an -y $tmp/f.mp4"
)
events=task-clock,cycles,instructions,context-switches,cpu-migrations,page-faults
# perf stat's CSV (value,unit,event,...) -> the values in the order of $events, "nan" for an
# event this machine cannot count (a VM without a PMU: no cycles or instructions).
stat_of() {
  awk -F, -v order="$events" '
    NF >= 3 { v[$3] = ($1 ~ /^[0-9.]+$/) ? $1 : "nan" }
    END { n = split(order, e, ","); for (i = 1; i <= n; ++i) printf "%s ", (e[i] in v) ? v[e[i]] : "nan"; print "" }' "$1"
}
echo "$frames frames of $input, $runs runs of each tool per job, $(nproc) CPUs; per frame, medians"
printf "%-13s %-7s %9s %9s %9s %5s %9s %9s %9s\n" job tool cpu_ms Mcycles Minstr IPC ctxsw migr faults
for job in "${jobs[@]}"; do
  IFS='|' read -r name vargs fargs <<<"$job"
  [[ -n "${ONLY:-}" && ! "$name" =~ ${ONLY} ]] && continue
  for tool in vpipe ffmpeg; do : >"$tmp/$tool.rows"; done
  for _ in $(seq "$runs"); do
    for tool in vpipe ffmpeg; do
      # shellcheck disable=SC2086
      if [ $tool = vpipe ]; then
        perf stat -x, -e $events -o "$tmp/stat" -- "$vpipe" run -q -y -i "$input" $vargs >/dev/null 2>&1
      else
        perf stat -x, -e $events -o "$tmp/stat" -- ffmpeg -v error -nostdin -i "$input" $fargs >/dev/null 2>&1
      fi
      stat_of "$tmp/stat" >>"$tmp/$tool.rows"
    done
  done
  for tool in vpipe ffmpeg; do
    # columns: task-clock (ms), cycles, instructions, context-switches, cpu-migrations, faults
    col() {  # the median per frame of column $1, scaled by 1/$2; "-" where it was not counted
      local values
      values=$(awk -v c="$1" -v f="$frames" -v s="$2" '$c != "nan" { print $c / f / s }' "$tmp/$tool.rows")
      if [ -z "$values" ]; then echo -; else echo "$values" | median; fi
    }
    cpu=$(col 1 1) cyc=$(col 2 1e6) ins=$(col 3 1e6) cs=$(col 4 1) mig=$(col 5 1) pf=$(col 6 1)
    ipc=-
    [ "$cyc" != - ] && [ "$ins" != - ] && ipc=$(awk -v i="$ins" -v c="$cyc" 'BEGIN { printf "%.2f", i / c }')
    printf "%-13s %-7s %9.2f %9s %9s %5s %9.2f %9.3f %9.1f\n" "$name" $tool "$cpu" "$cyc" "$ins" \
      "$ipc" "$cs" "$mig" "$pf"
  done
done
echo
echo "Where the samples fall (perf record, task-clock, one run each): the top processes or threads,"
echo "then the top libraries"
for job in "${jobs[@]}"; do
  IFS='|' read -r name vargs fargs <<<"$job"
  [[ -n "${ONLY:-}" && ! "$name" =~ ${ONLY} ]] && continue
  for tool in vpipe ffmpeg; do
    # shellcheck disable=SC2086
    if [ $tool = vpipe ]; then
      perf record -q -e task-clock -F 997 -o "$tmp/perf.data" -- "$vpipe" run -q -y -i "$input" $vargs >/dev/null 2>&1
    else
      perf record -q -e task-clock -F 997 -o "$tmp/perf.data" -- ffmpeg -v error -nostdin -i "$input" $fargs >/dev/null 2>&1
    fi
    for key in comm dso; do
      top=$(perf report -i "$tmp/perf.data" --sort $key --stdio -q 2>/dev/null |
        awk 'NF >= 2 { printf "%s %s, ", $2, $1 }' | cut -d, -f1-6)
      printf "%-13s %-7s %-5s %s\n" "$name" $tool $key "${top%, }"
    done
  done
done
