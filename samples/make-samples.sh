#!/usr/bin/env bash
# Regenerates the committed sample clip, and makes larger benchmark clips on demand.
#   samples/make-samples.sh            # samples/sample.mp4 (4 s, 640x360, H.264 + AAC, < 1 MB)
#   samples/make-samples.sh bench      # also samples/bench/*.mp4 (1080p30 H.264, not committed)
set -euo pipefail
cd "$(dirname "$0")"
ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=640x360:rate=30:duration=4" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=4" \
  -c:v libx264 -preset veryfast -crf 28 -pix_fmt yuv420p -g 60 \
  -c:a aac -b:a 64k -shortest -movflags +faststart sample.mp4
echo "samples/sample.mp4: $(stat -c %s sample.mp4) bytes"
if [ "${1:-}" = bench ]; then
  mkdir -p bench
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=10" \
    -c:v libx264 -preset veryfast -crf 23 -pix_fmt yuv420p bench/1080p30.mp4
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=1280x720:rate=30:duration=10" \
    -c:v libx264 -preset veryfast -crf 23 -pix_fmt yuv420p bench/720p30.mp4
  ls -l bench
fi
