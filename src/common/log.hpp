// Logging: one spdlog logger per process, named after its stage, so every line says where it
// came from: "[12:00:01.234] [decode:4242] [error] ...".
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace vpipe {

// Sets up the default logger for this process. `level` is an spdlog level name.
void init_logging(const std::string& stage, const std::string& level, const std::string& file = "");

}  // namespace vpipe
