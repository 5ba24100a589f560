// vpipe command line: `vpipe run`, `vpipe filters`, and the hidden stage entry point.
#include <sys/prctl.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cli/bench.hpp"
#include "cli/completion.hpp"
#include "cli/segments_cli.hpp"
#include "common/error.hpp"
#include "common/log.hpp"
#include "common/memory.hpp"
#include "common/process_title.hpp"
#include "common/signals.hpp"
#include "plan/options.hpp"
#include "plan/run_flags.hpp"
#include "stage/launch.hpp"
#include "stage/stage_main.hpp"
#include "supervisor/supervisor.hpp"
#include "transform/filter.hpp"
#include "transform/filter_chain.hpp"
#include "transform/lavfi.hpp"

extern "C" {
#include <hwloc.h>
#include <libavcodec/avcodec.h>
#include <libavfilter/version.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
}
#include <opencv2/core/version.hpp>

namespace {

// `vpipe --version`: the release and the commit it was built from, and the versions of the
// libraries it runs with (FFmpeg's as loaded now, which may differ from the headers').
std::string version_text() {
  const auto av = [](unsigned v) {
    return std::to_string(AV_VERSION_MAJOR(v)) + "." + std::to_string(AV_VERSION_MINOR(v)) + "." +
           std::to_string(AV_VERSION_MICRO(v));
  };
  return std::string("vpipe ") + VPIPE_VERSION + " (commit " + VPIPE_COMMIT + ")\n" + "FFmpeg " +
         av_version_info() + ": libavcodec " + av(avcodec_version()) + ", libavformat " +
         av(avformat_version()) + ", libavutil " + av(avutil_version()) + "\nOpenCV " + CV_VERSION +
         "\nhwloc " + HWLOC_VERSION;
}

using vpipe::ExitCode;
using vpipe::plan::RunOptions;

constexpr const char* kExitCodes =
    "Exit codes: 0 done, 1 a stage failed while running, 2 bad usage (flag, config, filter),\n"
    "3 input cannot be read, 4 output cannot be written, 130 aborted by a second Ctrl-C,\n"
    "255 stopped by Ctrl-C/SIGTERM/SIGHUP: the output is finished and plays, but ends early.";

int list_filters() {
  std::printf(
      "Filters for --vf: a chain in ffmpeg's syntax (name=arg:key=value,..., quoting and\n"
      "expressions as ffmpeg's). A name ffmpeg has runs ffmpeg's filter; vpipe's own filters\n"
      "below mix with them in one chain (cv.NAME where ffmpeg has the same name).\n\n"
      "vpipe's own filters (OpenCV, on the YUV 4:2:0 planes, no copy in or out):\n\n");
  for (const auto& f : vpipe::transform::filter_registry()) {
    const std::string name = (vpipe::transform::is_ffmpeg_name(f.name) ? "cv." : "") + f.name;
    std::printf("  %-12s %s%s\n               args: %s\n               e.g.  %s\n", name.c_str(),
                f.summary.c_str(),
                f.sequential ? " [in order: keeps state across frames, runs on one worker]" : "",
                f.usage.empty() ? "(none)" : f.usage.c_str(), f.example.c_str());
  }
  std::printf("\nffmpeg's filters (libavfilter %s), one video in and one out:\n\n",
              AV_STRINGIFY(LIBAVFILTER_VERSION));
  for (const auto& f : vpipe::transform::lavfi_filters()) {
    std::printf("  %-20s %s [%s]\n", f.name.c_str(), f.description.c_str(), f.order.c_str());
  }
  std::printf(
      "\nper frame: any number of transform workers run the chain in parallel, each on its own\n"
      "frames. in order: the chain runs on one worker that sees every frame in order (vpipe run\n"
      "--dry-run says which filter and why). in the encode stage's graph: the filter gives\n"
      "frames of its own (holds them back, drops, adds or re-times them); it runs with all after\n"
      "it as one graph that the encode stage feeds every frame in order.\n");
  return 0;
}

// `vpipe run`: its help footer; the flags are added by plan::RunFlags.
CLI::App* add_run_command(CLI::App& app) {
  CLI::App* run = app.add_subcommand("run", "Transcode INPUT through a filter chain into OUTPUT");
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
  return run;
}

void add_bench_command(CLI::App& app, vpipe::cli::BenchOptions& bench_options) {
  auto* bench = app.add_subcommand(
      "bench",
      "Benchmark the pipeline on the test source: fps, scaling over workers, latency,\n"
      "busy %, pictures copied, peak RSS (each case is a `vpipe run -o null --stats-json` child)");
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
  bench->add_flag("--vs-ffmpeg", bench_options.vs_ffmpeg,
                  "With a job (-i FILE ...): run the ffmpeg CLI's same job too, alternately, and "
                  "print its command");
  // `vpipe bench -i FILE [run options]`: the user's own job instead of the suite.
  bench->allow_extras();
  bench->add_option("--csv", bench_options.csv_path, "Write the results as CSV, one row per case");
  bench->add_option("--json", bench_options.json_path, "Write the results as JSON");
  bench->add_option("--plot", bench_options.plot_path,
                    "Write a PNG of fps and efficiency vs workers (needs gnuplot)");
}

// Parses `args` (ffmpeg's spellings translated, later outputs cut off) into `app`: the
// exit code when it already says how the program ends (--help, --version, a usage error).
std::optional<int> parse_command_line(CLI::App& app, const std::vector<std::string>& args) {
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
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
  return std::nullopt;
}

// `vpipe run` (or `vpipe segments` with its plan): the options, checked, then the run; every
// error as one line and its exit code.
int run_pipeline(const vpipe::plan::RunFlags& run_flags, const vpipe::plan::OutputArgs& outputs,
                 vpipe::cli::SegmentsCommand& segments, const std::vector<std::string>& args) {
  try {
    if (segments.selected()) {
      if (!outputs.more.empty())
        vpipe::fail(ExitCode::kUsage, "segment mode: several outputs are not supported yet");
      return segments.run(args);
    }
    RunOptions options = run_flags.options();
    for (const auto& more : outputs.more)
      options.more_outputs.push_back(vpipe::plan::output_options(options, more));
    vpipe::plan::validate(options);
    for (const RunOptions& more : options.more_outputs) vpipe::plan::validate(more);
    vpipe::init_logging("vpipe", vpipe::plan::effective_log_level(options), options.log_file);
    if (segments.one_shot()) return segments.run_one_shot(options, args);
    return vpipe::supervisor::run(options);
  } catch (const vpipe::Error& e) {
    if (e.what()[0] == '\0') return static_cast<int>(e.code());  // a stage said it already
    // A stop request is not an error: its line says what happened.
    std::fprintf(stderr,
                 e.code() == vpipe::ExitCode::kStopped ? "vpipe: %s\n" : "vpipe: error: %s\n",
                 e.what());
    return static_cast<int>(e.code());
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "vpipe: error: %s\n", vpipe::out_of_memory_text("vpipe").c_str());
    return static_cast<int>(ExitCode::kRunFailed);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vpipe: error: %s\n", e.what());
    return static_cast<int>(ExitCode::kRunFailed);
  }
}

// The first code of vpipe's to run: before the shared libraries' initialisers, and so tens of
// milliseconds before main (common/signals.hpp).
void block_stop_signals_first(int /*argc*/, char** /*argv*/, char** envp) {
  vpipe::block_stop_signals_from_the_start(envp);
}
[[gnu::section(".preinit_array"),
  gnu::used]] void (*const kPreinit)(int, char**, char**) = &block_stop_signals_first;

}  // namespace

int main(int argc, char** argv) {
  // A file-size limit (ulimit -f) must fail a write with EFBIG, reported as an output error,
  // not kill the process by SIGXFSZ's default action. Stages inherit the disposition.
  signal(SIGXFSZ, SIG_IGN);
  // The launcher's word is for this process only (stages and jobs start from a known mask).
  unsetenv("VPIPE_STARTUP_BLOCKED");
  vpipe::remember_args(argc, argv);
  if (vpipe::stage::is_stage_launch(argc, argv)) return vpipe::stage::stage_main(argc, argv);
  // What ps, top and `pgrep -x vpipe` show, started through the launcher or not.
  prctl(PR_SET_NAME, "vpipe");

  CLI::App app{
      "vpipe: a multi-process video pipeline (decode -> transform workers -> encode over shared "
      "memory)"};
  app.name("vpipe");
  app.set_version_flag("--version", version_text());
  app.require_subcommand(1);
  app.footer(kExitCodes);

  CLI::App* run = add_run_command(app);
  vpipe::plan::RunFlags run_flags;
  run_flags.add_to(run);

  app.add_subcommand("filters",
                     "List the filters --vf accepts, with their arguments and an example");

  vpipe::cli::BenchOptions bench_options;
  add_bench_command(app, bench_options);

  vpipe::cli::SegmentsCommand segments;
  segments.add_to(app, run);

  std::string shell = "bash";
  CLI::App* completion = app.add_subcommand(
      "completion",
      "Print a shell completion script: source <(vpipe completion bash), or install it as\n"
      "/usr/share/bash-completion/completions/vpipe (cmake --install does)");
  completion->add_option("shell", shell, "The shell (bash)")->check(CLI::IsMember({"bash"}));

  std::vector<std::string> args;
  try {
    args = vpipe::plan::translate_ffmpeg_spellings(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const vpipe::Error& e) {
    std::fprintf(stderr, "vpipe: error: %s\n", e.what());
    return static_cast<int>(e.code());
  }
  // -o given more than once: each later output's options are parsed on their own.
  const vpipe::plan::OutputArgs outputs = vpipe::plan::split_outputs(args);
  args = outputs.run;
  if (const std::optional<int> code = parse_command_line(app, args)) return *code;

  // Only `vpipe run` takes stop signals blocked (the supervisor answers them); the other
  // commands handle them, or die by them, as usual.
  if (!app.got_subcommand("run") || segments.one_shot()) vpipe::restore_startup_signal_mask();
  if (app.got_subcommand("filters")) return list_filters();
  if (app.got_subcommand(completion)) {
    vpipe::cli::ExtraFlags run_extra{"run", vpipe::plan::ffmpeg_spellings(), {}};
    for (const auto& c : vpipe::plan::flag_choices())
      run_extra.choices.emplace_back(c.flag, c.words);
    std::fputs(vpipe::cli::bash_completion(app, {run_extra}).c_str(), stdout);
    return 0;
  }
  if (app.got_subcommand("bench")) {
    bench_options.job = app.get_subcommand("bench")->remaining();
    return vpipe::cli::run_bench(bench_options);
  }

  return run_pipeline(run_flags, outputs, segments, args);
}
