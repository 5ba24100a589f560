// The signals that stop a run, shared by the supervisor (which acts on them) and the stages
// (which ignore them: the supervisor acts for them).
#pragma once

#include <csignal>

namespace vpipe {

// Ctrl-C, kill/timeout/systemd/docker stop, a closed terminal. The first drains the run, a
// second aborts it.
inline constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};

}  // namespace vpipe
