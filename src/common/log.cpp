#include "common/log.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include "common/error.hpp"

namespace vpipe {

void init_logging(const std::string& stage, const std::string& level, const std::string& file) {
  std::shared_ptr<spdlog::logger> logger;
  if (file.empty()) {
    logger = spdlog::stderr_color_st(stage);
  } else {
    try {
      logger = spdlog::basic_logger_st(stage, file);
    } catch (const spdlog::spdlog_ex& e) {
      fail(ExitCode::kUsage, "cannot open log file '" + file + "': " + e.what());
    }
  }
  logger->set_pattern("[%H:%M:%S.%e] [%n:%P] [%^%l%$] %v");
  const auto lvl = spdlog::level::from_str(level);
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

}  // namespace vpipe
