#!/usr/bin/env bash
# The many-core table in one call: vpipe against the ffmpeg CLI (the HEAVY row included), transform
# worker scaling on a transform-heavy chain, the ffmpeg CLI's own thread scaling on scale -> x264,
# and, where `vpipe segments` exists, segment-parallel against one pipeline. Writes CSV files, a
# plot and the printed tables under $OUT (or a temp folder), and prints them.
#
#   bench/many-core.sh pack             # here: vpipe, ffmpeg, ffprobe and the libraries the device
#                                       # machine lacks (../shared/device/pack.sh), stripped, into
#                                       # .devcarry/ and, past what one call can carry, .devcarry-2/
#   bench/many-core.sh unpack           # there, carrying .devcarry: unpacks into /opt (kept while
#                                       # the machine stays warm)
#   bench/many-core.sh run              # there, carrying .devcarry-2 (or .devcarry alone if it
#                                       # holds everything): unpacks the rest and runs
#   bench/many-core.sh run --small      # here: the same steps on a small clip, to test the script
#
# BUDGET_S (default 420) bounds the whole run: a section that would start after 85% of it is
# skipped and says so, so that the tables come back within one call. Measures, asserts nothing.
set -uo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}
small=0
[ "${2:-}" = --small ] && small=1

if [ "$mode" = pack ]; then
  build/vpipe --version >/dev/null || { echo "build vpipe first (scripts/setup.sh)" >&2; exit 1; }
  # vpipe is the static launcher; vpipe-core, beside it, is the program with the libraries.
  ../shared/device/pack.sh build/vpipe build/vpipe-core "$(command -v ffmpeg)" "$(command -v ffprobe)" || exit 1
  strip .devcarry/bin/*
  rm -rf .devcarry-2; mkdir -p .devcarry-2
  for p in .devcarry/libs-*.tar.xz; do [ "$p" = .devcarry/libs-0.tar.xz ] || mv "$p" .devcarry-2/; done
  du -sh .devcarry .devcarry-2
  exit 0
fi
# Unpacks what the carried folders hold into /opt/dl (libraries) and /opt/vp (programs).
unpack() {
  local p
  for p in .devcarry*/libs-*.tar.xz; do
    [ -f "$p" ] || continue
    mkdir -p /opt/dl && tar xJf "$p" -C /opt/dl
  done
  for p in .devcarry*/bin; do [ -d "$p" ] && mkdir -p /opt/vp && cp "$p"/* /opt/vp/; done
  return 0
}
if [ "$mode" = unpack ]; then unpack; ls /opt/vp; du -sh /opt/dl; exit 0; fi
start=$(date +%s)
budget=${BUDGET_S:-420}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
log="$out/many-core.txt"
unpack
if [ -x /opt/vp/vpipe ]; then
  export LD_LIBRARY_PATH=/opt/dl PATH="/opt/vp:$PATH" VPIPE=/opt/vp/vpipe
fi
export VPIPE=${VPIPE:-build/vpipe}
say() { echo "$*" | tee -a "$log"; }
left() { echo $((budget - ($(date +%s) - start))); }
# Runs a section unless less than 15% of the budget is left.
section() {
  local title=$1; shift
  say ""; say "## $title"
  if [ "$(left)" -lt $((budget * 15 / 100)) ]; then say "skipped: $(left) s of the budget left"; return; fi
  local t0; t0=$(date +%s)
  "$@" 2>&1 | tee -a "$log"
  say "($(($(date +%s) - t0)) s)"
}

: >"$log"
say "# vpipe many-core run, $(date -u +%FT%TZ)"
say "host: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
say "vpipe: $("$VPIPE" --version 2>&1)  ffmpeg: $(ffmpeg -version 2>/dev/null | head -1 | cut -d' ' -f3)"

# The clip: 1080p30 H.264, 300 frames (10 s), a keyframe a second; --small: 320x240, 60 frames.
clip=$(mktemp -d)/clip.mp4
if [ "$small" = 1 ]; then size=320x240 dur=2; else size=1920x1080 dur=10; fi
ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=$size:rate=30:duration=$dur" \
  -c:v libx264 -preset veryfast -crf 23 -g 30 -pix_fmt yuv420p "$clip"
export BENCH_INPUT=$clip

plan() {
  "$VPIPE" run -i "$clip" --vf resize=1280x720 -c:v libx264 --preset veryfast -an -o /tmp/p.mp4 --dry-run
}
section "plan of scale -> x264 (vpipe run --dry-run)" plan

if [ "$small" = 1 ]; then runs=1 wlist="1 2" scaled_frames=30 ssize=320x240
else runs=3 wlist="1 2 4 8 12" scaled_frames=96 ssize=1920x1080; fi
section "vpipe against the ffmpeg CLI (median of $runs)" \
  env HEAVY=1 CSV="$out/compare-ffmpeg.csv" bench/compare-ffmpeg.sh "$runs"
section "transform worker scaling ($scaled_frames frames of the clip, stress=40, median of $runs)" \
  env RUNS=$runs WORKERS="$wlist" INPUT="$clip" CSV="$out/scaling.csv" bench/scaling.sh 12 stress=40 "$scaled_frames"

# The ffmpeg CLI's own threading on scale -> x264 veryfast: the ceiling of one encoder.
ffmpeg_threads() {
  source bench/lib.sh
  local frames; frames=$(video_frames "$clip")
  echo "threads,fps,cpu_ms_per_frame" >"$out/ffmpeg-threads.csv"
  printf "%8s %8s %12s\n" threads fps cpu_ms/frame
  for t in 1 4 0; do
    local r; r=$(timed ffmpeg -nostdin -v error -y -threads "$t" -i "$clip" -vf scale=1280:720:flags=bilinear \
      -c:v libx264 -preset veryfast -crf 23 -threads "$t" -an /tmp/ff.mp4)
    local row; row=$(awk -v n="$frames" '{ printf "%.1f %.2f", n / $1, 1000 * $2 / n }' <<<"$r")
    read -r fps cpu <<<"$row"
    printf "%8s %8s %12s\n" "$([ "$t" = 0 ] && echo auto || echo "$t")" "$fps" "$cpu"
    echo "$t,$fps,$cpu" >>"$out/ffmpeg-threads.csv"
  done
}
section "ffmpeg CLI thread scaling, scale -> x264 veryfast" ffmpeg_threads

# J independent vpipe runs side by side, each over 1/J of the clip (-ss/-t) and confined to its own
# 1/J of the CPUs: what a segment-parallel run can reach before its join, and which J fills this
# machine. Total fps = all frames / wall clock of the slowest run.
split_runs() {
  source bench/lib.sh
  local frames; frames=$(video_frames "$clip")
  local n; n=$(nproc)
  echo "jobs,fps,cpus_per_job" >"$out/split-runs.csv"
  printf "%6s %8s %13s\n" jobs fps cpus_per_job
  for j in 1 2 4 8; do
    [ "$j" -le "$n" ] || continue
    local per=$((n / j)) t0 t1 pids=()
    t0=$(date +%s.%N)
    for k in $(seq 0 $((j - 1))); do
      local ss; ss=$(awk -v k="$k" -v j="$j" -v d="$dur" 'BEGIN { print k * d / j }')
      taskset -c "$((k * per))-$((k * per + per - 1))" "$VPIPE" run -q -y -i "$clip" --ss "$ss" -t "$(awk -v j="$j" -v d="$dur" 'BEGIN { print d / j }')" \
        --vf resize=1280x720 -c:v libx264 --preset veryfast --crf 23 -an -o "/tmp/split-$j-$k.mkv" >/dev/null 2>&1 &
      pids+=($!)
    done
    local rc=0; for p in "${pids[@]}"; do wait "$p" || rc=1; done
    t1=$(date +%s.%N)
    if [ $rc != 0 ]; then printf "%6d failed\n" "$j"; continue; fi
    local fps; fps=$(awk -v n="$frames" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }')
    printf "%6d %8s %13d\n" "$j" "$fps" "$per"
    echo "$j,$fps,$per" >>"$out/split-runs.csv"
  done
}
if command -v taskset >/dev/null && [ "${SPLIT_RUNS:-0}" = 1 ]; then
  section "J independent runs over 1/J of the clip each, scale -> x264 veryfast (no join)" split_runs
fi

# Segment-parallel against one pipeline, when the segment mode is built.
segments() {
  source bench/lib.sh
  CSV="$out/segments.csv" bench/segments.sh "$runs"
}
if "$VPIPE" segments --help >/dev/null 2>&1 && [ -x bench/segments.sh ]; then
  section "segments against one pipeline (bench/segments.sh)" segments
else
  say ""; say "## segments: not measured (this vpipe has no segment mode)"
fi

# A plot of the scaling table, where matplotlib is at hand.
python3 - "$out" <<'EOF' 2>/dev/null && say "plot: $out/scaling.png"
import csv, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
out = sys.argv[1]
rows = list(csv.DictReader(open(f"{out}/scaling.csv")))
w = [int(r["workers"]) for r in rows]
fps = [float(r["fps"]) for r in rows]
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(w, fps, "o-", label="vpipe, stress=40")
ax.plot(w, [fps[0] * n / w[0] for n in w], "--", color="grey", label="linear")
ax.set_xlabel("transform workers"); ax.set_ylabel("fps"); ax.legend(); ax.grid(alpha=0.3)
ax.set_title(f"transform scaling, {rows[0]['nproc']} CPUs")
fig.tight_layout(); fig.savefig(f"{out}/scaling.png", dpi=100)
EOF
say ""; say "total: $(($(date +%s) - start)) s; tables and CSV in $out"
