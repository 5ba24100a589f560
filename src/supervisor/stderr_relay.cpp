#include "supervisor/stderr_relay.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <regex>
#include <system_error>

#include "common/error.hpp"
#include "common/memory.hpp"

namespace vpipe::supervisor {

std::optional<LibraryLine> parse_library_line(const std::string& line) {
  // x264's and x265's own log format (x264_log_internal, general_log).
  static const std::regex own(R"(^(x264|x265) \[(error|warning|info|debug)\]: ?(.*?)\s*$)");
  // glibc's, when it cannot go on (out of memory in its own bookkeeping).
  static const std::regex glibc(R"(^Fatal glibc error: ?(.*?)\s*$)");
  std::smatch m;
  if (std::regex_match(line, m, own))
    return LibraryLine{"lib" + m[1].str(), m[2].str(), m[3].str()};
  if (std::regex_match(line, m, glibc)) return LibraryLine{"glibc", "error", m[1].str()};
  return std::nullopt;
}

StderrRelay::StderrRelay() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    fail(ExitCode::kRunFailed, "cannot create a pipe: " + errno_text(errno));
  read_end_ = fds[0];
  child_end_ = fds[1];
}

StderrRelay::~StderrRelay() {
  for (const std::string& held : finish()) spdlog::warn("{}", held);
  if (read_end_ >= 0) close(read_end_);
}

void StderrRelay::start() {
  if (reader_.joinable()) return;
  try {
    reader_ = std::thread([this] { relay(); });
  } catch (const std::system_error& e) {
    if (memory_is_short()) fail_out_of_memory("the supervisor");
    fail(ExitCode::kRunFailed, "cannot start a thread: " + errno_text(e.code().value()));
  }
}

std::vector<std::string> StderrRelay::finish() {
  if (child_end_ >= 0) {
    close(child_end_);
    child_end_ = -1;
  }
  finishing_ = true;
  if (reader_.joinable()) {
    reader_.join();
  } else if (read_end_ >= 0) {
    relay();  // never started: what the stages wrote is in the pipe, and its end of file
  }
  const std::lock_guard<std::mutex> lock(mutex_);
  return std::exchange(held_errors_, {});
}

void StderrRelay::relay() {
  using Clock = std::chrono::steady_clock;
  std::optional<Clock::time_point> give_up;
  std::string pending;
  char buffer[4096];
  while (true) {
    // The stage has ended by the time finish() is called: its end of file is due at once, unless
    // a process it started still holds the pipe. That one's lines are not waited for.
    if (finishing_ && !give_up) give_up = Clock::now() + std::chrono::seconds(1);
    if (give_up && Clock::now() > *give_up) break;
    pollfd p{read_end_, POLLIN, 0};
    if (::poll(&p, 1, 100) == 0) continue;
    const ssize_t n = ::read(read_end_, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buffer, static_cast<std::size_t>(n));
    for (std::size_t end; (end = pending.find('\n')) != std::string::npos;) {
      take(pending.substr(0, end));
      pending.erase(0, end + 1);
    }
  }
  if (!pending.empty()) take(pending);
}

void StderrRelay::take(const std::string& line) {
  const auto own = parse_library_line(line);
  if (!own) {
    const std::string text = line + "\n";
    std::fwrite(text.data(), 1, text.size(), stderr);
    return;
  }
  if (own->level == "error") {
    const std::lock_guard<std::mutex> lock(mutex_);
    held_errors_.push_back(own->library + ": " + own->text);
  } else if (own->level == "warning") {
    spdlog::warn("{}: {}", own->library, own->text);
  } else {
    spdlog::debug("{}: {}", own->library, own->text);
  }
}

}  // namespace vpipe::supervisor
