// A stage process: started by the scheduler as `/proc/self/exe __stage ROLE INDEX FD PARENT`
// with argv[0] set to "vpipe:ROLE", so ps shows what each process is.
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "common/av.hpp"
#include "common/error.hpp"
#include "common/log.hpp"
#include "scheduler/scheduler.hpp"
#include "scheduler/stage_context.hpp"

namespace vpipe::scheduler {
namespace {

void record_error(shm::ControlBlock& control, ExitCode code, const std::string& stage,
                  const std::string& text) {
  shm::record_first_error(control, static_cast<int>(code), stage + ": " + text);
}

void pin(const std::vector<int>& cpus) {
  if (cpus.empty()) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : cpus) CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0)
    spdlog::warn("cannot pin to CPUs: {}", std::strerror(errno));
}

}  // namespace

int stage_main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "vpipe: error: __stage is internal to vpipe run\n");
    return static_cast<int>(ExitCode::kUsage);
  }
  const std::string role = argv[2];
  const int index = std::atoi(argv[3]);
  const int fd = std::atoi(argv[4]);
  const pid_t parent = static_cast<pid_t>(std::atoi(argv[5]));
  // Die with the scheduler, even if it is SIGKILLed; close the race where it died before this.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) return static_cast<int>(ExitCode::kRunFailed);
  // Ctrl-C reaches the whole process group: only the scheduler decides how the run stops.
  signal(SIGINT, SIG_IGN);
  const std::string name = role == "xform" ? "xform-" + std::to_string(index) : role;
  prctl(PR_SET_NAME, ("vpipe:" + name).c_str());

  shm::RunSegment segment = shm::RunSegment::attach(fd);
  shm::ControlBlock& control = segment.control();
  try {
    const RunPlan plan = plan_from_json(segment.plan_json());
    init_logging(name, plan.log_level, plan.log_file);
    av::route_logs_to_spdlog();
    pin(plan.cpus_of(name));
    const int stats_index = role == "decode"   ? kDecodeStatsIndex
                            : role == "encode" ? kEncodeStatsIndex
                                               : kFirstWorkerStatsIndex + index;
    shm::StageStats& stats = control.stages[stats_index];
    stats.pid.store(getpid());
    StageContext ctx{segment, plan, stats, index};
    if (role == "decode") return run_decode_stage(ctx);
    if (role == "xform") return run_transform_stage(ctx);
    if (role == "encode") return run_encode_stage(ctx);
    record_error(control, ExitCode::kUsage, name, "unknown stage role");
    return static_cast<int>(ExitCode::kUsage);
  } catch (const Error& e) {
    record_error(control, e.code(), name, e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    record_error(control, ExitCode::kRunFailed, name, e.what());
    return static_cast<int>(ExitCode::kRunFailed);
  }
}

}  // namespace vpipe::scheduler
