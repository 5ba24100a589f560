// The signals that stop a run, shared by the supervisor (which acts on them) and the stages
// (which ignore them: the supervisor acts for them), and their state from vpipe's first
// instruction on.
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

// Blocks the stop signals and remembers the mask vpipe was started with. vpipe-core calls it
// from its ELF .preinit_array, before any shared library's initialisers: a stop signal from then
// on waits, pending, for the command to decide what it means, and never kills a starting
// `vpipe run` by its default action. The `vpipe` launcher (cli/launcher.cpp) blocks them even
// before the dynamic loader runs, and says in VPIPE_STARTUP_BLOCKED (`envp`) which of them were
// blocked before it; vpipe-core run directly leaves only the loader's ~50 ms uncovered.
void block_stop_signals_from_the_start(char** envp) noexcept;

// The mask vpipe was started with (the current one when block_stop_signals_from_the_start never
// ran, as in a test executable): what child processes get back.
[[nodiscard]] sigset_t startup_signal_mask() noexcept;

// Gives a command that handles stop signals itself (bench, segments, the stages) the startup
// mask back; a signal that came while starting is delivered then.
void restore_startup_signal_mask() noexcept;

}  // namespace vpipe
