// One-line messages over a pipe: how the scheduler and the decode stage talk before the run's
// shared segment exists. A line is at most 1 MiB; EOF or an error reads as no line.
#pragma once

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>

namespace vpipe {

inline bool write_line(int fd, const std::string& line) {
  const std::string text = line + "\n";
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// Blocks until a whole line (without its newline) has arrived; empty at EOF or on error.
inline std::optional<std::string> read_line(int fd) {
  std::string line;
  char c = 0;
  while (line.size() < (1u << 20)) {
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    if (c == '\n') return line;
    line.push_back(c);
  }
  return std::nullopt;
}

// Whether `fd` has something to read (or reached EOF) within `timeout_ms`.
inline bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) > 0;
}

}  // namespace vpipe
