// The stages' stderr, read by the supervisor. Encoder libraries such as libx264 and
// libx265 print some errors (an unknown preset, a failed allocation) straight to stderr, past
// libav's log: "x264 [error]: malloc of size 8294400 failed"; glibc prints "Fatal glibc error:"
// lines when it runs out of memory for its own needs. Such lines are held and folded
// into the run's one error line (or logged as warnings if the run succeeds); the libraries'
// warnings are logged as vpipe's own; every other line (the stage's log, a sanitizer's report,
// the dynamic loader's complaint) passes through unchanged, even from a stage that crashed.
#pragma once

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace vpipe::supervisor {

// An encoder library's own line, parsed: `library` "libx264", `level` "error", `text` "invalid
// preset 'bogus'". Nothing for any other line.
struct LibraryLine {
  std::string library;
  std::string level;
  std::string text;
};
std::optional<LibraryLine> parse_library_line(const std::string& line);

class StderrRelay {
 public:
  // Makes the pipe; child_end() is the stage's fd 2 until start().
  StderrRelay();
  ~StderrRelay();
  StderrRelay(const StderrRelay&) = delete;
  StderrRelay& operator=(const StderrRelay&) = delete;

  // The write end, for a stage process to take as its stderr (close-on-exec here). It stays
  // open, for a restarted worker, until finish().
  [[nodiscard]] int child_end() const { return child_end_; }
  // The first stages are started: starts reading (a thread only now, so that they could be
  // started as forked copies of a single-threaded supervisor).
  void start();
  // Once every stage has ended: closes the write end, reads what is left (up to end of file, or
  // 1 s), and returns the libraries' held error lines, "libx264: invalid preset 'bogus'".
  std::vector<std::string> finish();

 private:
  void relay();
  void take(const std::string& line);

  int read_end_ = -1;
  int child_end_ = -1;
  std::thread reader_;
  std::atomic<bool> finishing_{false};
  std::mutex mutex_;
  std::vector<std::string> held_errors_;
};

}  // namespace vpipe::supervisor
