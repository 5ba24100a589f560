// What `vpipe bench` (the suite, bench.cpp) and `vpipe bench -i FILE ...` (the user's own job,
// bench_job.cpp) share: child processes run and timed, a temporary folder, Ctrl-C handling, and
// a median.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.hpp"

extern char** environ;

namespace vpipe::cli {

// Set by SIGINT/SIGTERM; the running case is asked to stop and the suite ends after it.
inline volatile sig_atomic_t g_interrupted = 0;
inline volatile sig_atomic_t g_child = 0;

inline void on_signal(int /*sig*/) {
  g_interrupted = 1;
  if (g_child > 0) kill(g_child, SIGTERM);
}

// Installs on_signal for the suite's lifetime and puts the previous handlers back after.
class SignalGuard {
 public:
  SignalGuard() {
    struct sigaction action {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
  }
  ~SignalGuard() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

class TempDir {
 public:
  TempDir() {
    std::error_code error;
    const std::filesystem::path base = std::filesystem::temp_directory_path(error);
    if (error) fail(ExitCode::kOutput, "no temporary folder ($TMPDIR): " + error.message());
    std::string pattern = (base / "vpipe-bench-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      fail(ExitCode::kOutput,
           "cannot create a temporary folder in " + base.string() + ": " + std::strerror(errno));
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

inline bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (access(((dir.empty() ? "." : dir) + "/" + program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// The last non-empty line a child wrote to stderr, without our own "vpipe: error: " prefix.
inline std::string last_line_of(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::string last;
  while (std::getline(in, line)) {
    if (!line.empty()) last = line;
  }
  const std::string prefix = "vpipe: error: ";
  if (last.rfind(prefix, 0) == 0) last.erase(0, prefix.size());
  return last;
}

// Runs argv[0] (searched on PATH) with stdin and stdout on /dev/null and stderr into
// `stderr_path`; returns its wait status. Child processes, never a shell: no quoting to get wrong.
// With `usage`, the child's CPU time, its waited-for children's (vpipe's stages) included.
inline int spawn_and_wait(const std::vector<std::string>& args, const std::string& stderr_path,
                          struct rusage* usage = nullptr) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  const int err = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) fail(ExitCode::kRunFailed, "cannot start " + args[0] + ": " + std::strerror(err));
  g_child = pid;
  int status = 0;
  while (wait4(pid, &status, 0, usage) < 0 && errno == EINTR) {
  }
  g_child = 0;
  return status;
}

inline double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

}  // namespace vpipe::cli
