// Plan values as the plan's messages and --dry-run write them.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>

#include "transform/picture.hpp"

namespace vpipe::plan {

inline std::string geometry_text(transform::Geometry g) {
  return std::to_string(g.width) + "x" + std::to_string(g.height);
}

inline std::string mib(std::uint64_t bytes) {
  std::ostringstream s;
  s.precision(1);
  s << std::fixed << static_cast<double>(bytes) / (1 << 20) << " MiB";
  return s.str();
}

}  // namespace vpipe::plan
