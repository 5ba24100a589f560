// Reading and writing the Picture that a frame slot holds (its FrameDesc planes).
#pragma once

#include "plan/run_plan.hpp"
#include "shm/run_segment.hpp"
#include "transform/filter.hpp"
#include "transform/picture.hpp"

namespace vpipe::transform {

// The picture of a slot's frame as decode wrote it (FrameDesc::source).
Picture source_picture(const shm::Slot& slot);
// The picture to hand on (FrameDesc::picture).
Picture current_picture(const shm::Slot& slot);
// Records `picture` (which must lie inside the slot's data) as the slot's picture to hand on,
// and, with `as_source`, as the decoded source too.
void set_picture(shm::Slot& slot, const Picture& picture, bool as_source = false);
// What a filter knows of the slot's frame: its number in the whole input (a segment job's
// frames count from its first), its pts and time base.
FrameContext frame_context(const shm::FrameDesc& desc, const plan::RunPlan& plan);

}  // namespace vpipe::transform
