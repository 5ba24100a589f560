#include "cli/bench.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/bench_support.hpp"
#include "common/error.hpp"
#include "common/exit_status.hpp"

extern char** environ;

namespace vpipe::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kRate = 30;  // frames per second of the test source

struct Chain {
  std::string label;
  std::string vf;  // empty: no filter, frames only cross the rings
};

struct Suite {
  std::string name;
  std::vector<std::pair<int, int>> sizes;
  std::vector<Chain> chains;
  int frames = 0;
  int worker_cap = 0;  // 0: as many workers as CPUs
};

// The heavy chain is a fixed CPU load per pixel, so it stays transform-bound on any machine
// (generating the 1080p test source costs more than a blur does).
Suite default_suite() {
  return {"default",
          {{1280, 720}, {1920, 1080}},
          {{"transport", ""}, {"light", "resize=960x540"}, {"heavy", "stress=30"}},
          90,
          0};
}

Suite quick_suite() {
  return {"quick", {{320, 240}}, {{"transport", ""}, {"light", "resize=160x120"}}, 30, 2};
}

struct Case {
  int width = 0;
  int height = 0;
  Chain chain;
  int workers = 0;

  [[nodiscard]] std::string size() const {
    return std::to_string(width) + "x" + std::to_string(height);
  }
  [[nodiscard]] std::string name() const {
    return size() + " " + chain.label + " w" + std::to_string(workers);
  }
};

struct StageResult {
  std::string stage;
  double busy_percent = 0;
  double peak_rss_kib = 0;
};

// One case; with --repeat K every number is the median of its K runs.
struct Result {
  Case c;
  double frames = 0;
  double wall_s = 0;
  double fps = 0;
  double efficiency = 0;  // fps / (workers * fps of the same size and chain with one worker)
  double latency_p50_ms = 0;
  double latency_p99_ms = 0;
  double copies_per_frame = 0;
  double peak_rss_sum_kib = 0;
  double peak_rss_max_kib = 0;
  double decoded_high_water = 0;
  double filtered_high_water = 0;
  std::vector<StageResult> stages;

  [[nodiscard]] double busy_of(const std::string& prefix) const {
    double sum = 0;
    int n = 0;
    for (const auto& s : stages) {
      if (s.stage.rfind(prefix, 0) == 0) {
        sum += s.busy_percent;
        ++n;
      }
    }
    return n > 0 ? sum / n : 0;
  }
};

std::string duration_text(int frames) {
  // Rounded down to the microsecond: lavfi stops at the first frame at or past it, so exactly
  // `frames` frames come out.
  const long long us = static_cast<long long>(frames) * 1'000'000 / kRate;
  char text[32];
  std::snprintf(text, sizeof(text), "%lld.%06lld", us / 1'000'000, us % 1'000'000);
  return text;
}

json run_case_once(const Case& c, int frames, const TempDir& tmp) {
  const std::string report = tmp.file("stats.json");
  const std::string log = tmp.file("stderr.txt");
  std::error_code ignored;
  fs::remove(report, ignored);
  std::vector<std::string> args = {"/proc/self/exe",
                                   "run",
                                   "-q",
                                   "-i",
                                   "testsrc:size=" + c.size() + ":rate=" + std::to_string(kRate) +
                                       ":duration=" + duration_text(frames),
                                   "-o",
                                   "null",
                                   "--workers",
                                   std::to_string(c.workers),
                                   "--stats-json",
                                   report};
  if (!c.chain.vf.empty()) args.insert(args.end(), {"--vf", c.chain.vf});
  const int status = spawn_and_wait(args, log);
  if (g_interrupted) fail(ExitCode::kInterrupted, "bench interrupted during case " + c.name());
  if (failed(status)) {
    const std::string why = last_line_of(log);
    fail(ExitCode::kRunFailed, "bench case " + c.name() + " failed: vpipe run " +
                                   describe_status(status) + (why.empty() ? "" : ": " + why));
  }
  std::ifstream in(report);
  if (!in) fail(ExitCode::kRunFailed, "bench case " + c.name() + " wrote no --stats-json report");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    fail(ExitCode::kRunFailed, "bench case " + c.name() + ": unreadable report: " + e.what());
  }
}

// Folds K reports of one case into medians.
Result summarize(const Case& c, const std::vector<json>& reports) {
  const auto median_of = [&](auto&& pick) {
    std::vector<double> values;
    for (const auto& r : reports) values.push_back(pick(r));
    return median(values);
  };
  Result r;
  r.c = c;
  r.frames = median_of([](const json& j) { return j.at("frames").get<double>(); });
  if (r.frames <= 0) fail(ExitCode::kRunFailed, "bench case " + c.name() + " reported no frames");
  r.wall_s = median_of([](const json& j) { return j.at("wall_s").get<double>(); });
  r.fps = median_of([](const json& j) { return j.at("fps").get<double>(); });
  r.latency_p50_ms =
      median_of([](const json& j) { return j.at("latency_ms").at("p50").get<double>(); });
  r.latency_p99_ms =
      median_of([](const json& j) { return j.at("latency_ms").at("p99").get<double>(); });
  r.decoded_high_water = median_of(
      [](const json& j) { return j.at("rings").at("decoded").at("high_water").get<double>(); });
  r.filtered_high_water = median_of(
      [](const json& j) { return j.at("rings").at("filtered").at("high_water").get<double>(); });
  r.copies_per_frame = median_of([](const json& j) {
    double copies = 0;
    for (const auto& s : j.at("stages")) copies += s.at("frames_copied").get<double>();
    return copies / std::max(1.0, j.at("frames").get<double>());
  });
  r.peak_rss_sum_kib = median_of([](const json& j) {
    double sum = 0;
    for (const auto& s : j.at("stages")) sum += s.at("peak_rss_kib").get<double>();
    return sum;
  });
  r.peak_rss_max_kib = median_of([](const json& j) {
    double most = 0;
    for (const auto& s : j.at("stages")) most = std::max(most, s.at("peak_rss_kib").get<double>());
    return most;
  });
  for (const auto& s : reports.front().at("stages")) {
    const std::string name = s.at("stage").get<std::string>();
    const auto stage_value = [&](const json& j, const char* key) {
      for (const auto& t : j.at("stages")) {
        if (t.at("stage") == name) return t.at(key).get<double>();
      }
      return 0.0;
    };
    r.stages.push_back({name,
                        median_of([&](const json& j) { return stage_value(j, "busy_percent"); }),
                        median_of([&](const json& j) { return stage_value(j, "peak_rss_kib"); })});
  }
  return r;
}

Result run_case(const Case& c, int frames, int repeat, const TempDir& tmp) {
  std::vector<json> reports;
  for (int i = 0; i < repeat; ++i) reports.push_back(run_case_once(c, frames, tmp));
  try {
    return summarize(c, reports);
  } catch (const json::exception& e) {
    fail(ExitCode::kRunFailed, "bench case " + c.name() + ": unexpected report: " + e.what());
  }
}

double mib(double kib) {
  return kib / 1024;
}

void print_header(const Suite& suite, int frames, int repeat, int cpus, int max_workers) {
  std::printf(
      "vpipe bench, %s suite: testsrc at %d fps -> filters -> null, %d frames per case, %s\n",
      suite.name.c_str(), kRate, frames,
      repeat == 1 ? "1 run each" : ("median of " + std::to_string(repeat) + " runs").c_str());
  std::printf("%d CPU(s) usable, workers 1..%d; chains:", cpus, max_workers);
  for (const auto& chain : suite.chains) {
    std::printf(" %s = %s;", chain.label.c_str(), chain.vf.empty() ? "(none)" : chain.vf.c_str());
  }
  std::printf("\n\n%-10s %-10s %3s %8s %5s %8s %8s %6s %6s %6s %7s %8s %8s\n", "size", "chain", "N",
              "fps", "eff", "p50 ms", "p99 ms", "dec%", "xfm%", "enc%", "copy/f", "RSS sum",
              "RSS max");
}

void print_row(const Result& r) {
  std::printf("%-10s %-10s %3d %8.1f %5.2f %8.2f %8.2f %6.0f %6.0f %6.0f %7.2f %7.0fM %7.0fM\n",
              r.c.size().c_str(), r.c.chain.label.c_str(), r.c.workers, r.fps, r.efficiency,
              r.latency_p50_ms, r.latency_p99_ms, r.busy_of("decode"), r.busy_of("xform"),
              r.busy_of("encode"), r.copies_per_frame, mib(r.peak_rss_sum_kib),
              mib(r.peak_rss_max_kib));
  std::fflush(stdout);
}

void print_footer() {
  std::printf(
      "\nN: transform workers; eff: fps_N / (N x fps_1); p50/p99: latency per frame from decode "
      "to\nleaving the pipeline (the null output);\n"
      "dec/xfm/enc%%: busy time / wall time (xfm: mean over workers); copy/f: pictures copied "
      "per frame\n"
      "(the test source's into its slot: 1; a frame moves between stages as a slot index, never "
      "copied);\n"
      "RSS: peak resident MiB of the stage processes, sum and max (each\n"
      "counts the shared frame pool it maps, so the sum overstates the memory in use).\n");
}

json case_json(const Result& r) {
  json stages = json::array();
  for (const auto& s : r.stages) {
    stages.push_back(
        {{"stage", s.stage}, {"busy_percent", s.busy_percent}, {"peak_rss_kib", s.peak_rss_kib}});
  }
  return {{"name", r.c.name()},
          {"size", r.c.size()},
          {"chain", r.c.chain.label},
          {"vf", r.c.chain.vf},
          {"workers", r.c.workers},
          {"frames", r.frames},
          {"wall_s", r.wall_s},
          {"fps", r.fps},
          {"efficiency", r.efficiency},
          {"latency_ms", {{"p50", r.latency_p50_ms}, {"p99", r.latency_p99_ms}}},
          {"copies_per_frame", r.copies_per_frame},
          {"peak_rss_kib", {{"sum", r.peak_rss_sum_kib}, {"max", r.peak_rss_max_kib}}},
          {"rings_high_water",
           {{"decoded", r.decoded_high_water}, {"filtered", r.filtered_high_water}}},
          {"stages", stages}};
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char ch : text) quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return quoted + "\"";
}

std::string csv_text(const std::vector<Result>& results) {
  std::ostringstream out;
  out << "case,size,chain,vf,workers,frames,wall_s,fps,efficiency,latency_p50_ms,latency_p99_ms,"
         "busy_decode_percent,busy_xform_percent,busy_encode_percent,copies_per_frame,"
         "peak_rss_sum_kib,peak_rss_max_kib\n";
  for (const auto& r : results) {
    out << csv_field(r.c.name()) << ',' << r.c.size() << ',' << csv_field(r.c.chain.label) << ','
        << csv_field(r.c.chain.vf) << ',' << r.c.workers << ',' << r.frames << ',' << r.wall_s
        << ',' << r.fps << ',' << r.efficiency << ',' << r.latency_p50_ms << ',' << r.latency_p99_ms
        << ',' << r.busy_of("decode") << ',' << r.busy_of("xform") << ',' << r.busy_of("encode")
        << ',' << r.copies_per_frame << ',' << r.peak_rss_sum_kib << ',' << r.peak_rss_max_kib
        << '\n';
  }
  return out.str();
}

// A gnuplot single-quoted string: only the quote itself needs escaping (doubled).
std::string gnuplot_quoted(const std::string& text) {
  std::string quoted = "'";
  for (char ch : text) quoted += ch == '\'' ? std::string("''") : std::string(1, ch);
  return quoted + "'";
}

// Two panels, fps and efficiency vs workers; one line per size + chain (colour: chain, dash:
// size), each series an inline data block.
std::string gnuplot_script(const Suite& suite, const std::vector<Result>& results, int max_workers,
                           int cpus, int frames, const std::string& png) {
  double efficiency_top = 1.2;  // room above the ideal line
  for (const auto& r : results) efficiency_top = std::max(efficiency_top, 1.1 * r.efficiency);
  std::ostringstream s;
  s << "set terminal pngcairo size 1000,900 font ',10'\nset output " << gnuplot_quoted(png) << "\n";
  std::vector<std::string> series;
  for (std::size_t si = 0; si < suite.sizes.size(); ++si) {
    for (std::size_t ci = 0; ci < suite.chains.size(); ++ci) {
      const std::string block = "$s" + std::to_string(si) + "_" + std::to_string(ci);
      s << block << " << EOD\n";
      std::string title;
      for (const auto& r : results) {
        if (r.c.width != suite.sizes[si].first || r.c.height != suite.sizes[si].second ||
            r.c.chain.label != suite.chains[ci].label) {
          continue;
        }
        s << r.c.workers << ' ' << r.fps << ' ' << r.efficiency << '\n';
        title = r.c.size() + " " + r.c.chain.label;
      }
      s << "EOD\n";
      series.push_back(block + " using 1:COLUMN with linespoints lw 2 pt 7 lc " +
                       std::to_string(ci + 1) + " dt " + std::to_string(si + 1) + " title " +
                       gnuplot_quoted(title));
    }
  }
  const auto plot = [&](int column) {
    std::string line = "plot ";
    for (std::size_t i = 0; i < series.size(); ++i) {
      std::string one = series[i];
      one.replace(one.find("COLUMN"), 6, std::to_string(column));
      line += (i > 0 ? ", " : "") + one;
    }
    return line;
  };
  s << "set multiplot layout 2,1 title "
    << gnuplot_quoted("vpipe bench, " + suite.name + " suite: " + std::to_string(frames) +
                      " frames per case, " + std::to_string(cpus) + " CPU(s)")
    << " noenhanced\n"
    << "set grid\nset key outside right top noenhanced\nset xlabel 'transform workers'\n"
    << "set xtics 1\nset xrange [0.8:" << max_workers << ".2]\n"
    << "set title 'Throughput'\nset ylabel 'frames/s'\nset yrange [0:*]\n"
    << plot(2) << "\n"
    << "set title 'Scaling efficiency: fps_N / (N x fps_1)' noenhanced\nset ylabel 'efficiency'\n"
    << "set yrange [0:" << efficiency_top << "]\n"
    << plot(3) << ", 1 with lines dt 3 lc rgb 'gray40' title 'ideal'\n"
    << "unset multiplot\n";
  return s.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) fail(ExitCode::kOutput, "cannot write '" + path + "'");
}

void write_plot(const std::string& script, const std::string& png, const TempDir& tmp) {
  const std::string script_path = tmp.file("plot.gp");
  write_file(script_path, script);
  const std::string log = tmp.file("gnuplot.txt");
  const int status = spawn_and_wait({"gnuplot", script_path}, log);
  if (failed(status)) {
    const std::string why = last_line_of(log);
    fail(ExitCode::kOutput, "--plot " + png + ": gnuplot " + describe_status(status) +
                                (why.empty() ? "" : ": " + why));
  }
}

// Fails before any case runs when a result could not be written at the end.
void check_writable(const std::string& flag, const std::string& path) {
  if (path.empty()) return;
  const fs::path parent = fs::path(path).parent_path();
  const std::string dir = parent.empty() ? "." : parent.string();
  if (!fs::is_directory(dir) || access(dir.c_str(), W_OK) != 0) {
    fail(ExitCode::kOutput, flag + " " + path + ": cannot write into '" + dir + "'");
  }
}

int bench(const BenchOptions& options) {
  const Suite suite = options.quick ? quick_suite() : default_suite();
  const int cpus = usable_cpus();
  const int frames = options.frames > 0 ? options.frames : suite.frames;
  const int repeat = std::max(1, options.repeat);
  int max_workers = options.max_workers > 0 ? options.max_workers : cpus;
  if (options.max_workers == 0 && suite.worker_cap > 0)
    max_workers = std::min(max_workers, suite.worker_cap);

  if (!options.plot_path.empty() && !on_path("gnuplot")) {
    fail(ExitCode::kOutput,
         "--plot needs gnuplot, which is not installed (Debian: apt-get install gnuplot-nox)");
  }
  check_writable("--csv", options.csv_path);
  check_writable("--json", options.json_path);
  check_writable("--plot", options.plot_path);

  const SignalGuard signals;
  const TempDir tmp;
  print_header(suite, frames, repeat, cpus, max_workers);
  std::vector<Result> results;
  for (const auto& [width, height] : suite.sizes) {
    for (const auto& chain : suite.chains) {
      double fps_1 = 0;
      for (int workers = 1; workers <= max_workers; ++workers) {
        Result r = run_case({width, height, chain, workers}, frames, repeat, tmp);
        if (workers == 1) fps_1 = r.fps;
        r.efficiency = r.fps / (workers * fps_1);
        print_row(r);
        results.push_back(std::move(r));
      }
    }
  }
  print_footer();

  if (!options.csv_path.empty()) write_file(options.csv_path, csv_text(results));
  if (!options.json_path.empty()) {
    json cases = json::array();
    for (const auto& r : results) cases.push_back(case_json(r));
    const json report = {{"vpipe", VPIPE_VERSION},
                         {"suite", suite.name},
                         {"cpus", cpus},
                         {"rate", kRate},
                         {"frames_per_case", frames},
                         {"repeat", repeat},
                         {"max_workers", max_workers},
                         {"cases", cases}};
    write_file(options.json_path, report.dump(2) + "\n");
  }
  if (!options.plot_path.empty()) {
    write_plot(gnuplot_script(suite, results, max_workers, cpus, frames, options.plot_path),
               options.plot_path, tmp);
  }

  return 0;
}

}  // namespace

int run_bench(const BenchOptions& options) {
  try {
    return options.job.empty() ? bench(options) : bench_job(options);
  } catch (const Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "vpipe: error: %s\n", e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "vpipe: error: %s\n", e.what());
    return static_cast<int>(ExitCode::kRunFailed);
  }
}

}  // namespace vpipe::cli
