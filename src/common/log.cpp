#include "common/log.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>
#include <string>

#include "common/error.hpp"

namespace vpipe {

void init_logging(const std::string& stage, const std::string& level, const std::string& file) {
  std::shared_ptr<spdlog::logger> logger;
  if (file.empty()) {
    // Colours as on the terminal the supervisor writes to, though a stage's stderr may be a pipe
    // the supervisor relays (supervisor/stderr_relay.hpp).
    const char* colour = std::getenv("VPIPE_LOG_COLOR");
    logger = spdlog::stderr_color_st(stage, colour != nullptr && std::string(colour) == "always"
                                                ? spdlog::color_mode::always
                                                : spdlog::color_mode::automatic);
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
