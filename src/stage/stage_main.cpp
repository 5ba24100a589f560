// A stage process: the supervisor's arguments `__stage ROLE INDEX FD PARENT ...`, given to a fork
// of the supervisor or to `/proc/self/exe` (see spawn in supervisor/supervisor.cpp); it names
// itself "vpipe:ROLE" (the comm ps and top show).
#include "stage/stage_main.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <new>
#include <optional>
#include <string>

#include "common/av.hpp"
#include "common/error.hpp"
#include "common/exit_status.hpp"
#include "common/line_pipe.hpp"
#include "common/log.hpp"
#include "common/memory.hpp"
#include "common/signals.hpp"
#include "decode/decoder.hpp"
#include "stage/launch.hpp"
#include "stage/stage_context.hpp"

namespace vpipe::stage {
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

// Where an allocation that fails for good (operator new's handler) is reported: the run's first
// error when the segment is mapped, else this stage's own line. Set once per stage process.
shm::ControlBlock* g_control = nullptr;
char g_stage_name[32] = "stage";

// No allocation here: the text is built in a fixed buffer.
[[noreturn]] void on_out_of_memory() {
  char text[256];
  const std::size_t n = out_of_memory_text(g_stage_name, text, sizeof text);
  if (g_control != nullptr) {
    shm::record_first_error(*g_control, static_cast<int>(ExitCode::kRunFailed), {text, n});
    _exit(static_cast<int>(ExitCode::kRunFailed));
  }
  char line[300];
  const int len =
      std::snprintf(line, sizeof line, "vpipe: error: %.*s\n", static_cast<int>(n), text);
  if (len > 0) (void)!write(STDERR_FILENO, line, static_cast<std::size_t>(len));
  _exit(kStageSaidItself);
}

// Attaches the run segment and runs `body(segment, plan)`; a failure becomes the run's first error
// (the line the supervisor prints) and this process's exit code. A segment that cannot be mapped
// is this stage's own one line (there is nowhere to record it), and kStageSaidItself.
template <typename Body>
int run_on_segment(int fd, const std::string& name, Body&& body) {
  std::optional<shm::RunSegment> attached;
  try {
    attached.emplace(shm::RunSegment::attach(fd));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vpipe: error: %s: %s\n", name.c_str(), e.what());
    return kStageSaidItself;
  }
  shm::RunSegment& segment = *attached;
  shm::ControlBlock& control = segment.control();
  g_control = &control;
  // Whatever way the stage ends, the counts of repeated libav warnings are logged.
  struct FlushRepeats {
    ~FlushRepeats() { av::flush_repeated_logs(); }
  } flush_repeats;
  try {
    const plan::RunPlan plan = plan::plan_from_json(segment.plan_json());
    return body(segment, plan);
  } catch (const Error& e) {
    record_error(control, e.code(), name, e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    record_error(control, ExitCode::kRunFailed, name, e.what());
    return static_cast<int>(ExitCode::kRunFailed);
  }
}

// Decode's side of the open handshake (stage/launch.hpp): open the input, answer with its
// description or the error, then wait for "go".
int decode_stage_main(const LaunchArgs& args) {
  const auto request_line = read_line(args.request_fd);
  if (!request_line) return 0;
  const OpenRequest request = OpenRequest::from_line(*request_line);
  init_logging("decode", request.log_level, request.log_file);
  // While probing, libav's own messages stay at debug level: a failure becomes one error line.
  av::route_logs_to_spdlog(/*quiet=*/true);
  pin(request.cpus);
  std::optional<decode::Decoder> decoder;
  try {
    decoder.emplace(decode::Decoder::open(request.input, request.open));
  } catch (const Error& e) {
    write_line(args.reply_fd, open_error_line(e));
    return static_cast<int>(e.code());
  }
  write_line(args.reply_fd, open_reply_line(decoder->info()));
  close(args.reply_fd);
  const auto go = read_line(args.request_fd);
  close(args.request_fd);
  if (!go || *go != kGo) return 0;  // the run was not planned: nothing to do
  av::route_logs_to_spdlog();

  return run_on_segment(args.segment_fd, "decode",
                        [&](shm::RunSegment& segment, const plan::RunPlan& plan) {
                          shm::StageStats& stats = segment.control().stage(StageId::decode());
                          stats.pid.store(getpid());
                          StageContext ctx{segment, plan, stats, 0};
                          return run_decode_stage(ctx, *decoder);
                        });
}

// Encode and the workers started before the run was planned: one byte is "go"; end of file
// means the run was not planned.
bool wait_for_go(int start_fd) {
  char go = 0;
  ssize_t n = 0;
  do {
    n = read(start_fd, &go, 1);
  } while (n < 0 && errno == EINTR);
  close(start_fd);
  return n == 1;
}

}  // namespace

int stage_main(int argc, char** argv) {
  const std::optional<LaunchArgs> args = LaunchArgs::parse(argc, argv);
  if (!args) {
    std::fprintf(stderr, "vpipe: error: __stage is internal to vpipe run\n");
    return static_cast<int>(ExitCode::kUsage);
  }
  // Die with the supervisor, even if it is SIGKILLed; close the race where it died before this.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != args->parent) return static_cast<int>(ExitCode::kRunFailed);
  // Ctrl-C, a closed terminal, `timeout`, `kill -- -PGID` and systemd reach the whole process
  // group: only the supervisor decides how the run stops (it drains, then ends the stages).
  for (const int sig : kStopSignals) signal(sig, SIG_IGN);
  restore_startup_signal_mask();
  const std::string name = args->id.name();
  prctl(PR_SET_NAME, ("vpipe:" + name).c_str());
  std::snprintf(g_stage_name, sizeof g_stage_name, "%s", name.c_str());
  std::set_new_handler(on_out_of_memory);
  if (args->id.role == StageRole::kDecode) {
    try {
      return decode_stage_main(*args);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "vpipe: error: decode: %s\n", e.what());
      return kStageSaidItself;
    }
  }
  if (args->start_fd >= 0 && !wait_for_go(args->start_fd)) return 0;
  return run_on_segment(args->segment_fd, name,
                        [&](shm::RunSegment& segment, const plan::RunPlan& plan) {
                          init_logging(name, plan.log_level, plan.log_file);
                          av::route_logs_to_spdlog();
                          pin(plan.cpus_of(name));
                          shm::StageStats& stats = segment.control().stage(args->id);
                          stats.pid.store(getpid());
                          StageContext ctx{segment, plan, stats, args->id.worker, args->id.role};
                          if (args->id.role == StageRole::kWorker) return run_transform_stage(ctx);
                          return run_encode_stage(ctx);
                        });
}

}  // namespace vpipe::stage
