// The options of `vpipe run`, shared by every command that runs or plans a pipeline (`vpipe run`,
// `vpipe segments plan`): one definition of each flag, its help text and how it maps onto
// RunOptions (a config file first, then the flags given).
#pragma once

#include <CLI/CLI.hpp>
#include <deque>
#include <string>
#include <vector>

#include "plan/option_table.hpp"
#include "plan/options.hpp"

namespace vpipe::plan {

class RunFlags {
 public:
  // Adds every run flag (run_option_table(), and --config) to `app`.
  void add_to(CLI::App* app);
  // The options the parsed flags give: the config file (--config, or configs/default.yaml when
  // no -i is given and `default_config` is set), then every flag given. Throws vpipe::Error.
  [[nodiscard]] plan::RunOptions options(bool default_config = true) const;
  // The options given on the command line, in the table's order.
  [[nodiscard]] std::vector<const RunOption*> given() const;

 private:
  [[nodiscard]] bool input_given() const;
  // One table entry's flag and what it was given (a switch: nothing; count() says).
  struct Flag {
    const RunOption* option = nullptr;
    CLI::Option* cli = nullptr;
    std::string value;
    std::vector<std::string> values;
  };
  std::deque<Flag> flags_;  // a deque: CLI11 keeps the addresses of their values
  std::string config_;
  CLI::Option* opt_config_ = nullptr;
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
