#include "supervisor/start.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <utility>

#include "common/error.hpp"
#include "common/exit_status.hpp"
#include "common/line_pipe.hpp"
#include "common/memory.hpp"
#include "common/signals.hpp"
#include "stage/launch.hpp"
#include "supervisor/process.hpp"

namespace vpipe::supervisor {

SignalBlock::SignalBlock() {
  sigset_t blocked = stop_signal_set();
  sigaddset(&blocked, SIGCHLD);
  sigprocmask(SIG_BLOCK, &blocked, nullptr);
  // Not the mask at this point: the stop signals have been blocked since vpipe started.
  original_ = startup_signal_mask();
}

SignalBlock::~SignalBlock() {
  sigprocmask(SIG_SETMASK, &original_, nullptr);
}

DecodeLauncher::DecodeLauncher(const plan::RunPlan& stages, int segment_fd,
                               const sigset_t& original_mask, int stage_stderr) {
  int request[2], reply[2];
  if (pipe2(request, O_CLOEXEC) != 0 || pipe2(reply, O_CLOEXEC) != 0)
    fail(ExitCode::kRunFailed, "cannot create a pipe: " + errno_text(errno));
  pid_ =
      spawn(StageId::decode(), segment_fd, original_mask, {request[0], reply[1]}, -1, stage_stderr);
  close(request[0]);
  close(reply[1]);
  request_fd_ = request[1];
  reply_fd_ = reply[0];
  const stage::OpenRequest open_request{stages.input, stages.open_settings(),
                                        stages.cpus_of(StageId::decode().name()), stages.log_level,
                                        stages.log_file};
  write_line(request_fd_, open_request.to_line());
}

DecodeLauncher::~DecodeLauncher() {
  if (request_fd_ >= 0) close(request_fd_);
  if (reply_fd_ >= 0) close(reply_fd_);
  if (pid_ > 0) {
    // Not handed to the supervisor: planning failed. Without "go" decode exits by itself.
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

decode::InputInfo DecodeLauncher::wait_for_input() {
  const sigset_t stop = stop_signal_set();
  const timespec now{0, 0};
  while (!readable(reply_fd_, 200)) {
    const int sig = sigtimedwait(&stop, nullptr, &now);
    if (sig > 0) {
      fail(ExitCode::kStopped, "stopped by a signal (" + std::string(sigabbrev_np(sig)) +
                                   ") while the input was opening: nothing written (exit " +
                                   std::to_string(static_cast<int>(ExitCode::kStopped)) + ")");
    }
  }
  const auto line = read_line(reply_fd_);
  if (!line) {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    // Its own line is out already (an empty text: nothing more is printed).
    if (said_itself(status)) fail(ExitCode::kRunFailed, "");
    fail(ExitCode::kRunFailed, "decode " + describe_status(status) + " while opening the input");
  }
  return stage::parse_open_reply(*line);
}

pid_t DecodeLauncher::go() {
  write_line(request_fd_, std::string(stage::kGo));
  close(request_fd_);
  request_fd_ = -1;
  return std::exchange(pid_, -1);
}

Prestarted::Prestarted(const plan::RunPlan& stages, int segment_fd, const sigset_t& original_mask,
                       int stage_stderr) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    fail(ExitCode::kRunFailed, "cannot create a pipe: " + errno_text(errno));
  write_fd_ = fds[1];
  started_.push_back({StageId::encode(), spawn(StageId::encode(), segment_fd, original_mask,
                                               {-1, -1}, fds[0], stage_stderr)});
  for (int i = 0; i < stages.nb_workers; ++i) {
    const StageId worker = StageId::transform_worker(i);
    started_.push_back(
        {worker, spawn(worker, segment_fd, original_mask, {-1, -1}, fds[0], stage_stderr)});
  }
  close(fds[0]);
}

Prestarted::~Prestarted() {
  if (write_fd_ >= 0) close(write_fd_);
  for (const auto& s : started_) waitpid(s.pid, nullptr, 0);
}

std::vector<StartedStage> Prestarted::go() {
  const std::string bytes(started_.size(), 'g');
  if (::write(write_fd_, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size()))
    fail(ExitCode::kRunFailed, "cannot start the stages: " + errno_text(errno));
  close(write_fd_);
  write_fd_ = -1;
  return std::exchange(started_, {});
}

}  // namespace vpipe::supervisor
