// vpipe bench: a built-in benchmark suite over `vpipe run`.
//
// Each case (test-source size x filter chain x worker count) runs `/proc/self/exe run ... -o null
// --stats-json TMP` as a child process, exactly as a user would, and reads the report back. So the
// numbers include process start-up, planning and shared-memory set-up, and no benchmark code runs
// inside the pipeline. Results go to a table on stdout and, on request, to CSV, JSON and a gnuplot
// PNG. It measures; the one thing it asserts is the zero-copy contract (no bytes copied at stage
// boundaries), which fails the run after the reports are written.
#pragma once

#include <string>
#include <vector>

namespace vpipe::cli {

struct BenchOptions {
  bool quick = false;   // the small CI suite instead of the default one
  int frames = 0;       // frames per case; 0: the suite's own
  int max_workers = 0;  // workers 1..max_workers; 0: the CPUs this process may use
  int repeat = 1;       // runs per case; every reported number is the median of these
  std::string csv_path;
  std::string json_path;
  std::string plot_path;
  // `vpipe bench -i FILE [run options]`: the user's own job, timed `repeat` times instead of the
  // suite (bench_job.cpp); with `vs_ffmpeg`, the ffmpeg CLI's same job alternately.
  std::vector<std::string> job;
  bool vs_ffmpeg = false;
};

// Runs the suite, or the job; prints any failure as one `vpipe: error:` line and returns vpipe's
// exit code.
int run_bench(const BenchOptions& options);
// The job (options.job): throws vpipe::Error.
int bench_job(const BenchOptions& options);

}  // namespace vpipe::cli
