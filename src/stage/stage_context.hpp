// StageContext: what a stage process gets from the scheduler: the run segment (pool, rings,
// control block), the plan, and its own stats slot. Stages know only their rings; the graph is
// the scheduler's.
#pragma once

#include <chrono>
#include <ctime>
#include <string>

#include "common/clock.hpp"
#include "plan/run_plan.hpp"
#include "shm/latency_histogram.hpp"
#include "shm/run_segment.hpp"

namespace vpipe::stage {

// How long any single wait lasts before the stage re-checks the run's abort flag (invariant 7).
inline constexpr std::chrono::milliseconds kPollInterval{100};

struct StageContext {
  shm::RunSegment& segment;
  const plan::RunPlan& plan;
  shm::StageStats& stats;
  int worker_index = 0;  // transform workers: the worker's number; encode: the output's
  StageRole role = StageRole::kDecode;
  std::uint64_t busy_at_last_frame = stats.busy_ns.load(std::memory_order_relaxed);

  // A sign of life for the scheduler's hang detection.
  void beat() const { stats.heartbeat_ns.store(monotonic_ns(), std::memory_order_relaxed); }

  // One frame handed on: counted, and the busy time since the last one goes into the role's
  // frame-time histogram (control block). Called by the process that owns `stats`.
  void frame_out() {
    stats.frames_out.fetch_add(1, std::memory_order_relaxed);
    const std::uint64_t busy = stats.busy_ns.load(std::memory_order_relaxed);
    const double us = static_cast<double>(busy - busy_at_last_frame) / 1e3;
    busy_at_last_frame = busy;
    shm::StageFrameTimes& times = segment.control().frame_times[static_cast<int>(role)];
    times.buckets[shm::LatencyHistogram::bucket_of(us)].fetch_add(1, std::memory_order_relaxed);
    times.sum_us.fetch_add(static_cast<std::uint64_t>(us), std::memory_order_relaxed);
  }

  [[nodiscard]] bool aborted() const {
    return segment.control().abort.load(std::memory_order_relaxed) != 0;
  }
  // Repeats a bounded wait (a callable taking a timeout) until it yields a value or the run is
  // aborted; then returns the empty result.
  template <typename Wait>
  auto wait_unless_aborted(Wait&& wait) const {
    for (;;) {
      beat();
      auto result = wait(kPollInterval);
      if (result || aborted()) return result;
    }
  }
};

// Adds the time from construction to destruction to a stats counter (busy or waiting).
class ScopedTimer {
 public:
  explicit ScopedTimer(std::atomic<std::uint64_t>& counter)
      : counter_(counter), start_(monotonic_ns()) {}
  ~ScopedTimer() { counter_.fetch_add(monotonic_ns() - start_, std::memory_order_relaxed); }
  ScopedTimer(const ScopedTimer&) = delete;
  ScopedTimer& operator=(const ScopedTimer&) = delete;

 private:
  std::atomic<std::uint64_t>& counter_;
  std::uint64_t start_;
};

// Each stage's entry point. Return an exit code; throw vpipe::Error for a reportable failure.
int run_decode_stage(StageContext& ctx, decode::Decoder& decoder);  // the input already open
int run_transform_stage(StageContext& ctx);
int run_encode_stage(StageContext& ctx);

}  // namespace vpipe::stage
