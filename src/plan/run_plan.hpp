// RunPlan: everything decided before any stage starts, checked in full first (a bad input,
// filter, codec or output fails here, in the parent, before a process or segment exists).
// The scheduler serialises it as JSON into the run segment; every stage reads it from there.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "affinity/cpu_plan.hpp"
#include "decode/decoder.hpp"
#include "encode/audio_copy.hpp"
#include "encode/encoder.hpp"
#include "plan/options.hpp"
#include "shm/run_segment.hpp"
#include "transform/picture.hpp"

namespace vpipe::plan {

struct RunPlan {
  std::string input;  // as the user gave it
  std::string input_format;
  double input_timeout_s = 10;
  std::vector<std::string> maps;  // -map
  std::map<std::string, std::string> input_options;
  decode::InputInfo input_info;
  bool live = false;      // deadlines and drops instead of backpressure
  bool realtime = false;  // decode paces the input at its native rate
  double latency_budget_ms = 500;
  bool drop_oldest = true;                 // live, pipeline full: evict the oldest queued frame
  std::string live_encoder_note;           // the low-latency encoder settings live mode chose
  std::string vf;                          // canonical chain text
  std::vector<transform::Geometry> steps;  // input, then after each filter
  bool needs_spare = false;
  bool null_output = false;        // nothing encoded: -o null or -o preview
  bool preview = false;            // frames shown in a window (-o preview, --tee preview)
  bool copy_audio = false;         // audio goes into the output (copied or re-encoded)
  std::string audio_encoder;       // empty: stream copy
  std::int64_t audio_bitrate = 0;  // 0: the encoder's default
  // Not a file: decode reads the audio with the video and hands it to encode (the audio ring).
  bool audio_from_decode = false;
  // Container tags and rotation side data (-map_metadata -1: not).
  bool keep_metadata = true;
  // Clockwise quarter turns (0, 90, 180, 270) the chain starts with to show a rotated input
  // upright, where the output could not say how to show it (see autorotation()); the rotation
  // side data is then not carried.
  int autorotate_degrees = 0;
  AVRational output_rate{0, 1};     // -r; 0/1: the input's rate, timestamps as they are
  AVRational display_aspect{0, 1};  // -aspect; 0/1: the input's, through the chain
  double start_s = 0;               // -ss, 0: from the start
  double duration_s = 0;            // -t, 0: to the end
  // The chain `vf` cut for the stages: the transform workers run `vf_workers`; the encode stage
  // runs `vf_in_order` (from the first filter that must see frames in order) on every frame, in
  // order, before encoding it. With no per-frame part, the workers run the whole chain on one
  // worker instead (see plan_stages).
  std::string vf_workers;
  std::string vf_in_order;
  // The chain's end from its first filter that gives frames of its own (yadif, fps, select,
  // setpts, palettegen: see transform::lavfi_own_frames_reason): one libavfilter graph in the
  // encode stage, after `vf_in_order`, fed every frame in order and drained when the input
  // ends. Its input's size, and the frame rate it gives (0/1: variable, as select's).
  std::string vf_graph;
  transform::Geometry vf_graph_input;
  AVRational vf_graph_rate{0, 1};
  // -o given more than once: the outputs after the first, each planned as a run of its own
  // options (its encoder, container, audio and chain), sharing this run's decode and workers:
  // the workers run the part of the chains all outputs share (`vf_workers`, the same in each),
  // and the encode stage each output's own `vf_in_order` and `vf_graph`.
  std::vector<RunPlan> more_outputs;
  // Every output, -o's first first: output(0) is this plan, output(k) more_outputs[k - 1].
  [[nodiscard]] std::size_t nb_outputs() const { return more_outputs.size() + 1; }
  [[nodiscard]] const RunPlan& output(std::size_t i) const {
    return i == 0 ? *this : more_outputs[i - 1];
  }
  // A later output: its branch (own filters, -r, encoder, muxer), or its -c copy remux, runs in
  // a process of its own ("encode-N"), not in the encode stage. Every later output but one that
  // takes a stream input's audio from decode's ring, which encode reads for all.
  bool own_process = false;
  // Its own process takes encode's frames through a ring (shm::OutputRing): a copy takes none.
  [[nodiscard]] bool fed_by_ring() const { return own_process && !stream_copy(); }
  // Written at the end, listing every output's HLS playlist (--master-playlist, or ffmpeg's
  // -master_pl_name given with several outputs); empty: none.
  std::string master_playlist;
  std::int64_t max_frames = 0;        // -frames:v, 0: every frame
  std::optional<PtsRange> pts_range;  // a segment job: exactly these frames (see PtsRange)
  // What happens to the input's audio and subtitles, for the plan and the log.
  std::string audio_note;
  std::string subtitle_note;  // empty when the input has none
  encode::EncoderSettings encoder;
  int nb_workers = 1;  // worker processes: the most the pool takes frames with
  // The fewest the pool shrinks to when its workers idle; nb_workers: a fixed pool (see
  // supervisor/policy.hpp, resize_workers).
  int min_workers = 1;
  std::uint32_t window = 0;
  std::uint32_t batch = 1;
  int max_restarts = 5;  // transform worker restarts before the run gives up
  // Supervision (the supervisor's alone): --hang-timeout, --drain-timeout (0: never), and how
  // progress is shown (auto, json, none).
  double hang_timeout_s = 20;
  double drain_timeout_s = 30;
  std::string progress = "auto";
  std::string progress_file;             // empty: stderr
  std::uint64_t memory_limit_bytes = 0;  // the cgroup's (affinity::Topology), 0: none
  std::string memory_note;               // how the run fits in it, for --dry-run
  std::uint32_t nb_slots = 0;
  // Of those, the slots the decoder may keep as its references when it decodes straight into
  // slots (0: it decodes into its own memory and decode copies each picture into a slot).
  std::uint32_t decoder_slots = 0;
  std::uint64_t slot_bytes = 0;
  std::uint64_t segment_bytes = 0;
  affinity::CpuPlan cpus;
  // The decoder's threads (0: libavcodec decides, when decode is not pinned), and why so many,
  // for --dry-run (see plan/thread_budget.hpp).
  int decoder_threads = 0;
  std::string decoder_note;
  // Each worker's filters' threads, OpenCV's and libavfilter's (its share, see plan_threads).
  int worker_threads = 1;
  bool quiet = false;
  std::string log_level = "info";
  std::string log_file;

  [[nodiscard]] transform::Geometry output_geometry() const { return steps.back(); }
  // The frames decode reads at most, for -frames:v: the most any output takes; none (0) where
  // an output takes every frame, or counts the frames its own graph gives (encode counts those).
  [[nodiscard]] std::int64_t decode_frame_limit() const {
    std::int64_t most = 0;
    for (std::size_t i = 0; i < nb_outputs(); ++i) {
      const RunPlan& p = output(i);
      if (p.stream_copy()) continue;  // it reads the input file itself
      if (p.max_frames == 0 || !p.vf_graph.empty()) return 0;
      most = std::max(most, p.max_frames);
    }
    return most;
  }
  // The output's nominal frame rate: -r's, else the chain's graph's where it sets one (fps=10),
  // else the input's; 0/1 where the graph's is variable.
  [[nodiscard]] AVRational output_frame_rate() const {
    if (output_rate.num > 0) return output_rate;
    return vf_graph.empty() ? input_info.frame_rate : vf_graph_rate;
  }
  [[nodiscard]] const std::vector<int>& cpus_of(const std::string& stage) const;
  // The later outputs encoded in processes of their own.
  [[nodiscard]] int nb_output_processes() const {
    return static_cast<int>(std::count_if(more_outputs.begin(), more_outputs.end(),
                                          [](const RunPlan& p) { return p.own_process; }));
  }
  // How decode opens the input: its decoder's threads, forced format, timeout.
  [[nodiscard]] decode::OpenSettings open_settings() const;
  // Where the output starts on the input's timeline, in seconds: -ss from the video's start;
  // else the first timestamp of any stream, as the ffmpeg CLI does (an MPEG-TS recording that
  // starts at 95001 s gives an output that starts at 0). Timelines that start below 0 (audio
  // priming) are left as they are: the muxer handles those.
  // -c:v copy: the video's packets are remuxed, not decoded (see stage/stream_copy.hpp).
  [[nodiscard]] bool stream_copy() const { return encoder.codec == "copy"; }
  [[nodiscard]] double origin_s() const {
    if (pts_range) return static_cast<double>(pts_range->origin) * av_q2d(input_info.time_base);
    // -ss counts from the file's start, the earliest of its streams (as the ffmpeg CLI's).
    return start_s > 0 ? input_info.timeline_start_s + start_s
                       : std::max(0.0, input_info.timeline_start_s);
  }
  // What the output stream keeps from the input: timing, aspect ratio, colour, rotation, tags.
  [[nodiscard]] encode::StreamParams stream_params() const;
  // The run segment's shape.
  [[nodiscard]] shm::SegmentSpec segment_spec() const;
  // Frames the output should get (for progress, ETA and the metrics): the input's, less what
  // -ss skips and -t/-to leave out, at the -r rate, at most -frames; 0 when unknown (a live
  // source, an input without a duration).
  [[nodiscard]] std::int64_t expected_frames() const;
  [[nodiscard]] std::int64_t latency_budget_ns() const {
    return static_cast<std::int64_t>(latency_budget_ms * 1e6);
  }
};

// The part of the plan that needs no input: options checked, chain parsed, workers and CPU
// sets. Decode is started (and pinned) from this, and opens the input itself.
RunPlan plan_stages(const RunOptions& options, const affinity::Topology& topology);

// Whether a rotated input is turned upright for `options`' output (RunPlan::autorotate_degrees).
bool autorotates(const RunOptions& options);

// Probes the input, parses the chain, checks the encoder and output, plans CPUs and memory.
// Throws vpipe::Error with the one-line reason.
RunPlan make_plan(const RunOptions& options, const affinity::Topology& topology);
// The same from plan_stages' result, for an input already probed (by the decode stage, which
// keeps it open).
RunPlan make_plan(const RunOptions& options, RunPlan stages, const decode::InputInfo& input);

// InputInfo as JSON, for the decode stage's answer to the scheduler.
std::string input_info_to_json(const decode::InputInfo& info);
decode::InputInfo input_info_from_json(std::string_view json);

std::string to_json(const RunPlan& plan);
RunPlan plan_from_json(std::string_view json);

// The human-readable plan printed by --dry-run.
std::string describe(const RunPlan& plan);

// The frame pool's size: a pure function of the run's shape, so that it is table-tested
// (tests/plan/pool_size_test.cpp).
struct PoolInputs {
  int nb_workers = 1;
  bool live = false;
  double latency_budget_ms = 0;
  double frame_rate = 25;
  int window = 0;                           // --window; 0: from the plan
  int batch = 0;                            // --batch; 0: from the plan
  bool needs_spare = false;                 // a filter writes out of place: a spare per batch frame
  std::uint64_t decoded_picture_bytes = 0;  // > 0: the decoder decodes straight into slots
  int decoder_threads = 1;
};
struct PoolSize {
  std::uint32_t window = 0;  // frames in flight
  std::uint32_t batch = 0;   // frames a worker claims at once
  std::uint32_t nb_slots = 0;
  std::uint32_t decoder_slots = 0;  // of nb_slots, the decoder's references
  std::uint64_t decoded_bytes = 0;  // a slot must hold a decoded picture this large
};
// Throws vpipe::Error (kUsage) for a --batch larger than the window.
PoolSize size_pool(const PoolInputs& in);

// The pool under a memory limit (a cgroup's memory.max; 0: none): the window is lowered, when the
// user did not give it, until the segment (`segment_bytes` of a pool) and the processes' own
// memory (`process_bytes`) fit, down to one frame per worker and two more. Throws vpipe::Error
// (kUsage) with what the run needs when even that does not fit.
struct MemoryFit {
  PoolSize pool;
  std::uint64_t needed = 0;  // segment + processes
  std::string note;          // for --dry-run; empty without a limit
};
MemoryFit fit_pool_to_memory(PoolInputs in, std::uint64_t limit, std::uint64_t process_bytes,
                             const std::function<std::uint64_t(const PoolSize&)>& segment_bytes);

// The output's audio as the plan says (copied or re-encoded, from decode's ring as `ring`'s reader,
// or from the input file), or null for none.
std::unique_ptr<encode::AudioTrack> open_audio_track(const RunPlan& plan,
                                                     std::optional<encode::AudioRingReader> ring);

}  // namespace vpipe::plan
