// Small file-system checks shared by the planning steps.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

namespace vpipe {

// Whether `path` can be opened for writing, found by opening it (permission bits do not stop
// root; /proc and read-only mounts still do): empty if so, else the system's reason. Nothing in
// an existing file is touched, and a file this made is removed again.
inline std::string cannot_write(const std::string& path) {
  std::error_code ec;
  const bool existed = std::filesystem::exists(path, ec);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return std::strerror(errno);
  ::close(fd);
  if (!existed) ::unlink(path.c_str());
  return "";
}

}  // namespace vpipe
