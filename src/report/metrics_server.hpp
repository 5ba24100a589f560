// MetricsServer: serves the run's counters in Prometheus text format over HTTP while it lasts
// (--metrics [HOST:]PORT, loopback unless a host is given). The supervisor publishes a fresh
// text every tick; the server thread only ever reads that copy, never the shared segment.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace vpipe::report {

class MetricsServer {
 public:
  // Binds and starts serving GET /metrics. Throws vpipe::Error (kUsage) when the address is
  // malformed or cannot be bound.
  explicit MetricsServer(const std::string& address);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  void publish(std::string text);
  [[nodiscard]] int port() const { return port_; }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::mutex mutex_;
  std::string text_;
  int port_ = 0;
};

}  // namespace vpipe::report
