// `vpipe segments plan|run|status|join|submit` and `vpipe run --segments N|auto` (the one-shot
// form: plan, the local engine and the join in a temporary folder).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "plan/run_flags.hpp"
#include "segments/segments.hpp"

namespace vpipe::cli {

class SegmentsCommand {
 public:
  // Adds `segments` and its subcommands to `app`, and --segments/--jobs/--split to `run`.
  void add_to(CLI::App& app, CLI::App* run);
  // Whether the parsed command line is a `segments` command, or a `run --segments`.
  [[nodiscard]] bool selected() const;
  [[nodiscard]] bool one_shot() const;
  // Runs the selected command; `args` are the whole command line (ffmpeg spellings translated).
  // Throws vpipe::Error.
  int run(const std::vector<std::string>& args);
  // `vpipe run --segments`: plans into a temporary folder beside the output, runs the local
  // engine, joins, and removes the folder when the output is done.
  int run_one_shot(const plan::RunOptions& options, const std::vector<std::string>& args);

 private:
  CLI::App* segments_ = nullptr;
  CLI::App* plan_ = nullptr;
  CLI::App* run_ = nullptr;
  CLI::App* status_ = nullptr;
  CLI::App* join_ = nullptr;
  CLI::App* submit_ = nullptr;
  CLI::Option* one_shot_ = nullptr;
  plan::RunFlags plan_flags_;
  std::string workdir_;
  std::string index_ = "env";
  std::string count_;  // --segments: N or auto
  double segment_length_s_ = 0;
  std::string split_ = "keyframes";
  bool missing_ = false;
  bool json_ = false;
  bool quiet_ = false;
  std::string engine_ = "local";
  segments::LocalEngine local_;
  segments::SlurmEngine slurm_;
  segments::K8sEngine k8s_;
  bool no_wait_ = false;
  bool resume_ = false;
};

}  // namespace vpipe::cli
