#include "plan/run_flags.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
}

#include "common/error.hpp"

namespace vpipe::plan {

void RunFlags::add_to(CLI::App* app) {
  opt_config_ = app->add_option(
      "--config", config_, "YAML config file (default: configs/default.yaml when no -i is given)");
  opt_config_->type_name("FILE");
  for (const RunOption& option : run_option_table()) {
    Flag& flag = flags_.emplace_back();
    flag.option = &option;
    switch (option.takes) {
      case Takes::kSwitch:
        flag.cli = app->add_flag(option.flags, option.help);
        break;
      case Takes::kValue:
        flag.cli = app->add_option(option.flags, flag.value, option.help);
        break;
      case Takes::kList:
      case Takes::kKeyValues:
        flag.cli = app->add_option(option.flags, flag.values, option.help);
        break;
    }
    if (option.value_name != nullptr) flag.cli->type_name(option.value_name);
  }
}

bool RunFlags::input_given() const {
  const std::vector<const RunOption*> options = given();
  return std::any_of(options.begin(), options.end(),
                     [](const RunOption* o) { return o->long_flag() == "--input"; });
}

std::vector<const RunOption*> RunFlags::given() const {
  std::vector<const RunOption*> given;
  for (const Flag& flag : flags_) {
    if (flag.cli->count() > 0) given.push_back(flag.option);
  }
  return given;
}

plan::RunOptions RunFlags::options(bool default_config) const {
  plan::RunOptions options;
  if (opt_config_->count() > 0) {
    plan::apply_config_file(config_, options);
  } else if (default_config && !input_given()) {
    plan::apply_config_file(plan::default_config_path(), options);
  }
  // Flags given on the command line win over the config file.
  for (const Flag& flag : flags_) {
    if (flag.cli->count() == 0) continue;
    const OptionSource from{flag.option->names(), ""};
    switch (flag.option->takes) {
      case Takes::kSwitch:
        flag.option->set(options, {"true"}, from);
        break;
      case Takes::kValue:
        flag.option->set(options, {flag.value}, from);
        break;
      case Takes::kList:
      case Takes::kKeyValues:
        flag.option->set(options, flag.values, from);
        break;
    }
  }
  // A config's later outputs take the run's options as the flags left them.
  for (RunOptions& more : options.more_outputs) more = for_output(options, more);
  return options;
}

namespace {

bool is_output_flag(const std::string& arg) {
  return arg == "-o" || arg == "--output";
}

}  // namespace

OutputArgs split_outputs(const std::vector<std::string>& args) {
  OutputArgs split;
  std::vector<std::size_t> ends;  // just past each -o VALUE
  const bool run = !args.empty() && args.front() == "run";
  for (std::size_t i = 0; run && i + 1 < args.size(); ++i) {
    if (is_output_flag(args[i])) ends.push_back(i + 2), ++i;
  }
  if (ends.size() < 2) {
    split.run = args;
    return split;
  }
  split.run.assign(args.begin(), args.begin() + static_cast<std::ptrdiff_t>(ends.front()));
  split.run.insert(split.run.end(), args.begin() + static_cast<std::ptrdiff_t>(ends.back()),
                   args.end());
  for (std::size_t k = 1; k < ends.size(); ++k) {
    split.more.emplace_back(args.begin() + static_cast<std::ptrdiff_t>(ends[k - 1]),
                            args.begin() + static_cast<std::ptrdiff_t>(ends[k]));
  }
  return split;
}

namespace {

// `args` parsed by `flags`, added to `app`; `what` names them in the error.
void parse_flags(CLI::App& app, RunFlags& flags, const std::vector<std::string>& args,
                 const std::string& what) {
  flags.add_to(&app);
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    fail(ExitCode::kUsage, "the " + what + " do not parse: " + e.what());
  }
}

}  // namespace

RunOptions output_options(const RunOptions& run, const std::vector<std::string>& args) {
  CLI::App app;
  RunFlags flags;
  parse_flags(app, flags, args, "options of an output");
  for (const RunOption* option : flags.given()) {
    if (option->copy == nullptr) {
      fail(ExitCode::kUsage, option->long_flag() +
                                 " applies to the whole run, not to one output: give it before "
                                 "the first output");
    }
  }
  // Nothing comes from another output, as in ffmpeg: what an output does not say is the default.
  return for_output(run, flags.options(/*default_config=*/false));
}

plan::RunOptions parse_run_args(const std::vector<std::string>& args) {
  CLI::App app;
  RunFlags flags;
  parse_flags(app, flags, args, "run options");
  return flags.options(/*default_config=*/false);
}

namespace {

// An ffmpeg flag and what it becomes: a vpipe flag (with the value, or with `prefix` + value as
// one key=value argument), nothing (a no-op here), or a refusal that says what to use instead.
struct FfmpegFlag {
  const char* ffmpeg;
  const char* vpipe;   // nullptr: refused (see `why`) or dropped (why == nullptr)
  bool value;          // takes a value
  const char* prefix;  // the value becomes "prefix" + value
  const char* why;     // the refusal's reason
};

constexpr FfmpegFlag kFfmpegFlags[] = {
    {"-c:v", "--codec", true, "", nullptr},
    {"-codec:v", "--codec", true, "", nullptr},
    {"-vcodec", "--codec", true, "", nullptr},
    {"-b:v", "--bitrate", true, "", nullptr},
    {"-vf", "--vf", true, "", nullptr},
    {"-filter:v", "--vf", true, "", nullptr},
    {"-an", "--an", false, "", nullptr},
    {"-re", "--realtime", false, "", nullptr},
    {"-pix_fmt", "--pix-fmt", true, "", nullptr},
    {"-ss", "--ss", true, "", nullptr},
    {"-to", "--to", true, "", nullptr},
    {"-map_metadata", "--map-metadata", true, "", nullptr},
    {"-noautorotate", "--no-autorotate", false, "", nullptr},
    {"-c:a", "--audio-codec", true, "", nullptr},
    {"-codec:a", "--audio-codec", true, "", nullptr},
    {"-acodec", "--audio-codec", true, "", nullptr},
    {"-b:a", "--audio-bitrate", true, "", nullptr},
    {"-map", "--map", true, "", nullptr},
    {"-crf", "--crf", true, "", nullptr},
    {"-q:v", "--crf", true, "", nullptr},
    {"-qscale:v", "--crf", true, "", nullptr},
    {"-preset", "--preset", true, "", nullptr},
    {"-frames:v", "--frames", true, "", nullptr},
    {"-vframes", "--frames", true, "", nullptr},
    {"-n", "--no-overwrite", false, "", nullptr},
    {"-s", "--size", true, "", nullptr},
    {"-s:v", "--size", true, "", nullptr},
    {"-aspect", "--aspect", true, "", nullptr},
    {"-aspect:v", "--aspect", true, "", nullptr},
    {"-metadata", "--metadata", true, "", nullptr},
    {"-loglevel", "--log-level", true, "", nullptr},
    {"-v", "--log-level", true, "", nullptr},
    {"-nostats", "--progress", false, "none", nullptr},
    {"-threads", "--codec-opt", true, "threads=", nullptr},
    {"-r:v", "-r", true, "", nullptr},
    {"-g:v", "-g", true, "", nullptr},
    {"-t:v", "-t", true, "", nullptr},
    // No-ops: vpipe prints no banner, never reads commands from stdin, shows progress by default,
    // and writes no subtitle or data streams.
    {"-hide_banner", nullptr, false, "", nullptr},
    {"-nostdin", nullptr, false, "", nullptr},
    {"-stats", nullptr, false, "", nullptr},
    {"-sn", nullptr, false, "", nullptr},
    {"-dn", nullptr, false, "", nullptr},
    // Refused, with what to use instead.
    {"-filter_complex", nullptr, true, "", "use --vf: it takes a filtergraph with one input"},
    {"-lavfi", nullptr, true, "", "use --vf: it takes a filtergraph with one input"},
    {"-vn", nullptr, false, "", "vpipe writes video; for the audio alone, use ffmpeg"},
    {"-af", nullptr, true, "", "vpipe copies or re-encodes the audio as it is, unfiltered"},
    {"-filter:a", nullptr, true, "", "vpipe copies or re-encodes the audio as it is, unfiltered"},
    {"-ac", nullptr, true, "", "vpipe keeps the audio's channels (--audio-codec re-encodes)"},
    {"-ar", nullptr, true, "", "vpipe keeps the audio's sample rate (--audio-codec re-encodes)"},
    {"-vsync", nullptr, true, "",
     "vpipe keeps each frame's timestamp; -r RATE for a constant rate"},
    {"-fps_mode", nullptr, true, "",
     "vpipe keeps each frame's timestamp; -r RATE for a constant rate"},
    {"-stream_loop", nullptr, true, "", "vpipe reads its input once"},
    {"-shortest", nullptr, false, "", "vpipe writes one video stream and its audio as they are"},
};

// vpipe's own flags that take no value (any other flag takes one).
const std::set<std::string> kVpipeSwitches = {
    "-y",         "--overwrite",     "-q",          "--quiet",   "--an",
    "--realtime", "--no-autorotate", "--faststart", "--dry-run", "-h",
    "--help",     "--no-overwrite",  "--version"};

// ffmpeg's log levels as vpipe's.
std::string log_level_of(const std::string& ffmpeg_level) {
  static const std::map<std::string, std::string> kLevels = {
      {"quiet", "off"},     {"panic", "error"},  {"fatal", "error"},
      {"error", "error"},   {"warning", "warn"}, {"info", "info"},
      {"verbose", "debug"}, {"debug", "debug"},  {"trace", "trace"}};
  const std::string level = ffmpeg_level.substr(
      ffmpeg_level.rfind('+') == std::string::npos ? 0 : ffmpeg_level.rfind('+') + 1);
  const auto it = kLevels.find(level);
  return it == kLevels.end() ? ffmpeg_level : it->second;
}

// Whether some video encoder, or every codec, has the option `name` (ffmpeg's -tune, -profile,
// -x264-params, -maxrate, ...).
bool is_codec_option(const std::string& name) {
  const AVClass* generic = avcodec_get_class();
  if (av_opt_find(&generic, name.c_str(), nullptr, 0, AV_OPT_SEARCH_FAKE_OBJ) != nullptr) {
    return true;
  }
  void* it = nullptr;
  while (const AVCodec* c = av_codec_iterate(&it)) {
    if (av_codec_is_encoder(c) && c->type == AVMEDIA_TYPE_VIDEO && c->priv_class != nullptr &&
        av_opt_find(const_cast<const AVClass**>(&c->priv_class), name.c_str(), nullptr, 0,
                    AV_OPT_SEARCH_FAKE_OBJ) != nullptr) {
      return true;
    }
  }
  return false;
}

// Whether some muxer has the option `name` (-movflags, -hls_time, -segment_time, ...).
bool is_muxer_option(const std::string& name) {
  const AVClass* generic = avformat_get_class();
  if (av_opt_find(&generic, name.c_str(), nullptr, 0, AV_OPT_SEARCH_FAKE_OBJ) != nullptr) {
    return true;
  }
  void* it = nullptr;
  while (const AVOutputFormat* f = av_muxer_iterate(&it)) {
    if (f->priv_class != nullptr &&
        av_opt_find(const_cast<const AVClass**>(&f->priv_class), name.c_str(), nullptr, 0,
                    AV_OPT_SEARCH_FAKE_OBJ) != nullptr) {
      return true;
    }
  }
  return false;
}

// "-threads", "-profile:v": a single dash and a word, as ffmpeg's flags are spelled.
bool is_ffmpeg_style(const std::string& arg) {
  return arg.size() > 1 && arg[0] == '-' && std::isalpha(static_cast<unsigned char>(arg[1])) != 0;
}

}  // namespace

std::vector<std::pair<std::string, bool>> ffmpeg_spellings() {
  std::vector<std::pair<std::string, bool>> spellings;
  for (const FfmpegFlag& flag : kFfmpegFlags) {
    if (flag.why == nullptr) spellings.emplace_back(flag.ffmpeg, flag.value);
  }
  return spellings;
}

std::vector<std::string> translate_ffmpeg_spellings(const std::vector<std::string>& given) {
  std::vector<std::string> args;
  bool input_seen = false;
  const bool run = !given.empty() && given.front() == "run";
  std::size_t i = 0;
  const auto value_of = [&](const std::string& flag) -> std::string {
    if (i + 1 >= given.size()) fail(ExitCode::kUsage, flag + " needs a value");
    return given[++i];
  };
  for (; i < given.size(); ++i) {
    const std::string& a = given[i];
    // As in ffmpeg, -f before -i names the input's format, after it the output's.
    if (a == "-i" || a == "--input") input_seen = true;
    if ((a == "-f" || a == "--format") && !input_seen) {
      args.push_back("--input-format");
      continue;
    }
    // -threads before -i is the decoder's, after it the encoder's.
    if (a == "-threads" && !input_seen) {
      args.insert(args.end(), {"--decoder-threads", value_of(a)});
      continue;
    }
    if (a == "-c" || a == "-codec") {
      // ffmpeg's -c sets every stream's codec: -c copy copies the audio too.
      const std::string codec = value_of(a);
      args.insert(args.end(), {"--codec", codec});
      if (codec == "copy") args.insert(args.end(), {"--audio-codec", "copy"});
      continue;
    }
    const auto* flag = std::find_if(std::begin(kFfmpegFlags), std::end(kFfmpegFlags),
                                    [&](const FfmpegFlag& f) { return a == f.ffmpeg; });
    if (flag != std::end(kFfmpegFlags)) {
      if (flag->why != nullptr) fail(ExitCode::kUsage, a + " is not supported: " + flag->why);
      if (flag->vpipe == nullptr) continue;  // a no-op here
      args.push_back(flag->vpipe);
      if (flag->value) {
        std::string value = value_of(a);
        if (std::string(flag->vpipe) == "--log-level") value = log_level_of(value);
        args.push_back(flag->prefix + value);
      } else if (*flag->prefix != '\0') {
        args.push_back(flag->prefix);
      }
      continue;
    }
    if (is_ffmpeg_style(a) && a.size() > 2 && a.rfind("--", 0) != 0) {
      // Any other ffmpeg flag: an encoder's or a muxer's option, passed on as ffmpeg does;
      // otherwise refused, never read as a cluster of one-letter flags (-threads is not -t).
      std::string name = a.substr(1);
      const auto colon = name.find(':');
      const std::string stream = colon == std::string::npos ? "" : name.substr(colon + 1);
      name = name.substr(0, colon);
      if (stream.empty() || stream[0] == 'v') {
        if (is_codec_option(name)) {
          args.insert(args.end(), {"--codec-opt", name + "=" + value_of(a)});
          continue;
        }
        if (stream.empty() && is_muxer_option(name)) {
          args.insert(args.end(), {"--muxer-opt", name + "=" + value_of(a)});
          continue;
        }
      }
      fail(ExitCode::kUsage, "unknown option " + a +
                                 " (vpipe's own flags: vpipe run --help; ffmpeg's encoder and "
                                 "muxer options pass through as --codec-opt and --muxer-opt)");
    }
    args.push_back(a);
    // A flag's value is copied as it is, never read as a flag.
    if (a.size() > 1 && a[0] == '-' && !std::isdigit(static_cast<unsigned char>(a[1])) &&
        kVpipeSwitches.count(a) == 0 && a.find('=') == std::string::npos && i + 1 < given.size() &&
        i > 0) {
      args.push_back(given[++i]);
      continue;
    }
    // ffmpeg's outputs are arguments of their own, without -o.
    if (run && i > 0 && a.rfind("-", 0) != 0 && input_seen) {
      args.back() = "-o";
      args.push_back(a);
    }
  }
  return args;
}

}  // namespace vpipe::plan
