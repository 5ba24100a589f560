// ControlBlock: the run's shared state at the start of the run segment: the stop and abort
// flags, the credits, every stage's counters (StageStats, one cache line each), the latency
// histogram and the run's first error.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "common/stage_id.hpp"
#include "shm/index_ring.hpp"
#include "shm/latency_histogram.hpp"
#include "shm/shm_semaphore.hpp"

namespace vpipe::shm {

inline constexpr int kMaxOutputs = 8;  // -o given several times: one decode, this many outputs
// Decode, encode, up to 64 transform workers, and a later output's encoder each.
inline constexpr int kMaxStages = 2 + StageId::kMaxWorkers + kMaxOutputs - 1;
inline constexpr int kFirstWorkerStage =
    StageId::kFirstWorkerSlot;  // decode 0, encode 1, workers 2..

// Per-process counters, written by that process only, read by the scheduler.
struct alignas(kCacheLine) StageStats {
  std::atomic<std::int32_t> pid;
  std::atomic<std::uint64_t> frames_in;
  std::atomic<std::uint64_t> frames_out;
  std::atomic<std::uint64_t> busy_ns;
  std::atomic<std::uint64_t> wait_ns;
  // Pictures this stage copied: decode's into a slot where it could not decode straight into
  // one, a worker's through ffmpeg's filters, encode's out of a slot for an output's own
  // filters. Never at a stage boundary (invariant 1).
  std::atomic<std::uint64_t> frames_copied;
  std::atomic<std::uint64_t> errors;        // e.g. packets the decoder rejected
  std::atomic<std::uint64_t> drops_late;    // live: frames this stage dropped past deadline
  std::atomic<std::uint64_t> drops_full;    // live: frames dropped because the pipeline was full
  std::atomic<std::int64_t> cost_ns;        // live: the stage's estimate of its time per frame
  std::atomic<std::uint32_t> eos_state;     // transform workers: EosState
  std::atomic<std::uint32_t> restarts;      // transform workers: times restarted
  std::atomic<std::uint64_t> heartbeat_ns;  // CLOCK_MONOTONIC of the stage's last sign of life
};

// The time a stage worked on each frame it handed on (its busy time since the one before), as a
// log-scale histogram like the latency's. One per role: the workers add to one.
struct StageFrameTimes {
  std::atomic<std::uint64_t> buckets[kLatencyBuckets];
  std::atomic<std::uint64_t> sum_us;
};
inline constexpr int kStageRoles = 3;  // decode, transform, encode (StageRole)

// A worker's progress with its end-of-stream marker, so one lost in a crash is put back.
enum class EosState : std::uint32_t { kNone = 0, kTaken = 1, kForwarded = 2 };
static_assert(sizeof(StageStats) % kCacheLine == 0, "stages must not share cache lines");

struct ControlBlock {
  std::uint64_t magic;
  std::uint64_t total_bytes;
  std::uint64_t plan_offset, plan_bytes;
  std::uint64_t decoded_ring_offset, filtered_ring_offset, free_ring_offset;
  std::uint64_t desc_offset, data_offset, slot_stride, slot_bytes;
  std::uint64_t audio_ring_offset;  // 0: the run has no audio ring
  // Encode -> a later output's encoder in a process of its own (by -o's order; 0: none, the
  // output is encoded in the encode stage).
  std::uint64_t output_ring_offset[kMaxOutputs];
  std::uint32_t nb_slots, window, nb_workers;
  alignas(kCacheLine) ShmSemaphore credits;
  alignas(kCacheLine) std::atomic<std::uint32_t> stop_input;  // finish cleanly: stop reading
  // The run was told to stop (a stop signal, or a stage's death), not only the pipeline's input
  // (which every output's -frames:v also stops): a -c copy output's process ends its copy.
  std::atomic<std::uint32_t> stop_requested;
  std::atomic<std::uint32_t> abort;        // stop now, output is forfeit
  std::atomic<std::int64_t> total_frames;  // set by decode at end, else -1
  std::atomic<std::int64_t> next_seq_out;  // encode: frames < this are done
  // Live mode: the next sequence number, given to a frame as a worker first claims it (see
  // FrameRing), so that frames dropped while still queued leave no gap in the order.
  std::atomic<std::int64_t> next_seq_in;
  std::atomic<std::uint32_t> stages_ready;  // encode and workers, once set up (live start)
  // Workers 0 .. active_workers - 1 take frames; the others wait, parked, taking none until the
  // scheduler raises it or the stream ends (each still takes its end-of-stream marker). The
  // scheduler sizes the pool so (--workers auto, MIN-MAX); nb_workers processes run.
  std::atomic<std::uint32_t> active_workers;
  // Latency from decode to the encoder, per frame: a log-scale histogram (kLatencyBuckets per
  // doubling of microseconds), written by encode.
  std::atomic<std::uint64_t> latency_buckets[kLatencyBuckets];
  std::atomic<std::uint64_t> latency_max_us;  // the exact largest, which caps the percentiles
  std::atomic<std::uint64_t> latency_sum_us;  // every frame's, for the histogram's _sum
  StageFrameTimes frame_times[kStageRoles];   // indexed by StageRole
  // Frames each output took (its encoder's, or counted for a null output), by -o's order.
  std::atomic<std::uint64_t> output_frames[kMaxOutputs];
  // Frames each output dropped on its own (live, several outputs: late for it alone), and the
  // time the encode stage spent on each output (its filters, -r, encoder and muxer).
  std::atomic<std::uint64_t> output_drops[kMaxOutputs];
  std::atomic<std::uint64_t> output_busy_ns[kMaxOutputs];
  // Live: each output's estimate of its time per frame (the encode stage drops a frame only
  // when it is late for the cheapest output).
  std::atomic<std::int64_t> output_cost_ns[kMaxOutputs];
  // A bit per output that has its -frames:v; the input stops once every output's is set.
  std::atomic<std::uint32_t> outputs_full;
  // The first stage to fail records its one-line reason here for the scheduler to print.
  std::atomic<std::uint32_t> error_claimed;
  std::int32_t error_code;
  char error_text[512];
  alignas(kCacheLine) StageStats stages[kMaxStages];

  StageStats& stage(StageId id) { return stages[id.stats_slot()]; }
  [[nodiscard]] const StageStats& stage(StageId id) const { return stages[id.stats_slot()]; }
};
static_assert(std::is_standard_layout_v<ControlBlock>,
              "every process reads it at offset 0 of the segment: one plain layout for all");

// Records the run's first failure (exit code and one line); later ones are ignored. Any process.
void record_first_error(ControlBlock& control, int exit_code, std::string_view text) noexcept;

}  // namespace vpipe::shm
