#include "report/progress.hpp"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "shm/latency_histogram.hpp"

namespace vpipe::report {
namespace {

int busy_percent(const StageSample& s, double elapsed_s) {
  return elapsed_s > 0 ? static_cast<int>(std::lround(100.0 * std::min(1.0, s.busy_s / elapsed_s)))
                       : 0;
}

std::string clock_text(double seconds) {
  const long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%ld:%02ld", s / 60, s % 60);
  }
  return buf;
}

}  // namespace

double ProgressSample::latency_ms(double fraction) const {
  double us = shm::LatencyHistogram::percentile_us(latency_buckets, fraction);
  if (latency_max_us > 0) us = fraction >= 1 ? latency_max_us : std::min(us, latency_max_us);
  return us / 1000;
}

double ProgressSample::eta_s() const {
  if (frames_total <= 0 || fps() <= 0) return -1;
  const double left = static_cast<double>(frames_total) - static_cast<double>(frames_done);
  return std::max(0.0, left / fps());
}

void RecentRate::add(double elapsed_s, std::uint64_t frames) {
  points_.emplace_back(elapsed_s, frames);
  // Keep one point at or before the span's start, so the rate covers the whole span.
  while (points_.size() > 2 && points_[1].first <= elapsed_s - span_s_)
    points_.erase(points_.begin());
}

double RecentRate::per_second() const {
  if (points_.size() < 2) return 0;
  const auto& [t0, f0] = points_.front();
  const auto& [t1, f1] = points_.back();
  return t1 > t0 ? static_cast<double>(f1 - f0) / (t1 - t0) : 0;
}

std::string progress_line(const ProgressSample& s) {
  std::ostringstream o;
  char buf[160];
  std::snprintf(buf, sizeof(buf), "frame %llu", static_cast<unsigned long long>(s.frames_done));
  o << buf;
  if (s.frames_total > 0) o << "/" << s.frames_total;
  std::snprintf(buf, sizeof(buf), "  fps %.1f  speed %.2fx", s.fps(), s.speed());
  o << buf;
  if (s.eta_s() >= 0) o << "  eta " << clock_text(s.eta_s());
  o << "  drops " << s.drops << "  queues " << s.decoded_queue << "/" << s.filtered_queue;
  if (s.restarts > 0) o << "  restarts " << s.restarts;
  o << "  busy";
  for (const auto& st : s.stages) {
    const char tag = st.name.empty() ? '?' : st.name[0] == 'x' ? 'x' : st.name[0];
    o << " " << tag << (tag == 'x' ? st.name.substr(6) : "") << " " << busy_percent(st, s.elapsed_s)
      << "%";
  }
  return o.str();
}

std::string progress_json(const ProgressSample& s) {
  nlohmann::json stages = nlohmann::json::array();
  for (const auto& st : s.stages) {
    stages.push_back({{"stage", st.name},
                      {"frames_in", st.frames_in},
                      {"frames_out", st.frames_out},
                      {"busy_percent", busy_percent(st, s.elapsed_s)},
                      {"restarts", st.restarts}});
  }
  nlohmann::json j = {{"elapsed_s", s.elapsed_s},
                      {"frames", s.frames_done},
                      {"fps", s.fps()},
                      {"speed", s.speed()},
                      {"drops", s.drops},
                      {"restarts", s.restarts},
                      {"in_flight", s.in_flight},
                      {"queues", {{"decoded", s.decoded_queue}, {"filtered", s.filtered_queue}}},
                      {"stages", stages}};
  if (s.frames_total > 0) j["frames_total"] = s.frames_total;
  if (!s.latency_buckets.empty()) {
    j["latency_ms"] = {
        {"p50", s.latency_ms(0.50)}, {"p95", s.latency_ms(0.95)}, {"p99", s.latency_ms(0.99)}};
  }
  if (s.eta_s() >= 0) j["eta_s"] = s.eta_s();
  return j.dump();
}

}  // namespace vpipe::report
