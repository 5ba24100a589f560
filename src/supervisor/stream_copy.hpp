// Stream copy (-c:v copy, -c copy): the video's packets go from the input's container into the
// output's unchanged, with the audio copied or re-encoded as in any run: cuts (-ss, -t, -to,
// -frames:v) and remuxes at the speed of the disk, with no decode, worker or encode process.
//
// The cut starts at the keyframe at or before -ss (a copy cannot start elsewhere), and the
// audio starts there too, so that the two stay in step; it ends before the first frame at or
// past the end, as the ffmpeg CLI's does.
#pragma once

#include "plan/run_plan.hpp"

namespace vpipe::supervisor {

// Runs `plan` (plan.stream_copy()). Returns the exit code; throws vpipe::Error for bad input
// or output.
int run_stream_copy(plan::RunPlan plan);

}  // namespace vpipe::supervisor
