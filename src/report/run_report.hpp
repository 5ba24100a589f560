// What the supervisor reports of a run, as functions of the run segment, the plan and the
// supervisor's table of stage processes (so they keep no state): a snapshot of the counters
// (for the progress line, JSON progress and the metrics), the stats JSON written at the end,
// and the live summary.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/stage_id.hpp"
#include "plan/run_plan.hpp"
#include "report/progress.hpp"
#include "shm/run_segment.hpp"

namespace vpipe::report {

// One stage process, as the supervisor last saw it.
struct StageProcess {
  StageId id;
  pid_t pid = -1;
  bool running = false;
  int status = 0;         // waitpid's, once it has ended
  long peak_rss_kib = 0;  // the largest of its processes (a restarted worker has several)
  double cpu_s = 0;       // CPU time of every process of the stage so far
  long rss_kib = 0;       // resident memory now (0 once it has ended, or when not read)
};

// What any run, a stream copy too, knows of its output: `frames` written so far, the total
// expected, the rates, the output file's size.
ProgressSample sample_output(const plan::RunPlan& plan, std::uint64_t frames, double elapsed_s);

// The run's counters now, stages in pipeline order (decode, workers, encode).
ProgressSample sample_run(shm::RunSegment& segment, const plan::RunPlan& plan,
                          const std::vector<StageProcess>& processes, double elapsed_s,
                          int restarts);

// The --stats-json report (without the fields only the end of run() knows: result, exit code,
// start and end times, output size).
nlohmann::json stats_json(shm::RunSegment& segment, const plan::RunPlan& plan,
                          const std::vector<StageProcess>& processes, double wall_s, int restarts);

// The --stats-json report of a stream copy (-c copy): no stages, no latency; "stream_copy": true.
nlohmann::json copy_stats_json(const plan::RunPlan& plan, std::uint64_t frames, double wall_s);

// Live: latency percentiles and what each stage dropped, and why, as log lines.
void log_live_summary(const ProgressSample& p, std::uint64_t frames_decoded,
                      const plan::RunPlan& plan);

}  // namespace vpipe::report
