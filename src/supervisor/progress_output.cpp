#include "supervisor/progress_output.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

#include "common/error.hpp"
#include "common/files.hpp"

namespace vpipe::supervisor {

ProgressOutput::ProgressOutput(std::string mode, bool quiet, const std::string& file)
    : mode_(std::move(mode)), quiet_(quiet), to_file_(!file.empty()) {
  if (file.empty()) return;
  if (file.rfind("fd:", 0) == 0) {
    int fd = -1;
    const char* digits = file.c_str() + 3;
    const auto [end, ec] = std::from_chars(digits, file.c_str() + file.size(), fd);
    if (ec != std::errc() || *end != '\0' || fd < 0 || fcntl(fd, F_GETFD) < 0) {
      fail(ExitCode::kUsage,
           "--progress-file '" + file + "': no such open file descriptor in vpipe");
    }
    const int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    file_ = copy >= 0 ? fdopen(copy, "w") : nullptr;
  } else {
    if (const std::string why = cannot_write(file); !why.empty())
      fail(ExitCode::kUsage, "--progress-file '" + file + "' cannot be written: " + why);
    file_ = std::fopen(file.c_str(), "we");
  }
  if (file_ == nullptr) {
    fail(ExitCode::kUsage, "--progress-file '" + file + "': " + std::strerror(errno));
  }
}

ProgressOutput::~ProgressOutput() {
  if (file_ != nullptr) std::fclose(file_);
}

bool ProgressOutput::shown() const {
  return mode_ != "none" && (!quiet_ || to_file_);
}

bool ProgressOutput::due(bool force) {
  if (!shown()) return false;
  FILE* out = file_ != nullptr ? file_ : stderr;
  const bool json = mode_ == "json";
  const auto interval = json                  ? std::chrono::milliseconds(1000)
                        : isatty(fileno(out)) ? std::chrono::milliseconds(500)
                                              : std::chrono::milliseconds(5000);
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - last_ < interval) return false;
  last_ = now;
  return true;
}

void ProgressOutput::show(const report::ProgressSample& sample) {
  FILE* out = file_ != nullptr ? file_ : stderr;
  const int fd = fileno(out);
  if (mode_ == "json") {
    std::fprintf(out, "%s\n", report::progress_json(sample).c_str());
  } else if (isatty(fd)) {
    // Narrower than the terminal, so that it never wraps into lines a redraw cannot reach.
    winsize size{};
    const int width = ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0 ? size.ws_col : 80;
    std::fprintf(out, "\r%s\033[K", report::progress_line(sample, width).c_str());
    line_open_ = true;
  } else {
    std::fprintf(out, "vpipe: %s\n", report::progress_line(sample).c_str());
  }
  std::fflush(out);
}

void ProgressOutput::finish_line() {
  if (line_open_) std::fputc('\n', file_ != nullptr ? file_ : stderr);
  line_open_ = false;
}

void ProgressOutput::end(const report::ProgressSample& last) {
  if (mode_ != "json" || !shown()) return;
  FILE* out = file_ != nullptr ? file_ : stderr;
  std::fprintf(out, "%s\n", report::progress_end_json(last).c_str());
  std::fflush(out);
}

}  // namespace vpipe::supervisor
