// Segment-parallel jobs: the manifest (what `vpipe segments plan` decides, written once, read by
// every segment job and the join) and the pure planner that splits a frame list into segments.
//
// A segment is an exact range of the input video's timestamps, [begin_pts, end_pts), decoded
// from the keyframe at or before it (seek_pts) and numbered from the whole job's origin, so the
// segments joined in order hold the frames and timestamps of one run over the whole range.
// Segments are video only; the join adds the audio once, over the whole range.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

extern "C" {
#include <libavutil/rational.h>
}

namespace vpipe::segments {

inline constexpr int kManifestVersion = 1;
inline constexpr std::int64_t kToTheEnd = std::numeric_limits<std::int64_t>::max();

enum class Split { kKeyframes, kGop, kExact };
Split parse_split(const std::string& text);  // throws vpipe::Error (kUsage)
const char* split_name(Split split);

struct Segment {
  int index = 0;
  std::int64_t seek_pts = 0;     // the keyframe decode starts from
  std::int64_t preroll_pts = 0;  // first frame filtered (== begin_pts without pre-roll)
  std::int64_t begin_pts = 0;    // first frame kept
  std::int64_t end_pts = kToTheEnd;
  std::int64_t first_frame = 0;  // number of its first frame in the job
  std::int64_t frames = 0;
  std::int64_t preroll_frames = 0;  // filtered before begin_pts, not encoded
};

// The input's video frames, as the planner needs them: every frame's pts in presentation order
// and the pts of the keyframes (packets a decoder can start from).
struct FrameIndex {
  AVRational time_base{1, 1};
  std::vector<std::int64_t> pts;        // sorted; a timestamp twice for two frames that share it
  std::vector<std::int64_t> keyframes;  // sorted
};

struct SplitRequest {
  Split split = Split::kKeyframes;
  int segments = 0;             // wanted count; 0: from segment_length_s
  double segment_length_s = 0;  // wanted length when segments == 0
  int gop = 0;                  // --split gop: boundaries on multiples of this many frames
  int preroll_frames = 0;       // context for filters that keep state (never before the job)
};

// Splits the frames in [job_begin, job_end) into contiguous segments that cover each of them
// exactly once, each with up to `preroll_frames` frames of the job before it as pre-roll.
// Boundaries fall on keyframes (kKeyframes), on multiples of `gop` frames (kGop) or anywhere
// (kExact), as near the even split as they can; a boundary that would leave a segment empty is
// dropped, so there may be fewer segments than asked. Throws vpipe::Error (kUsage) when there is
// nothing to split or the request is malformed.
std::vector<Segment> split_frames(const FrameIndex& index, std::int64_t job_begin,
                                  std::int64_t job_end, const SplitRequest& request);

// "0,2-4,7": the indices as a Slurm array spec.
std::string format_indices(const std::vector<int>& indices);

struct InputIdentity {
  std::string path;  // absolute
  std::int64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::string head_tail_sha256;  // of its first and last MiB
  bool operator==(const InputIdentity&) const = default;
};

struct Manifest {
  std::string vpipe_version;
  std::string created;  // UTC, ISO 8601
  InputIdentity input;
  std::string output;                 // absolute
  std::vector<std::string> run_args;  // the `vpipe run` flags, input and output included
  std::string options_hash;           // sha256 of run_args (and the version of the format)
  int video_stream = 0;
  AVRational time_base{1, 1};
  AVRational frame_rate{0, 1};
  std::int64_t origin_pts = 0;  // the job's start: output timestamp 0
  std::int64_t frames = 0;
  Split split = Split::kKeyframes;
  int cpus_per_job = 0;         // what the plan suggests (the local engine's default)
  std::uint64_t job_bytes = 0;  // memory one segment job needs: its frame pool and codecs
  std::vector<Segment> segments;
};

std::string to_json(const Manifest& manifest);
Manifest manifest_from_json(const std::string& text);  // throws vpipe::Error (kUsage)

std::string options_hash(const std::vector<std::string>& run_args);
std::string sha256_hex(const std::string& bytes);

}  // namespace vpipe::segments
