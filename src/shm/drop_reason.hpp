// Why a frame was dropped: written into its FrameDesc (shm/run_segment.hpp) as it is passed on
// as a tombstone, so that the order and the credits stay exact.
#pragma once

#include <cstdint>

namespace vpipe::shm {

// Why a frame was dropped; written into its FrameDesc as it is passed on, as a tombstone.
enum class DropReason : std::int32_t {
  kNone = 0,
  kLate = 1,      // live: past (or certain to miss) its deadline
  kRingFull = 2,  // live: the pipeline was full when it arrived: the source is never stalled
};

}  // namespace vpipe::shm
