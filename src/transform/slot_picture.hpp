// Reading and writing the Picture that a frame slot holds (its FrameDesc planes).
#pragma once

#include "shm_ring/run_segment.hpp"
#include "transform/picture.hpp"

namespace vpipe::transform {

// The slot's picture as described by its FrameDesc.
Picture picture_in(const shm::Slot& slot);
// Records `picture` (which must lie inside the slot's data) in the slot's FrameDesc.
void set_picture(shm::Slot& slot, const Picture& picture);

}  // namespace vpipe::transform
