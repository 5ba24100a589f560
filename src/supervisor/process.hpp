// Stage processes as the supervisor sees them: starting one (the launch protocol's supervisor
// end, stage/launch.hpp), and what /proc says of one.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <utility>

#include "common/stage_id.hpp"

namespace vpipe::supervisor {

// Starts stage `id` on the run segment `segment_fd`, with the supervisor's signal mask
// `original_mask` given back. `pipe_fds`: decode's request and reply pipes (child ends), for its
// open handshake. `start_fd`: the start pipe of encode and the workers, when they start before
// the run is planned. `stderr_fd`: what the stage gets as its stderr (the supervisor's own when
// -1). Throws vpipe::Error when no process can be started.
//
// While the supervisor has one thread (the start of a run), the child is a forked copy that
// runs the stage at once: loading the binary and its 150 libraries again would cost each stage
// about 30 ms of CPU before its first frame. Later (a restarted worker, with the metrics
// server's thread running) it execs /proc/self/exe, a fresh image.
pid_t spawn(StageId id, int segment_fd, const sigset_t& original_mask,
            std::pair<int, int> pipe_fds = {-1, -1}, int start_fd = -1, int stderr_fd = -1);

// What `pid` uses now, from /proc (zeros if it cannot be read).
struct ProcessUsage {
  std::uint64_t cpu_ticks = 0;  // user + system CPU time, in clock ticks (sysconf(_SC_CLK_TCK))
  long rss_kib = 0;             // resident memory
};
ProcessUsage usage_of(pid_t pid);

}  // namespace vpipe::supervisor
