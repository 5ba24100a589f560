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
namespace {

// "key=value" flags (repeatable) into a map; anything else is a usage error naming the flag.
void add_key_values(const std::vector<std::string>& given, const std::string& flag,
                    std::map<std::string, std::string>& into) {
  for (const auto& kv : given) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      fail(ExitCode::kUsage, flag + " '" + kv + "' must be key=value");
    into[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
}

}  // namespace

// One statement per flag, in the order --help lists them: a table, long because there are
// forty flags, and clearer whole than split.
void RunFlags::add_to(CLI::App* app) {
  app_ = app;
  opt_config = app->add_option(
      "--config", config, "YAML config file (default: configs/default.yaml when no -i is given)");
  opt_input = app->add_option("-i,--input", cli.input,
                              "Input: a file, a URL, '-' for stdin, or a test source\n"
                              "testsrc[:size=WxH:rate=R:duration=S] (default 1280x720, 30 "
                              "fps, 5 s; also testsrc2, smptebars)");
  opt_input_format = app->add_option(
      "--input-format", cli.input_format,
      "Force the input's demuxer or device, like ffmpeg's -f before -i (v4l2, mpegts, ...)");
  app->add_option("--input-opt", input_opts,
                  "Demuxer or device option key=value (repeatable), e.g. video_size=640x480 for "
                  "v4l2 or raw video on stdin");
  opt_map = app->add_option(
      "--map", cli.maps,
      "Input stream to use, like ffmpeg's -map: 0:v:1 (the second video stream), 0:a:2, or a "
      "stream number (repeatable: one video, one audio)");
  opt_input_timeout = app->add_option(
      "--input-timeout", cli.input_timeout_s,
      "Network inputs and named pipes: seconds without data before the input counts as ended "
      "(a named pipe: before its first bytes) (default 10; 0: wait forever)");
  opt_ss = app->add_option(
      "--ss", start_text,
      "Start this far into the input (-ss; seconds or HH:MM:SS.ms); the output starts at 0");
  opt_r = app->add_option(
      "-r,--rate", rate_text,
      "Output frame rate (30, 30000/1001, ntsc): frames are dropped or repeated by timestamp");
  opt_t = app->add_option("-t,--duration", duration_text,
                          "Stop after this much of the input (seconds or HH:MM:SS.ms)");
  opt_to = app->add_option("--to", to_text,
                           "Stop at this point of the input (-to; seconds or HH:MM:SS.ms): with "
                           "--ss 60 --to 70, 10 s from minute 1");
  opt_frames = app->add_option("--frames", cli.frames,
                               "Stop after this many frames (-frames:v, -vframes); an image "
                               "output (.png, .jpg) takes 1 unless told");
  opt_output = app->add_option(
      "-o,--output", cli.output,
      "Output file or URL (udp://HOST:PORT sends MPEG-TS); 'null' discards the frames;\n"
      "'preview' shows them in a window");
  opt_master = app->add_option(
      "--master-playlist", cli.master_playlist,
      "With HLS outputs (an ABR ladder: -o given once per rendition), write this master "
      "playlist listing them, with the bitrate their segments measure; ffmpeg's -master_pl_name "
      "given to an output does the same");
  opt_tee = app->add_option(
      "--tee", cli.tee, "A second output beside -o: 'preview' shows the frames in a window too");
  opt_format = app->add_option("-f,--format", cli.format,
                               "Output container (default: from the output name)");
  opt_vf = app->add_option("--vf", cli.vf,
                           "Filter chain, e.g. \"resize=1280x720,gblur=2\" (see `vpipe filters`)");
  opt_codec = app->add_option(
      "--codec", cli.codec,
      "Video encoder (-c:v): libx264, mpeg4, ffv1, mjpeg, ... Default: libx264, or the "
      "container's own where it cannot hold H.264 (.gif: gif, .webm: libvpx-vp9, .ogv: libtheora)");
  opt_preset = app->add_option("--preset", cli.preset, "Encoder preset, e.g. veryfast");
  opt_crf = app->add_option(
      "--crf", cli.crf, "Constant quality (x264: 0-51); a fixed quantiser for codecs without CRF");
  opt_bitrate = app->add_option("--bitrate", bitrate, "Target bitrate (-b:v), e.g. 2M or 800k");
  opt_gop = app->add_option("-g,--gop", cli.gop, "Keyframe interval in frames");
  app->add_option("--codec-opt", codec_opts,
                  "Encoder option key=value (repeatable): tune=film, profile=high, "
                  "x264-params=..., threads=4 (ffmpeg's -tune, -profile:v, ... map here)");
  app->add_option("--muxer-opt", muxer_opts,
                  "Muxer option key=value (repeatable): movflags=+faststart, hls_time=4, "
                  "segment_time=10 (ffmpeg's -movflags, -hls_time, ... map here)");
  app->add_option("--metadata", metadata,
                  "Container tag key=value for the output (repeatable), e.g. title=Holiday");
  opt_size = app->add_option("--size", cli.size,
                             "Output size WxH or a name (hd720), like ffmpeg's -s: a scale after "
                             "the chain");
  opt_aspect = app->add_option("--aspect", cli.aspect,
                               "Display aspect ratio of the output, 16:9 or 1.7778, like ffmpeg's "
                               "-aspect: the pixels' shape is set to give it");
  opt_pix_fmt = app->add_option(
      "--pix-fmt", cli.pix_fmt,
      "Encoder pixel format (-pix_fmt), e.g. yuv444p; default: yuv420p or the codec's nearest");
  opt_map_metadata =
      app->add_option("--map-metadata", map_metadata,
                      "-1 drops the input's container tags (title, creation_time, ...) and its "
                      "rotation; 0 (default) keeps them")
          ->check(CLI::IsMember({-1, 0}));
  opt_no_autorotate = app->add_flag(
      "--no-autorotate", no_autorotate,
      "Never turn a rotated input's pixels (-noautorotate). By default they are turned upright "
      "where the output cannot carry the rotation (Matroska, WebM, TS) or a filter is given");
  opt_workers = app->add_option(
      "-w,--workers", cli.workers,
      "Transform worker processes (default: cores - 2, at least 1; 1 without --vf)");
  opt_affinity = app->add_option(
      "--affinity", cli.affinity,
      "CPU pinning: auto (hwloc plan, default), none, or\n"
      "explicit: \"decode=0;xform=1-3;encode=4\" (xform = every worker, xform-N = one)");
  opt_window = app->add_option(
      "--window", cli.window, "Frames in flight between decode and encode (default: from workers)");
  opt_batch = app->add_option("--batch", cli.batch,
                              "Frames a worker claims per wake-up (default: adaptive)");
  opt_realtime = app->add_flag(
      "--realtime", cli.realtime,
      "Read the input at its native frame rate (-re) and process it as a live source");
  opt_live = app->add_option(
      "--live", cli.live,
      "auto (default): live for cameras, udp/rtp/rtsp/srt/rtmp streams and --realtime; on; off.\n"
      "Live: frames past their deadline are dropped and the source is never stalled;\n"
      "offline: every frame is kept (backpressure)");
  opt_budget = app->add_option(
      "--latency-budget", cli.latency_budget_ms,
      "Live: milliseconds from capture to encoded packet; a stage drops a frame it cannot finish "
      "within it (default 500)");
  opt_drop = app->add_option("--drop", cli.drop,
                             "Live, pipeline full: drop the oldest queued frame (default: "
                             "the freshest frame wins) or the newest");
  opt_audio_codec = app->add_option(
      "--audio-codec", cli.audio_codec,
      "Audio (-c:a): copy, or an encoder such as aac; default: copy when the container can hold "
      "it, else the container's usual codec");
  opt_audio_bitrate =
      app->add_option("--audio-bitrate", audio_bitrate, "Audio bitrate when re-encoding (-b:a)");
  opt_an =
      app->add_flag("--an", cli.no_audio, "Drop the audio (-an); by default it is copied as it is");
  opt_restarts = app->add_option(
      "--max-restarts", cli.max_restarts,
      "Crashed transform workers restarted (frames requeued) before the run fails (default 5)");
  opt_hang = app->add_option("--hang-timeout", cli.hang_timeout_s,
                             "Seconds a stage may show no sign of life before it is killed: "
                             "a worker is restarted (its frames redone); decode or encode, "
                             "silent and using no CPU (stopped, stuck), fail the run "
                             "(default 20; 0: never)");
  opt_drain = app->add_option(
      "--drain-timeout", cli.drain_timeout_s,
      "After Ctrl-C/SIGTERM, seconds the run may take to finish what is in flight before it is "
      "aborted (a stopped or wedged stage; default 30; 0: no limit)");
  opt_y = app->add_flag("-y,--overwrite", cli.overwrite, "Overwrite the output file if it exists");
  opt_no_overwrite = app->add_flag("--no-overwrite", cli.no_overwrite,
                                   "Never overwrite an existing output (-n; the default)");
  opt_faststart = app->add_flag("--faststart", cli.faststart,
                                "Classic MP4/MOV with the index first (default: fragmented, "
                                "which stays playable if vpipe is killed)");
  app->add_flag("--dry-run", cli.dry_run, "Check everything and print the plan, but run nothing");
  opt_quiet = app->add_flag("-q,--quiet", cli.quiet, "No progress output");
  opt_progress = app->add_option("--progress", cli.progress,
                                 "auto: a redrawn line on a terminal, a line every 5 s "
                                 "otherwise; json: one object per second; none");
  opt_progress_file = app->add_option(
      "--progress-file", cli.progress_file,
      "Write the progress here instead of stderr: a file (replaced), or fd:N for an open file "
      "descriptor (with --progress json: one object per line, ending with an \"end\" record)");
  opt_level = app->add_option("--log-level", cli.log_level,
                              "trace, debug, info (default), warn, error, off");
  opt_log_file =
      app->add_option("--log-file", cli.log_file, "Write logs to this file instead of stderr");
  opt_stats =
      app->add_option("--stats-json", cli.stats_json, "Write a JSON report of the run here");
  opt_metrics =
      app->add_option("--metrics", cli.metrics,
                      "Serve Prometheus metrics at http://[HOST:]PORT/metrics while running (HOST "
                      "defaults to 127.0.0.1; PORT 0 picks one)");
  opt_metrics_linger = app->add_option(
      "--metrics-linger", cli.metrics_linger_s,
      "Keep the --metrics endpoint up this many seconds after the run, so that a scrape sees the "
      "final values and the result (a stop signal ends it early)");
  opt_metrics_textfile = app->add_option(
      "--metrics-textfile", cli.metrics_textfile,
      "At the end, write the final metrics here in node_exporter's textfile format (written "
      "beside it, then renamed over it)");
  opt_metrics_push = app->add_option(
      "--metrics-push", cli.metrics_push,
      "At the end, push the final metrics to a Prometheus Pushgateway: "
      "http://HOST:PORT[/metrics/job/NAME[/LABEL/VALUE]...] (job 'vpipe' by default)");
}

bool RunFlags::given(const std::string& name) const {
  const CLI::Option* opt = app_->get_option_no_throw(name);
  return opt != nullptr && opt->count() > 0;
}

plan::RunOptions RunFlags::options(bool default_config) const {
  plan::RunOptions options;
  if (opt_config->count() > 0) {
    plan::apply_config_file(config, options);
  } else if (default_config && opt_input->count() == 0) {
    plan::apply_config_file(plan::default_config_path(), options);
  }
  // Flags given on the command line win over the config file.
  if (opt_input->count()) options.input = cli.input;
  if (opt_output->count()) {
    options.output = cli.output;
    options.more_outputs.clear();  // the command line's outputs, not the config's
  }
  if (opt_tee->count()) options.tee = cli.tee;
  if (opt_input_format->count()) options.input_format = cli.input_format;
  if (opt_map->count()) options.maps = cli.maps;
  if (opt_input_timeout->count()) options.input_timeout_s = cli.input_timeout_s;
  if (opt_realtime->count()) options.realtime = true;
  if (opt_live->count()) options.live = cli.live;
  if (opt_budget->count()) options.latency_budget_ms = cli.latency_budget_ms;
  if (opt_drop->count()) options.drop = cli.drop;
  if (opt_format->count()) options.format = cli.format;
  if (opt_vf->count()) options.vf = cli.vf;
  if (opt_codec->count()) options.codec = cli.codec;
  if (opt_preset->count()) options.preset = cli.preset;
  if (opt_crf->count()) options.crf = cli.crf;
  if (opt_bitrate->count()) options.bitrate = plan::parse_bitrate(bitrate);
  if (opt_gop->count()) options.gop = cli.gop;
  if (opt_pix_fmt->count()) options.pix_fmt = cli.pix_fmt;
  if (opt_audio_codec->count()) options.audio_codec = cli.audio_codec;
  if (opt_audio_bitrate->count()) options.audio_bitrate = plan::parse_bitrate(audio_bitrate);
  if (opt_ss->count()) options.start_s = plan::parse_time(start_text, "-ss");
  if (opt_r->count()) options.rate = plan::parse_rate(rate_text);
  if (opt_t->count()) options.duration_s = plan::parse_time(duration_text, "-t");
  if (opt_to->count()) options.end_s = plan::parse_time(to_text, "-to");
  if (opt_frames->count()) options.frames = cli.frames;
  if (opt_size->count()) options.size = cli.size;
  if (opt_aspect->count()) options.aspect = cli.aspect;
  if (opt_no_overwrite->count()) options.no_overwrite = true;
  if (opt_map_metadata->count()) options.no_metadata = map_metadata == -1;
  if (opt_no_autorotate->count()) options.autorotate = false;
  add_key_values(input_opts, "--input-opt", options.input_options);
  add_key_values(codec_opts, "--codec-opt", options.codec_options);
  add_key_values(muxer_opts, "--muxer-opt", options.muxer_options);
  add_key_values(metadata, "--metadata", options.metadata);
  if (opt_workers->count()) {
    options.workers = cli.workers;
    if (cli.workers < 1)
      fail(ExitCode::kUsage, "--workers " + std::to_string(cli.workers) + " must be at least 1");
  }
  if (opt_affinity->count()) options.affinity = cli.affinity;
  if (opt_window->count()) options.window = cli.window;
  if (opt_batch->count()) {
    options.batch = cli.batch;
    if (cli.batch < 1)
      fail(ExitCode::kUsage, "--batch " + std::to_string(cli.batch) + " must be at least 1");
  }
  if (opt_restarts->count()) options.max_restarts = cli.max_restarts;
  if (opt_hang->count()) options.hang_timeout_s = cli.hang_timeout_s;
  if (opt_drain->count()) options.drain_timeout_s = cli.drain_timeout_s;
  if (opt_an->count()) options.no_audio = true;
  if (opt_y->count()) options.overwrite = true;
  if (opt_faststart->count()) options.faststart = true;
  options.dry_run = cli.dry_run;
  if (opt_quiet->count()) options.quiet = true;
  if (opt_progress->count()) options.progress = cli.progress;
  if (opt_progress_file->count()) options.progress_file = cli.progress_file;
  if (opt_level->count()) options.log_level = cli.log_level;
  if (opt_log_file->count()) options.log_file = cli.log_file;
  if (opt_stats->count()) options.stats_json = cli.stats_json;
  if (opt_metrics->count()) options.metrics = cli.metrics;
  if (opt_metrics_linger->count()) options.metrics_linger_s = cli.metrics_linger_s;
  if (opt_metrics_textfile->count()) options.metrics_textfile = cli.metrics_textfile;
  if (opt_metrics_push->count()) options.metrics_push = cli.metrics_push;
  if (opt_master->count()) options.master_playlist = cli.master_playlist;
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
  for (const CLI::Option* option : app.get_options()) {
    if (option->count() == 0) continue;
    const auto& table = output_option_table();
    const bool own = std::any_of(table.begin(), table.end(),
                                 [&](const OutputOption& o) { return option->check_name(o.flag); });
    if (!own) {
      fail(ExitCode::kUsage, option->get_name() +
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
