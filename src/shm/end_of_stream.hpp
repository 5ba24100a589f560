// The end-of-stream protocol: how every stage learns that no frame is left, in band, through the
// same rings as the frames. All of its ends are here.
//
//   decode      after its last frame, sets ControlBlock::total_frames and pushes one marker per
//               worker into the decoded ring (send_end_of_stream).
//   worker      stops claiming at the first marker it pops, so each takes exactly one; taking
//               it is recorded (EosState::kTaken) under the ring's lock. After its last frame it
//               pushes one marker into the filtered ring (forward_end_of_stream), recorded as
//               kForwarded together with the push.
//   encode      ends once it has seen one marker per worker (EndOfStreamCount), then checks
//               that the frames it received equal total_frames.
//   supervisor  a worker that dies holding its marker (kTaken): reclaim puts the marker back
//               into the decoded ring for its replacement. One that had forwarded it is not
//               restarted. A decode that dies: the supervisor pushes the markers it had not
//               (RunSegment::markers_missing), so the frames already decoded are finished.
//
// The decoded ring holds at least one place per worker beyond the frames in flight, so
// putting a marker back never waits.
#pragma once

#include <chrono>

#include "shm/run_segment.hpp"

namespace vpipe::shm {

// Decode (and the supervisor for a decode that died): `markers` markers into the decoded ring.
// `push` is the caller's bounded wait around FrameRing::push_end_of_stream_for; false when one
// could not be pushed (the run is aborting).
template <typename Push>
bool send_end_of_stream(std::uint32_t markers, Push&& push) {
  for (std::uint32_t i = 0; i < markers; ++i) {
    if (!push()) return false;
  }
  return true;
}

// A worker: hands on the one marker it took, recorded in its own stats.
inline bool forward_end_of_stream(FrameRing& filtered, StageStats& worker,
                                  std::chrono::nanoseconds timeout) {
  return filtered.push_end_of_stream_for(timeout, &worker);
}

// Encode: the stream has ended once every worker's marker has arrived.
class EndOfStreamCount {
 public:
  explicit EndOfStreamCount(std::uint32_t workers) : expected_(workers) {}
  void seen() { ++seen_; }
  [[nodiscard]] bool complete() const { return seen_ >= expected_; }

 private:
  std::uint32_t expected_;
  std::uint32_t seen_ = 0;
};

}  // namespace vpipe::shm
