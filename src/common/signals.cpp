#include "common/signals.hpp"

#include <charconv>
#include <string_view>

namespace vpipe {
namespace {

// Written once, by the preinit entry, before any other code of vpipe's runs.
sigset_t g_startup_mask;
bool g_recorded = false;

}  // namespace

void block_stop_signals_from_the_start(char** envp) noexcept {
  const sigset_t stop = stop_signal_set();
  if (sigprocmask(SIG_BLOCK, &stop, &g_startup_mask) != 0) return;
  constexpr std::string_view kLauncher = "VPIPE_STARTUP_BLOCKED=";
  for (char** e = envp; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    if (!entry.starts_with(kLauncher)) continue;
    // Started by the launcher: the signals it blocked were not blocked before unless it says so.
    for (const int sig : kStopSignals) sigdelset(&g_startup_mask, sig);
    std::string_view listed = entry.substr(kLauncher.size());
    while (!listed.empty()) {
      const size_t comma = listed.find(',');
      const std::string_view one = listed.substr(0, comma);
      int sig = 0;
      std::from_chars(one.data(), one.data() + one.size(), sig);
      if (sig > 0) sigaddset(&g_startup_mask, sig);
      listed = comma == std::string_view::npos ? std::string_view{} : listed.substr(comma + 1);
    }
  }
  g_recorded = true;
}

sigset_t startup_signal_mask() noexcept {
  if (g_recorded) return g_startup_mask;
  sigset_t current;
  sigprocmask(SIG_BLOCK, nullptr, &current);
  return current;
}

void restore_startup_signal_mask() noexcept {
  if (g_recorded) sigprocmask(SIG_SETMASK, &g_startup_mask, nullptr);
}

}  // namespace vpipe
