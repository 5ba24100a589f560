# Shared by the bench scripts (sourced): the bench clip, a median, and a timer.
input=${BENCH_INPUT:-samples/bench/1080p30.mp4}
[ -f "$input" ] || samples/make-samples.sh bench >/dev/null
# The number of video packets (frames) in a file.
video_frames() { ffprobe -v error -count_packets -select_streams v:0 -show_entries stream=nb_read_packets -of csv=p=0 "$1"; }
# The median of the numbers on stdin, one per line.
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# Runs a command (output discarded) and prints "WALL_S CPU_S EXIT": wall-clock seconds, and the
# user + system CPU seconds of it and every process it waited for (vpipe's stages included).
timed() {
  python3 - "$@" <<'EOF'
import resource, subprocess, sys, time
t = time.monotonic()
rc = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL).returncode
wall = time.monotonic() - t
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{wall:.4f} {r.ru_utime + r.ru_stime:.4f} {rc}")
EOF
}
