// How a child process ended, in words and as a verdict (waitpid's status).
#pragma once

#include <sys/wait.h>

#include <cstring>
#include <string>

namespace vpipe {

// The exit code of a stage that printed its own error line, having no run segment to record it
// in (it could not map it): the supervisor adds no second line, and the run exits 1.
inline constexpr int kStageSaidItself = 99;

// Whether a stage's waitpid status is kStageSaidItself.
constexpr bool said_itself(int status) {
  return WIFEXITED(status) && WEXITSTATUS(status) == kStageSaidItself;
}

// "killed by signal KILL" or "exited with code 3".
inline std::string describe_status(int status) {
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + sigabbrev_np(WTERMSIG(status));
  // 127: the exec or the dynamic loader failed (its own line says why, above).
  if (WEXITSTATUS(status) == 127)
    return "could not be started (exit 127: the program did not load)";
  return "exited with code " + std::to_string(WEXITSTATUS(status));
}

// True when the process was killed or exited non-zero.
constexpr bool failed(int status) {
  return WIFSIGNALED(status) || WEXITSTATUS(status) != 0;
}

// The status as a shell reports it: the exit code, or 128 + the signal's number.
inline int shell_exit_code(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace vpipe
