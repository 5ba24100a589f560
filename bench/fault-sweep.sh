#!/usr/bin/env bash
# Fault sweep: re-runs the behaviours of README's "What happens when things go wrong" against the
# built binary, many times and at random moments, and prints one Markdown row per case:
#   1 reference        a fault-free run (gblur, 2 workers, lossless ffv1): the frame checksums
#   2 worker kills     SIGKILL a random vpipe:xform-N (a third of the time two) 0.3..3 s in:
#                      exit 0 and the reference's frames; restarts counted from stderr
#   3 kills at end     the same ~0.1 s before the run would end (timed by the reference)
#   4 crash signals    SEGV, ABRT, BUS, FPE, ILL to a worker: exit 0 and the reference's frames
#   5 drains           SIGTERM 0.5..4 s into an x264 + AAC run to MP4: exit 255, the file decodes,
#                      its frames are the first ones of a full run, audio and video end
#                      less than 0.15 s apart
#   6 hangs            SIGSTOP decode, then encode, with --hang-timeout 3: exit 1 "made no
#                      progress" within 20 s; SIGSTOP encode + SIGTERM with --drain-timeout 3:
#                      a non-zero exit within 15 s
#   7 killed supervisor  SIGKILL vpipe mid-run: its stages gone within 1 s, nothing new in /dev/shm
#   8 concurrent       4 reference runs at once: all exit 0 with the reference's frames
#   9 bad inputs       20 damaged inputs: no hang, no killing signal, at most one
#                      "vpipe: error:" line, no process or /dev/shm entry left
#   bench/fault-sweep.sh        (VPIPE=build/vpipe; the defaults are sized for < 8 min on 2 cores)
# Knobs (environment): SWEEP_DURATION=15 (seconds of input), SWEEP_KILLS=8, SWEEP_EOS=4,
# SWEEP_DRAINS=6, SWEEP_SUPERVISOR=3, SWEEP_CONCURRENT=4, SWEEP_TIMEOUT=120 (per run),
# SWEEP_DRAIN_SLACK=30 (a drained x264 file's last frames may differ from the full run's: its
# lookahead saw the stream end; 0 = compare every frame), SWEEP_SEED, SWEEP_KEEP=1 (keep the
# tmp dir: failures.log, every run's stderr, the outputs of failed runs).
# Exits 1 if any run failed. NEVER run it beside the test suite or another sweep: the tests count
# vpipe processes and run segments machine-wide, and this starts and kills many.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C  # decimal points for awk and $EPOCHREALTIME; one collation for sort and comm
ulimit -c 0      # the crash signals of case 4 dump no cores into the repository
vpipe=${VPIPE:-build/vpipe}
dur=${SWEEP_DURATION:-15}
limit=${SWEEP_TIMEOUT:-120}
slack=${SWEEP_DRAIN_SLACK:-30}
seed=${SWEEP_SEED:-$$}
RANDOM=$seed
[ -x "$vpipe" ] || { echo "no $vpipe: build it first, or set VPIPE" >&2; exit 2; }
for tool in ffmpeg ffprobe timeout pgrep python3; do
  command -v "$tool" >/dev/null || { echo "fault-sweep needs $tool" >&2; exit 2; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fault-sweep.XXXXXX")
log=$tmp/failures.log
: >"$log"
started=()  # timeout PIDs, each the leader of its run's process group
noted=()    # stage PIDs seen during the current case

comm_of() { cat "/proc/$1/comm" 2>/dev/null || true; }
# True while $1 exists and is not a zombie.
alive() {
  local s
  s=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$s" ] && [ "$s" != Z ]
}
# SIGKILLs whatever this sweep started that is still alive (only those PIDs), and reaps it.
reap() {
  local p
  for p in "${started[@]}"; do
    if alive "$p" && [ "$(comm_of "$p")" = timeout ]; then kill -KILL -- "-$p" || true; fi
  done
  for p in "${noted[@]}"; do
    if alive "$p" && [[ $(comm_of "$p") == vpipe* ]]; then kill -KILL "$p" || true; fi
  done
  for p in "${started[@]}"; do wait "$p" 2>/dev/null || true; done
  started=() noted=()
}
cleanup() {
  reap
  if [ "${SWEEP_KEEP:-0}" = 1 ]; then
    echo "kept $tmp" >&2
  else
    if [ -s "$log" ]; then echo "--- $log (removed; SWEEP_KEEP=1 keeps it):" && cat "$log"; fi >&2
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Sets r to a random time between $1 and $2 ms, in seconds.
pick() {
  local ms=$(($1 + RANDOM % ($2 - $1 + 1)))
  printf -v r '%d.%03d' $((ms / 1000)) $((ms % 1000))
}
# Starts `vpipe ARGS...` under timeout, stderr to $tmp/NAME.err. Sets tpid (the timeout), vpid
# (vpipe itself, once it has exec'd; empty if it ended first) and t0.
start_run() {
  local name=$1 i
  shift
  t0=$EPOCHREALTIME
  timeout -k 5 "$limit" "$vpipe" "$@" </dev/null >/dev/null 2>"$tmp/$name.err" &
  tpid=$! vpid=
  started+=("$tpid")
  for i in $(seq 300); do
    vpid=$(pgrep -P "$tpid" || true)
    if [ -n "$vpid" ] && [[ $(comm_of "$vpid") == vpipe* ]]; then noted+=("$vpid"); return 0; fi
    alive "$tpid" || break
    sleep 0.01
  done
  vpid=
}
finish() { rc=0; wait "$tpid" || rc=$?; }
# Waits up to $1 s for the current run to end; fails if it is still running.
wait_done() {
  local i
  for ((i = 0; i < $1 * 20; i++)); do alive "$tpid" || return 0; sleep 0.05; done
  ! alive "$tpid"
}
# Stage PIDs of the current run whose comm starts with vpipe:$1.
stages() {
  local k
  [ -n "$vpid" ] || return 0
  for k in $(pgrep -P "$vpid" || true); do
    if [[ $(comm_of "$k") == vpipe:${1:-}* ]]; then echo "$k"; fi
  done
}
# Sends signal $2 to a random stage vpipe:$1* of the current run (waiting up to 1 s for one).
hit() {
  local i pids=()
  for i in $(seq 100); do
    mapfile -t pids < <(stages "$1")
    if [ ${#pids[@]} -gt 0 ] || ! alive "$tpid"; then break; fi
    sleep 0.01
  done
  [ ${#pids[@]} -gt 0 ] || return 1
  noted+=("${pids[@]}")
  kill -s "$2" "${pids[RANDOM % ${#pids[@]}]}" 2>/dev/null
}
restarts_in() { { grep -v 'not restarted' "$tmp/$1.err" || true; } | grep -c restarted || true; }
# Logs why run $1 failed ($2) with its stderr's tail; returns 1.
fail() {
  echo "$1: $2" >>"$log"
  if [ -s "$tmp/$1.err" ]; then tail -n 5 "$tmp/$1.err" | sed 's/^/    /' >>"$log"; fi
  return 1
}
declare -A runs=() ok=() notes=()
order=()
# Counts one run of case $1, passed when the command after it succeeds.
tally() {
  local c=$1
  shift
  if [ -z "${runs[$c]:-}" ]; then order+=("$c"); runs[$c]=0 ok[$c]=0; fi
  runs[$c]=$((${runs[$c]} + 1))
  if "$@"; then ok[$c]=$((${ok[$c]} + 1)); fi
}
md5_of() { ffmpeg -nostdin -v error -i "$1" -map 0:v -f framemd5 -; }
# Run $1 (ended): exit 0, and its frames are the reference's.
check_same() {
  [ "$rc" = 0 ] || fail "$1" "exit $rc, not 0" || return 1
  md5_of "$tmp/$1.mkv" 2>/dev/null | cmp -s - "$tmp/ref.md5" ||
    fail "$1" "frames differ from the reference" || return 1
  rm -f "$tmp/$1.mkv"
}
# Processes (comm vpipe*) that map a run segment, one PID a line, sorted.
holders() {
  local f p
  for f in $(grep -l 'memfd:vpipe-run' /proc/[0-9]*/maps 2>/dev/null || true); do
    p=${f#/proc/}; p=${p%/maps}
    if alive "$p" && [[ $(comm_of "$p") == vpipe* ]]; then echo "$p"; fi
  done | sort
}
shm_list() { find /dev/shm -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort; }
echo "fault sweep: $vpipe, seed $seed, $(nproc) CPUs, tmp dir $tmp" >&2
holders >"$tmp/holders.before"

# 1. Reference.
in=$tmp/in.mp4
ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=size=1280x720:rate=30:duration=$dur" -f lavfi \
  -i "sine=frequency=660:sample_rate=48000:duration=$dur" -c:v libx264 -preset veryfast -bf 3 \
  -g 60 -pix_fmt yuv420p -c:a aac -b:a 128k -shortest "$in"
export BENCH_INPUT=$in  # lib.sh then makes no bench clip of its own
# shellcheck source=bench/lib.sh
source bench/lib.sh
frames=$(video_frames "$in")
ref=(run -y -i "$in" --vf gblur=sigma=2 -w 2 -c:v ffv1 -an)
echo "1/9 reference" >&2
start_run ref "${ref[@]}" -o "$tmp/ref.mkv"
finish
ref_s=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
ref_ok() {
  [ "$rc" = 0 ] || fail ref "exit $rc" || return 1
  md5_of "$tmp/ref.mkv" >"$tmp/ref.md5" 2>/dev/null || fail ref "does not decode" || return 1
  [ "$(grep -vc '^#' "$tmp/ref.md5")" = "$frames" ] || fail ref "not $frames frames" || return 1
  rm -f "$tmp/ref.mkv"
}
c="1 reference"
tally "$c" ref_ok
notes[$c]="$frames frames in ${ref_s} s"
[ "${ok[$c]}" = 1 ] || { echo "the reference run failed: nothing to compare with" >&2; exit 1; }
reap

# 2. Worker kills at random times.
echo "2/9 worker kills" >&2
landed=0 restarts=0
for i in $(seq "${SWEEP_KILLS:-8}"); do
  n=kill$i
  start_run "$n" "${ref[@]}" -o "$tmp/$n.mkv"
  pick 300 3000 && sleep "$r"
  if hit x KILL; then landed=$((landed + 1)); fi
  if ((RANDOM % 3 == 0)); then
    pick 200 1000 && sleep "$r"
    if hit x KILL; then landed=$((landed + 1)); fi
  fi
  finish
  restarts=$((restarts + $(restarts_in "$n")))
  tally "2 worker kills" check_same "$n"
done
notes["2 worker kills"]="$landed kills landed, $restarts restarts"
reap

# 3. Kills just before the end of the stream.
echo "3/9 kills at end of stream" >&2
landed=0 restarts=0 offsets=(0.1 0.05 0.15 0.25)
for i in $(seq "${SWEEP_EOS:-4}"); do
  n=eos$i
  start_run "$n" "${ref[@]}" -o "$tmp/$n.mkv"
  off=${offsets[(i - 1) % ${#offsets[@]}]}
  sleep "$(awk -v e="$ref_s" -v o="$off" -v a="$t0" -v b="$EPOCHREALTIME" \
    'BEGIN { s = e - o - (b - a); print (s > 0 ? s : 0) }')"
  if hit x KILL; then landed=$((landed + 1)); fi
  finish
  restarts=$((restarts + $(restarts_in "$n")))
  tally "3 kills at end" check_same "$n"
done
notes["3 kills at end"]="$landed kills landed, $restarts restarts (0.05-0.25 s before the end)"
reap

# 4. Crash signals.
echo "4/9 crash signals" >&2
restarts=0 nosig=()
for sig in SEGV ABRT BUS FPE ILL; do
  n=sig$sig
  start_run "$n" "${ref[@]}" -o "$tmp/$n.mkv"
  pick 300 2000 && sleep "$r"
  hit x "$sig" || nosig+=("$sig")
  finish
  restarts=$((restarts + $(restarts_in "$n")))
  tally "4 crash signals" check_same "$n"
done
notes["4 crash signals"]="$restarts restarts${nosig[0]:+; no worker left for ${nosig[*]}}"
reap

# 5. Drains: one SIGTERM, the file finished early.
echo "5/9 drains" >&2
x264=(run -y -i "$in" -c:v libx264 -preset veryfast)
vmd5() { md5_of "$1" | awk -F', *' '!/^#/ { print $NF }'; }
# The end times (pts + duration, s) of the video and the audio of $1: "V A".
ends() {
  ffprobe -v error -show_entries packet=codec_type,pts_time,duration_time -of csv=p=0 "$1" |
    awk -F, '$2 != "N/A" { e = $2 + ($3 == "N/A" ? 0 : $3); if (!($1 in t) || e > t[$1]) t[$1] = e }
      END { v = ("video" in t) ? t["video"] : "none"; a = ("audio" in t) ? t["audio"] : "none"
            print v, a }'
}
start_run full "${x264[@]}" -o "$tmp/full.mp4"
finish
if [ "$rc" != 0 ] || ! vmd5 "$tmp/full.mp4" >"$tmp/full.md5" 2>/dev/null; then
  fail full "the full x264 run, the drains' reference: exit $rc" || true
fi
exact=0 missed=0 empty=0
check_drain() {
  local n=$1 out=$tmp/$1.mp4 k v a
  [ "$rc" = 255 ] || fail "$n" "exit $rc, not 255" || return 1
  if [ ! -e "$out" ]; then empty=$((empty + 1)); return 0; fi  # stopped before any frame: allowed
  vmd5 "$out" >"$tmp/$n.md5" 2>"$tmp/$n.decode" || true
  [ ! -s "$tmp/$n.decode" ] || fail "$n" "decode errors: $(head -c 200 "$tmp/$n.decode")" ||
    return 1
  k=$(wc -l <"$tmp/$n.md5")
  [ "$k" -gt 0 ] || fail "$n" "no video frame" || return 1
  [ -s "$tmp/full.md5" ] || fail "$n" "no full run to compare with" || return 1
  cmp -s <(head -n $((k > slack ? k - slack : 0)) "$tmp/full.md5") \
    <(head -n $((k > slack ? k - slack : 0)) "$tmp/$n.md5") ||
    fail "$n" "frames are not the full run's first ones ($k frames)" || return 1
  if cmp -s <(head -n "$k" "$tmp/full.md5") "$tmp/$n.md5"; then exact=$((exact + 1)); fi
  read -r v a < <(ends "$out")
  [ "$a" != none ] && [ "$v" != none ] || fail "$n" "video end $v, audio end $a" || return 1
  awk -v v="$v" -v a="$a" 'BEGIN { d = v - a; exit !(d < 0.15 && d > -0.15) }' ||
    fail "$n" "audio ends at $a s, video at $v s" || return 1
  rm -f "$out"
}
for i in $(seq "${SWEEP_DRAINS:-6}"); do
  n=drain$i
  start_run "$n" "${x264[@]}" -o "$tmp/$n.mp4"
  pick 500 4000 && sleep "$r"
  if [ -n "$vpid" ] && kill -TERM "$vpid" 2>/dev/null; then
    finish
    tally "5 drains" check_drain "$n"
  else  # the run ended before the signal: only a failure if it failed
    finish
    if [ "$rc" = 0 ]; then missed=$((missed + 1)); else tally "5 drains" fail "$n" "exit $rc"; fi
  fi
done
notes["5 drains"]="$exact exact to the last frame, $empty with nothing written,"
notes["5 drains"]+=" $missed ended before the signal"
reap

# 6. Hangs: a stopped decode or encode, and a stop that cannot finish.
echo "6/9 hangs" >&2
hang() {
  local n=hang-$1
  start_run "$n" "${ref[@]}" --hang-timeout 3 -o "$tmp/$n.mkv"
  sleep 1
  hit "$1" STOP || fail "$n" "no vpipe:$1 to stop" || return 1
  wait_done 20 || { reap; fail "$n" "still running 20 s after SIGSTOP to $1"; return 1; }
  finish
  [ "$rc" = 1 ] || fail "$n" "exit $rc, not 1" || return 1
  grep -q "made no progress" "$tmp/$n.err" || fail "$n" "no 'made no progress' line" || return 1
  rm -f "$tmp/$n.mkv"
}
stuck_drain() {
  local n=stuck-drain
  start_run "$n" "${ref[@]}" --drain-timeout 3 -o "$tmp/$n.mkv"
  sleep 1
  hit encode STOP || fail "$n" "no vpipe:encode to stop" || return 1
  sleep 0.2
  kill -TERM "$vpid" 2>/dev/null || true
  wait_done 15 || { reap; fail "$n" "still running 15 s after SIGTERM"; return 1; }
  finish
  [ "$rc" != 0 ] || fail "$n" "exit 0" || return 1
  rm -f "$tmp/$n.mkv"
}
tally "6 hangs" hang decode
tally "6 hangs" hang encode
tally "6 hangs" stuck_drain
notes["6 hangs"]="SIGSTOP decode, encode (--hang-timeout 3); encode + SIGTERM (--drain-timeout 3)"
reap

# 7. The supervisor SIGKILLed.
echo "7/9 killed supervisor" >&2
killed_supervisor() {
  local n=$1 kids=() left p i
  mapfile -t kids < <(pgrep -P "$vpid" || true)  # its children, renamed vpipe:... or not yet
  [ ${#kids[@]} -gt 0 ] || fail "$n" "no stage running to watch" || return 1
  noted+=("${kids[@]}")
  kill -KILL "$vpid"
  for i in $(seq 20); do
    left=
    for p in "${kids[@]}"; do
      if alive "$p" && [[ $(comm_of "$p") == vpipe* ]]; then left+=" $p($(comm_of "$p"))"; fi
    done
    [ -z "$left" ] && break
    sleep 0.05
  done
  finish
  [ -z "$left" ] || fail "$n" "stages alive 1 s after the supervisor's death:$left" || return 1
  shm_list | comm -13 "$tmp/shm.before" - >"$tmp/shm.new"
  [ ! -s "$tmp/shm.new" ] || fail "$n" "new in /dev/shm: $(tr '\n' ' ' <"$tmp/shm.new")" || return 1
  rm -f "$tmp/$n.mkv"
}
for i in $(seq "${SWEEP_SUPERVISOR:-3}"); do
  shm_list >"$tmp/shm.before"
  start_run "super$i" "${ref[@]}" -o "$tmp/super$i.mkv"
  pick 500 2000 && sleep "$r"
  tally "7 killed supervisor" killed_supervisor "super$i"
done
reap

# 8. Concurrent runs.
echo "8/9 concurrent runs" >&2
pids=()
for i in $(seq "${SWEEP_CONCURRENT:-4}"); do
  start_run "conc$i" "${ref[@]}" -o "$tmp/conc$i.mkv"
  pids+=("$tpid")
done
for i in $(seq "${#pids[@]}"); do
  tpid=${pids[i - 1]}
  finish
  tally "8 concurrent" check_same "conc$i"
done
reap

# 9. Damaged inputs.
echo "9/9 bad inputs" >&2
bad=$tmp/bad
mkdir -p "$bad"
fs=$tmp/faststart.mp4  # the index (moov) first, so that cuts keep it
ffmpeg -nostdin -v error -y -i "$in" -c copy -movflags +faststart "$fs"
size=$(stat -c %s "$fs")
mdat=$(python3 -c 'import struct, sys
d = open(sys.argv[1], "rb").read(); i = 0
while d[i + 4:i + 8] != b"mdat": i += struct.unpack(">I", d[i:i + 4])[0]
print(i)' "$fs")
noise() {  # noise FILE OFFSET BLOCKS: BLOCKS x 4 KiB of random bytes from OFFSET (bytes)
  dd if=/dev/urandom of="$1" bs=4096 count="$3" seek=$(($2 / 4096)) conv=notrunc status=none
}
for p in 10 50 90; do head -c $((size * p / 100)) "$fs" >"$bad/cut$p.mp4"; done
head -c $(($(stat -c %s "$in") / 2)) "$in" >"$bad/cut50-index-at-end.mp4"
for p in 2 10 25 40 55 70 85 98; do
  cp "$fs" "$bad/noise$p.mp4" && noise "$bad/noise$p.mp4" $((size * p / 100)) $((1 + RANDOM % 8))
done
cp "$fs" "$bad/noise-index.mp4"
dd if=/dev/urandom of="$bad/noise-index.mp4" bs=512 count=8 seek=1 conv=notrunc status=none
cp "$fs" "$bad/noise-everywhere.mp4"
for p in $(seq 3 5 98); do noise "$bad/noise-everywhere.mp4" $((size * p / 100)) 1; done
head -c "$mdat" "$fs" >"$bad/header-only.mp4"
tail -c +$((mdat + 1)) "$fs" >"$bad/no-index.mp4"
: >"$bad/empty.mp4"
echo "this is not a video" >"$bad/text.mp4"
head -c 1048576 /dev/urandom >"$bad/random.mp4"
cat "$fs" "$fs" >"$bad/doubled.mp4"
declare -A exits=()
check_bad() {
  local n=$1 e i left
  exits[$rc]=$((${exits[$rc]:-0} + 1))
  [ "$rc" != 124 ] || fail "$n" "hung: stopped by timeout" || return 1
  [ "$rc" -lt 128 ] || [ "$rc" = 255 ] || fail "$n" "killed by signal $((rc - 128))" || return 1
  e=$(grep -c '^vpipe: error:' "$tmp/$n.err" || true)
  [ "$e" -le 1 ] || fail "$n" "$e 'vpipe: error:' lines" || return 1
  for i in $(seq 20); do  # stages die with the supervisor asynchronously: up to 1 s
    left=$(holders | comm -13 "$tmp/holders.before" - | tr '\n' ' ')
    [ -z "$left" ] && break
    sleep 0.05
  done
  if [ -n "$left" ]; then
    read -ra noted_now <<<"$left" && noted+=("${noted_now[@]}")
    fail "$n" "processes left holding a run segment: $left" || return 1
  fi
  shm_list | comm -13 "$tmp/shm.before" - >"$tmp/shm.new"
  [ ! -s "$tmp/shm.new" ] || fail "$n" "new in /dev/shm: $(tr '\n' ' ' <"$tmp/shm.new")" || return 1
  rm -f "$tmp/$n.mkv"
}
limit=60
for f in "$bad"/*.mp4; do
  n=bad-$(basename "$f" .mp4)
  shm_list >"$tmp/shm.before"
  start_run "$n" run -y -i "$f" -o "$tmp/$n.mkv"
  finish
  tally "9 bad inputs" check_bad "$n"
done
notes["9 bad inputs"]="exit codes:"
for c in "${!exits[@]}"; do notes["9 bad inputs"]+=" $c (x${exits[$c]})"; done
reap

failed=0
echo
echo "| case | runs | passed | notes |"
echo "|---|---:|---:|---|"
for c in "${order[@]}"; do
  echo "| $c | ${runs[$c]} | ${ok[$c]} | ${notes[$c]:-} |"
  failed=$((failed + ${runs[$c]} - ${ok[$c]}))
done
echo
echo "seed $seed; $failed failed; details in $log"
[ "$failed" = 0 ]
