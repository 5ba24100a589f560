// FrameDesc: the picture and timing of one frame in a pool slot, and who holds the slot (part
// of the run segment, shm/run_segment.hpp). A frame moves between stages as a slot index in a
// ring, never as pixels (invariant 1, docs/invariants.md).
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

#include "shm/drop_reason.hpp"

namespace vpipe::shm {

inline constexpr int kMaxPlanes = 4;
inline constexpr std::uint32_t kEndOfStream = 0xFFFFFFFFu;

// Where a picture lies in its slot.
struct PlaneLayout {
  std::int32_t width;
  std::int32_t height;
  std::int32_t pix_fmt;  // AVPixelFormat
  std::int32_t nb_planes;
  std::int32_t linesize[kMaxPlanes];
  std::uint64_t offset[kMaxPlanes];  // plane start, relative to the slot's data
};

// The picture and timing of one frame. Written by whoever owns the slot.
struct FrameDesc {
  std::int64_t seq;         // decode order, from 0
  std::int64_t pts;         // in the input stream's time base
  std::int64_t duration;    // in the input stream's time base, 0 if unknown
  std::int64_t capture_ns;  // CLOCK_MONOTONIC when the frame was captured (or decoded)
  // Non-zero (a DropReason) when a stage dropped the frame: it travels on as a tombstone
  // so that encode keeps the order and returns its credit, but is never encoded.
  std::int32_t dropped;
  // How the picture was scanned, as decoded (for deinterlacers: yadif's parity=auto).
  std::int32_t fields;  // FieldOrder
  // The picture as decoded. Written once by decode and never changed, so a frame requeued
  // after a worker crash is processed from exactly what decode produced.
  PlaneLayout source;
  // The picture to hand on: what the last stage produced (a crop moves only this view).
  PlaneLayout picture;
  std::atomic<std::int32_t> owner_pid;  // 0 while queued in a ring (invariant 3)
  std::atomic<std::uint32_t> role;      // SlotRole: how the owner got it, for reclaiming
  // SlotHold bits: who still needs the slot's pixels. It returns to the free ring when the last
  // one lets go.
  std::atomic<std::uint32_t> holds;
};

enum FieldOrder : std::int32_t {
  kProgressive = 0,
  kTopFieldFirst = 1,
  kBottomFieldFirst = 2,
};

// A slot the decoder decoded into is also one of its reference pictures: it stays the
// decoder's after the pipeline is done with the frame, until the decoder lets go of it.
// A later output's encoder in a process of its own reads the slot encode hands it too: its
// own bit (output_hold), so that the slot returns when the last reader lets go.
enum SlotHold : std::uint32_t {
  kHoldPipeline = 1,  // a stage or a ring has it (every slot taken from the free ring)
  kHoldDecoder = 2,   // decode's decoder references it (see FramePool::adopt_decoded)
};
// Output `output`'s (1 .. kMaxOutputs - 1) hold on a slot encode shared with its process.
constexpr std::uint32_t output_hold(int output) {
  return 2u << output;
}
// Every hold but the decoder's: the frame is in the pipeline while any of them is set.
inline constexpr std::uint32_t kFrameHolds = ~std::uint32_t{kHoldDecoder};
// owner_pid of a slot the decoder took to decode into, before its frame enters the pipeline.
inline constexpr std::int32_t kOwnerDecoder = -1;

// How a process came to own a slot; tells the scheduler what to do with it if that process dies.
enum class SlotRole : std::uint32_t {
  kFree = 0,
  kFrame = 1,  // a frame taken from a ring: requeue it unless its result already moved on
  kSpare = 2,  // taken from the free ring to write into: return it
};
static_assert(std::is_standard_layout_v<FrameDesc>,
              "every process reads it at an offset of the segment: one plain layout for all");
static_assert(std::atomic<std::int32_t>::is_always_lock_free,
              "a lock inside shared memory would stay taken if its holder died");

}  // namespace vpipe::shm
