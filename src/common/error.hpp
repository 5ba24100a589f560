// vpipe::Error: the one-line failure every module reports to the user.
//
// Errors are raised where the cause is known (naming the thing and the cause) and caught once,
// at the top of a process (the CLI or a stage), where they become one log line and an exit code.
// Nothing is thrown across a process boundary: a stage reports through its exit status.
#pragma once

#include <stdexcept>
#include <string>

namespace vpipe {

// Process exit codes; documented in the README and `vpipe --help`.
enum class ExitCode : int {
  kOk = 0,
  kRunFailed = 1,      // a stage failed while running (encode error, crash)
  kUsage = 2,          // bad flag, config, filter spec or geometry
  kInput = 3,          // the input cannot be opened or has no decodable video
  kOutput = 4,         // the output cannot be opened or written
  kInterrupted = 130,  // a second SIGINT/SIGTERM aborted the run
  kStopped = 255       // a stop signal drained the run: the output plays, but ends early
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  [[nodiscard]] ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

[[noreturn]] inline void fail(ExitCode code, const std::string& message) {
  throw Error(code, message);
}

}  // namespace vpipe
