// The supervisor's decisions as pure functions of what it saw (a stage's exit status, its
// heartbeat and CPU clock, the time), so that they are table-tested without processes
// (tests/supervisor/policy_test.cpp). supervisor.cpp carries them out.
#pragma once

#include <sys/wait.h>

#include <cstdint>

#include "common/exit_status.hpp"
#include "common/stage_id.hpp"

namespace vpipe::supervisor {

// What to do when a stage process has ended.
enum class OnExit {
  kNothing,          // it finished (or the run is aborting anyway)
  kRestart,          // a transform worker killed by a signal: requeue its frames, start another
  kFinishForDecode,  // decode killed: end the stream on its behalf, finish what was decoded
  // A later output's encoder (its own process) failed or was killed: that output is lost, the
  // others take no more input and finish what is in flight, and the run fails.
  kFinishOtherOutputs,
  kAbort,  // anything else: the run fails with the stage's reason
};

constexpr OnExit on_stage_exit(StageId stage, int wait_status, bool aborting) {
  if (!failed(wait_status) || aborting) return OnExit::kNothing;
  if (stage.output_encoder()) return OnExit::kFinishOtherOutputs;
  if (WIFSIGNALED(wait_status) && stage.role == StageRole::kWorker) return OnExit::kRestart;
  if (WIFSIGNALED(wait_status) && stage.role == StageRole::kDecode) return OnExit::kFinishForDecode;
  return OnExit::kAbort;
}

// What a stage's silence means, once --hang-timeout (`limit_ns`, > 0) is set.
enum class Silence {
  kAlive,        // it beat, or (decode, encode) its CPU clock moved, within the limit
  kStuckWorker,  // a worker silent past the limit: kill it, and the restart requeues its frames
  kStuckStage,   // decode or encode silent and idle past the limit: kill it, the run fails
};

// `now_ns`, `beat_ns` (its last heartbeat, or its start) and `cpu_moved_ns` (when its CPU time
// last changed) on CLOCK_MONOTONIC. A worker waiting for input beats at every poll, so its
// silence alone means stuck. Decode and encode may spend long in one library call (a slow
// encoder's frame, its flush), so theirs counts only while their CPU time stands still too.
// Decode waiting on an input it was told to wait for (--input-timeout 0) is never stuck.
constexpr Silence judge_silence(StageRole role, std::uint64_t now_ns, std::uint64_t beat_ns,
                                std::uint64_t cpu_moved_ns, std::uint64_t limit_ns,
                                bool decode_waits_for_ever) {
  if (now_ns < beat_ns + limit_ns) return Silence::kAlive;
  if (role == StageRole::kWorker) return Silence::kStuckWorker;
  if (role == StageRole::kDecode && decode_waits_for_ever) return Silence::kAlive;
  const std::uint64_t last_sign = beat_ns > cpu_moved_ns ? beat_ns : cpu_moved_ns;
  return now_ns < last_sign + limit_ns ? Silence::kAlive : Silence::kStuckStage;
}

// The transform pool sizing itself (--workers auto or MIN-MAX), one measuring window at a time.
// `busy`: the share of the window the active workers spent on frames (0..1); `waiting`: frames
// queued for a worker as it ends. The workers are the bottleneck when they are busy and frames
// wait for them: after two such windows in a row the pool grows by half (at least one, at most
// to `most`), since a pool far too small would otherwise take many windows to catch up. When
// they idle (busy at most half the time) for three windows in a row, it shrinks to the count
// that would have been busy 3/4 of the time (at least `fewest`). Between the two, or after a
// change, the counts start again: the hysteresis.
struct PoolState {
  int active = 1;
  int busy_windows = 0;  // in a row, the workers the bottleneck
  int idle_windows = 0;  // in a row, the workers idle
  friend constexpr bool operator==(const PoolState&, const PoolState&) = default;
};
inline constexpr double kPoolBusy = 0.85;
inline constexpr double kPoolIdle = 0.5;
inline constexpr double kPoolTarget = 0.75;

constexpr PoolState resize_workers(PoolState s, int fewest, int most, double busy,
                                   std::uint32_t waiting) {
  if (busy >= kPoolBusy && waiting > 0) {
    s.idle_windows = 0;
    if (++s.busy_windows >= 2 && s.active < most) {
      const int grown = s.active + (s.active + 1) / 2;
      return {grown < most ? grown : most, 0, 0};
    }
    return s;
  }
  if (busy <= kPoolIdle) {
    s.busy_windows = 0;
    if (++s.idle_windows >= 3 && s.active > fewest) {
      // Rounded up: the count at which the same work keeps the workers kPoolTarget busy.
      const double needed = busy * s.active / kPoolTarget;
      int target = static_cast<int>(needed);
      if (target < needed) ++target;
      return {target > fewest ? target : fewest, 0, 0};
    }
    return s;
  }
  return {s.active, 0, 0};
}

// A killed worker is restarted while the run's restart budget (--max-restarts) lasts.
constexpr bool may_restart(int restarts_so_far, int max_restarts) {
  return restarts_so_far < max_restarts;
}

}  // namespace vpipe::supervisor
