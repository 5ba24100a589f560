#include "report/metrics_server.hpp"

#include <httplib.h>

#include <charconv>

#include "common/error.hpp"

namespace vpipe::report {

MetricsServer::MetricsServer(const std::string& address)
    : server_(std::make_unique<httplib::Server>()) {
  const auto colon = address.rfind(':');
  const std::string host = colon == std::string::npos ? "127.0.0.1" : address.substr(0, colon);
  const std::string port_text = colon == std::string::npos ? address : address.substr(colon + 1);
  int port = -1;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 0 || port > 65535 ||
      host.empty()) {
    fail(ExitCode::kUsage, "--metrics '" + address + "' must be PORT or HOST:PORT");
  }
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock(mutex_);
    res.set_content(text_, "text/plain; version=0.0.4");
  });
  port_ = port == 0 ? server_->bind_to_any_port(host.c_str())
                    : (server_->bind_to_port(host.c_str(), port) ? port : -1);
  if (port_ < 0) fail(ExitCode::kUsage, "--metrics: cannot listen on " + host + ":" + port_text);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

MetricsServer::~MetricsServer() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

void MetricsServer::publish(std::string text) {
  std::lock_guard lock(mutex_);
  text_ = std::move(text);
}

}  // namespace vpipe::report
