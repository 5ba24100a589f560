// Stream copy (-c:v copy, -c copy): the video's packets go from the input's container into the
// output's unchanged, with the audio copied or re-encoded as in any run: cuts (-ss, -t, -to,
// -frames:v) and remuxes at the speed of the disk, with no decode, worker or encode process.
//
// The cut starts at the keyframe at or before -ss (a copy cannot start elsewhere), and the
// audio starts there too, so that the two stay in step; it ends before the first frame at or
// past the end, as the ffmpeg CLI's does.
//
// Run by the supervisor for a run with one output, and by a later output's own process
// (encode-N) for a copy among several outputs, which reads the input file again.
#pragma once

#include <cstdint>
#include <functional>

#include "plan/run_plan.hpp"

namespace vpipe::stage {

struct CopyResult {
  std::uint64_t frames = 0;  // video packets written
  bool stopped = false;      // `keep_going` said stop: the file ends early, finished and playable
};

// Runs `plan` (plan.stream_copy()). `keep_going(frames)` is asked after every packet written
// (with the count so far): false ends the copy there. Throws vpipe::Error for bad input or
// output.
CopyResult run_stream_copy(plan::RunPlan plan,
                           const std::function<bool(std::uint64_t frames)>& keep_going);

}  // namespace vpipe::stage
