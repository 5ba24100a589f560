#include "cli/segments_cli.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>

#include "affinity/cpu_plan.hpp"
#include "common/error.hpp"
#include "common/log.hpp"
#include "supervisor/supervisor.hpp"

namespace vpipe::cli {

namespace fs = std::filesystem;

namespace {

// Flags of segment mode itself, with a value, removed from the run flags a manifest stores.
const std::set<std::string> kSegmentFlags = {"--segments", "--segment-length", "--split",
                                             "--workdir", "--jobs"};

// The `vpipe run` flags among `args`, from the word after `after` on, without segment mode's.
std::vector<std::string> run_args_after(const std::vector<std::string>& args,
                                        const std::string& after) {
  auto it = std::find(args.begin(), args.end(), after);
  std::vector<std::string> out;
  if (it == args.end()) return out;
  for (++it; it != args.end(); ++it) {
    const std::string name = it->substr(0, it->find('='));
    if (kSegmentFlags.count(name) > 0) {
      if (it->find('=') == std::string::npos && it + 1 != args.end()) ++it;
      continue;
    }
    if (*it == "--dry-run") continue;
    out.push_back(*it);
  }
  return out;
}

segments::SplitRequest split_request(const std::string& count, double length_s,
                                     const std::string& split, int jobs) {
  segments::SplitRequest r;
  r.split = segments::parse_split(split);
  r.segment_length_s = length_s;
  if (count == "auto") {
    r.segments = std::max(1, jobs) * 2;  // two per job: the longest-first queue evens them out
  } else if (!count.empty()) {
    try {
      r.segments = std::stoi(count);
    } catch (const std::exception&) {
      r.segments = 0;
    }
    if (r.segments < 1) fail(ExitCode::kUsage, "--segments '" + count + "': a count, or auto");
  } else if (length_s <= 0) {
    fail(ExitCode::kUsage, "give --segments N or --segment-length SECONDS");
  }
  return r;
}

// Cores this process may use (its CPU binding and CPU quota).
int usable_cores() {
  return std::max(1, static_cast<int>(affinity::read_topology().cores.size()));
}

}  // namespace

// Every `vpipe segments` subcommand and its flags, in --help order: a table, long because
// there are five subcommands, and clearer whole than split.
void SegmentsCommand::add_to(CLI::App& app, CLI::App* run) {
  segments_ = app.add_subcommand(
      "segments",
      "Segment-parallel transcoding: split the input into exact ranges, encode them as\n"
      "independent jobs (on this machine's cores, or as cluster jobs), and join them");
  segments_->require_subcommand(1);
  segments_->footer(
      "A job is a folder: `plan` writes DIR/manifest.json once; each `run` publishes\n"
      "DIR/segments/NNNNN.nut with its sidecar by rename; `join` checks them and writes the\n"
      "output with the input's audio. Example:\n"
      "  vpipe segments plan -i in.mp4 -o out.mp4 --vf resize=1280x720 --crf 20 --segments 8 "
      "--workdir job\n"
      "  vpipe segments submit --workdir job --engine local     # every core, then the join\n"
      "  vpipe segments status --workdir job\n"
      "Or in one go: vpipe run -i in.mp4 -o out.mp4 --segments auto");

  plan_ = segments_->add_subcommand(
      "plan", "Probe the input and write DIR/manifest.json: the options and every segment's range");
  plan_flags_.add_to(plan_);
  plan_->add_option("--segments", count_, "Number of segments (N or auto)");
  plan_->add_option("--segment-length", segment_length_s_,
                    "Or: segments of about this many seconds");
  plan_
      ->add_option("--split", split_,
                   "keyframes (default: boundaries on the input's keyframes), gop (multiples "
                   "of -g), exact (anywhere: decoding starts at the keyframe before)")
      ->check(CLI::IsMember({"keyframes", "gop", "exact"}));
  plan_->add_option("--workdir", workdir_, "The job's folder (created)")->required();
  plan_->footer(
      "Takes every `vpipe run` option. Example:\n"
      "  vpipe segments plan -i in.mp4 -o out.mkv -c:v ffv1 --segments 4 --split exact "
      "--workdir job");

  run_ = segments_->add_subcommand(
      "run", "Encode one segment (video only) into DIR/segments/, published by rename");
  run_->add_option("--workdir", workdir_, "The job's folder")->required();
  run_->add_option("--index", index_,
                   "Segment number, or env (default): $SLURM_ARRAY_TASK_ID, else "
                   "$JOB_COMPLETION_INDEX");
  run_->add_flag("-q,--quiet", quiet_, "No progress output");
  run_->footer(
      "Exits 0 at once, saying so, when the segment is already done. Example:\n"
      "  vpipe segments run --workdir job --index 3");

  status_ = segments_->add_subcommand("status", "done / running / missing / invalid per segment");
  status_->add_option("--workdir", workdir_, "The job's folder")->required();
  status_->add_flag("--missing", missing_,
                    "Print only the segments not done, as an array spec (1,3,7-9)");
  status_->add_flag("--json", json_, "As JSON");
  status_->footer("Example: sbatch --array=$(vpipe segments status --workdir job --missing) ...");

  join_ = segments_->add_subcommand(
      "join", "Check every segment and write the output, with the input's audio, by rename");
  join_->add_option("--workdir", workdir_, "The job's folder")->required();
  join_->add_flag("-q,--quiet", quiet_, "Say nothing when it worked");
  join_->footer(
      "A missing or invalid segment: one line naming them, exit 1, no output.\n"
      "Example: vpipe segments join --workdir job");

  submit_ = segments_->add_subcommand("submit", "Run every segment not done yet, then the join");
  submit_->add_option("--workdir", workdir_, "The job's folder")->required();
  submit_
      ->add_option("--engine", engine_,
                   "local (default): concurrent jobs on disjoint CPU sets of this machine;\n"
                   "slurm: an array job and an afterok join, submitted with sbatch to the "
                   "cluster SLURM_CONF names;\n"
                   "k8s: an Indexed Job and a join Job written to DIR/k8s (--apply runs them)")
      ->check(CLI::IsMember({"local", "slurm", "k8s"}));
  submit_
      ->add_option("--jobs", local_.jobs,
                   "Concurrent segment jobs (local default: one per 4 cores; slurm: the "
                   "array's %limit, default none; k8s: parallelism, default 4)")
      ->check(CLI::Range(1, 4096));
  submit_
      ->add_option("--cpus-per-task", slurm_.cpus_per_task,
                   "slurm, k8s: CPUs per segment task (default: the plan's CPUs per job)")
      ->check(CLI::Range(1, 4096));
  submit_->add_option("--sbatch-opt", slurm_.sbatch_options,
                      "slurm: another sbatch flag for both jobs (repeatable), e.g. "
                      "--sbatch-opt=--partition=video");
  submit_->add_flag("--no-wait", no_wait_, "slurm: return once submitted");
  submit_->add_option("--image", k8s_.image, "k8s: the container image (default vpipe:VERSION)");
  submit_->add_option("--claim", k8s_.claim,
                      "k8s: the PersistentVolumeClaim with the input, the job and the output "
                      "(default vpipe-work)");
  submit_->add_option("--mount", k8s_.mount,
                      "k8s: where the claim is mounted (default: the folder holding the input, "
                      "the job and the output, at the same paths as here)");
  submit_->add_flag("--apply", k8s_.apply, "k8s: kubectl apply the jobs and wait for them");
  submit_
      ->add_option("--max-tries", local_.max_tries,
                   "Attempts per segment before the job fails (default 3)")
      ->check(CLI::Range(1, 100));
  submit_->add_flag("--resume", resume_,
                    "Carry on a job that stopped or failed (segments done are always kept)");
  submit_->add_flag("--dry-run", local_.dry_run, "Say what would run, run nothing");
  submit_->add_flag("-q,--quiet", local_.quiet, "No progress output");
  submit_->footer(
      "Examples:\n"
      "  vpipe segments submit --workdir job --engine local --jobs 4\n"
      "  SLURM_CONF=/etc/slurm/slurm.conf vpipe segments submit --workdir /shared/job --engine "
      "slurm\n"
      "The work folder (input, manifest, segments) must be on storage every node sees.");

  one_shot_ = run->add_option(
      "--segments", count_,
      "Split into N segments encoded in parallel on disjoint CPU sets and joined (N or auto;\n"
      "see `vpipe segments --help`)");
  run->add_option("--jobs", local_.jobs, "With --segments: concurrent jobs (default: cores / 4)")
      ->check(CLI::Range(1, 4096));
  run->add_option("--split", split_, "With --segments: keyframes (default), gop or exact")
      ->check(CLI::IsMember({"keyframes", "gop", "exact"}));
}

bool SegmentsCommand::selected() const {
  return segments_->parsed();
}

bool SegmentsCommand::one_shot() const {
  return one_shot_->count() > 0;
}

int SegmentsCommand::run(const std::vector<std::string>& args) {
  if (plan_->parsed()) {
    plan::RunOptions options = plan_flags_.options(/*default_config=*/false);
    init_logging("vpipe", plan::effective_log_level(options), options.log_file);
    plan::validate(options);
    const int jobs = segments::auto_jobs(usable_cores(), 1 << 20);
    segments::plan_job(options, run_args_after(args, "plan"),
                       split_request(count_, segment_length_s_, split_, jobs), workdir_,
                       options.quiet);
    return 0;
  }
  init_logging("vpipe", "info");
  if (run_->parsed()) return segments::run_segment(workdir_, index_, quiet_);
  if (status_->parsed()) return segments::print_status(workdir_, missing_, json_);
  if (join_->parsed()) {
    segments::join(workdir_, quiet_);
    return 0;
  }
  if (engine_ == "k8s") {
    segments::K8sEngine engine = k8s_;
    engine.jobs = local_.jobs;
    engine.max_tries = local_.max_tries;
    engine.cpus_per_task = slurm_.cpus_per_task;
    engine.quiet = local_.quiet;
    return segments::submit_k8s(workdir_, engine);
  }
  if (engine_ == "slurm") {
    segments::SlurmEngine engine = slurm_;
    engine.jobs = local_.jobs;
    engine.max_tries = local_.max_tries;
    engine.dry_run = local_.dry_run;
    engine.quiet = local_.quiet;
    engine.wait = !no_wait_;
    return segments::submit_slurm(workdir_, engine);
  }
  return segments::submit_local(workdir_, local_);
}

int SegmentsCommand::run_one_shot(const plan::RunOptions& options,
                                  const std::vector<std::string>& args) {
  if (count_ == "auto") {
    const int cores = usable_cores();
    if ((local_.jobs > 0 ? local_.jobs : segments::auto_jobs(cores, 1 << 20)) == 1) {
      // One job at a time gains nothing over one pipeline, which has no join to do.
      if (!options.quiet || options.dry_run)
        std::printf("segments auto: one job fits %d cores: running one pipeline\n", cores);
      std::fflush(stdout);
      return supervisor::run(options);
    }
  }
  const fs::path out = fs::absolute(options.output);
  std::string pattern = (out.parent_path() / ".vpipe-segments-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr)
    fail(ExitCode::kOutput, "cannot create a work folder beside '" + options.output + "'");
  const std::string workdir = pattern;
  std::error_code ec;
  try {
    const int jobs = local_.jobs > 0 ? local_.jobs : segments::auto_jobs(usable_cores(), 1 << 20);
    segments::plan_job(options, run_args_after(args, "run"), split_request(count_, 0, split_, jobs),
                       workdir, options.quiet && !options.dry_run);
    segments::LocalEngine engine = local_;
    engine.quiet = options.quiet;
    engine.dry_run = options.dry_run;
    const int code = segments::submit_local(workdir, engine);
    fs::remove_all(workdir, ec);
    return code;
  } catch (const Error& e) {
    if (options.dry_run || e.code() == ExitCode::kUsage) {
      fs::remove_all(workdir, ec);
      throw;
    }
    throw Error(e.code(), std::string(e.what()) + " [work folder kept: " + workdir + "]");
  }
}

}  // namespace vpipe::cli
