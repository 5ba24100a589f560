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
#include "decode/decoder.hpp"

extern "C" {
#include <libavutil/parseutils.h>
}

namespace vpipe::plan {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxWorkers = 64;

template <typename T>
T scalar(const YAML::Node& node, const std::string& key, const std::string& file) {
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    fail(ExitCode::kUsage,
         "config '" + file + "': key '" + key + "' has a value of the wrong type");
  }
}

std::string key_text(const YAML::Node& node, const std::string& file) {
  if (!node.IsScalar()) fail(ExitCode::kUsage, "config '" + file + "': a key is not a plain name");
  return node.Scalar();
}

std::string resolve_path(const std::string& value, const fs::path& base) {
  if (value.empty() || value == "-" || value.find(':') != std::string::npos ||
      decode::is_test_source(value)) {
    return value;
  }
  const fs::path p(value);
  return p.is_absolute() ? value : (base / p).lexically_normal().string();
}

template <typename T>
struct ValueOf {
  using type = T;
};
template <typename T>
struct ValueOf<std::optional<T>> {
  using type = T;
};

}  // namespace

namespace {

using Handler = std::function<void(const YAML::Node&, const std::string&)>;

// The keys of one output (an item of `outputs:`); the others are the run's.
const std::set<std::string, std::less<>>& output_keys() {
  static const std::set<std::string, std::less<>> keys = [] {
    std::set<std::string, std::less<>> k;
    for (const OutputOption& o : output_option_table()) k.insert(o.key);
    return k;
  }();
  return keys;
}

// The table of config keys, each writing into `o` (one entry per key, beside the parser of its
// value): long because there are forty keys, and clearer whole than split. The set of keys a
// config may hold is exactly what is handled here.
std::map<std::string, Handler> config_keys(RunOptions& o, const std::string& path,
                                           const fs::path& base) {
  // A plain value: the field's own type (or the type inside its optional).
  const auto value = [&]<typename Field>(Field RunOptions::*field) -> Handler {
    return [&o, field, &path](const YAML::Node& v, const std::string& key) {
      o.*field = scalar<typename ValueOf<Field>::type>(v, key, path);
    };
  };
  const auto string_map = [&](std::map<std::string, std::string> RunOptions::*field) -> Handler {
    return [&o, field, &path](const YAML::Node& v, const std::string& key) {
      if (!v.IsMap()) fail(ExitCode::kUsage, "config '" + path + "': " + key + " must be a map");
      for (const auto& opt : v)
        (o.*field)[key_text(opt.first, path)] = scalar<std::string>(opt.second, key, path);
    };
  };
  std::map<std::string, Handler> handlers = {
      {"input",
       [&](const YAML::Node& v, const std::string& key) {
         o.input = resolve_path(scalar<std::string>(v, key, path), base);
       }},
      {"output", value(&RunOptions::output)},
      {"tee", value(&RunOptions::tee)},
      {"format", value(&RunOptions::format)},
      {"vf", value(&RunOptions::vf)},
      {"codec", value(&RunOptions::codec)},
      {"preset", value(&RunOptions::preset)},
      {"crf", value(&RunOptions::crf)},
      {"bitrate",
       [&](const YAML::Node& v, const std::string& key) {
         o.bitrate = parse_bitrate(scalar<std::string>(v, key, path));
       }},
      {"gop", value(&RunOptions::gop)},
      {"codec_options", string_map(&RunOptions::codec_options)},
      {"muxer_options", string_map(&RunOptions::muxer_options)},
      {"metadata", string_map(&RunOptions::metadata)},
      {"size", value(&RunOptions::size)},
      {"aspect", value(&RunOptions::aspect)},
      {"frames", value(&RunOptions::frames)},
      {"to",
       [&](const YAML::Node& v, const std::string& key) {
         o.end_s = parse_time(scalar<std::string>(v, key, path), "to");
       }},
      {"input_options", string_map(&RunOptions::input_options)},
      {"workers", value(&RunOptions::workers)},
      {"affinity", value(&RunOptions::affinity)},
      {"window", value(&RunOptions::window)},
      {"batch", value(&RunOptions::batch)},
      {"max_restarts", value(&RunOptions::max_restarts)},
      {"hang_timeout", value(&RunOptions::hang_timeout_s)},
      {"drain_timeout", value(&RunOptions::drain_timeout_s)},
      {"input_timeout", value(&RunOptions::input_timeout_s)},
      {"latency_budget", value(&RunOptions::latency_budget_ms)},
      {"overwrite", value(&RunOptions::overwrite)},
      {"faststart", value(&RunOptions::faststart)},
      {"no_audio", value(&RunOptions::no_audio)},
      {"quiet", value(&RunOptions::quiet)},
      {"realtime", value(&RunOptions::realtime)},
      {"no_metadata", value(&RunOptions::no_metadata)},
      {"autorotate", value(&RunOptions::autorotate)},
      {"progress", value(&RunOptions::progress)},
      {"progress_file", value(&RunOptions::progress_file)},
      {"log_level", value(&RunOptions::log_level)},
      {"log_file", value(&RunOptions::log_file)},
      {"stats_json", value(&RunOptions::stats_json)},
      {"metrics", value(&RunOptions::metrics)},
      {"metrics_linger", value(&RunOptions::metrics_linger_s)},
      {"metrics_textfile", value(&RunOptions::metrics_textfile)},
      {"metrics_push", value(&RunOptions::metrics_push)},
      {"master_playlist", value(&RunOptions::master_playlist)},
      {"input_format", value(&RunOptions::input_format)},
      {"live", value(&RunOptions::live)},
      {"drop", value(&RunOptions::drop)},
      {"pix_fmt", value(&RunOptions::pix_fmt)},
      {"audio_codec", value(&RunOptions::audio_codec)},
      {"audio_bitrate",
       [&](const YAML::Node& v, const std::string& key) {
         o.audio_bitrate = parse_bitrate(scalar<std::string>(v, key, path));
       }},
      {"map",
       [&](const YAML::Node& v, const std::string& key) {
         if (!v.IsSequence()) {
           o.maps.push_back(scalar<std::string>(v, key, path));
           return;
         }
         for (const auto& m : v) o.maps.push_back(scalar<std::string>(m, key, path));
       }},
      {"rate",
       [&](const YAML::Node& v, const std::string& key) {
         o.rate = parse_rate(scalar<std::string>(v, key, path));
       }},
      {"start",
       [&](const YAML::Node& v, const std::string& key) {
         o.start_s = parse_time(scalar<std::string>(v, key, path), "start");
       }},
      {"duration",
       [&](const YAML::Node& v, const std::string& key) {
         o.duration_s = parse_time(scalar<std::string>(v, key, path), "duration");
       }},
  };
  return handlers;
}

// Applies a map of keys with `handlers`; `allowed`, when given, limits them (an output's).
void apply_keys(const YAML::Node& map, const std::map<std::string, Handler>& handlers,
                const std::string& path, const std::set<std::string, std::less<>>* allowed) {
  std::set<std::string> seen;
  for (const auto& kv : map) {
    const std::string key = key_text(kv.first, path);
    const auto handler = handlers.find(key);
    if (handler == handlers.end())
      fail(ExitCode::kUsage, "config '" + path + "': unknown key '" + key + "'");
    if (allowed != nullptr && allowed->count(key) == 0) {
      fail(ExitCode::kUsage, "config '" + path + "': key '" + key +
                                 "' applies to the whole run, not to one of its outputs");
    }
    if (!seen.insert(key).second)
      fail(ExitCode::kUsage, "config '" + path + "': key '" + key + "' is given twice");
    handler->second(kv.second, key);
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
  const fs::path base = fs::absolute(path).parent_path();
  std::map<std::string, Handler> handlers = config_keys(o, path, base);
  // outputs: a list of outputs, each a map of its own keys (output: and its options), from one
  // decode; the first is the run's output.
  handlers["outputs"] = [&](const YAML::Node& v, const std::string& key) {
    if (!v.IsSequence() || v.size() == 0)
      fail(ExitCode::kUsage, "config '" + path + "': " + key + " must be a list of outputs");
    if (root["output"])
      fail(ExitCode::kUsage, "config '" + path + "': give output or outputs, not both");
    o.more_outputs.clear();
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!v[i].IsMap() || !v[i]["output"]) {
        fail(ExitCode::kUsage,
             "config '" + path + "': each of " + key + " is a map with an output: key");
      }
      RunOptions output;
      apply_keys(v[i], config_keys(output, path, base), path, &output_keys());
      if (i == 0) {
        copy_output_options(o, output);
      } else {
        o.more_outputs.push_back(output);
      }
    }
  };
  apply_keys(root, handlers, path, nullptr);
}

RunOptions for_output(const RunOptions& run, const RunOptions& output) {
  RunOptions o = run;
  o.more_outputs.clear();
  o.tee.clear();
  copy_output_options(o, output);
  return o;
}

void copy_output_options(RunOptions& o, const RunOptions& output) {
  for (const OutputOption& option : output_option_table()) option.copy(o, output);
}

const std::vector<OutputOption>& output_option_table() {
#define VPIPE_OUTPUT_OPTION(flag, key, field)                                        \
  OutputOption {                                                                     \
    flag, key, [](RunOptions& to, const RunOptions& from) { to.field = from.field; } \
  }
  static const std::vector<OutputOption> table = {
      VPIPE_OUTPUT_OPTION("--output", "output", output),
      VPIPE_OUTPUT_OPTION("--format", "format", format),
      VPIPE_OUTPUT_OPTION("--vf", "vf", vf),
      VPIPE_OUTPUT_OPTION("--codec", "codec", codec),
      VPIPE_OUTPUT_OPTION("--preset", "preset", preset),
      VPIPE_OUTPUT_OPTION("--crf", "crf", crf),
      VPIPE_OUTPUT_OPTION("--bitrate", "bitrate", bitrate),
      VPIPE_OUTPUT_OPTION("--gop", "gop", gop),
      VPIPE_OUTPUT_OPTION("--codec-opt", "codec_options", codec_options),
      VPIPE_OUTPUT_OPTION("--muxer-opt", "muxer_options", muxer_options),
      VPIPE_OUTPUT_OPTION("--metadata", "metadata", metadata),
      VPIPE_OUTPUT_OPTION("--size", "size", size),
      VPIPE_OUTPUT_OPTION("--aspect", "aspect", aspect),
      VPIPE_OUTPUT_OPTION("--pix-fmt", "pix_fmt", pix_fmt),
      VPIPE_OUTPUT_OPTION("--frames", "frames", frames),
      VPIPE_OUTPUT_OPTION("--faststart", "faststart", faststart),
      VPIPE_OUTPUT_OPTION("--audio-codec", "audio_codec", audio_codec),
      VPIPE_OUTPUT_OPTION("--audio-bitrate", "audio_bitrate", audio_bitrate),
      VPIPE_OUTPUT_OPTION("--an", "no_audio", no_audio),
  };
#undef VPIPE_OUTPUT_OPTION
  return table;
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
  check_choice("--log-level", o.log_level);
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
