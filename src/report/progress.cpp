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

std::string prometheus_text(const ProgressSample& s) {
  std::ostringstream o;
  auto gauge = [&](const char* name, const char* help, const char* type, double value) {
    o << "# HELP vpipe_" << name << " " << help << "\n# TYPE vpipe_" << name << " " << type << "\n"
      << "vpipe_" << name << " " << value << "\n";
  };
  gauge("frames_total", "Frames that have left the pipeline.", "counter",
        static_cast<double>(s.frames_done));
  gauge("fps", "Frames per second since the run started.", "gauge", s.fps());
  gauge("speed", "Processing speed relative to the source's frame rate.", "gauge", s.speed());
  gauge("drops_total", "Frames dropped.", "counter", static_cast<double>(s.drops));
  gauge("worker_restarts_total", "Transform workers restarted after a crash.", "counter",
        static_cast<double>(s.restarts));
  if (!s.latency_buckets.empty()) {
    o << "# HELP vpipe_latency_seconds Time from decode to the encoder, per frame.\n"
      << "# TYPE vpipe_latency_seconds summary\n";
    for (double q : {0.5, 0.95, 0.99}) {
      o << "vpipe_latency_seconds{quantile=\"" << q << "\"} " << s.latency_ms(q) / 1e3 << "\n";
    }
  }
  gauge("frames_in_flight", "Frames between decode and the end of encode.", "gauge", s.in_flight);
  o << "# HELP vpipe_ring_depth Frames queued in a ring.\n# TYPE vpipe_ring_depth gauge\n"
    << "vpipe_ring_depth{ring=\"decoded\"} " << s.decoded_queue << "\n"
    << "vpipe_ring_depth{ring=\"filtered\"} " << s.filtered_queue << "\n";
  o << "# HELP vpipe_ring_high_water Most frames ever queued in a ring.\n# TYPE "
       "vpipe_ring_high_water gauge\n"
    << "vpipe_ring_high_water{ring=\"decoded\"} " << s.decoded_high_water << "\n"
    << "vpipe_ring_high_water{ring=\"filtered\"} " << s.filtered_high_water << "\n";
  auto per_stage = [&](const char* name, const char* help, const char* type, auto value) {
    o << "# HELP vpipe_stage_" << name << " " << help << "\n# TYPE vpipe_stage_" << name << " "
      << type << "\n";
    for (const auto& st : s.stages)
      o << "vpipe_stage_" << name << "{stage=\"" << st.name << "\"} " << value(st) << "\n";
  };
  per_stage("frames_in_total", "Frames a stage has taken in.", "counter",
            [](const StageSample& st) { return st.frames_in; });
  per_stage("frames_out_total", "Frames a stage has handed on.", "counter",
            [](const StageSample& st) { return st.frames_out; });
  per_stage("busy_seconds_total", "Time a stage spent working.", "counter",
            [](const StageSample& st) { return st.busy_s; });
  per_stage("wait_seconds_total", "Time a stage spent waiting on a ring or the pool.", "counter",
            [](const StageSample& st) { return st.wait_s; });
  per_stage("bytes_copied_total", "Pixel bytes copied at stage boundaries (0 by design).",
            "counter", [](const StageSample& st) { return st.bytes_copied; });
  per_stage("errors_total", "Damaged input packets or frames a stage skipped.", "counter",
            [](const StageSample& st) { return st.errors; });
  return o.str();
}

}  // namespace vpipe::report
