#!/usr/bin/env bash
# Installs vpipe's build and test dependencies from Debian 12's packages, then configures and
# builds (build/vpipe and the tests). Safe to run again.
#   scripts/setup.sh                     # Release-like build in build/
#   BUILD_DIR=build-asan CMAKE_ARGS="-DVPIPE_SANITIZE=address" scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config help2man
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev libavdevice-dev
  libavfilter-dev
  fonts-dejavu-core  # the font ffmpeg's drawtext finds through fontconfig (--vf drawtext=...)
  libopencv-core-dev libopencv-imgproc-dev libhwloc-dev libspdlog-dev libcpp-httplib-dev
  libcli11-dev libyaml-cpp-dev nlohmann-json3-dev libgtest-dev libgmock-dev
  prometheus-cpp-dev  # the metrics' model and text format (--metrics, -textfile, -push)
  prometheus prometheus-pushgateway  # their tests scrape and push to real servers; promtool
  libbenchmark-dev  # bench/ring_bench
  gnuplot-nox  # vpipe bench --plot
  libopencv-highgui-dev xvfb x11-apps  # the preview window (-o preview) and its test
  ffmpeg  # the ffmpeg CLI: tests make odd inputs with it; samples/make-samples.sh uses it
  slurmctld slurmd slurm-client munge  # segments submit --engine slurm; its test runs a cluster
)
scripts/install-packages.sh "${packages[@]}"

build_dir=${BUILD_DIR:-build}
# A unity build (each library's sources compiled as one): a first build takes about 40% less
# CPU time (sharing the headers' parsing and instantiations). For editing and rebuilding one file
# at a time, CMAKE_ARGS=-DCMAKE_UNITY_BUILD=OFF recompiles only that file.
# shellcheck disable=SC2086
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_UNITY_BUILD=ON \
  ${CMAKE_ARGS:-}
cmake --build "$build_dir"
echo "built $build_dir/vpipe; run the tests with: ctest --test-dir $build_dir --output-on-failure"
