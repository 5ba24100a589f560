// The credit protocol: how many frames may be in the pipeline at once. Its two ends (decode
// takes, encode gives back) are both here.
//
//   start    RunSegment::create sets ControlBlock::credits to the plan's `window`.
//   decode   takes one credit before a frame enters the pipeline. Offline it waits for one
//            (backpressure: decode never runs more than `window` frames ahead of encode). Live
//            it never waits: with none free it drops the new frame, or (--drop oldest) the new
//            frame takes over the credit of the oldest queued one, which is dropped.
//   encode   gives the credit back exactly once per frame, when the frame leaves the pipeline:
//            when libav lets go of the slot it encoded from (SlotLease, freed with the AVFrame),
//            or at once for a tombstone, a segment job's pre-roll frame or a null output. With
//            later outputs encoded in processes of their own (shm::OutputRing), the slot has a
//            holder each, and whichever lets go last gives the credit back (frame_left); for an
//            output's process that died, the supervisor lets go of its holds in its place
//            (RunSegment::release_output).
//   workers  never take or give back a credit. A worker that dies gives none back: its frames
//            are requeued with their credits still taken.
//
// Hence frames in flight <= window (invariant 2, docs/invariants.md), and encode's reorder
// window, indexed by seq % window, never holds two frames in one place.
#pragma once

#include <chrono>
#include <cstdint>

#include "shm/run_segment.hpp"

namespace vpipe::shm {

// Decode: waits at most `timeout` for a credit; false when none came.
inline bool take_credit_for(ControlBlock& control, std::chrono::nanoseconds timeout) {
  return control.credits.wait_for(timeout);
}
// Decode, live: a credit if one is free, never waiting.
inline bool try_take_credit(ControlBlock& control) {
  return control.credits.try_wait();
}
// Encode: a frame has left the pipeline.
inline void give_back_credit(ControlBlock& control) {
  control.credits.post();
}
// Encode, or an output's own process: lets go of `slot`; the last holder of the frame gives its
// credit back.
inline void frame_left(Slot& slot, ControlBlock& control) {
  if (slot.release_frame()) give_back_credit(control);
}
// The supervisor's view: frames in flight are window - credits_free.
inline int credits_free(ControlBlock& control) {
  return control.credits.value();
}

}  // namespace vpipe::shm
