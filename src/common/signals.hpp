// The signals that stop a run, shared by the supervisor (which acts on them) and the stages
// (which ignore them: the supervisor acts for them).
#pragma once

#include <csignal>

namespace vpipe {

// Ctrl-C, kill/timeout/systemd/docker stop, a closed terminal. The first drains the run, a
// second aborts it.
inline constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};

// kStopSignals as a set, for sigprocmask and sigtimedwait.
inline sigset_t stop_signal_set() {
  sigset_t set;
  sigemptyset(&set);
  for (const int sig : kStopSignals) sigaddset(&set, sig);
  return set;
}

}  // namespace vpipe
