// RunSegment: the one shared-memory segment of a run, and the frame pool and rings inside it.
//
// Layout (every part at an offset recorded in the control block; no pointers are shared):
//   ControlBlock | plan JSON | ring decode->transform | ring transform->encode | free-slot ring
//   | audio packet ring (a live input's) | ring encode->output k (each later output encoded in a
//   process of its own) | FrameDesc[nb_slots] | slot data (page aligned; a page allocated as a
//   stage first writes it, slots reused last in first out, so a run touches only the slots it
//   needs at once)
//
// The segment is an anonymous memfd: the scheduler creates it, children inherit the fd across
// exec. Nothing is ever named in /dev/shm, so nothing can outlive the run even if every process
// is SIGKILLed (invariant 5), and no other user can open it (invariant 6).
//
// Frames: a slot holds one planar picture plus its FrameDesc. A frame moves between stages as a
// slot index in a ring, never as pixels (invariant 1). Slot is the move-only handle that owns a
// slot; one that goes out of scope unpublished returns to the free ring. Raw indices never leave
// this module.
//
// Flow control: the credit protocol (shm/credits.hpp) bounds the frames in flight to `window`;
// the end-of-stream protocol (shm/end_of_stream.hpp) ends the stream in band. Because the pool
// holds window + one spare per transform worker, a stage that needs a slot always finds one, and
// the reorder window in encode can never starve the worker that holds the frame it waits for.
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

#include "shm/control_block.hpp"
#include "shm/frame_desc.hpp"
#include "shm/frame_pool.hpp"
#include "shm/frame_ring.hpp"
#include "shm/packet_ring.hpp"

namespace vpipe::shm {

struct SegmentSpec {
  std::uint32_t nb_slots = 0;
  std::uint64_t slot_bytes = 0;
  std::uint32_t window = 0;  // frames in flight between decode and encode
  std::uint32_t nb_workers = 1;
  std::string plan_json;               // the run plan, read by every stage at start
  std::uint64_t audio_ring_bytes = 0;  // a live input's audio, decode -> encode; 0: none
  // Bit k: later output k (1 ..) is encoded in a process of its own, fed by a ring from encode.
  std::uint32_t output_rings = 0;
};

// Owns the mapping (and, in the creating process, the memfd) of a run's segment.
class RunSegment {
 public:
  // Scheduler: an empty memfd, inheritable across exec, for a stage started before the run's
  // sizes are known (decode probes the input first); create() later lays the segment out in it.
  static int create_fd();
  // Scheduler: sizes `fd` (a new memfd when -1), lays everything out; the slots' pages are
  // allocated as the stages first write them.
  static RunSegment create(const SegmentSpec& spec, int fd = -1);
  // Allocates every slot's pages now. Runs do not: with slots reused last in first out, most of
  // a pool's pages are never needed (measured: allocating all of them as the stages started cost
  // 6% more CPU per frame on decode -> null and 20% more memory). For benchmarks of the
  // transport alone (bench/ring_bench.cpp). Safe while stages use the slots.
  void populate_slots();
  // Stage: maps the segment from an inherited fd.
  static RunSegment attach(int fd);
  static std::uint64_t bytes_for(const SegmentSpec& spec);

  RunSegment(RunSegment&& other) noexcept;
  RunSegment& operator=(RunSegment&&) = delete;
  RunSegment(const RunSegment&) = delete;
  ~RunSegment();

  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] ControlBlock& control() const { return *control_; }
  [[nodiscard]] std::string_view plan_json() const;
  [[nodiscard]] FramePool& pool() { return pool_; }
  [[nodiscard]] FrameRing decoded_ring(StageStats* claimant = nullptr,
                                       bool number_on_claim = false);     // decode -> transform
  [[nodiscard]] FrameRing filtered_ring(StageStats* claimant = nullptr);  // transform -> encode
  // A live input's audio packets, decode -> encode; empty when the run has none.
  [[nodiscard]] std::optional<PacketRing> audio_ring();
  // Encode -> output `output`'s own process; empty when encode encodes that output itself.
  [[nodiscard]] std::optional<OutputRing> output_ring(int output);

  struct Reclaimed {
    std::uint32_t requeued = 0;  // frames put back at the head of the decode ring
    std::uint32_t freed = 0;     // slots returned to the pool
    bool end_of_stream_restored = false;
  };
  // Scheduler, after process `dead` (a transform worker with stats `stats`) has exited: gives
  // back everything it held (a slot it let go of that the decoder still holds stays with it).
  // Frames it had taken and not yet handed on go back to the front of the decode ring, untouched
  // (workers never write into the slot they read); spares return to the pool; an end-of-stream
  // marker it took but did not forward goes back too.
  Reclaimed reclaim(pid_t dead, StageStats& stats);
  // Scheduler, after output `output`'s own process has died and encode has stopped sharing
  // frames with it: lets go of its hold on every slot, giving back the credit of each frame
  // that leaves the pipeline by it. Returns the slots it held.
  std::uint32_t release_output(int output);
  // End-of-stream markers the decode ring still lacks: workers waiting for one, less those
  // queued. For putting back a lost marker, and for ending the stream when decode died (maybe
  // after it had pushed some or all of its own). Never below what is needed; concurrent takes can
  // only make it one too high per take, which the ring's room for twice the markers absorbs.
  [[nodiscard]] std::uint32_t markers_missing();

 private:
  RunSegment(int fd, void* base, std::uint64_t bytes);

  int fd_ = -1;
  void* base_ = nullptr;
  std::uint64_t bytes_ = 0;
  ControlBlock* control_ = nullptr;
  FramePool pool_;
};

}  // namespace vpipe::shm
