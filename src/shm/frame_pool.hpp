// The frame pool: the run segment's slots, and Slot, the move-only handle that owns one. A Slot
// that goes out of scope unpublished returns to the free ring; raw indices never leave shm/.
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
#include "shm/index_ring.hpp"

namespace vpipe::shm {

class FramePool;

// Move-only ownership of one slot. Destroying a Slot that still owns returns it to the pool.
class Slot {
 public:
  Slot() = default;
  Slot(Slot&& other) noexcept { *this = std::move(other); }
  Slot& operator=(Slot&& other) noexcept;
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  ~Slot() { reset(); }

  [[nodiscard]] explicit operator bool() const { return pool_ != nullptr; }
  [[nodiscard]] FrameDesc& desc() const;
  [[nodiscard]] std::uint8_t* data() const;

  [[nodiscard]] std::uint64_t capacity() const;
  void reset();
  // Lets go of the slot, as reset() does; true when that took the frame out of the pipeline
  // (no stage or output holds it any more): its credit goes back then (shm/credits.hpp).
  bool release_frame();

 private:
  friend class FramePool;
  friend class FrameRing;
  friend class OutputRing;
  Slot(FramePool* pool, std::uint32_t index, std::uint32_t hold = kHoldPipeline)
      : pool_(pool), index_(index), hold_(hold) {}
  std::uint32_t release_index();

  FramePool* pool_ = nullptr;
  std::uint32_t index_ = 0;
  std::uint32_t hold_ = kHoldPipeline;  // the SlotHold bit this handle stands for
};

class FramePool {
  friend class OutputRing;

 public:
  FramePool() = default;
  FramePool(ControlBlock* control, std::uint8_t* base);

  // Any stage. Empty on timeout (only possible when the pool is mis-sized or during shutdown).
  [[nodiscard]] std::optional<Slot> acquire_for(std::chrono::nanoseconds timeout);
  [[nodiscard]] bool is_free(std::uint32_t index) const { return free_ring_.contains(index); }
  [[nodiscard]] std::uint32_t nb_slots() const { return control_->nb_slots; }
  [[nodiscard]] std::uint32_t nb_free() const { return free_ring_.size(); }

  // Decode, for decoding straight into slots. A slot the decoder allocates: taken from the free
  // ring without waiting, held by the decoder only (kHoldDecoder); empty when none is free.
  [[nodiscard]] std::optional<std::uint32_t> take_for_decoder();
  // The decoder let go of `index` (its buffer's free callback): the slot returns to the free
  // ring unless the pipeline still has the frame, which then frees it as usual.
  void release_from_decoder(std::uint32_t index);
  // A frame the decoder output in slot `index` enters the pipeline (kHoldPipeline added);
  // empty when that slot is still in the pipeline (a decoder showing one picture twice, and an
  // output still encoding the first), for the caller to copy that frame instead.
  [[nodiscard]] std::optional<Slot> adopt_decoded(std::uint32_t index);
  [[nodiscard]] std::uint8_t* slot_data(std::uint32_t index) const { return data(index); }
  // Which slot `data` (a pointer into some slot's data) lies in; empty if none.
  [[nodiscard]] std::optional<std::uint32_t> slot_of(const std::uint8_t* data) const;

 private:
  friend class Slot;
  friend class FrameRing;
  friend class RunSegment;
  // The holder `hold` (a SlotHold bit, output_hold) lets go of `index`: the last holder returns
  // it to the free ring. Also the scheduler's, for a dead worker's finished frames. True when no
  // frame hold is left (the frame left the pipeline; the decoder may still hold the slot).
  bool release(std::uint32_t index, std::uint32_t hold = kHoldPipeline);
  void push_free(std::uint32_t index);
  static void claim_spare(void* self, std::uint32_t index);
  static void publish_free(void* self, std::uint32_t index);
  FrameDesc& desc(std::uint32_t index) const;
  std::uint8_t* data(std::uint32_t index) const;

  ControlBlock* control_ = nullptr;
  std::uint8_t* base_ = nullptr;
  IndexRing free_ring_ = IndexRing::attach(nullptr);
};

}  // namespace vpipe::shm
