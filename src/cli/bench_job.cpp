// `vpipe bench -i FILE [any run options] [--repeat K] [--vs-ffmpeg]`: the user's own job, run
// K times as `vpipe run` children (the output written to a temporary file of the same kind),
// and with --vs-ffmpeg the ffmpeg CLI's same job alternately (its command printed). Reports the
// medians and spread of fps and wall time, CPU time per frame (user + system, every process),
// and vpipe's per-stage busy time; warns where the host is too busy, or the runs too spread, for
// the numbers to be trusted.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "affinity/cpu_plan.hpp"
#include "cli/bench.hpp"
#include "cli/bench_support.hpp"
#include "common/exit_status.hpp"
#include "common/log.hpp"
#include "plan/run_flags.hpp"
#include "plan/run_plan.hpp"
#include "transform/filter_chain.hpp"

namespace vpipe::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Timing {
  double wall_s = 0;
  double cpu_s = 0;
};

// One run of `args`, timed; a failed run fails the bench with its own last line.
Timing timed(const std::vector<std::string>& args, const std::string& log, const std::string& who) {
  rusage usage{};
  const auto start = std::chrono::steady_clock::now();
  const int status = spawn_and_wait(args, log, &usage);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (g_interrupted) fail(ExitCode::kInterrupted, "bench interrupted");
  if (failed(status)) {
    const std::string why = last_line_of(log);
    fail(ExitCode::kRunFailed,
         "bench: " + who + " " + describe_status(status) + (why.empty() ? "" : ": " + why));
  }
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return {wall, seconds(usage.ru_utime) + seconds(usage.ru_stime)};
}

std::string number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", v);
  return text;
}

// The ffmpeg CLI's command for the job, writing `output` (or nothing, for null). Fails where the
// job uses what ffmpeg has not (vpipe's own filters).
std::vector<std::string> ffmpeg_command(const plan::RunOptions& o, const plan::RunPlan& plan,
                                        const std::string& output) {
  for (const std::string& entry : transform::FilterChain::entries(o.vf)) {
    const std::string name = entry.substr(0, entry.find('='));
    if (name.rfind("cv.", 0) == 0 || !transform::is_ffmpeg_name(name.substr(0, name.find('@')))) {
      fail(ExitCode::kUsage, "--vs-ffmpeg: the chain uses vpipe's own filter '" + name +
                                 "', which the ffmpeg CLI does not have");
    }
  }
  std::vector<std::string> a = {"ffmpeg", "-nostdin", "-v", "error", "-y"};
  // The decoder's threads when the user chose them (else each tool its own: see
  // plan/thread_budget.hpp).
  if (o.decoder_threads > 0) a.insert(a.end(), {"-threads", std::to_string(o.decoder_threads)});
  if (o.start_s) a.insert(a.end(), {"-ss", number(*o.start_s)});
  a.insert(a.end(), {"-i", o.input});
  if (o.duration_s) a.insert(a.end(), {"-t", number(*o.duration_s)});
  if (o.end_s) a.insert(a.end(), {"-to", number(*o.end_s)});
  if (!o.vf.empty()) a.insert(a.end(), {"-vf", o.vf});
  if (!o.size.empty()) a.insert(a.end(), {"-s", o.size});
  if (o.rate)
    a.insert(a.end(), {"-r", std::to_string(o.rate->num) + "/" + std::to_string(o.rate->den)});
  if (o.frames) a.insert(a.end(), {"-frames:v", std::to_string(*o.frames)});
  const auto& e = plan.encoder;
  if (!plan.null_output) {
    a.insert(a.end(), {"-c:v", e.codec});
    if (!e.preset.empty()) a.insert(a.end(), {"-preset", e.preset});
    if (e.crf) {
      const bool has_crf = e.codec.rfind("libx26", 0) == 0 || e.codec.rfind("libvpx", 0) == 0 ||
                           e.codec == "libaom-av1" || e.codec == "libsvtav1";
      a.insert(a.end(), {has_crf ? "-crf" : "-q:v", std::to_string(*e.crf)});
    }
    if (e.bitrate) a.insert(a.end(), {"-b:v", std::to_string(*e.bitrate)});
    if (e.gop) a.insert(a.end(), {"-g", std::to_string(*e.gop)});
    if (!e.pix_fmt.empty()) a.insert(a.end(), {"-pix_fmt", e.pix_fmt});
    for (const auto& [key, value] : e.codec_options) a.insert(a.end(), {"-" + key, value});
    for (const auto& [key, value] : e.muxer_options) a.insert(a.end(), {"-" + key, value});
    if (!plan.copy_audio) {
      a.emplace_back("-an");
    } else if (plan.audio_encoder.empty()) {
      a.insert(a.end(), {"-c:a", "copy"});
    } else {
      a.insert(a.end(), {"-c:a", plan.audio_encoder});
      if (plan.audio_bitrate > 0) a.insert(a.end(), {"-b:a", std::to_string(plan.audio_bitrate)});
    }
    if (!e.format.empty()) a.insert(a.end(), {"-f", e.format});
    a.push_back(output);
  } else {
    a.insert(a.end(), {"-an", "-f", "null", "-"});
  }
  return a;
}

// The job's arguments with its output moved into `tmp` (the same extension, so the same
// container and encoder), as `vpipe run` takes them.
std::vector<std::string> job_args(const std::vector<std::string>& job, const std::string& output,
                                  const std::string& scratch) {
  std::vector<std::string> args = plan::translate_ffmpeg_spellings([&] {
    std::vector<std::string> with_run{"run"};
    with_run.insert(with_run.end(), job.begin(), job.end());
    return with_run;
  }());
  args.erase(args.begin());  // "run"
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if ((args[i] == "-o" || args[i] == "--output") && args[i + 1] == output) args[i + 1] = scratch;
  }
  return args;
}

struct Side {
  std::vector<Timing> runs;
  [[nodiscard]] double wall_median() const {
    std::vector<double> v;
    for (const Timing& t : runs) v.push_back(t.wall_s);
    return median(v);
  }
  [[nodiscard]] double cpu_median() const {
    std::vector<double> v;
    for (const Timing& t : runs) v.push_back(t.cpu_s);
    return median(v);
  }
  // (slowest - fastest) / median wall time.
  [[nodiscard]] double spread() const {
    double lo = runs.front().wall_s, hi = lo;
    for (const Timing& t : runs) {
      lo = std::min(lo, t.wall_s);
      hi = std::max(hi, t.wall_s);
    }
    return (hi - lo) / wall_median();
  }
  [[nodiscard]] json to_json(double frames) const {
    json each = json::array();
    for (const Timing& t : runs) each.push_back({{"wall_s", t.wall_s}, {"cpu_s", t.cpu_s}});
    return {{"runs", each},
            {"wall_s", wall_median()},
            {"fps", frames / wall_median()},
            {"cpu_ms_per_frame", 1000 * cpu_median() / frames},
            {"spread", spread()}};
  }
};

void print_row(const char* who, const Side& side, double frames) {
  std::printf("%-14s %10.1f %8.0f%% %10.2f %14.2f\n", who, frames / side.wall_median(),
              100 * side.spread(), side.wall_median(), 1000 * side.cpu_median() / frames);
}

std::string command_text(const std::vector<std::string>& args) {
  std::string text;
  for (const std::string& a : args) {
    const bool plain = a.find_first_of(" '\"[];,=\\$*?") == std::string::npos && !a.empty();
    text += (text.empty() ? "" : " ") + (plain ? a : "'" + a + "'");
  }
  return text;
}

// The job's options, as `vpipe run` reads them; one output, a file or null.
plan::RunOptions job_options(const std::vector<std::string>& job) {
  const plan::OutputArgs outputs = plan::split_outputs([&] {
    std::vector<std::string> with_run{"run"};
    with_run.insert(with_run.end(), job.begin(), job.end());
    return plan::translate_ffmpeg_spellings(with_run);
  }());
  if (!outputs.more.empty()) fail(ExitCode::kUsage, "bench: give the job one output");
  const plan::RunOptions o =
      plan::parse_run_args(std::vector<std::string>(outputs.run.begin() + 1, outputs.run.end()));
  if (o.input.empty()) fail(ExitCode::kUsage, "bench: give the job's input with -i");
  if (o.output.empty()) fail(ExitCode::kUsage, "bench: give the job's output (-o FILE or null)");
  if (o.output != "null" &&
      (o.output == "-" || o.output.find("://") != std::string::npos || o.output == "preview")) {
    fail(ExitCode::kUsage, "bench: the job's output must be a file or null, not '" + o.output +
                               "' (bench writes it to a temporary file of the same kind)");
  }
  return o;
}

// vpipe's stages: the median of each one's busy share of the wall clock, printed and as JSON.
json stage_busy(const std::vector<json>& reports) {
  std::map<std::string, std::vector<double>> busy;
  for (const json& r : reports) {
    for (const auto& s : r.at("stages"))
      busy[s.at("stage").get<std::string>()].push_back(s.at("busy_percent").get<double>());
  }
  std::string stages;
  json stage_json = json::object();
  for (const auto& [name, values] : busy) {
    stages += (stages.empty() ? "" : ", ") + name + " " + number(std::round(median(values)));
    stage_json[name] = median(values);
  }
  std::printf("vpipe's stages, busy %% of the wall clock: %s\n", stages.c_str());
  return stage_json;
}

void warn_if_busy(int cpus) {
  double load = 0;
  if (getloadavg(&load, 1) == 1 && load > cpus) {
    std::fprintf(stderr,
                 "vpipe: warning: the host is busy (load %.1f on %d CPUs): these numbers will "
                 "not be worth much\n",
                 load, cpus);
  }
}

}  // namespace

int bench_job(const BenchOptions& options) {
  const plan::RunOptions o = job_options(options.job);
  init_logging("vpipe", "error");  // planning probes the input: libav's notes are not news here
  const plan::RunPlan plan = plan::make_plan(o, affinity::read_topology());
  const int repeat = std::max(1, options.repeat);
  const int cpus = usable_cpus();

  const SignalGuard signals;
  const TempDir tmp;
  const std::string ext = fs::path(o.output).extension().string();
  const std::string report = tmp.file("stats.json");
  std::vector<std::string> vpipe = {"/proc/self/exe", "run", "-q", "-y"};
  const std::vector<std::string> job =
      job_args(options.job, o.output, o.output == "null" ? "null" : tmp.file("vpipe" + ext));
  vpipe.insert(vpipe.end(), job.begin(), job.end());
  vpipe.insert(vpipe.end(), {"--stats-json", report});
  const std::vector<std::string> ffmpeg = options.vs_ffmpeg
                                              ? ffmpeg_command(o, plan, tmp.file("ffmpeg" + ext))
                                              : std::vector<std::string>{};
  if (options.vs_ffmpeg && !on_path("ffmpeg"))
    fail(ExitCode::kUsage, "--vs-ffmpeg needs the ffmpeg CLI, which is not on PATH");

  warn_if_busy(cpus);
  Side mine, theirs;
  std::vector<json> reports;
  for (int i = 0; i < repeat; ++i) {
    mine.runs.push_back(timed(vpipe, tmp.file("vpipe.log"), "vpipe run"));
    std::ifstream in(report);
    reports.push_back(json::parse(in, nullptr, false));
    if (reports.back().is_discarded()) fail(ExitCode::kRunFailed, "bench: vpipe wrote no report");
    if (!ffmpeg.empty()) theirs.runs.push_back(timed(ffmpeg, tmp.file("ffmpeg.log"), "ffmpeg"));
  }
  const double frames = reports.front().value("frames", 0.0);
  if (frames <= 0) fail(ExitCode::kRunFailed, "bench: the job gave no frame");

  std::printf(
      "vpipe bench: %s\n(%d run(s) each, alternating; %d CPUs; %.0f frames; wall clock "
      "including start-up; CPU: user + system of every process)\n",
      command_text(options.job).c_str(), repeat, cpus, frames);
  std::printf("%-14s %10s %9s %10s %14s\n", "", "fps", "spread", "wall_s", "CPU ms/frame");
  print_row("vpipe", mine, frames);
  json result = {{"job", options.job},
                 {"frames", frames},
                 {"cpus", cpus},
                 {"repeat", repeat},
                 {"vpipe", mine.to_json(frames)}};
  if (!ffmpeg.empty()) {
    print_row("ffmpeg", theirs, frames);
    const double fps_ratio = theirs.wall_median() / mine.wall_median();
    const double cpu_ratio = mine.cpu_median() / theirs.cpu_median();
    std::printf("%-14s %9.2fx %9s %10s %13.2fx\n", "vpipe/ffmpeg", fps_ratio, "", "", cpu_ratio);
    std::printf("ffmpeg's command: %s\n", command_text(ffmpeg).c_str());
    result["ffmpeg"] = theirs.to_json(frames);
    result["ffmpeg"]["command"] = ffmpeg;
    result["fps_ratio"] = fps_ratio;
    result["cpu_ratio"] = cpu_ratio;
  }
  result["stage_busy_percent"] = stage_busy(reports);
  const double spread = std::max(mine.spread(), ffmpeg.empty() ? 0.0 : theirs.spread());
  if (repeat > 1 && spread > 0.10) {
    std::fprintf(stderr,
                 "vpipe: warning: the runs are %.0f%% apart: the host is noisy; give more "
                 "--repeat, or a quieter machine\n",
                 100 * spread);
  }
  if (!options.json_path.empty()) {
    std::ofstream out(options.json_path);
    out << result.dump(2) << "\n";
    if (!out) fail(ExitCode::kOutput, "--json " + options.json_path + " cannot be written");
  }
  return 0;
}

}  // namespace vpipe::cli
