// The one clock every stage and the supervisor time things with.
#pragma once

#include <cstdint>
#include <ctime>

namespace vpipe {

// CLOCK_MONOTONIC in nanoseconds: comparable across the processes of one machine (heartbeats,
// capture times, deadlines), never stepped by NTP.
inline std::uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace vpipe
