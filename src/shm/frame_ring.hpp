// FrameRing: the frames between two stages, as slot indices in a crash-safe IndexRing, with the
// in-band end-of-stream marker (shm/end_of_stream.hpp).
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

#include "shm/frame_pool.hpp"

namespace vpipe::shm {

// One item taken from a FrameRing: a frame, or the in-band end-of-stream marker.
struct RingItem {
  Slot slot;
  [[nodiscard]] bool end_of_stream() const { return !slot; }
};

// A ring of frames between two stages. Producers push slots (ownership moves into the ring);
// consumers pop them. push_for leaves the slot with the caller when it times out.
class FrameRing {
 public:
  // `claimant`: the popping process's stats, where taking an end-of-stream marker is recorded.
  // `seq_counter`: when given, a frame without a sequence number (seq < 0) gets the next one as
  // it is claimed, under the ring's lock, so numbers follow the ring's order.
  FrameRing(FramePool* pool, IndexRing ring, StageStats* claimant = nullptr,
            std::atomic<std::int64_t>* seq_counter = nullptr)
      : pool_(pool), ring_(ring), claimant_(claimant), seq_counter_(seq_counter) {}

  [[nodiscard]] bool push_for(Slot& slot, std::chrono::nanoseconds timeout);
  // `forwarder`: a worker handing on its end-of-stream marker, recorded as kForwarded together
  // with the push, so that a death in between cannot make it look untaken.
  [[nodiscard]] bool push_end_of_stream_for(std::chrono::nanoseconds timeout,
                                            StageStats* forwarder = nullptr);
  [[nodiscard]] std::optional<RingItem> pop_for(std::chrono::nanoseconds timeout);
  [[nodiscard]] std::optional<RingItem> try_pop();
  [[nodiscard]] std::uint32_t size() const { return ring_.size(); }
  [[nodiscard]] std::uint32_t high_water() const { return ring_.high_water(); }

 private:
  friend class RunSegment;
  static void claim(void* self, std::uint32_t value);
  static void publish(void* self, std::uint32_t value);
  std::optional<RingItem> take(std::optional<std::uint32_t> index);

  FramePool* pool_;
  IndexRing ring_;
  StageStats* claimant_;
  std::atomic<std::int64_t>* seq_counter_;
  StageStats* forwarder_ = nullptr;
};

// Encode -> a later output's encoder in a process of its own: the frames encode took, in decode
// order, each slot shared rather than handed over. Encode adds the output's hold bit
// (output_hold) before the push and keeps its own hold; the output's process lets go of its bit
// when its encoder is done with the picture. The last holder returns the slot and, with it, the
// frame's credit (shm/credits.hpp). Ends with one end-of-stream marker.
class OutputRing {
 public:
  OutputRing(FramePool* pool, IndexRing ring, int output)
      : pool_(pool), ring_(ring), hold_(output_hold(output)) {}

  // Encode: `slot` (still encode's) is the output's to read too. The ring has room for every
  // slot, so this waits only if something is wrong; false then (the output's hold is undone).
  [[nodiscard]] bool share_for(const Slot& slot, std::chrono::nanoseconds timeout);
  [[nodiscard]] bool push_end_of_stream_for(std::chrono::nanoseconds timeout);
  // The output's process: the next frame (a Slot that stands for the output's hold), or the
  // marker.
  [[nodiscard]] std::optional<RingItem> pop_for(std::chrono::nanoseconds timeout);

 private:
  FramePool* pool_;
  IndexRing ring_;
  std::uint32_t hold_;
};

}  // namespace vpipe::shm
