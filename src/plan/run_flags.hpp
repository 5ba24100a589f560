// The options of `vpipe run`, shared by every command that runs or plans a pipeline (`vpipe run`,
// `vpipe segments plan`): one definition of each flag, its help text and how it maps onto
// RunOptions (a config file first, then the flags given).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "plan/options.hpp"

namespace vpipe::plan {

class RunFlags {
 public:
  // Adds every run flag to `app`.
  void add_to(CLI::App* app);
  // The options the parsed flags give: the config file (--config, or configs/default.yaml when
  // no -i is given and `default_config` is set), then every flag given. Throws vpipe::Error.
  [[nodiscard]] plan::RunOptions options(bool default_config = true) const;
  // Whether the user gave `name` (e.g. "--ss").
  [[nodiscard]] bool given(const std::string& name) const;

 private:
  CLI::App* app_ = nullptr;
  plan::RunOptions cli;
  std::string config;
  std::string bitrate;
  std::vector<std::string> codec_opts;
  std::vector<std::string> muxer_opts;
  std::vector<std::string> metadata;
  std::string to_text;
  std::vector<std::string> input_opts;
  std::string start_text, duration_text;
  std::string rate_text;
  int map_metadata = 0;
  bool no_autorotate = false;
  std::string audio_bitrate;
  CLI::Option* opt_config = nullptr;
  CLI::Option* opt_input = nullptr;
  CLI::Option* opt_input_format = nullptr;
  CLI::Option* opt_map = nullptr;
  CLI::Option* opt_input_timeout = nullptr;
  CLI::Option* opt_ss = nullptr;
  CLI::Option* opt_r = nullptr;
  CLI::Option* opt_t = nullptr;
  CLI::Option* opt_to = nullptr;
  CLI::Option* opt_frames = nullptr;
  CLI::Option* opt_size = nullptr;
  CLI::Option* opt_aspect = nullptr;
  CLI::Option* opt_no_overwrite = nullptr;
  CLI::Option* opt_output = nullptr;
  CLI::Option* opt_tee = nullptr;
  CLI::Option* opt_format = nullptr;
  CLI::Option* opt_vf = nullptr;
  CLI::Option* opt_codec = nullptr;
  CLI::Option* opt_preset = nullptr;
  CLI::Option* opt_crf = nullptr;
  CLI::Option* opt_bitrate = nullptr;
  CLI::Option* opt_gop = nullptr;
  CLI::Option* opt_pix_fmt = nullptr;
  CLI::Option* opt_map_metadata = nullptr;
  CLI::Option* opt_no_autorotate = nullptr;
  CLI::Option* opt_workers = nullptr;
  CLI::Option* opt_affinity = nullptr;
  CLI::Option* opt_window = nullptr;
  CLI::Option* opt_batch = nullptr;
  CLI::Option* opt_realtime = nullptr;
  CLI::Option* opt_live = nullptr;
  CLI::Option* opt_budget = nullptr;
  CLI::Option* opt_drop = nullptr;
  CLI::Option* opt_audio_codec = nullptr;
  CLI::Option* opt_audio_bitrate = nullptr;
  CLI::Option* opt_an = nullptr;
  CLI::Option* opt_restarts = nullptr;
  CLI::Option* opt_hang = nullptr;
  CLI::Option* opt_drain = nullptr;
  CLI::Option* opt_y = nullptr;
  CLI::Option* opt_faststart = nullptr;
  CLI::Option* opt_quiet = nullptr;
  CLI::Option* opt_progress = nullptr;
  CLI::Option* opt_progress_file = nullptr;
  CLI::Option* opt_level = nullptr;
  CLI::Option* opt_log_file = nullptr;
  CLI::Option* opt_stats = nullptr;
  CLI::Option* opt_metrics = nullptr;
  CLI::Option* opt_metrics_linger = nullptr;
  CLI::Option* opt_metrics_textfile = nullptr;
  CLI::Option* opt_metrics_push = nullptr;
  CLI::Option* opt_master = nullptr;
};

}  // namespace vpipe::plan

namespace vpipe::plan {

// `vpipe run` flags as a list (as a segment manifest stores them) into options, without the
// default config. Throws vpipe::Error (kUsage) for flags that do not parse.
plan::RunOptions parse_run_args(const std::vector<std::string>& args);

// `vpipe run`'s arguments (translated) with -o given more than once, cut as ffmpeg reads them:
// an output's options are those between the output before it and its -o; the first output's,
// and what follows the last output, are the run's. With one output, `run` is all of them.
struct OutputArgs {
  std::vector<std::string> run;
  std::vector<std::vector<std::string>> more;  // each ends with its -o VALUE
};
OutputArgs split_outputs(const std::vector<std::string>& args);
// The options of a later output: the run's, with its own output options (format, chain, codec
// and its settings, size, audio, -frames:v); none from another output, as in ffmpeg. Throws
// vpipe::Error (kUsage) for a flag that applies to the whole run.
RunOptions output_options(const RunOptions& run, const std::vector<std::string>& args);

// ffmpeg-style spellings that CLI11 cannot take as option names (-c:v, -vf, -an, ...), mapped to
// ours; -f before -i names the input's format, as in ffmpeg.
std::vector<std::string> translate_ffmpeg_spellings(const std::vector<std::string>& args);
// Those spellings (the ones taken, not the refused), each with whether it takes a value.
std::vector<std::pair<std::string, bool>> ffmpeg_spellings();

}  // namespace vpipe::plan
