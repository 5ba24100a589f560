# Shared by the bench scripts (sourced): the bench clip and a median.
input=samples/bench/1080p30.mp4
[ -f "$input" ] || samples/make-samples.sh bench >/dev/null
# The median of the numbers on stdin, one per line.
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
