// vpipe command line: `vpipe run`, `vpipe filters`, and the hidden stage entry point.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "cli/bench.hpp"
#include "common/error.hpp"
#include "common/log.hpp"
#include "common/process_title.hpp"
#include "scheduler/options.hpp"
#include "scheduler/scheduler.hpp"
#include "transform/filter.hpp"

namespace {

using vpipe::ExitCode;
using vpipe::scheduler::RunOptions;

constexpr const char* kExitCodes =
    "Exit codes: 0 done, 1 a stage failed while running, 2 bad usage (flag, config, filter),\n"
    "3 input cannot be read, 4 output cannot be written, 130 aborted by a second Ctrl-C.";

// ffmpeg-style spellings that CLI11 cannot take as option names, mapped to ours.
std::vector<std::string> translate_ffmpeg_spellings(int argc, char** argv) {
  static const std::pair<const char*, const char*> kAliases[] = {
      {"-c:v", "--codec"},
      {"-vcodec", "--codec"},
      {"-b:v", "--bitrate"},
      {"-vf", "--vf"},
      {"-filter:v", "--vf"},
      {"-an", "--an"},
      {"-re", "--realtime"},
      {"-pix_fmt", "--pix-fmt"},
      {"-ss", "--ss"},
      {"-map_metadata", "--map-metadata"},
      {"-c:a", "--audio-codec"},
      {"-acodec", "--audio-codec"},
      {"-b:a", "--audio-bitrate"},
      {"-map", "--map"}};
  std::vector<std::string> args;
  bool input_seen = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    for (const auto& [from, to] : kAliases) {
      if (a == from) a = to;
    }
    // As in ffmpeg, -f before -i names the input's format, after it the output's.
    if (a == "-i" || a == "--input") input_seen = true;
    if ((a == "-f" || a == "--format") && !input_seen) a = "--input-format";
    args.push_back(a);
  }
  return args;
}

// "key=value" flags (repeatable) into a map; anything else is a usage error naming the flag.
void add_key_values(const std::vector<std::string>& given, const std::string& flag,
                    std::map<std::string, std::string>& into) {
  for (const auto& kv : given) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      vpipe::fail(ExitCode::kUsage, flag + " '" + kv + "' must be key=value");
    into[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
}

int list_filters() {
  std::printf("Filters for --vf (a comma-separated chain: name=arg:key=value,...):\n\n");
  for (const auto& f : vpipe::transform::filter_registry()) {
    std::printf("  %-10s %s%s\n             args: %s\n             e.g.  %s\n", f.name.c_str(),
                f.summary.c_str(),
                f.sequential ? " [sequential: keeps state across frames, runs on one worker]" : "",
                f.usage.empty() ? "(none)" : f.usage.c_str(), f.example.c_str());
  }
  std::printf(
      "\nEvery filter works on YUV 4:2:0 planes. Filters without state run on any number of\n"
      "transform workers in parallel; a chain with a sequential filter runs on one worker.\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  vpipe::remember_args(argc, argv);
  if (argc > 1 && std::strcmp(argv[1], "__stage") == 0)
    return vpipe::scheduler::stage_main(argc, argv);

  CLI::App app{
      "vpipe: a multi-process video pipeline (decode -> transform workers -> encode over shared "
      "memory)"};
  app.set_version_flag("--version", std::string("vpipe ") + VPIPE_VERSION);
  app.require_subcommand(1);
  app.footer(kExitCodes);

  RunOptions cli;
  std::string config;
  std::string bitrate;
  std::vector<std::string> codec_opts;
  auto* run = app.add_subcommand("run", "Transcode INPUT through a filter chain into OUTPUT");
  run->footer(
      std::string(
          "Examples:\n"
          "  vpipe run                                  # the bundled sample, with "
          "configs/default.yaml\n"
          "  vpipe run -i in.mp4 -o out.mp4 --vf \"resize=1280x720,gblur=2\" -c:v libx264 --preset "
          "veryfast --crf 23\n"
          "  vpipe run -i testsrc:size=1920x1080:rate=30:duration=5 -o out.mkv\n"
          "  vpipe run -i in.mp4 -o null --workers 4    # decode + filter only, for benchmarks\n"
          "  vpipe run -i in.mp4 -o out.mp4 --dry-run   # print the plan: stages, CPU sets, pool "
          "sizes\n"
          "  vpipe run -i testsrc --realtime -o udp://127.0.0.1:5000   # a live MPEG-TS feed\n"
          "  vpipe run -i udp://127.0.0.1:5000 --vf gblur=2 -o out.ts --latency-budget 200\n"
          "  vpipe run -i /dev/video0 -o out.mkv        # a camera: live, late frames dropped\n\n"
          "Options given on the command line override the config file. ffmpeg spellings -c:v, -b:v "
          "and\n"
          "-vf are accepted. ") +
      kExitCodes);
  auto* opt_config = run->add_option(
      "--config", config, "YAML config file (default: configs/default.yaml when no -i is given)");
  auto* opt_input = run->add_option("-i,--input", cli.input,
                                    "Input: a file, a URL, '-' for stdin, or a test source\n"
                                    "testsrc[:size=WxH:rate=R:duration=S] (default 1280x720, 30 "
                                    "fps, 5 s; also testsrc2, smptebars)");
  auto* opt_input_format = run->add_option(
      "--input-format", cli.input_format,
      "Force the input's demuxer or device, like ffmpeg's -f before -i (v4l2, mpegts, ...)");
  std::vector<std::string> input_opts;
  run->add_option("--input-opt", input_opts,
                  "Demuxer or device option key=value (repeatable), e.g. video_size=640x480 for "
                  "v4l2 or raw video on stdin");
  auto* opt_map = run->add_option(
      "--map", cli.maps,
      "Input stream to use, like ffmpeg's -map: 0:v:1 (the second video stream), 0:a:2, or a "
      "stream number (repeatable: one video, one audio)");
  auto* opt_input_timeout = run->add_option(
      "--input-timeout", cli.input_timeout_s,
      "Network inputs: seconds without data before the input counts as ended (default 10; 0: "
      "wait forever)");
  std::string start_text, duration_text;
  auto* opt_ss = run->add_option(
      "--ss", start_text,
      "Start this far into the input (-ss; seconds or HH:MM:SS.ms); the output starts at 0");
  std::string rate_text;
  auto* opt_r = run->add_option(
      "-r,--rate", rate_text,
      "Output frame rate (30, 30000/1001, ntsc): frames are dropped or repeated by timestamp");
  auto* opt_t = run->add_option("-t,--duration", duration_text,
                                "Stop after this much of the input (seconds or HH:MM:SS.ms)");
  auto* opt_output = run->add_option(
      "-o,--output", cli.output,
      "Output file or URL (udp://HOST:PORT sends MPEG-TS); 'null' discards the frames;\n"
      "'preview' shows them in a window");
  auto* opt_tee = run->add_option(
      "--tee", cli.tee, "A second output beside -o: 'preview' shows the frames in a window too");
  auto* opt_format = run->add_option("-f,--format", cli.format,
                                     "Output container (default: from the output name)");
  auto* opt_vf = run->add_option(
      "--vf", cli.vf, "Filter chain, e.g. \"resize=1280x720,gblur=2\" (see `vpipe filters`)");
  auto* opt_codec = run->add_option(
      "--codec", cli.codec,
      "Video encoder (-c:v): libx264, mpeg4, ffv1, mjpeg, ... Default: libx264, or the "
      "container's own where it cannot hold H.264 (.gif: gif, .webm: libvpx-vp9, .ogv: libtheora)");
  auto* opt_preset = run->add_option("--preset", cli.preset, "Encoder preset, e.g. veryfast");
  auto* opt_crf = run->add_option(
      "--crf", cli.crf, "Constant quality (x264: 0-51); a fixed quantiser for codecs without CRF");
  auto* opt_bitrate =
      run->add_option("--bitrate", bitrate, "Target bitrate (-b:v), e.g. 2M or 800k");
  auto* opt_gop = run->add_option("-g,--gop", cli.gop, "Keyframe interval in frames");
  run->add_option("--codec-opt", codec_opts, "Encoder private option key=value (repeatable)");
  auto* opt_pix_fmt = run->add_option(
      "--pix-fmt", cli.pix_fmt,
      "Encoder pixel format (-pix_fmt), e.g. yuv444p; default: yuv420p or the codec's nearest");
  int map_metadata = 0;
  auto* opt_map_metadata =
      run->add_option("--map-metadata", map_metadata,
                      "-1 drops the input's container tags (title, creation_time, ...) and its "
                      "rotation; 0 (default) keeps them")
          ->check(CLI::IsMember({-1, 0}));
  auto* opt_workers = run->add_option(
      "-w,--workers", cli.workers, "Transform worker processes (default: cores - 2, at least 1)");
  auto* opt_affinity = run->add_option(
      "--affinity", cli.affinity,
      "CPU pinning: auto (hwloc plan, default), none, or\n"
      "explicit: \"decode=0;xform=1-3;encode=4\" (xform = every worker, xform-N = one)");
  auto* opt_window = run->add_option(
      "--window", cli.window, "Frames in flight between decode and encode (default: from workers)");
  auto* opt_batch = run->add_option("--batch", cli.batch,
                                    "Frames a worker claims per wake-up (default: adaptive)");
  auto* opt_realtime = run->add_flag(
      "--realtime", cli.realtime,
      "Read the input at its native frame rate (-re) and process it as a live source");
  auto* opt_live = run->add_option(
      "--live", cli.live,
      "auto (default): live for cameras, udp/rtp/rtsp/srt/rtmp streams and --realtime; on; off.\n"
      "Live: frames past their deadline are dropped and the source is never stalled;\n"
      "offline: every frame is kept (backpressure)");
  auto* opt_budget = run->add_option(
      "--latency-budget", cli.latency_budget_ms,
      "Live: milliseconds from capture to encoded packet; a stage drops a frame it cannot finish "
      "within it (default 500)");
  auto* opt_drop = run->add_option("--drop", cli.drop,
                                   "Live, pipeline full: drop the oldest queued frame (default: "
                                   "the freshest frame wins) or the newest");
  auto* opt_audio_codec = run->add_option(
      "--audio-codec", cli.audio_codec,
      "Audio (-c:a): copy, or an encoder such as aac; default: copy when the container can hold "
      "it, else the container's usual codec");
  std::string audio_bitrate;
  auto* opt_audio_bitrate =
      run->add_option("--audio-bitrate", audio_bitrate, "Audio bitrate when re-encoding (-b:a)");
  auto* opt_an =
      run->add_flag("--an", cli.no_audio, "Drop the audio (-an); by default it is copied as it is");
  auto* opt_restarts = run->add_option(
      "--max-restarts", cli.max_restarts,
      "Crashed transform workers restarted (frames requeued) before the run fails (default 5)");
  auto* opt_hang = run->add_option("--hang-timeout", cli.hang_timeout_s,
                                   "Seconds a worker may go silent while holding frames before it "
                                   "is killed and restarted (default 20; 0: never)");
  auto* opt_y =
      run->add_flag("-y,--overwrite", cli.overwrite, "Overwrite the output file if it exists");
  auto* opt_faststart = run->add_flag("--faststart", cli.faststart,
                                      "Classic MP4/MOV with the index first (default: fragmented, "
                                      "which stays playable if vpipe is killed)");
  run->add_flag("--dry-run", cli.dry_run, "Check everything and print the plan, but run nothing");
  auto* opt_quiet = run->add_flag("-q,--quiet", cli.quiet, "No progress output");
  auto* opt_progress = run->add_option("--progress", cli.progress,
                                       "auto: a redrawn line on a terminal, a line every 5 s "
                                       "otherwise; json: one object per second; none");
  auto* opt_level = run->add_option("--log-level", cli.log_level,
                                    "trace, debug, info (default), warn, error, off");
  auto* opt_log_file =
      run->add_option("--log-file", cli.log_file, "Write logs to this file instead of stderr");
  auto* opt_stats =
      run->add_option("--stats-json", cli.stats_json, "Write a JSON report of the run here");
  auto* opt_metrics =
      run->add_option("--metrics", cli.metrics,
                      "Serve Prometheus metrics at http://[HOST:]PORT/metrics while running (HOST "
                      "defaults to 127.0.0.1; PORT 0 picks one)");

  app.add_subcommand("filters",
                     "List the filters --vf accepts, with their arguments and an example");

  vpipe::cli::BenchOptions bench_options;
  auto* bench = app.add_subcommand(
      "bench",
      "Benchmark the pipeline on the test source: fps, scaling over workers, latency,\n"
      "busy %, bytes copied, peak RSS (each case is a `vpipe run -o null --stats-json` child)");
  bench->add_flag(
      "--quick", bench_options.quick,
      "A tiny suite for CI: 320x240, 30 frames, workers 1..2, transport + one light chain");
  bench
      ->add_option("--frames", bench_options.frames,
                   "Frames per case (default 90; 30 with --quick)")
      ->check(CLI::Range(1, 1000000));
  bench
      ->add_option("--max-workers", bench_options.max_workers,
                   "Workers 1..N (default: the CPUs vpipe may use; at most 2 with --quick)")
      ->check(CLI::Range(1, 1024));
  bench
      ->add_option("--repeat", bench_options.repeat,
                   "Runs per case; every number is the median (default 1)")
      ->check(CLI::Range(1, 1000));
  bench->add_option("--csv", bench_options.csv_path, "Write the results as CSV, one row per case");
  bench->add_option("--json", bench_options.json_path, "Write the results as JSON");
  bench->add_option("--plot", bench_options.plot_path,
                    "Write a PNG of fps and efficiency vs workers (needs gnuplot)");

  std::vector<std::string> args = translate_ffmpeg_spellings(argc, argv);
  std::reverse(args.begin(), args.end());
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "vpipe: error: %s (see vpipe --help)\n", e.what());
    return static_cast<int>(ExitCode::kUsage);
  }

  if (app.got_subcommand("filters")) return list_filters();
  if (app.got_subcommand("bench")) return vpipe::cli::run_bench(bench_options);

  try {
    RunOptions options;
    if (opt_config->count() > 0) {
      vpipe::scheduler::apply_config_file(config, options);
    } else if (opt_input->count() == 0) {
      vpipe::scheduler::apply_config_file(vpipe::scheduler::default_config_path(), options);
    }
    // Flags given on the command line win over the config file.
    if (opt_input->count()) options.input = cli.input;
    if (opt_output->count()) options.output = cli.output;
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
    if (opt_bitrate->count()) options.bitrate = vpipe::scheduler::parse_bitrate(bitrate);
    if (opt_gop->count()) options.gop = cli.gop;
    if (opt_pix_fmt->count()) options.pix_fmt = cli.pix_fmt;
    if (opt_audio_codec->count()) options.audio_codec = cli.audio_codec;
    if (opt_audio_bitrate->count())
      options.audio_bitrate = vpipe::scheduler::parse_bitrate(audio_bitrate);
    if (opt_ss->count()) options.start_s = vpipe::scheduler::parse_time(start_text, "-ss");
    if (opt_r->count()) options.rate = vpipe::scheduler::parse_rate(rate_text);
    if (opt_t->count()) options.duration_s = vpipe::scheduler::parse_time(duration_text, "-t");
    if (opt_map_metadata->count()) options.no_metadata = map_metadata == -1;
    add_key_values(input_opts, "--input-opt", options.input_options);
    add_key_values(codec_opts, "--codec-opt", options.codec_options);
    if (opt_workers->count()) {
      options.workers = cli.workers;
      if (cli.workers < 1)
        vpipe::fail(ExitCode::kUsage,
                    "--workers " + std::to_string(cli.workers) + " must be at least 1");
    }
    if (opt_affinity->count()) options.affinity = cli.affinity;
    if (opt_window->count()) options.window = cli.window;
    if (opt_batch->count()) {
      options.batch = cli.batch;
      if (cli.batch < 1)
        vpipe::fail(ExitCode::kUsage,
                    "--batch " + std::to_string(cli.batch) + " must be at least 1");
    }
    if (opt_restarts->count()) options.max_restarts = cli.max_restarts;
    if (opt_hang->count()) options.hang_timeout_s = cli.hang_timeout_s;
    if (opt_an->count()) options.no_audio = true;
    if (opt_y->count()) options.overwrite = true;
    if (opt_faststart->count()) options.faststart = true;
    options.dry_run = cli.dry_run;
    if (opt_quiet->count()) options.quiet = true;
    if (opt_progress->count()) options.progress = cli.progress;
    if (opt_level->count()) options.log_level = cli.log_level;
    if (opt_log_file->count()) options.log_file = cli.log_file;
    if (opt_stats->count()) options.stats_json = cli.stats_json;
    if (opt_metrics->count()) options.metrics = cli.metrics;

    vpipe::scheduler::validate(options);
    vpipe::init_logging("vpipe", options.log_level, options.log_file);
    return vpipe::scheduler::run(options);
  } catch (const vpipe::Error& e) {
    std::fprintf(stderr, "vpipe: error: %s\n", e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vpipe: error: %s\n", e.what());
    return static_cast<int>(ExitCode::kRunFailed);
  }
}
