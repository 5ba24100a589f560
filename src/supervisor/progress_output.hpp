// Where and how a run's progress is shown, for the pipeline and a stream copy alike: a redrawn
// line on a terminal, a plain line every few seconds otherwise, JSON objects once a second with
// --progress json (ending with an "end" record); on stderr, or --progress-file (a file,
// replaced, or fd:N, an open descriptor such as a pipe a program reads), checked before the run.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "report/progress.hpp"

namespace vpipe::supervisor {

class ProgressOutput {
 public:
  // `mode`: auto, json or none (--progress); `quiet`: -q, which keeps progress off stderr.
  // Throws vpipe::Error (usage) for a --progress-file that cannot be written.
  ProgressOutput(std::string mode, bool quiet, const std::string& file);
  ~ProgressOutput();
  ProgressOutput(const ProgressOutput&) = delete;
  ProgressOutput& operator=(const ProgressOutput&) = delete;

  // Whether a record is due now (always with `force`, if progress is shown at all). A caller
  // takes a sample only then: a sample reads /proc and the output's size.
  bool due(bool force = false);
  void show(const report::ProgressSample& sample);
  // Ends a redrawn line, before another line is logged.
  void finish_line();
  // --progress json: the last record, once the run's result is known.
  void end(const report::ProgressSample& last);

 private:
  [[nodiscard]] bool shown() const;

  std::string mode_;
  bool quiet_;
  bool to_file_;
  FILE* file_ = nullptr;  // --progress-file, or nullptr: stderr
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  bool line_open_ = false;
};

}  // namespace vpipe::supervisor
