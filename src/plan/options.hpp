// RunOptions: what the user asked for, from configs/*.yaml and the command line (flags win).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

extern "C" {
#include <libavutil/rational.h>
}

// Two rationals as written (30/1 is not 60/2), for the options' comparison below.
inline bool operator==(const AVRational& a, const AVRational& b) {
  return a.num == b.num && a.den == b.den;
}

namespace vpipe::plan {

// One segment of a segment-parallel job (`vpipe segments run`), in the input video stream's time
// base: decode seeks to the keyframe at or before `seek`, keeps the frames with pts in
// [preroll, end), and numbers the output from `origin`, the whole job's start, so that segments
// joined in order carry the timestamps one run over the whole range would. Frames from
// `preroll` to `begin` go through the filters (a filter that keeps state across frames gets its
// context) but are not encoded. Filters see frame numbers from `seq_base` (absolute in the job).
struct PtsRange {
  std::int64_t seek = 0;
  std::int64_t preroll = 0;
  std::int64_t begin = 0;
  std::int64_t end = 0;
  std::int64_t origin = 0;
  std::int64_t seq_base = 0;
  bool operator==(const PtsRange&) const = default;
};

struct RunOptions {
  std::string input;
  std::string input_format;       // forced demuxer or device (e.g. v4l2); empty to probe
  std::vector<std::string> maps;  // -map: which video (and audio) stream of the input
  std::map<std::string, std::string> input_options;  // demuxer/device options (video_size, ...)
  double input_timeout_s = 10;  // network inputs: seconds without data before giving up; 0: wait
  // Live mode: frames have deadlines (capture + latency budget) and are dropped rather than let
  // the pipeline fall behind the source. auto: on for cameras, network streams and --realtime.
  std::string live = "auto";
  bool realtime = false;  // pace the input at its native rate and treat it as live (ffmpeg -re)
  double latency_budget_ms = 500;
  std::string drop = "oldest";    // live, pipeline full: drop the oldest queued frame or the newest
  std::optional<double> start_s;  // -ss: start this far into the input (output starts at 0)
  std::optional<double> duration_s;    // -t: stop after this much of the input
  std::optional<double> end_s;         // -to: stop at this point of the input (-t is end - start)
  std::optional<std::int64_t> frames;  // -frames:v: stop after this many frames
  std::optional<AVRational> rate;      // -r: the output's frame rate
  std::optional<PtsRange> pts_range;   // a segment job's frames (replaces -ss/-t)
  std::string output;
  std::string tee;     // a second output beside -o: "preview" (a window)
  std::string format;  // output container, empty to guess from the output name
  std::string vf;
  std::string codec;  // -c:v; empty: libx264, or the container's own where it cannot hold H.264
  std::string preset;
  std::optional<int> crf;
  std::optional<std::int64_t> bitrate;
  std::optional<int> gop;
  std::map<std::string, std::string> codec_options;
  std::map<std::string, std::string> muxer_options;  // -movflags, -hls_time, ... for the muxer
  std::map<std::string, std::string> metadata;       // -metadata: the output's container tags
  std::string size;    // -s WxH: the output's size (a scale after the chain)
  std::string aspect;  // -aspect 16:9 or 1.7778: the output's display aspect ratio
  // Transform workers: the most (0: auto, from the CPU plan), and the fewest the pool shrinks to
  // when they idle (0: as many as `workers`, a fixed count; auto: 1). See --workers.
  int workers = 0;
  int min_workers = 0;
  std::string affinity = "auto";
  int decoder_threads = 0;  // 0: auto, the decoder's share of the job (plan/thread_budget.hpp)
  int window = 0;           // frames in flight; 0: derived from the number of workers
  int batch = 0;            // frames a worker claims per wake-up; 0: adaptive
  int max_restarts = 5;     // transform worker restarts before the run gives up
  // A worker silent this long while holding frames is restarted; 0: never.
  double hang_timeout_s = 20;
  // After a stop signal, seconds the drain may take before the run is aborted (a stage stopped
  // or wedged would hold it forever); 0: no limit.
  double drain_timeout_s = 30;
  bool no_audio = false;    // -an
  std::string audio_codec;  // -c:a: copy, or an audio encoder (aac, ...); empty: copy if the
                            // container can hold the input's codec, else its default encoder
  std::optional<std::int64_t> audio_bitrate;  // -b:a, when re-encoding
  bool no_metadata = false;  // -map_metadata -1: no container tags, no rotation side data
  // Turn a rotated input upright (see RunPlan::autorotate_degrees): unset, where the output
  // needs it; false: never (-noautorotate); true: always (a segment job whose own container
  // differs from the final output's).
  std::optional<bool> autorotate;
  std::string pix_fmt;  // -pix_fmt: the encoder's pixel format
  bool overwrite = false;
  bool no_overwrite = false;  // -n: refuse an existing output (the default; conflicts with -y)
  bool faststart = false;     // classic MP4 (index first) instead of crash-tolerant fragmented MP4
  bool dry_run = false;
  bool quiet = false;
  std::string progress =
      "auto";                 // auto (a line on a terminal, periodic lines otherwise), json, none
  std::string progress_file;  // where progress goes: a file, or fd:N; empty: stderr
  std::string log_level;      // empty: info, or warn with -q (see effective_log_level)
  std::string log_file;
  std::string stats_json;
  std::string metrics;           // [HOST:]PORT for the Prometheus endpoint; empty: none
  double metrics_linger_s = 0;   // the endpoint stays up this long after the run
  std::string metrics_textfile;  // node_exporter textfile written at the end; empty: none
  std::string metrics_push;      // Pushgateway URL pushed to at the end; empty: none
  // -o given more than once: the outputs after the first, each with this run's options but its
  // own output options (see for_output()), from one decode.
  std::vector<RunOptions> more_outputs;
  // A master playlist listing every output, each an HLS playlist (an ABR ladder); empty: none.
  std::string master_playlist;

  // Every field the same: the same run (a flag and its config key give the same options).
  bool operator==(const RunOptions&) const = default;
};

// Applies a YAML config file onto `options`. A relative input path is taken relative to the
// file's folder (so a config can name files beside it); outputs are relative to the current
// folder, like the command line's. Throws vpipe::Error (kUsage) for a missing or malformed file or
// unknown keys.
void apply_config_file(const std::string& path, RunOptions& options);

// The run's options for one of its outputs: `run`'s, with the output options of `output` (the
// options of run_option_table() that belong to one output), and no other output.
// copy_output_options() copies just those.
RunOptions for_output(const RunOptions& run, const RunOptions& output);
void copy_output_options(RunOptions& to, const RunOptions& output);
// Several outputs whose first is -c copy (`-c copy full.mkv -c:v libx264 small.mp4`, as ffmpeg
// users write it): the first encoded output and the copy change places, since -o's first output
// is the pipeline's and a copy remuxes beside it (RunPlan::own_process). The outputs are then
// reported in that order. Anything else is returned as it is.
RunOptions encoded_output_first(RunOptions options);

// "90", "1.5", "00:01:30.5" -> seconds (ffmpeg's duration syntax). Throws vpipe::Error (kUsage)
// naming `flag`.
double parse_time(const std::string& text, const std::string& flag);

// "30", "30000/1001", "ntsc" -> a frame rate. Throws vpipe::Error (kUsage).
AVRational parse_rate(const std::string& text);

// "2M", "500k", "800000" -> bits per second; "0": no target (with -crf: constant quality). Throws
// vpipe::Error (kUsage).
std::int64_t parse_bitrate(const std::string& text);

// The log level a run uses: --log-level's, else info, or warn with -q (a quiet run says only what
// went wrong).
std::string effective_log_level(const RunOptions& o);

// "1280x720" or ffmpeg's size names (hd720, vga, ...). Throws vpipe::Error (kUsage).
std::pair<int, int> parse_size(const std::string& text);
// "16:9", "4/3" or "1.7778" (ffmpeg's -aspect: numerator and denominator at most 255). Throws
// vpipe::Error (kUsage).
AVRational parse_aspect(const std::string& text);

// Range and consistency checks shared by the config and the command line.
void validate(const RunOptions& options);

// The flags of `vpipe run` that take one of a few words, and the words (validate() checks them;
// shell completion offers them).
struct FlagChoices {
  const char* flag;
  std::vector<std::string> words;
};
const std::vector<FlagChoices>& flag_choices();

// configs/default.yaml next to the installed binary or in the source tree.
std::string default_config_path();

}  // namespace vpipe::plan
