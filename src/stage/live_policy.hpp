// Live mode policy: deadlines, pacing, cost estimates and adaptive batches.
//
// Pure functions of the times they are given (CLOCK_MONOTONIC nanoseconds): the stages pass
// "now" in, so the decisions are unit-tested with an injected clock and no sleeps.
//
// In live mode every frame carries its capture time; its deadline is capture + the latency
// budget. A stage that takes up a frame which could not be finished by its deadline (now plus
// the stage's own expected cost is past it) drops it, and counts the drop.
#pragma once

#include <algorithm>
#include <cstdint>

#include "shm/drop_reason.hpp"

namespace vpipe::stage::live {

// Why a frame was dropped (in its descriptor, shm/run_segment.hpp).
using DropReason = shm::DropReason;

struct Deadline {
  std::int64_t budget_ns = 0;

  [[nodiscard]] std::int64_t due(std::int64_t capture_ns) const { return capture_ns + budget_ns; }
  // Time left before the frame's deadline (negative once past).
  [[nodiscard]] std::int64_t slack(std::int64_t capture_ns, std::int64_t now_ns) const {
    return due(capture_ns) - now_ns;
  }
  // Whether work of `cost_ns` started now would end past the deadline.
  [[nodiscard]] bool late(std::int64_t capture_ns, std::int64_t now_ns,
                          std::int64_t cost_ns = 0) const {
    return now_ns + cost_ns > due(capture_ns);
  }
};

// A running estimate of a stage's cost per frame (exponentially weighted, 1/8 per sample), so
// one slow frame does not make the next few look late.
class CostEstimate {
 public:
  void add(std::int64_t sample_ns) {
    value_ns_ = value_ns_ == 0 ? sample_ns : value_ns_ + (sample_ns - value_ns_) / 8;
  }
  [[nodiscard]] std::int64_t value_ns() const { return value_ns_; }

 private:
  std::int64_t value_ns_ = 0;
};

// Paces a stream at its native rate (--realtime, like ffmpeg's -re): the frame at stream time
// `pts_ns` is due at start + (pts_ns - first pts). A jump in the stream's timestamps (a new
// segment, a wrap, a damaged stream) of more than `max_gap_ns` from where the pace expects re-
// anchors the clock instead of sleeping for minutes or bursting.
class Pacer {
 public:
  explicit Pacer(std::int64_t max_gap_ns = 2'000'000'000) : max_gap_ns_(max_gap_ns) {}

  // When the frame at `pts_ns` is due (its capture time), given that it is `now_ns` now.
  std::int64_t due(std::int64_t pts_ns, std::int64_t now_ns) {
    if (!started_ || pts_ns < last_pts_ns_ - max_gap_ns_ || pts_ns > last_pts_ns_ + max_gap_ns_) {
      // (Re)anchor: this frame is due now.
      origin_pts_ns_ = pts_ns;
      origin_now_ns_ = started_ ? std::max(now_ns, last_due_ns_) : now_ns;
      started_ = true;
    }
    last_pts_ns_ = pts_ns;
    last_due_ns_ = origin_now_ns_ + (pts_ns - origin_pts_ns_);
    return last_due_ns_;
  }

 private:
  std::int64_t max_gap_ns_;
  bool started_ = false;
  std::int64_t origin_pts_ns_ = 0;
  std::int64_t origin_now_ns_ = 0;
  std::int64_t last_pts_ns_ = 0;
  std::int64_t last_due_ns_ = 0;
};

// How many frames a worker takes in one batch: as many as it can finish before the first one's
// deadline (batch 1 when latency is tight), never more than `max_batch`. Offline (no deadline)
// and before any cost is known, the full batch.
[[nodiscard]] inline std::uint32_t batch_limit(std::int64_t slack_ns, std::int64_t cost_ns,
                                               std::uint32_t max_batch) {
  if (cost_ns <= 0) return max_batch;
  if (slack_ns <= cost_ns) return 1;
  return static_cast<std::uint32_t>(
      std::clamp<std::int64_t>(slack_ns / cost_ns, 1, static_cast<std::int64_t>(max_batch)));
}

// Admission control, live: a frame joins the queue for the workers only while a worker can start
// it soon, that is while fewer frames wait than there are workers, or, in time (as for the
// encoder below), while the frames waiting hold less than one frame interval of the workers'
// work: a burst from a network input (the frames its probing buffered, decoded at once, each
// quick to filter) is no backlog. Before the workers' cost is known, they keep up. Otherwise
// the workers are behind, and the frame is dropped at the source (--drop newest) or takes the
// place of the oldest waiting frame (--drop oldest): no frame waits most of the budget in the
// queue only to be just in time.
[[nodiscard]] inline bool admits(std::size_t waiting_for_a_worker, int workers,
                                 std::int64_t worker_cost_ns, std::int64_t frame_interval_ns) {
  const std::int64_t takers = std::max(1, workers);
  const auto waiting = static_cast<std::int64_t>(waiting_for_a_worker);
  if (waiting < takers || worker_cost_ns <= 0) return true;
  return waiting * worker_cost_ns < takers * frame_interval_ns;
}

// The same for the encoder, one process: once the filtered frames waiting for it hold two
// frame intervals of its work (at its own cost per frame), it is behind, and a frame decoded
// now would wait there most of the budget. It is dropped at the source instead, whatever --drop
// says: the frames waiting are filtered already, and dropping one of those would waste that
// work. The encoder still always has a frame to take, so as many frames leave as before,
// sooner. In time, not frames: a burst from a network input (several frames at once, each
// quick to encode) is no backlog. Before its cost is known, it keeps up.
inline constexpr std::int64_t kEncoderBacklogFrames = 2;
[[nodiscard]] inline bool encoder_keeps_up(std::size_t waiting_for_the_encoder,
                                           std::int64_t encoder_cost_ns,
                                           std::int64_t frame_interval_ns) {
  return static_cast<std::int64_t>(waiting_for_the_encoder) * encoder_cost_ns <
         kEncoderBacklogFrames * frame_interval_ns;
}

}  // namespace vpipe::stage::live
