#!/usr/bin/env bash
# Sanitizer runs (CI runs this after the main test suite):
#  - ASan + UBSan: the ring and scheduler unit tests and the end-to-end runs (vpipe itself built
#    with sanitizers, so every stage process is checked), leaks included.
#  - TSan: the ring tests, which hammer the shared-memory rings from many threads and processes.
# Build folders: build-asan/ and build-tsan/.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}

# -O1 without debug info: about half the build time of -O2 -g, and still fast enough to run.
# A unity build (each library's sources compiled as one): these folders are built once per CI
# run, never incrementally, and sharing the headers' parsing and instantiations takes the ASan
# build from about 10 minutes to about 6 on 2 cores.
flags=(-G Ninja -DCMAKE_BUILD_TYPE=None "-DCMAKE_CXX_FLAGS=-O1 -g0" -DVPIPE_WERROR=ON
  -DCMAKE_UNITY_BUILD=ON)
cmake -S . -B build-asan "${flags[@]}" -DVPIPE_SANITIZE=address >/dev/null
# The end-to-end tests are the main build's (build/, from scripts/setup.sh), pointed at the
# instrumented vpipe: only vpipe and the in-process unit tests are built again.
cmake --build build-asan -j "$jobs" --target vpipe shm_ring_test shm_ring_multiprocess_test plan_test stage_test report_test \
  segments_unit_test
cmake --build build -j "$jobs" --target integration_test fidelity_test live_test fault_test segments_test \
  lavfi_test everyday_test outputs_test
export VPIPE_TEST_BINARY=$PWD/build-asan/vpipe
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp:print_suppressions=0
for t in shm_ring_test shm_ring_multiprocess_test plan_test stage_test report_test; do
  build-asan/tests/$t --gtest_brief=1
done
# Every end-to-end test (runs, bad input, processes and signals, stage deaths, observability,
# hardening), with each stage process instrumented.
# Left out: tests that mostly wait (a silent server's timeout, the plain progress interval) or
# check log wording; they run in the main suite. And the address-space limit (ulimit -v): ASan
# reserves terabytes of shadow address space, so an instrumented vpipe cannot start under one.
build/tests/integration_test --gtest_brief=1 --gtest_filter='-HardeningTest.SilentServerTimesOutWithInputError:HardeningTest.RepeatedLibavWarningsAreSummarised:ObservabilityTest.PlainProgressLinesWhenNotATerminal:HardeningTest.AnAddressSpaceLimitIsOutOfMemoryNeverSuccessOrBlame'
build/tests/fidelity_test --gtest_brief=1
# ffmpeg's filters
# (a view: crop; an in-place draw; a per-frame head with an in-order tail run by encode; one
# worker in order), the refusals, and a stream copy (-c copy).
build/tests/lavfi_test --gtest_brief=1 \
  --gtest_filter='*Timestamps/1:*Timestamps/11:*Timestamps/22:*Timestamps/23:*LavfiBadChain*'
build/tests/everyday_test --gtest_brief=1 --gtest_filter='*Cut*:*Gif*'
# Filters that give frames of their own (the encode stage's graph: frames held and flushed), and
# several outputs (one slot referenced by several encoders, each output's own filters).
build/tests/lavfi_test --gtest_brief=1 --gtest_filter='*OwnFrames*/1:*OwnFrames*/7:*OwnFrames*/10:*FramesV*'
build/tests/outputs_test --gtest_brief=1
# Segment mode: planning, segment jobs, the local engine (forks and execs), the join.
build-asan/tests/segments_unit_test --gtest_brief=1
build/tests/segments_test --gtest_brief=1
# Live: stdin, the decode-first start, and Ctrl-C before the input opens; then workers killed in
# live runs (drops, tombstones, claim-time numbering; the checks are counts, not timings).
build/tests/live_test --gtest_brief=1 \
  --gtest_filter='LiveTest.StdinInputIsReadOnceAndWhole:LiveTest.InterruptWhileWaiting*:LiveTest.DryRun*'
build/tests/fault_test --gtest_brief=1 --gtest_filter='FaultTest.LiveWorkers*'

cmake -S . -B build-tsan "${flags[@]}" -DVPIPE_SANITIZE=thread >/dev/null
cmake --build build-tsan -j "$jobs" --target shm_ring_test shm_ring_multiprocess_test
export TSAN_OPTIONS=halt_on_error=1
build-tsan/tests/shm_ring_test --gtest_brief=1
build-tsan/tests/shm_ring_multiprocess_test --gtest_brief=1
echo "sanitizers: no findings"
