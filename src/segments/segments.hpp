// `vpipe segments ...`: segment-parallel transcoding. `plan` splits the input into exact timestamp
// ranges and writes DIR/manifest.json once; `run` encodes one segment (video only) and publishes
// it with its sidecar by rename; `status` reads the folder; `join` checks every segment and
// remuxes them, with the input's audio, into the output; `submit --engine local` runs the
// segments on disjoint CPU sets of this machine, retries, and joins. The state of a job is the
// folder itself: no file is ever rewritten in place.
#pragma once

#include <string>
#include <vector>

#include "plan/options.hpp"
#include "segments/manifest.hpp"

namespace vpipe::segments {

// Plans `options` (whose flags, as given, are `run_args`) into `workdir`. Throws vpipe::Error.
Manifest plan_job(const plan::RunOptions& options, const std::vector<std::string>& run_args,
                  const SplitRequest& split, const std::string& workdir, bool quiet);

// Encodes segment `index` ("env": $SLURM_ARRAY_TASK_ID, else $JOB_COMPLETION_INDEX). Returns the
// exit code; 0 at once when the segment is already done.
int run_segment(const std::string& workdir, const std::string& index, bool quiet);

enum class State { kDone, kMissing, kRunning, kInvalid };
const char* state_name(State state);
struct SegmentState {
  State state = State::kMissing;
  std::string why;  // for kInvalid
};
std::vector<SegmentState> segment_states(const std::string& workdir, const Manifest& manifest);

// Prints the state of every segment (a table, JSON, or with `missing` the indices not done as a
// Slurm array spec). Returns 0.
int print_status(const std::string& workdir, bool missing, bool json);

// Joins the segments into the manifest's output. Throws vpipe::Error (kRunFailed, naming the
// segments) when one is missing or invalid, and leaves no output then.
void join(const std::string& workdir, bool quiet);

struct LocalEngine {
  int jobs = 0;       // concurrent segment jobs; 0: from the cores (auto)
  int max_tries = 3;  // attempts per segment before the job fails
  bool dry_run = false;
  bool quiet = false;
};
// Runs every segment not yet done on this machine, each job confined to its own CPU set, then
// joins. Returns the exit code.
int submit_local(const std::string& workdir, const LocalEngine& engine);

struct SlurmEngine {
  int jobs = 0;           // array tasks at a time (%J); 0: as many as the cluster gives
  int max_tries = 3;      // submissions of a segment before the job fails
  int cpus_per_task = 0;  // 0: the plan's CPUs per job
  std::vector<std::string> sbatch_options;  // more sbatch flags (--partition=..., --time=...)
  bool dry_run = false;  // write the batch scripts, print the commands, submit nothing
  bool wait = true;      // follow the job until the join is done (else return once submitted)
  bool quiet = false;
};
// Writes DIR/slurm/segments.sbatch (an array job over the segments not done) and join.sbatch
// (afterok, --kill-on-invalid-dep=yes), submits them with sbatch to the cluster SLURM_CONF names,
// follows progress from the folder and squeue, resubmits failed segments, and returns the join's
// outcome as an exit code.
int submit_slurm(const std::string& workdir, const SlurmEngine& engine);

struct K8sEngine {
  int jobs = 0;                      // parallelism; 0: 4
  int max_tries = 3;                 // attempts per segment (backoffLimitPerIndex + 1)
  int cpus_per_task = 0;             // 0: the plan's CPUs per job
  std::string image;                 // empty: vpipe:VERSION
  std::string claim = "vpipe-work";  // the PersistentVolumeClaim holding input, job and output
  std::string mount;                 // where it is mounted; empty: the folder that holds all three
  bool apply = false;                // kubectl apply, then wait for the segments and the join
  bool quiet = false;
};
// Writes DIR/k8s/segments-job.yaml (an Indexed Job, one completion per segment, retries per
// index) and join-job.yaml; with `apply`, runs them with kubectl and waits. Returns the exit code.
int submit_k8s(const std::string& workdir, const K8sEngine& engine);

// The number of concurrent jobs `auto` picks: a job per 4 cores (x264 and x265 use 4 threads
// well; past that one encoder gains less than another job does), no more than the segments, and
// no more than the available memory holds at `job_bytes` each (0: not counted).
int auto_jobs(int cores, int segments, std::uint64_t job_bytes = 0);

// A manifest from DIR/manifest.json, refused (kUsage) when the input or the options changed.
Manifest load_checked(const std::string& workdir);

}  // namespace vpipe::segments
