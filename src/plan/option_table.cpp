#include "plan/option_table.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <type_traits>

#include "common/error.hpp"
#include "decode/decoder.hpp"

namespace vpipe::plan {

void OptionSource::wrong_value(const std::string& text, const char* wanted) const {
  if (config()) {
    fail(ExitCode::kUsage, "config '" + file + "': key '" + name +
                               "' has a value of the wrong type (" + wanted + ")");
  }
  fail(ExitCode::kUsage, name + " '" + text + "' is not " + wanted);
}

std::string RunOption::long_flag() const {
  const std::string names = flags;
  const auto at = names.find("--");
  return names.substr(at, names.find(',', at) - at);
}

std::string RunOption::names() const {
  std::string names = flags;
  std::replace(names.begin(), names.end(), ',', '/');
  return names;
}

namespace {

namespace fs = std::filesystem;
using Values = std::vector<std::string>;

template <typename T>
struct ValueOf {
  using type = T;
};
template <typename T>
struct ValueOf<std::optional<T>> {
  using type = T;
};

template <typename T>
T parse_as(const std::string& text, const OptionSource& from) {
  if constexpr (std::is_same_v<T, std::string>) {
    return text;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (text != "true" && text != "false") from.wrong_value(text, "true or false");
    return text == "true";
  } else if constexpr (std::is_integral_v<T>) {
    T value{};
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size()) {
      from.wrong_value(text, "a whole number");
    }
    return value;
  } else {
    static_assert(std::is_same_v<T, double>);
    char* end = nullptr;
    errno = 0;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || errno != 0 || !std::isfinite(value))
      from.wrong_value(text, "a number");
    return value;
  }
}

// A field set from its one value, parsed as the field's type.
template <auto Field>
void set_field(RunOptions& o, const Values& values, const OptionSource& from) {
  using T = typename ValueOf<std::remove_cvref_t<decltype(o.*Field)>>::type;
  o.*Field = parse_as<T>(values.back(), from);
}

// A map field from "key=value" items, added to what it holds.
template <auto Field>
void add_key_values(RunOptions& o, const Values& values, const OptionSource& from) {
  for (const std::string& kv : values) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      fail(ExitCode::kUsage, from.name + " '" + kv + "' must be key=value");
    (o.*Field)[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
}

// A time (seconds or HH:MM:SS.ms) into an optional field.
template <auto Field>
void set_time(RunOptions& o, const Values& values, const OptionSource& from) {
  o.*Field = parse_time(values.back(), from.name);
}

template <auto Field>
void set_bitrate(RunOptions& o, const Values& values, const OptionSource&) {
  o.*Field = parse_bitrate(values.back());
}

// A count that the command line takes from 1 (a config's 0 asks for the plan's default).
template <auto Field>
void set_count(RunOptions& o, const Values& values, const OptionSource& from) {
  set_field<Field>(o, values, from);
  if (!from.config() && o.*Field < 1) {
    fail(ExitCode::kUsage, from.name + " " + std::to_string(o.*Field) + " must be at least 1");
  }
}

// --workers auto|N|MIN-MAX (a config's 0 is auto too).
void set_workers(RunOptions& o, const Values& values, const OptionSource& from) {
  const std::string& text = values.at(0);
  if (text == "auto" || (from.config() && text == "0")) {
    o.workers = o.min_workers = 0;
    return;
  }
  const auto dash = text.find('-');
  const auto number = [&](const std::string& part) {
    int value = 0;
    const auto [end, error] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || error != std::errc{} || end != part.data() + part.size() || value < 1)
      from.wrong_value(text, "auto, a count of at least 1, or MIN-MAX (1-8)");
    return value;
  };
  o.workers = number(dash == std::string::npos ? text : text.substr(dash + 1));
  o.min_workers = dash == std::string::npos ? o.workers : number(text.substr(0, dash));
}

// --decoder-threads auto|N (0 is auto too, as ffmpeg's -threads 0).
void set_decoder_threads(RunOptions& o, const Values& values, const OptionSource& from) {
  const std::string& text = values.back();
  o.decoder_threads = text == "auto" ? 0 : parse_as<int>(text, from);
  if (o.decoder_threads < 0 || o.decoder_threads > 64)
    from.wrong_value(text, "auto or a count from 0 (auto) to 64");
}

template <auto Field>
void copy_field(RunOptions& to, const RunOptions& from) {
  to.*Field = from.*Field;
}

// A config's input is relative to the config's folder (so that a config can name files beside
// it); the command line's to the current folder.
void set_input(RunOptions& o, const Values& values, const OptionSource& from) {
  const std::string& value = values.back();
  o.input = value;
  if (!from.config() || value.empty() || value == "-" || value.find(':') != std::string::npos ||
      decode::is_test_source(value) || fs::path(value).is_absolute()) {
    return;
  }
  o.input = (fs::absolute(from.file).parent_path() / value).lexically_normal().string();
}

// The run's output; the outputs of a config given before are replaced by it.
void set_output(RunOptions& o, const Values& values, const OptionSource&) {
  o.output = values.back();
  o.more_outputs.clear();
}

void set_maps(RunOptions& o, const Values& values, const OptionSource&) {
  o.maps = values;
}

void set_rate(RunOptions& o, const Values& values, const OptionSource&) {
  o.rate = parse_rate(values.back());
}

// --map-metadata -1 or 0 on the command line (ffmpeg's), no_metadata: true or false in a config.
void set_no_metadata(RunOptions& o, const Values& values, const OptionSource& from) {
  if (from.config()) {
    o.no_metadata = parse_as<bool>(values.back(), from);
    return;
  }
  const int map = parse_as<int>(values.back(), from);
  if (map != -1 && map != 0) from.wrong_value(values.back(), "-1 (drop) or 0 (keep)");
  o.no_metadata = map == -1;
}

// --no-autorotate on the command line, autorotate: false in a config.
void set_autorotate(RunOptions& o, const Values& values, const OptionSource& from) {
  const bool on = parse_as<bool>(values.back(), from);
  o.autorotate = from.config() ? on : !on;
}

}  // namespace

// One entry per option, in the order --help lists them: a table, long because there are fifty
// options, and clearer whole than split.
const std::vector<RunOption>& run_option_table() {
  using enum Takes;
  using O = RunOptions;
  static const std::vector<RunOption> table = {
      {"-i,--input", "input", kValue, "FILE|URL|testsrc",
       "Input: a file, a URL, '-' for stdin, or a test source\n"
       "testsrc[:size=WxH:rate=R:duration=S] (default 1280x720, 30 fps, 5 s; also testsrc2, "
       "smptebars)",
       set_input, nullptr},
      {"--input-format", "input_format", kValue, "FORMAT",
       "Force the input's demuxer or device, like ffmpeg's -f before -i (v4l2, mpegts, ...)",
       set_field<&O::input_format>, nullptr},
      {"--input-opt", "input_options", kKeyValues, "KEY=VALUE",
       "Demuxer or device option (repeatable), e.g. video_size=640x480 for v4l2 or raw video on "
       "stdin",
       add_key_values<&O::input_options>, nullptr},
      {"--map", "map", kList, "STREAM",
       "Input stream to use, like ffmpeg's -map: 0:v:1 (the second video stream), 0:a:2, or a "
       "stream number (repeatable: one video, one audio)",
       set_maps, nullptr},
      {"--input-timeout", "input_timeout", kValue, "SECONDS",
       "Network inputs and named pipes: seconds without data before the input counts as ended "
       "(a named pipe: before its first bytes) (default 10; 0: wait forever)",
       set_field<&O::input_timeout_s>, nullptr},
      {"--ss", "start", kValue, "TIME",
       "Start this far into the input (-ss; seconds or HH:MM:SS.ms); the output starts at 0",
       set_time<&O::start_s>, nullptr},
      {"-r,--rate", "rate", kValue, "RATE",
       "Output frame rate (30, 30000/1001, ntsc): frames are dropped or repeated by timestamp",
       set_rate, nullptr},
      {"-t,--duration", "duration", kValue, "TIME",
       "Stop after this much of the input (seconds or HH:MM:SS.ms)", set_time<&O::duration_s>,
       nullptr},
      {"--to", "to", kValue, "TIME",
       "Stop at this point of the input (-to; seconds or HH:MM:SS.ms): with --ss 60 --to 70, "
       "10 s from minute 1",
       set_time<&O::end_s>, nullptr},
      {"--frames", "frames", kValue, "N",
       "Stop after this many frames (-frames:v, -vframes); an image output (.png, .jpg) takes 1 "
       "unless told",
       set_field<&O::frames>, copy_field<&O::frames>},
      {"-o,--output", "output", kValue, "FILE|URL|null|preview",
       "Output file or URL (udp://HOST:PORT sends MPEG-TS); 'null' discards the frames;\n"
       "'preview' shows them in a window. Give it once per output for several outputs from one "
       "decode, each after its own options, as in ffmpeg",
       set_output, copy_field<&O::output>},
      {"--master-playlist", "master_playlist", kValue, "FILE",
       "With HLS outputs (an ABR ladder: -o given once per rendition), write this master "
       "playlist listing them, with the bitrate their segments measure; ffmpeg's -master_pl_name "
       "given to an output does the same",
       set_field<&O::master_playlist>, nullptr},
      {"--tee", "tee", kValue, "preview",
       "A second output beside -o: 'preview' shows the frames in a window too", set_field<&O::tee>,
       nullptr},
      {"-f,--format", "format", kValue, "FORMAT",
       "Output container (default: from the output name)", set_field<&O::format>,
       copy_field<&O::format>},
      {"--vf", "vf", kValue, "CHAIN",
       "Filter chain, e.g. \"resize=1280x720,gblur=2\" (see `vpipe filters`)", set_field<&O::vf>,
       copy_field<&O::vf>},
      {"--codec", "codec", kValue, "ENCODER",
       "Video encoder (-c:v): libx264, mpeg4, ffv1, mjpeg, ... Default: libx264, or the "
       "container's own where it cannot hold H.264 (.gif: gif, .webm: libvpx-vp9, .ogv: "
       "libtheora)",
       set_field<&O::codec>, copy_field<&O::codec>},
      {"--preset", "preset", kValue, "PRESET", "Encoder preset, e.g. veryfast",
       set_field<&O::preset>, copy_field<&O::preset>},
      {"--crf", "crf", kValue, "Q",
       "Constant quality (x264: 0-51); a fixed quantiser for codecs without CRF",
       set_field<&O::crf>, copy_field<&O::crf>},
      {"--bitrate", "bitrate", kValue, "RATE", "Target bitrate (-b:v), e.g. 2M or 800k",
       set_bitrate<&O::bitrate>, copy_field<&O::bitrate>},
      {"-g,--gop", "gop", kValue, "N", "Keyframe interval in frames", set_field<&O::gop>,
       copy_field<&O::gop>},
      {"--codec-opt", "codec_options", kKeyValues, "KEY=VALUE",
       "Encoder option (repeatable): tune=film, profile=high, x264-params=..., threads=4 "
       "(ffmpeg's -tune, -profile:v, ... map here)",
       add_key_values<&O::codec_options>, copy_field<&O::codec_options>},
      {"--muxer-opt", "muxer_options", kKeyValues, "KEY=VALUE",
       "Muxer option (repeatable): movflags=+faststart, hls_time=4, segment_time=10 (ffmpeg's "
       "-movflags, -hls_time, ... map here)",
       add_key_values<&O::muxer_options>, copy_field<&O::muxer_options>},
      {"--metadata", "metadata", kKeyValues, "KEY=VALUE",
       "Container tag for the output (repeatable), e.g. title=Holiday",
       add_key_values<&O::metadata>, copy_field<&O::metadata>},
      {"--size", "size", kValue, "WxH",
       "Output size WxH or a name (hd720), like ffmpeg's -s: a scale after the chain",
       set_field<&O::size>, copy_field<&O::size>},
      {"--aspect", "aspect", kValue, "W:H",
       "Display aspect ratio of the output, 16:9 or 1.7778, like ffmpeg's -aspect: the pixels' "
       "shape is set to give it",
       set_field<&O::aspect>, copy_field<&O::aspect>},
      {"--pix-fmt", "pix_fmt", kValue, "FORMAT",
       "Encoder pixel format (-pix_fmt), e.g. yuv444p; default: yuv420p or the codec's nearest",
       set_field<&O::pix_fmt>, copy_field<&O::pix_fmt>},
      {"--map-metadata", "no_metadata", kValue, "-1|0",
       "-1 drops the input's container tags (title, creation_time, ...) and its rotation; 0 "
       "(default) keeps them (in a config: no_metadata: true)",
       set_no_metadata, nullptr},
      {"--no-autorotate", "autorotate", kSwitch, nullptr,
       "Never turn a rotated input's pixels (-noautorotate; in a config: autorotate: false). By "
       "default they are turned upright where the output cannot carry the rotation (Matroska, "
       "WebM, TS) or a filter is given",
       set_autorotate, nullptr},
      {"-w,--workers", "workers", kValue, "auto|N|MIN-MAX",
       "Transform worker processes. auto (default): as many as the CPU plan has cores for (cores "
       "- 2, 1 without --vf), the pool sizing itself between 1 and that while the run goes: it "
       "grows while the workers are the bottleneck and shrinks when they idle. N: exactly N. "
       "MIN-MAX: sizing itself between those",
       set_workers, nullptr},
      {"--affinity", "affinity", kValue, "auto|none|PLAN",
       "CPU pinning: auto (hwloc plan, default), none, or\n"
       "explicit: \"decode=0;xform=1-3;encode=4\" (xform = every worker, xform-N = one)",
       set_field<&O::affinity>, nullptr},
      {"--decoder-threads", "decoder_threads", kValue, "auto|N",
       "The decoder's threads (ffmpeg's -threads before -i). auto (default): its share of the "
       "job's work on the CPUs decode may use (1 when an encoder or filters do most of it: "
       "frame threads cost CPU of their own); N: exactly N (0: auto)",
       set_decoder_threads, nullptr},
      {"--window", "window", kValue, "N",
       "Frames in flight between decode and encode (default: from workers)", set_field<&O::window>,
       nullptr},
      {"--batch", "batch", kValue, "N", "Frames a worker claims per wake-up (default: adaptive)",
       set_count<&O::batch>, nullptr},
      {"--realtime", "realtime", kSwitch, nullptr,
       "Read the input at its native frame rate (-re) and process it as a live source",
       set_field<&O::realtime>, nullptr},
      {"--live", "live", kValue, "auto|on|off",
       "auto (default): live for cameras, udp/rtp/rtsp/srt/rtmp streams and --realtime; on; "
       "off.\n"
       "Live: frames past their deadline are dropped and the source is never stalled;\n"
       "offline: every frame is kept (backpressure)",
       set_field<&O::live>, nullptr},
      {"--latency-budget", "latency_budget", kValue, "MS",
       "Live: milliseconds from capture to encoded packet; a stage drops a frame it cannot "
       "finish within it (default 500)",
       set_field<&O::latency_budget_ms>, nullptr},
      {"--drop", "drop", kValue, "oldest|newest",
       "Live, pipeline full: drop the oldest queued frame (default: the freshest frame wins) or "
       "the newest",
       set_field<&O::drop>, nullptr},
      {"--audio-codec", "audio_codec", kValue, "copy|ENCODER",
       "Audio (-c:a): copy, or an encoder such as aac; default: copy when the container can "
       "hold it, else the container's usual codec",
       set_field<&O::audio_codec>, copy_field<&O::audio_codec>},
      {"--audio-bitrate", "audio_bitrate", kValue, "RATE", "Audio bitrate when re-encoding (-b:a)",
       set_bitrate<&O::audio_bitrate>, copy_field<&O::audio_bitrate>},
      {"--an", "no_audio", kSwitch, nullptr,
       "Drop the audio (-an); by default it is copied as it is", set_field<&O::no_audio>,
       copy_field<&O::no_audio>},
      {"--max-restarts", "max_restarts", kValue, "N",
       "Crashed transform workers restarted (frames requeued) before the run fails (default 5)",
       set_field<&O::max_restarts>, nullptr},
      {"--hang-timeout", "hang_timeout", kValue, "SECONDS",
       "Seconds a stage may show no sign of life before it is killed: a worker is restarted (its "
       "frames redone); decode or encode, silent and using no CPU (stopped, stuck), fail the run "
       "(default 20; 0: never)",
       set_field<&O::hang_timeout_s>, nullptr},
      {"--drain-timeout", "drain_timeout", kValue, "SECONDS",
       "After Ctrl-C/SIGTERM, seconds the run may take to finish what is in flight before it is "
       "aborted (a stopped or wedged stage; default 30; 0: no limit)",
       set_field<&O::drain_timeout_s>, nullptr},
      {"-y,--overwrite", "overwrite", kSwitch, nullptr, "Overwrite the output file if it exists",
       set_field<&O::overwrite>, nullptr},
      {"--no-overwrite", nullptr, kSwitch, nullptr,
       "Never overwrite an existing output (-n; the default)", set_field<&O::no_overwrite>,
       nullptr},
      {"--faststart", "faststart", kSwitch, nullptr,
       "Classic MP4/MOV with the index first (default: fragmented, which stays playable if "
       "vpipe is killed)",
       set_field<&O::faststart>, copy_field<&O::faststart>},
      {"--dry-run", nullptr, kSwitch, nullptr,
       "Check everything and print the plan, but run nothing", set_field<&O::dry_run>, nullptr},
      {"-q,--quiet", "quiet", kSwitch, nullptr,
       "No progress, and the log at warn (only what went wrong) unless --log-level says otherwise",
       set_field<&O::quiet>, nullptr},
      {"--progress", "progress", kValue, "auto|json|none",
       "auto: a redrawn line on a terminal, a line every 5 s otherwise; json: one object per "
       "second; none",
       set_field<&O::progress>, nullptr},
      {"--progress-file", "progress_file", kValue, "FILE|fd:N",
       "Write the progress here instead of stderr: a file (replaced), or fd:N for an open file "
       "descriptor (with --progress json: one object per line, ending with an \"end\" record)",
       set_field<&O::progress_file>, nullptr},
      {"--log-level", "log_level", kValue, "LEVEL",
       "trace, debug, info (default; warn with -q), warn, error, off", set_field<&O::log_level>,
       nullptr},
      {"--log-file", "log_file", kValue, "FILE", "Write logs to this file instead of stderr",
       set_field<&O::log_file>, nullptr},
      {"--stats-json", "stats_json", kValue, "FILE", "Write a JSON report of the run here",
       set_field<&O::stats_json>, nullptr},
      {"--metrics", "metrics", kValue, "[HOST:]PORT",
       "Serve Prometheus metrics at http://[HOST:]PORT/metrics while running (HOST defaults to "
       "127.0.0.1; PORT 0 picks one)",
       set_field<&O::metrics>, nullptr},
      {"--metrics-linger", "metrics_linger", kValue, "SECONDS",
       "Keep the --metrics endpoint up this many seconds after the run, so that a scrape sees "
       "the final values and the result (a stop signal ends it early)",
       set_field<&O::metrics_linger_s>, nullptr},
      {"--metrics-textfile", "metrics_textfile", kValue, "FILE",
       "At the end, write the final metrics here in node_exporter's textfile format (written "
       "beside it, then renamed over it)",
       set_field<&O::metrics_textfile>, nullptr},
      {"--metrics-push", "metrics_push", kValue, "URL",
       "At the end, push the final metrics to a Prometheus Pushgateway: "
       "http://HOST:PORT[/metrics/job/NAME[/LABEL/VALUE]...] (job 'vpipe' by default)",
       set_field<&O::metrics_push>, nullptr},
  };
  return table;
}

}  // namespace vpipe::plan
