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

// "00:01:02.50", as ffmpeg shows a media time.
std::string media_time_text(double seconds) {
  const auto cs = static_cast<long long>(std::llround(std::max(0.0, seconds) * 100));
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%02lld:%02lld:%02lld.%02lld", cs / 360000, cs / 6000 % 60,
                cs / 100 % 60, cs % 100);
  return buf;
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

std::string size_text(std::int64_t bytes) {
  char buf[32];
  if (bytes >= 10LL << 30) {
    std::snprintf(buf, sizeof(buf), "%.1fGiB", static_cast<double>(bytes) / (1LL << 30));
  } else if (bytes >= 10LL << 20) {
    std::snprintf(buf, sizeof(buf), "%.0fMiB", static_cast<double>(bytes) / (1LL << 20));
  } else {
    std::snprintf(buf, sizeof(buf), "%.0fKiB", static_cast<double>(bytes) / 1024);
  }
  return buf;
}

std::string progress_line(const ProgressSample& s, int width) {
  // Parts in the order shown; when the line would not fit, the least useful go first (the
  // per-stage busy figures, then queues, ...), never the frame count, rate or ETA.
  struct Part {
    std::string text;
    int keep;  // higher: dropped later
  };
  std::vector<Part> parts;
  char buf[160];
  std::snprintf(buf, sizeof(buf), "frame %llu", static_cast<unsigned long long>(s.frames_done));
  std::string frame = buf;
  if (s.frames_total > 0) frame += "/" + std::to_string(s.frames_total);
  parts.push_back({frame, 100});
  std::snprintf(buf, sizeof(buf), "fps %.1f", s.fps());
  parts.push_back({buf, 90});
  std::snprintf(buf, sizeof(buf), "speed %.2fx", s.speed());
  parts.push_back({buf, 80});
  if (s.eta_s() >= 0) parts.push_back({"eta " + clock_text(s.eta_s()), 95});
  parts.push_back({"time " + media_time_text(s.media_time_s()), 60});
  parts.push_back({"elapsed " + clock_text(s.elapsed_s), 50});
  if (s.output_bytes >= 0) {
    parts.push_back({"size " + size_text(s.output_bytes), 55});
    if (s.media_time_s() > 0) {
      std::snprintf(buf, sizeof(buf), "bitrate %.1fkbit/s",
                    8.0 * static_cast<double>(s.output_bytes) / s.media_time_s() / 1000);
      parts.push_back({buf, 40});
    }
  }
  parts.push_back({"drops " + std::to_string(s.drops), s.drops > 0 ? 85 : 30});
  if (s.restarts > 0) parts.push_back({"restarts " + std::to_string(s.restarts), 85});
  parts.push_back(
      {"queues " + std::to_string(s.decoded_queue) + "/" + std::to_string(s.filtered_queue), 20});
  std::string busy = "busy";
  for (const auto& st : s.stages) {
    const char tag = st.name.empty() ? '?' : st.name[0] == 'x' ? 'x' : st.name[0];
    busy += " " + std::string(1, tag) + (tag == 'x' ? st.name.substr(6) : "") + " " +
            std::to_string(busy_percent(st, s.elapsed_s)) + "%";
  }
  parts.push_back({busy, 10});
  const auto joined = [&] {
    std::string line;
    for (const auto& p : parts) line += (line.empty() ? "" : "  ") + p.text;
    return line;
  };
  std::string line = joined();
  while (width > 0 && static_cast<int>(line.size()) >= width && parts.size() > 1) {
    const auto least = std::min_element(
        parts.begin(), parts.end(), [](const Part& a, const Part& b) { return a.keep < b.keep; });
    parts.erase(least);
    line = joined();
  }
  if (width > 0 && static_cast<int>(line.size()) >= width)
    line.resize(static_cast<std::size_t>(width - 1));
  return line;
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
  nlohmann::json j = {{"version", kProgressJsonVersion},
                      {"event", "progress"},
                      {"elapsed_s", s.elapsed_s},
                      {"time_s", s.media_time_s()},
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
  if (s.output_bytes >= 0) {
    j["size_bytes"] = s.output_bytes;
    if (s.media_time_s() > 0)
      j["bitrate_bps"] = 8.0 * static_cast<double>(s.output_bytes) / s.media_time_s();
  }
  return j.dump();
}

std::string progress_end_json(const ProgressSample& s) {
  nlohmann::json j = {
      {"version", kProgressJsonVersion}, {"event", "end"},           {"result", s.result},
      {"exit_code", s.exit_code},        {"elapsed_s", s.elapsed_s}, {"frames", s.frames_done},
      {"time_s", s.media_time_s()},      {"drops", s.drops},         {"restarts", s.restarts}};
  if (s.output_bytes >= 0) j["size_bytes"] = s.output_bytes;
  return j.dump();
}

}  // namespace vpipe::report
