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
void log_callback(void* avcl, int level, const char* fmt, va_list args) {
  if (level > av_log_get_level()) return;
  char line[1024];
  int print_prefix = 1;
  av_log_format_line2(avcl, level, fmt, args, line, sizeof(line), &print_prefix);
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty()) return;
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

void route_logs_to_spdlog() {
  av_log_set_level(spdlog::get_level() <= spdlog::level::debug ? AV_LOG_INFO : AV_LOG_WARNING);
  av_log_set_callback(log_callback);
}

}  // namespace vpipe::av
