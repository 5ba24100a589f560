// Running as a systemd service (Type=notify): readiness, status, stopping and watchdog pings
// through systemd's notification protocol (sd_notify(3)). libsystemd is loaded on first use, and
// only when systemd asked for notifications ($NOTIFY_SOCKET): a run outside systemd loads
// nothing and sends nothing.
#pragma once

#include <chrono>
#include <string>

namespace vpipe::supervisor::service {

// Whether systemd (or anything speaking its protocol) listens: $NOTIFY_SOCKET is set and
// libsystemd could be loaded.
bool notifying();

// Sends `state` ("READY=1", "STATUS=...", "STOPPING=1", "WATCHDOG=1"; several joined by
// newlines); nothing when not notifying.
void notify(const std::string& state);

// The service's watchdog interval (WatchdogSec=), zero when there is none.
std::chrono::microseconds watchdog_interval();

}  // namespace vpipe::supervisor::service
