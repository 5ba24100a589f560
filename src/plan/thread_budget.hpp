// How many threads the decoder and the workers' libavfilter graphs run: their shares of the
// job's work, not every CPU they may use.
//
// libavcodec's frame threads cost CPU of their own (each thread decodes a frame ahead and
// waits for its references): on this project's 2-core machine H.264 1080p decoding takes 8%
// more CPU per frame with two threads than with one, and in a pipeline whose encoder keeps the
// cores busy the extra threads only contend with it (scale -> x264: the whole job 5% more CPU
// per frame, and slower). The ffmpeg CLI gives every decoder a thread per core and one more.
// vpipe's stages run at once, so the decoder needs only enough threads to keep up with the
// rest: its share of the work, estimated from what each stage does to how many pixels.
//
// The costs are coarse (milliseconds per megapixel on one core of this project's machine,
// measured with the ffmpeg CLI on 720p and 1080p clips); only their ratios matter, and only
// within a factor of about two. Table-tested in tests/plan/thread_budget_test.cpp.
#pragma once

#include <string_view>

namespace vpipe::plan {

// Decoding one megapixel of `codec` (libavcodec's decoder names: h264, hevc, mpeg4...).
double decode_ms_per_megapixel(std::string_view codec);
// Encoding one megapixel with `encoder` at `preset` (empty: the encoder's default); 0 for
// nothing encoded ("null").
double encode_ms_per_megapixel(std::string_view encoder, std::string_view preset);
// One filter of a chain ("gblur=sigma=3", "scale=1280:720"), per megapixel of its output.
double filter_ms_per_megapixel(std::string_view filter);

// The decoder's threads: its share of the job's estimated work per frame (`decode_ms` of
// `decode_ms + rest_ms`) of the CPUs the run has, rounded, at least 1 and at most `cpus`.
// `cpus` 0 (not pinned): 0, libavcodec decides.
int decoder_threads(double decode_ms, double rest_ms, int cpus);
// The threads of each worker's filters (libavfilter's slice threads, OpenCV's): the workers' share
// of the job (`filter_ms` of `total_ms`) of the CPUs each may use, split between `nb_workers`,
// rounded up, at least 1 and at most `cpus`. `cpus` 0 (not pinned): 1. With a core of its own a
// worker runs one; where every stage shares every core, the workers run only their share, as the
// decoder does.
int worker_threads(double filter_ms, double total_ms, int nb_workers, int cpus);

}  // namespace vpipe::plan
