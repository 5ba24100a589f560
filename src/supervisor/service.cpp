#include "supervisor/service.hpp"

#include <dlfcn.h>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstdlib>

namespace vpipe::supervisor::service {
namespace {

// The two entry points vpipe uses, as libsystemd declares them (sd-daemon.h).
struct Systemd {
  int (*notify)(int unset_environment, const char* state) = nullptr;
  int (*watchdog_enabled)(int unset_environment, std::uint64_t* usec) = nullptr;
};

const Systemd* systemd() {
  static const Systemd* loaded = []() -> const Systemd* {
    const char* socket = std::getenv("NOTIFY_SOCKET");
    if (socket == nullptr || *socket == '\0') return nullptr;
    void* lib = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      spdlog::warn(
          "NOTIFY_SOCKET is set but libsystemd.so.0 cannot be loaded: systemd is not told "
          "when vpipe is ready");
      return nullptr;
    }
    static Systemd api;
    api.notify = reinterpret_cast<decltype(api.notify)>(dlsym(lib, "sd_notify"));
    api.watchdog_enabled =
        reinterpret_cast<decltype(api.watchdog_enabled)>(dlsym(lib, "sd_watchdog_enabled"));
    if (api.notify == nullptr || api.watchdog_enabled == nullptr) return nullptr;
    return &api;
  }();
  return loaded;
}

}  // namespace

bool notifying() {
  return systemd() != nullptr;
}

void notify(const std::string& state) {
  if (const Systemd* s = systemd()) s->notify(0, state.c_str());
}

std::chrono::microseconds watchdog_interval() {
  const Systemd* s = systemd();
  std::uint64_t usec = 0;
  if (s == nullptr || s->watchdog_enabled(0, &usec) <= 0) return std::chrono::microseconds{0};
  return std::chrono::microseconds{usec};
}

}  // namespace vpipe::supervisor::service
