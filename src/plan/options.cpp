#include "plan/options.hpp"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "common/error.hpp"
#include "common/stage_id.hpp"
#include "plan/option_table.hpp"

extern "C" {
#include <libavutil/parseutils.h>
}

namespace vpipe::plan {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxWorkers = StageId::kMaxWorkers;  // each has its place in the stats

std::string key_text(const YAML::Node& node, const std::string& file) {
  if (!node.IsScalar()) fail(ExitCode::kUsage, "config '" + file + "': a key is not a plain name");
  return node.Scalar();
}

// `node` as one value of a `takes` option, as text; `from` names it in an error.
std::vector<std::string> values_of(const YAML::Node& node, Takes takes, const OptionSource& from) {
  const auto text = [&](const YAML::Node& n) {
    if (!n.IsScalar()) from.wrong_value("", takes == Takes::kList ? "a list of values" : "a value");
    return n.Scalar();
  };
  switch (takes) {
    case Takes::kSwitch:
      try {
        return {node.as<bool>() ? "true" : "false"};
      } catch (const YAML::Exception&) {
        from.wrong_value("", "true or false");
      }
    case Takes::kValue:
      return {text(node)};
    case Takes::kList: {
      if (!node.IsSequence()) return {text(node)};
      std::vector<std::string> items;
      for (const auto& item : node) items.push_back(text(item));
      return items;
    }
    case Takes::kKeyValues: {
      if (!node.IsMap())
        fail(ExitCode::kUsage, "config '" + from.file + "': " + from.name + " must be a map");
      std::vector<std::string> items;
      for (const auto& kv : node)
        items.push_back(key_text(kv.first, from.file) + "=" + text(kv.second));
      return items;
    }
  }
  return {};
}

// Applies a map of config keys (run_option_table()'s) onto `o`; `one_output` limits them to an
// output's own (an item of `outputs:`). `outputs` reads the outputs: key, where it may be given.
void apply_keys(const YAML::Node& map, RunOptions& o, const std::string& path, bool one_output,
                const std::function<void(const YAML::Node&)>& outputs) {
  std::set<std::string> seen;
  for (const auto& kv : map) {
    const std::string key = key_text(kv.first, path);
    if (!seen.insert(key).second)
      fail(ExitCode::kUsage, "config '" + path + "': key '" + key + "' is given twice");
    if (key == "outputs" && outputs) {
      outputs(kv.second);
      continue;
    }
    const auto& table = run_option_table();
    const auto option = std::find_if(table.begin(), table.end(), [&](const RunOption& r) {
      return r.key != nullptr && key == r.key;
    });
    if (option == table.end())
      fail(ExitCode::kUsage, "config '" + path + "': unknown key '" + key + "'");
    if (one_output && option->copy == nullptr) {
      fail(ExitCode::kUsage, "config '" + path + "': key '" + key +
                                 "' applies to the whole run, not to one of its outputs");
    }
    const OptionSource from{key, path};
    option->set(o, values_of(kv.second, option->takes, from), from);
  }
}

}  // namespace

void apply_config_file(const std::string& path, RunOptions& o) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    fail(ExitCode::kUsage, "config '" + path + "': cannot be read");
  } catch (const YAML::Exception& e) {
    fail(ExitCode::kUsage, "config '" + path + "': malformed YAML at line " +
                               std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (root.IsNull()) return;
  if (!root.IsMap()) fail(ExitCode::kUsage, "config '" + path + "': must be a map of settings");
  // outputs: a list of outputs, each a map of its own keys (output: and its options), from one
  // decode; the first is the run's output.
  const auto outputs = [&](const YAML::Node& v) {
    if (!v.IsSequence() || v.size() == 0)
      fail(ExitCode::kUsage, "config '" + path + "': outputs must be a list of outputs");
    if (root["output"])
      fail(ExitCode::kUsage, "config '" + path + "': give output or outputs, not both");
    o.more_outputs.clear();
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!v[i].IsMap() || !v[i]["output"]) {
        fail(ExitCode::kUsage,
             "config '" + path + "': each of outputs is a map with an output: key");
      }
      RunOptions output;
      apply_keys(v[i], output, path, /*one_output=*/true, nullptr);
      if (i == 0) {
        copy_output_options(o, output);
      } else {
        o.more_outputs.push_back(output);
      }
    }
  };
  apply_keys(root, o, path, /*one_output=*/false, outputs);
}

RunOptions for_output(const RunOptions& run, const RunOptions& output) {
  RunOptions o = run;
  o.more_outputs.clear();
  o.tee.clear();
  copy_output_options(o, output);
  return o;
}

RunOptions encoded_output_first(RunOptions options) {
  if (options.codec != "copy") return options;
  for (RunOptions& later : options.more_outputs) {
    if (later.codec == "copy") continue;
    RunOptions copy;
    copy_output_options(copy, options);
    copy_output_options(options, later);
    copy_output_options(later, copy);
    break;
  }
  return options;
}

void copy_output_options(RunOptions& o, const RunOptions& output) {
  for (const RunOption& option : run_option_table()) {
    if (option.copy != nullptr) option.copy(o, output);
  }
}

AVRational parse_rate(const std::string& text) {
  AVRational rate{0, 1};
  if (av_parse_video_rate(&rate, text.c_str()) < 0 || rate.num <= 0 || rate.den <= 0 ||
      av_q2d(rate) > 1000) {
    fail(ExitCode::kUsage, "-r '" + text + "' is not a frame rate like 30, 30000/1001 or ntsc");
  }
  return rate;
}

double parse_time(const std::string& text, const std::string& flag) {
  std::int64_t us = 0;
  if (text.empty() || av_parse_time(&us, text.c_str(), /*duration=*/1) < 0 || us < 0) {
    fail(ExitCode::kUsage,
         flag + " '" + text + "' is not a time like 90, 1.5 or 00:01:30.5 (seconds, or HH:MM:SS)");
  }
  return static_cast<double>(us) / 1e6;
}

AVRational parse_aspect(const std::string& text) {
  AVRational q{0, 1};
  if (text.empty() || av_parse_ratio(&q, text.c_str(), 255, 0, nullptr) < 0 || q.num <= 0 ||
      q.den <= 0) {
    fail(ExitCode::kUsage, "-aspect '" + text + "' is not an aspect ratio like 16:9 or 1.7778");
  }
  return q;
}

std::int64_t parse_bitrate(const std::string& text) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  double scale = 1;
  if (used + 1 == text.size()) {
    switch (std::tolower(static_cast<unsigned char>(text.back()))) {
      case 'k':
        scale = 1e3;
        break;
      case 'm':
        scale = 1e6;
        break;
      case 'g':
        scale = 1e9;
        break;
      default:
        used = 0;
    }
  } else if (used != text.size()) {
    used = 0;
  }
  if (used == 0 || std::isspace(static_cast<unsigned char>(text.front())) ||
      !std::isfinite(value) || !(value * scale >= 1 || value == 0) || value * scale > 1e11) {
    fail(ExitCode::kUsage, "bitrate '" + text + "' is not a rate like 800k or 2M");
  }
  return static_cast<std::int64_t>(value * scale);
}

const std::vector<FlagChoices>& flag_choices() {
  static const std::vector<FlagChoices> choices = {
      {"--live", {"auto", "on", "off"}},
      {"--drop", {"oldest", "newest"}},
      {"--progress", {"auto", "json", "none"}},
      {"--log-level", {"trace", "debug", "info", "warning", "warn", "error", "critical", "off"}},
  };
  return choices;
}

namespace {
// Usage error unless `value` is one of `flag`'s words: "--live 'x' must be auto, on or off".
void check_choice(const char* flag, const std::string& value) {
  for (const FlagChoices& c : flag_choices()) {
    if (std::string(c.flag) != flag) continue;
    if (std::find(c.words.begin(), c.words.end(), value) != c.words.end()) return;
    std::string words;
    for (std::size_t i = 0; i < c.words.size(); ++i)
      words += (i == 0 ? "" : i + 1 == c.words.size() ? " or " : ", ") + c.words[i];
    fail(ExitCode::kUsage, std::string(flag) + " '" + value + "' must be " + words);
  }
}
}  // namespace

void validate(const RunOptions& o) {
  if (o.input.empty())
    fail(ExitCode::kUsage, "no input: give -i FILE|URL|testsrc (see vpipe run --help)");
  if (o.output.empty())
    fail(ExitCode::kUsage, "no output: give -o FILE|URL|null (see vpipe run --help)");
  if (o.workers < 0 || o.workers > kMaxWorkers) {
    fail(ExitCode::kUsage, "--workers " + std::to_string(o.workers) + " is out of range 1.." +
                               std::to_string(kMaxWorkers) + " (0 in a config: from the CPU plan)");
  }
  if (o.min_workers < 0 || (o.workers > 0 && o.min_workers > o.workers)) {
    fail(ExitCode::kUsage, "--workers " + std::to_string(o.min_workers) + "-" +
                               std::to_string(o.workers) + ": the fewest is more than the most");
  }
  if (o.window < 0 || o.window > 1024) {
    fail(ExitCode::kUsage,
         "--window " + std::to_string(o.window) + " is out of range 1..1024 (0: from the plan)");
  }
  if (o.max_restarts < 0 || o.max_restarts > 1000) {
    fail(ExitCode::kUsage,
         "--max-restarts " + std::to_string(o.max_restarts) + " is out of range 0..1000");
  }
  if (!(o.hang_timeout_s >= 0 && o.hang_timeout_s <= 86400)) {
    fail(ExitCode::kUsage, "--hang-timeout must be 0 (off) to 86400 seconds");
  }
  if (!(o.drain_timeout_s >= 0 && o.drain_timeout_s <= 86400)) {
    fail(ExitCode::kUsage, "--drain-timeout must be 0 (no limit) to 86400 seconds");
  }
  if (!(o.metrics_linger_s >= 0 && o.metrics_linger_s <= 86400)) {
    fail(ExitCode::kUsage, "--metrics-linger must be 0 to 86400 seconds");
  }
  if (o.metrics_linger_s > 0 && o.metrics.empty()) {
    fail(ExitCode::kUsage, "--metrics-linger keeps the --metrics endpoint up: give --metrics too");
  }
  if (o.batch < 0 || o.batch > 256)
    fail(ExitCode::kUsage, "--batch " + std::to_string(o.batch) + " is out of range 1..256");
  if (o.crf && (*o.crf < 0 || *o.crf > 63))
    fail(ExitCode::kUsage, "--crf " + std::to_string(*o.crf) + " is out of range 0..63");
  if (o.gop && (*o.gop < 1 || *o.gop > 10000))
    fail(ExitCode::kUsage, "-g " + std::to_string(*o.gop) + " is out of range 1..10000");
  // -b:v 0 with -crf: constant quality with no bitrate target (VP9's, as ffmpeg's).
  if (o.crf && o.bitrate && *o.bitrate > 0)
    fail(ExitCode::kUsage, "--crf and -b:v conflict: choose constant quality or a bitrate");
  if (o.affinity != "auto" && o.affinity != "none" && o.affinity.find('=') == std::string::npos) {
    fail(ExitCode::kUsage, "--affinity '" + o.affinity +
                               "' must be auto, none, or a plan like decode=0;xform=1-3;encode=4");
  }
  check_choice("--live", o.live);
  if (o.realtime && o.live == "off")
    fail(ExitCode::kUsage,
         "--realtime paces the input as a live source: it conflicts with --live off");
  if (!(o.latency_budget_ms >= 1 && o.latency_budget_ms <= 600000))
    fail(ExitCode::kUsage, "--latency-budget must be 1 to 600000 milliseconds");
  check_choice("--drop", o.drop);
  if (!(o.input_timeout_s >= 0 && o.input_timeout_s <= 86400))
    fail(ExitCode::kUsage, "--input-timeout must be 0 (wait forever) to 86400 seconds");
  if (o.duration_s && *o.duration_s <= 0) fail(ExitCode::kUsage, "-t must be a duration above 0");
  if (o.end_s && o.duration_s) fail(ExitCode::kUsage, "-to and -t conflict: give one of them");
  if (o.end_s && *o.end_s <= o.start_s.value_or(0)) {
    fail(ExitCode::kUsage, "-to must come after -ss (it is a point in the input, not a length)");
  }
  if (o.frames && *o.frames < 1) fail(ExitCode::kUsage, "-frames:v must be at least 1");
  if (o.overwrite && o.no_overwrite) fail(ExitCode::kUsage, "-y and -n conflict");
  if (!o.size.empty()) (void)parse_size(o.size);
  if (!o.aspect.empty()) (void)parse_aspect(o.aspect);
  if (o.start_s && o.live == "on")
    fail(ExitCode::kUsage, "-ss cannot seek a live input (--live on)");
  check_choice("--progress", o.progress);
  if (!o.log_level.empty()) check_choice("--log-level", o.log_level);
}

std::string effective_log_level(const RunOptions& o) {
  if (!o.log_level.empty()) return o.log_level;
  return o.quiet ? "warn" : "info";
}

std::pair<int, int> parse_size(const std::string& text) {
  static const std::map<std::string, std::pair<int, int>> kNames = {
      {"qvga", {320, 240}},  {"vga", {640, 480}},    {"svga", {800, 600}},
      {"hd480", {852, 480}}, {"hd720", {1280, 720}}, {"hd1080", {1920, 1080}},
      {"2k", {2048, 1080}},  {"4k", {4096, 2160}},   {"uhd2160", {3840, 2160}}};
  if (const auto it = kNames.find(text); it != kNames.end()) return it->second;
  int w = 0;
  int h = 0;
  char x = 0;
  char extra = 0;
  if (std::sscanf(text.c_str(), "%d%c%d%c", &w, &x, &h, &extra) != 3 || x != 'x' || w < 1 ||
      h < 1 || w > 16384 || h > 16384) {
    fail(ExitCode::kUsage, "-s '" + text + "' must be WIDTHxHEIGHT (e.g. 1280x720) or hd720");
  }
  return {w, h};
}

std::string default_config_path() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  for (const fs::path& candidate : {exe.parent_path() / "../configs/default.yaml",
                                    exe.parent_path() / "../share/vpipe/configs/default.yaml",
                                    fs::path(VPIPE_SOURCE_DIR) / "configs/default.yaml"}) {
    if (fs::exists(candidate, ec)) return candidate.lexically_normal().string();
  }
  return (fs::path(VPIPE_SOURCE_DIR) / "configs/default.yaml").string();
}

}  // namespace vpipe::plan
