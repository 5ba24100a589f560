#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang, ASan and UBSan in build-fuzz/, and runs each
# for a bounded time on its seed corpus (fuzz/corpus/<target>/). Exits non-zero on any finding;
# the input that caused it is left in build-fuzz/findings/<target>/. CI runs this.
#   scripts/fuzz.sh                         # 20 s per target
#   FUZZ_SECONDS=3600 scripts/fuzz.sh       # a longer campaign (see fuzz/README.md)
#   FUZZ_TARGETS="fuzz_config" scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# clang 14 is Debian 12's; libFuzzer itself (libclang_rt.fuzzer) ships in libclang-rt-14-dev.
packages=(clang-14 libclang-rt-14-dev)
scripts/install-packages.sh "${packages[@]}"

build_dir=${BUILD_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-20}
read -ra targets <<<"${FUZZ_TARGETS:-fuzz_filter_chain fuzz_config fuzz_ring_descriptor}"
jobs=${JOBS:-$(nproc)}

# -O1 with line tables: fast enough to fuzz, quick to build, and symbolized stack traces.
CC=${CC:-clang-14} CXX=${CXX:-clang++-14} cmake -S . -B "$build_dir" -G Ninja -DVPIPE_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=None "-DCMAKE_CXX_FLAGS=-O1 -gline-tables-only" -DBUILD_TESTING=OFF -DVPIPE_WERROR=ON \
  -DCMAKE_UNITY_BUILD=ON >/dev/null
cmake --build "$build_dir" -j "$jobs" --target "${targets[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Ring-harness steps skipped by default: `late-owner-clear` models a store the product no longer
# makes; `kill-inside-release` a window now narrowed to a few instructions under the ring's lock
# but still open (fuzz/crashes-found/README.md, "Residual windows"): drop it from this list once
# the owner is cleared after the push commits.
export VPIPE_FUZZ_RING_SKIP=${VPIPE_FUZZ_RING_SKIP-kill-inside-release,late-owner-clear}
status=0
for t in "${targets[@]}"; do
  # New inputs go to the build folder; the committed seeds are only read.
  work="$build_dir/corpus/$t"
  findings="$build_dir/findings/$t"
  mkdir -p "$work" "$findings"
  echo "== $t: ${seconds}s"
  if ! "$build_dir/fuzz/$t" "$work" "fuzz/corpus/$t" -max_total_time="$seconds" -timeout=20 \
      -rss_limit_mb=2560 -artifact_prefix="$findings/" -print_final_stats=1 >"$build_dir/$t.log" 2>&1; then
    status=1
    echo "$t: FOUND A PROBLEM; the input is in $findings/, the report in $build_dir/$t.log:"
    # The broken rule (the harness's own line, or the sanitizer's), the first frames in vpipe, the input.
    grep -E "^fuzz_[a-z_]+: |ERROR|runtime error|what\(\)|#[0-9]+ 0x[0-9a-f]+ in vpipe::|Test unit written" \
      "$build_dir/$t.log" | head -12
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$build_dir/$t.log" | tr '\n' ' '
    echo
  fi
done
[ $status -eq 0 ] && echo "fuzz: no findings"
exit $status
