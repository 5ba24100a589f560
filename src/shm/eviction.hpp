// Live mode's eviction (--drop oldest): when the pipeline is full, decode makes room for a new
// frame by dropping the oldest frame still queued for the workers. One operation for decode and
// for the ring fuzzer (fuzz/fuzz_ring_descriptor.cpp), so the fuzzer checks the real one.
#pragma once

#include <cstdlib>
#include <optional>

#include "shm/drop_reason.hpp"
#include "shm/run_segment.hpp"

namespace vpipe::shm {

// The oldest frame queued in `queued` (the decoded ring), marked dropped (kRingFull) before
// anything else is written to it: if decode dies before it is handed on, the half-written slot
// travels on as a tombstone, never as a picture. nullopt when none is queued. Only while decode
// still produces: the ring then holds no end-of-stream marker (decode sends those last).
inline std::optional<Slot> evict_oldest(FrameRing& queued) {
  std::optional<RingItem> item = queued.try_pop();
  if (!item) return std::nullopt;
  if (item->end_of_stream()) std::abort();  // an end-of-stream marker before decode's last frame
  Slot slot = std::move(item->slot);
  slot.desc().dropped = static_cast<std::int32_t>(DropReason::kRingFull);
  return slot;
}

// An evicted frame without a number yet (live frames are numbered as a worker claims them)
// gives its slot and its credit to the new frame. A numbered one (requeued after a worker died)
// already has its place in the order: it must go on to encode as a tombstone.
inline bool can_carry_the_new_frame(const FrameDesc& evicted) {
  return evicted.seq < 0;
}

}  // namespace vpipe::shm
