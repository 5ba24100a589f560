// The options of a run, each defined once: its flags, its config key, its help text, how its
// value is parsed into RunOptions, and whether it belongs to one output. The command line
// (plan::RunFlags), the config file (apply_config_file) and a later output's options
// (output_options, a config's `outputs:` items) are all read through this table, so a flag and its
// key cannot disagree, and a new option is one entry.
#pragma once

#include <string>
#include <vector>

#include "plan/options.hpp"

namespace vpipe::plan {

// Where a value came from: named in an error, and a config's folder for its relative paths.
struct OptionSource {
  std::string name;  // the flag ("--workers") or the config's key ("workers")
  std::string file;  // the config file; empty: the command line
  [[nodiscard]] bool config() const { return !file.empty(); }
  // Usage error: the value is not what the option takes (`wanted`: "a whole number").
  [[noreturn]] void wrong_value(const std::string& text, const char* wanted) const;
};

// How an option's value is given.
enum class Takes {
  kValue,      // one value: --crf 23, crf: 23
  kSwitch,     // no value on the command line; true or false in a config
  kList,       // repeatable: --map A --map B, map: [A, B] (replaces the config's)
  kKeyValues,  // repeatable key=value: --codec-opt k=v, codec_options: {k: v} (merged)
};

struct RunOption {
  const char* flags;  // CLI11's names: "-w,--workers"
  const char* key;    // the config key; nullptr: the command line only
  Takes takes;
  const char* value_name;  // what --help shows after the flag: "N", "TIME"; nullptr: a switch
  const char* help;
  // Writes the values into `o`: the one value (the last given), "true"/"false" for a switch,
  // every item of a list, every "key=value". Throws vpipe::Error (kUsage) naming `from`.
  void (*set)(RunOptions& o, const std::vector<std::string>& values, const OptionSource& from);
  // An output's own option (ffmpeg's output options: its file, container, chain, encoder and its
  // settings, size, pixel format, -frames:v, audio): copies the field from one output's options to
  // another's. nullptr: the option applies to the whole run.
  void (*copy)(RunOptions& to, const RunOptions& from);

  [[nodiscard]] std::string long_flag() const;  // "--workers"
  [[nodiscard]] std::string names() const;      // "-w/--workers", for an error
};

// Every run option except --config and --help, in the order --help lists them.
const std::vector<RunOption>& run_option_table();

}  // namespace vpipe::plan
