// A stage process: the scheduler's arguments `__stage ROLE INDEX FD PARENT ...`, given to a fork
// of the scheduler or to `/proc/self/exe` (see spawn in scheduler.cpp); it names itself
// "vpipe:ROLE" (the comm ps and top show).
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "common/av.hpp"
#include "common/error.hpp"
#include "common/line_pipe.hpp"
#include "common/log.hpp"
#include "decode/decoder.hpp"
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

// Attaches the run segment and runs `body(segment, plan)`; a failure becomes the run's first error
// (the line the scheduler prints) and this process's exit code.
template <typename Body>
int run_on_segment(int fd, const std::string& name, Body&& body) {
  shm::RunSegment segment = shm::RunSegment::attach(fd);
  shm::ControlBlock& control = segment.control();
  // Whatever way the stage ends, the counts of repeated libav warnings are logged.
  struct FlushRepeats {
    ~FlushRepeats() { av::flush_repeated_logs(); }
  } flush_repeats;
  try {
    const RunPlan plan = plan_from_json(segment.plan_json());
    return body(segment, plan);
  } catch (const Error& e) {
    record_error(control, e.code(), name, e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    record_error(control, ExitCode::kRunFailed, name, e.what());
    return static_cast<int>(ExitCode::kRunFailed);
  }
}

// Decode opens the input before the run's sizes exist (they depend on it), and keeps it open:
// a stream, a camera or stdin cannot be opened twice. The scheduler sends one request line (what
// to open, with which threads and CPUs), decode answers with the input's description or the
// error, then waits for "go" (the segment is laid out) or the end of the pipe (planning failed).
int decode_stage_main(int fd, int request_fd, int reply_fd) {
  const auto request = read_line(request_fd);
  if (!request) return 0;
  const nlohmann::json req = nlohmann::json::parse(*request);
  init_logging("decode", req.at("log_level"), req.at("log_file"));
  // While probing, libav's own messages stay at debug level: a failure becomes one error line.
  av::route_logs_to_spdlog(/*quiet=*/true);
  pin(req.at("cpus").get<std::vector<int>>());
  std::optional<decode::Decoder> decoder;
  try {
    decoder.emplace(decode::Decoder::open(
        req.at("input"),
        decode::OpenSettings{req.at("threads"), req.at("input_format"), req.at("input_timeout_s"),
                             req.at("maps").get<std::vector<std::string>>(),
                             req.at("input_options").get<std::map<std::string, std::string>>()}));
  } catch (const Error& e) {
    write_line(
        reply_fd,
        nlohmann::json{{"ok", false}, {"code", static_cast<int>(e.code())}, {"error", e.what()}}
            .dump());
    return static_cast<int>(e.code());
  }
  write_line(reply_fd,
             nlohmann::json{{"ok", true},
                            {"info", nlohmann::json::parse(input_info_to_json(decoder->info()))}}
                 .dump());
  close(reply_fd);
  const auto go = read_line(request_fd);
  close(request_fd);
  if (!go || *go != "go") return 0;  // the run was not planned: nothing to do
  av::route_logs_to_spdlog();

  return run_on_segment(fd, "decode", [&](shm::RunSegment& segment, const RunPlan& plan) {
    shm::StageStats& stats = segment.control().stages[kDecodeStatsIndex];
    stats.pid.store(getpid());
    StageContext ctx{segment, plan, stats, 0};
    return run_decode_stage(ctx, *decoder);
  });
}

}  // namespace

int stage_main(int argc, char** argv) {
  if (argc < 6 || argc > 8) {
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
  // Ctrl-C, a closed terminal, `timeout`, `kill -- -PGID` and systemd reach the whole process
  // group: only the scheduler decides how the run stops (it drains, then ends the stages).
  for (const int sig : kStopSignals) signal(sig, SIG_IGN);
  const std::string name = role == "xform" ? "xform-" + std::to_string(index) : role;
  prctl(PR_SET_NAME, ("vpipe:" + name).c_str());
  if (role == "decode" && argc == 8) {
    try {
      return decode_stage_main(fd, std::atoi(argv[6]), std::atoi(argv[7]));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "vpipe: error: decode: %s\n", e.what());
      return static_cast<int>(ExitCode::kRunFailed);
    }
  }

  if (argc == 7) {
    // Started before the run was planned: wait for the segment to be laid out.
    const int start_fd = std::atoi(argv[6]);
    char go = 0;
    ssize_t n = 0;
    do {
      n = read(start_fd, &go, 1);
    } while (n < 0 && errno == EINTR);
    close(start_fd);
    if (n != 1) return 0;  // the run was not planned: nothing to do
  }
  return run_on_segment(fd, name, [&](shm::RunSegment& segment, const RunPlan& plan) {
    init_logging(name, plan.log_level, plan.log_file);
    av::route_logs_to_spdlog();
    pin(plan.cpus_of(name));
    const int stats_index = role == "encode" ? kEncodeStatsIndex : kFirstWorkerStatsIndex + index;
    shm::StageStats& stats = segment.control().stages[stats_index];
    stats.pid.store(getpid());
    StageContext ctx{segment, plan, stats, index};
    if (role == "xform") return run_transform_stage(ctx);
    if (role == "encode") return run_encode_stage(ctx);
    record_error(segment.control(), ExitCode::kUsage, name, "unknown stage role");
    return static_cast<int>(ExitCode::kUsage);
  });
}

}  // namespace vpipe::scheduler
