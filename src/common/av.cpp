#include "common/av.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>

namespace vpipe::av {

std::string error_text(int averror) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(averror, buf, sizeof(buf));
  return buf;
}

namespace {
bool g_quiet = false;
thread_local int t_quiet = 0;
thread_local std::string t_last_error;

void log_callback(void* avcl, int level, const char* fmt, va_list args) {
  if (level > AV_LOG_ERROR && level > av_log_get_level()) return;
  char line[1024];
  int print_prefix = 1;
  av_log_format_line2(avcl, level, fmt, args, line, sizeof(line), &print_prefix);
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty()) return;
  if (level <= AV_LOG_ERROR) {
    // Drop libav's "[mov,mp4 @ 0x...] " context prefix: the user knows which input it is.
    const auto bracket = text.find("] ");
    t_last_error = text[0] == '[' && bracket != std::string::npos ? text.substr(bracket + 2) : text;
  }
  if (g_quiet || t_quiet > 0) {
    spdlog::debug("libav: {}", text);
    return;
  }
  // Errors are logged as warnings: the stage that sees the failing call decides if it is fatal.
  if (level <= AV_LOG_WARNING) {
    spdlog::warn("libav: {}", text);
  } else if (level <= AV_LOG_INFO) {
    spdlog::debug("libav: {}", text);
  } else {
    spdlog::trace("libav: {}", text);
  }
}
}  // namespace

QuietLogs::QuietLogs() {
  ++t_quiet;
  t_last_error.clear();  // what the trial logs is its answer, not an older error
}

QuietLogs::~QuietLogs() {
  --t_quiet;
}

std::string last_error_message() {
  return t_last_error;
}

void route_logs_to_spdlog(bool quiet) {
  g_quiet = quiet;
  av_log_set_level(spdlog::get_level() <= spdlog::level::debug ? AV_LOG_INFO : AV_LOG_WARNING);
  av_log_set_callback(log_callback);
}

}  // namespace vpipe::av
