#include "supervisor/process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/memory.hpp"
#include "common/process_title.hpp"
#include "stage/launch.hpp"
#include "stage/stage_main.hpp"

namespace vpipe::supervisor {
namespace {

// The numbered entries of a /proc/self listing (threads, descriptors), less the descriptor of
// the listing itself.
std::vector<int> listed_numbers(const char* dir) {
  std::vector<int> numbers;
  DIR* listing = opendir(dir);
  if (listing == nullptr) return numbers;
  while (const dirent* e = readdir(listing)) {
    if (e->d_name[0] != '.') numbers.push_back(std::atoi(e->d_name));
  }
  const int own = dirfd(listing);
  closedir(listing);
  std::erase(numbers, own);
  return numbers;
}

// A forked copy of this process can run a stage as it is, without exec, only while this process
// has one thread: a lock another thread held at fork would stay locked in the copy forever.
bool single_threaded() {
  return listed_numbers("/proc/self/task").size() == 1;
}

// In a forked copy that runs a stage without exec: closes what exec would have, every
// descriptor marked close-on-exec (the parent's ends of the stage pipes among them).
void close_on_exec_descriptors() {
  for (const int fd : listed_numbers("/proc/self/fd")) {
    const int flags = fcntl(fd, F_GETFD);
    if (fd > 2 && flags >= 0 && (flags & FD_CLOEXEC) != 0) close(fd);
  }
}

}  // namespace

ProcessUsage usage_of(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(stat, text);
  // The command name may hold spaces: the fields after it start past its closing parenthesis.
  const std::size_t end = text.rfind(')');
  if (end == std::string::npos) return {};
  std::istringstream fields(text.substr(end + 2));
  std::string field;
  std::uint64_t utime = 0, stime = 0;
  long rss_pages = 0;
  for (int i = 3; i <= 24 && fields >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 24) rss_pages = std::strtol(field.c_str(), nullptr, 10);
  }
  static const long page_kib = sysconf(_SC_PAGESIZE) / 1024;
  return {utime + stime, rss_pages * page_kib};
}

pid_t spawn(StageId id, int segment_fd, const sigset_t& original_mask, std::pair<int, int> pipe_fds,
            int start_fd, int stderr_fd) {
  const stage::LaunchArgs launch{id,       segment_fd,     getpid(),
                                 start_fd, pipe_fds.first, pipe_fds.second};
  const std::vector<std::string> args = launch.to_argv();
  const std::string& argv0 = args[0];
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  const bool copy = single_threaded();
  if (copy) std::fflush(nullptr);  // nothing buffered here is written twice
  const pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls before exec. A copy (of a single-threaded scheduler: no lock
    // can be held) runs the stage itself.
    sigprocmask(SIG_SETMASK, &original_mask, nullptr);
    if (pipe_fds.first >= 0) {
      fcntl(pipe_fds.first, F_SETFD, 0);
      fcntl(pipe_fds.second, F_SETFD, 0);
    }
    if (start_fd >= 0) fcntl(start_fd, F_SETFD, 0);
    if (stderr_fd >= 0) dup2(stderr_fd, STDERR_FILENO);  // the copy is not close-on-exec
    if (copy) {
      close_on_exec_descriptors();
      set_process_title(argv0);  // not the scheduler's command line
      std::exit(stage::stage_main(static_cast<int>(args.size()), const_cast<char**>(argv.data())));
    }
    execv("/proc/self/exe", const_cast<char* const*>(argv.data()));
    _exit(127);
  }
  if (pid < 0) fail(ExitCode::kRunFailed, "cannot start a stage process: " + errno_text(errno));
  return pid;
}

}  // namespace vpipe::supervisor
