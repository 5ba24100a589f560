#include "report/metrics.hpp"

#include <httplib.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <opencv2/core/version.hpp>
#include <regex>

extern "C" {
#include <libavcodec/version.h>
#include <libavformat/version.h>
}

#include "common/error.hpp"
#include "shm/latency_histogram.hpp"

namespace vpipe::report {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

// The latency histogram's buckets: every second one of the log-scale buckets vpipe keeps (two
// per doubling, each about 41% wide), from 128 us to about 24 s. The counts at these bounds are
// exact sums of vpipe's own buckets, not re-estimated.
constexpr int kFirstBucket = 28;  // upper bound 2^7 us
constexpr int kLastBucket = 98;   // about 2^24.5 us
constexpr int kBucketStep = 2;

// The families in the order added. A reference add() gives stays good while more are added
// (a deque never moves its elements).
class Families {
 public:
  MetricFamily& add(const std::string& name, const std::string& help, MetricType type) {
    families_.push_back({"vpipe_" + name, help, type, {}});
    return families_.back();
  }
  void one(const std::string& name, const std::string& help, MetricType type, double value,
           Labels labels = {}) {
    MetricFamily& f = add(name, help, type);
    f.metric.push_back(metric(type, value, std::move(labels)));
  }
  static ClientMetric metric(MetricType type, double value, Labels labels) {
    ClientMetric m;
    m.label = std::move(labels);
    if (type == MetricType::Counter) m.counter.value = value;
    if (type == MetricType::Gauge) m.gauge.value = value;
    return m;
  }
  std::vector<MetricFamily> take() {
    return {std::make_move_iterator(families_.begin()), std::make_move_iterator(families_.end())};
  }

 private:
  std::deque<MetricFamily> families_;
};

ClientMetric histogram(const std::vector<std::uint64_t>& buckets, double sum_s,
                       Labels labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  std::uint64_t cumulative = 0, count = 0;
  for (auto b : buckets) count += b;
  for (int i = 0; i < static_cast<int>(buckets.size()) && i <= kLastBucket; ++i) {
    cumulative += buckets[static_cast<std::size_t>(i)];
    if (i >= kFirstBucket && (i - kFirstBucket) % kBucketStep == 0) {
      m.histogram.bucket.push_back({cumulative, shm::LatencyHistogram::upper_bound_us(i) / 1e6});
    }
  }
  m.histogram.bucket.push_back({count, std::numeric_limits<double>::infinity()});
  m.histogram.sample_count = count;
  m.histogram.sample_sum = sum_s;
  return m;
}

}  // namespace

namespace {

// The run as a whole: what it is, how far it got, its outputs.
void add_run_families(Families& f, const ProgressSample& s) {
  const auto G = MetricType::Gauge;
  const auto C = MetricType::Counter;
  f.one("build_info", "vpipe's version and the libraries it runs on (always 1).", G, 1,
        {{"version", VPIPE_VERSION},
         {"libavcodec", LIBAVCODEC_IDENT},
         {"libavformat", LIBAVFORMAT_IDENT},
         {"opencv", CV_VERSION}});
  f.one("run_info", "What this run reads and writes (always 1).", G, 1,
        {{"input", s.input}, {"output", s.output}, {"mode", s.mode}});
  if (!s.result.empty()) {
    // Only once the run has ended: what a lingering endpoint, a textfile or a push reports last.
    MetricFamily& r =
        f.add("run_result", "How the run ended: 1 for its result, 0 for the others.", G);
    for (const char* result : {"complete", "interrupted", "failed"})
      r.metric.push_back(Families::metric(G, s.result == result ? 1 : 0, {{"result", result}}));
    f.one("exit_code", "The run's exit status.", G, s.exit_code);
  }
  f.one("elapsed_seconds", "Seconds since the run started.", G, s.elapsed_s);
  f.one("frames_total", "Frames that have left the pipeline.", C,
        static_cast<double>(s.frames_done));
  if (s.frames_total > 0) {
    f.one("frames_expected", "Frames the input is expected to give (an estimate).", G,
          static_cast<double>(s.frames_total));
  }
  f.one("fps", "Frames per second over the last few seconds.", G, s.fps_now);
  f.one("speed", "Speed over the last few seconds, relative to the source's frame rate.", G,
        s.output_fps > 0 ? s.fps_now / s.output_fps
                         : (s.input_fps > 0 ? s.fps_now / s.input_fps : 0));
  if (s.output_bytes >= 0) {
    f.one("output_bytes", "Bytes written to the output file so far.", G,
          static_cast<double>(s.output_bytes));
  }
  if (!s.outputs.empty()) {
    MetricFamily& frames = f.add("output_frames_total", "Frames each output's encoder took.", C);
    for (const ProgressSample::Output& o : s.outputs) {
      frames.metric.push_back(
          Families::metric(C, static_cast<double>(o.frames), {{"output", o.name}}));
    }
    MetricFamily& drops =
        f.add("output_drops_total", "Frames an output dropped on its own: late for it (live).", C);
    MetricFamily& busy =
        f.add("output_busy_seconds_total", "Time the encode stage spent on each output.", C);
    for (const ProgressSample::Output& o : s.outputs) {
      drops.metric.push_back(
          Families::metric(C, static_cast<double>(o.drops), {{"output", o.name}}));
      busy.metric.push_back(Families::metric(C, o.busy_s, {{"output", o.name}}));
    }
    MetricFamily& bytes = f.add("output_file_bytes", "Bytes written to each output so far.", G);
    for (const ProgressSample::Output& o : s.outputs) {
      if (o.bytes >= 0) {
        bytes.metric.push_back(
            Families::metric(G, static_cast<double>(o.bytes), {{"output", o.name}}));
      }
    }
  }
}

// The frames' way through the pipeline: drops, restarts, latency, what is in flight and queued.
void add_flow_families(Families& f, const ProgressSample& s) {
  const auto G = MetricType::Gauge;
  const auto C = MetricType::Counter;
  MetricFamily& drops = f.add("drops_total", "Frames dropped, by stage and reason (live mode).", C);
  for (const auto& st : s.stages) {
    drops.metric.push_back(Families::metric(C, static_cast<double>(st.drops_late),
                                            {{"stage", st.name}, {"reason", "late"}}));
    drops.metric.push_back(Families::metric(C, static_cast<double>(st.drops_full),
                                            {{"stage", st.name}, {"reason", "ring_full"}}));
  }
  f.one("worker_restarts_total", "Transform workers restarted after a crash.", C,
        static_cast<double>(s.restarts));
  f.one("workers_active",
        "Transform workers taking frames now (--workers auto or MIN-MAX: the pool sizes itself).",
        G, static_cast<double>(s.workers_active));
  if (!s.latency_buckets.empty()) {
    MetricFamily& h =
        f.add("latency_seconds", "Time from capture (decode) to the encoder's packet, per frame.",
              MetricType::Histogram);
    h.metric.push_back(histogram(s.latency_buckets, s.latency_sum_s));
    f.one("latency_max_seconds", "The largest capture-to-packet time so far.", G,
          s.latency_max_us / 1e6);
  }
  if (!s.frame_times.empty()) {
    MetricFamily& h = f.add("stage_frame_seconds",
                            "Time a stage worked on each frame it handed on, by stage (the "
                            "transform workers together).",
                            MetricType::Histogram);
    for (const StageFrameTimes& t : s.frame_times)
      h.metric.push_back(histogram(t.buckets, t.sum_s, {{"stage", t.stage}}));
  }
  f.one("frames_in_flight", "Frames between decode and the end of encode.", G, s.in_flight);
  f.one("window_frames", "The most frames that may be in flight (the window).", G, s.window);
  MetricFamily& depth = f.add("ring_depth", "Frames queued in a ring.", G);
  depth.metric.push_back(Families::metric(G, s.decoded_queue, {{"ring", "decoded"}}));
  depth.metric.push_back(Families::metric(G, s.filtered_queue, {{"ring", "filtered"}}));
  MetricFamily& high = f.add("ring_high_water", "Most frames ever queued in a ring.", G);
  high.metric.push_back(Families::metric(G, s.decoded_high_water, {{"ring", "decoded"}}));
  high.metric.push_back(Families::metric(G, s.filtered_high_water, {{"ring", "filtered"}}));
}

// Each stage's counters, labelled by stage.
void add_stage_families(Families& f, const ProgressSample& s) {
  const auto G = MetricType::Gauge;
  const auto C = MetricType::Counter;
  const auto per_stage = [&](const std::string& name, const std::string& help, MetricType type,
                             auto value) {
    MetricFamily& family = f.add("stage_" + name, help, type);
    for (const auto& st : s.stages)
      family.metric.push_back(
          Families::metric(type, static_cast<double>(value(st)), {{"stage", st.name}}));
  };
  per_stage("frames_in_total", "Frames a stage has taken in.", C,
            [](const StageSample& st) { return st.frames_in; });
  per_stage("frames_out_total", "Frames a stage has handed on.", C,
            [](const StageSample& st) { return st.frames_out; });
  per_stage("busy_seconds_total", "Time a stage spent working.", C,
            [](const StageSample& st) { return st.busy_s; });
  per_stage("wait_seconds_total", "Time a stage spent waiting on a ring or the pool.", C,
            [](const StageSample& st) { return st.wait_s; });
  per_stage("frames_copied_total",
            "Pictures a stage copied into a slot instead of writing them there.", C,
            [](const StageSample& st) { return st.frames_copied; });
  per_stage("errors_total", "Damaged input packets or frames a stage skipped.", C,
            [](const StageSample& st) { return st.errors; });
  per_stage("restarts_total", "Times a stage's process was restarted after it died.", C,
            [](const StageSample& st) { return st.restarts; });
  per_stage("cpu_seconds_total", "User and system CPU time of a stage's processes.", C,
            [](const StageSample& st) { return st.cpu_s; });
  per_stage("resident_bytes", "Resident memory of a stage's process now (0 once it has ended).", G,
            [](const StageSample& st) { return st.rss_kib * 1024.0; });
}

}  // namespace

std::vector<MetricFamily> metric_families(const ProgressSample& s) {
  Families f;
  add_run_families(f, s);
  add_flow_families(f, s);
  add_stage_families(f, s);
  return f.take();
}

std::string prometheus_text(const ProgressSample& s) {
  return prometheus::TextSerializer().Serialize(metric_families(s));
}

void write_textfile(const std::string& path, const std::string& text) {
  // node_exporter reads every *.prom file in its folder: the temporary name must not end so.
  const std::string temporary = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      std::remove(temporary.c_str());
      fail(ExitCode::kOutput, "--metrics-textfile: cannot write '" + temporary + "'");
    }
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) {
    std::remove(temporary.c_str());
    fail(ExitCode::kOutput,
         "--metrics-textfile: cannot rename onto '" + path + "': " + ec.message());
  }
}

PushTarget parse_push_url(const std::string& url) {
  // Pushgateway's grouping key is a path of /LABEL/VALUE pairs after /metrics/job/NAME.
  static const std::regex form(
      R"(http://([^/:]+):(\d{1,5})((/metrics/job/[^/]+)(/[^/]+/[^/]+)*)?/?)");
  std::smatch m;
  if (!std::regex_match(url, m, form)) {
    fail(ExitCode::kUsage, "--metrics-push '" + url +
                               "' must be http://HOST:PORT[/metrics/job/NAME[/LABEL/VALUE]...]"
                               " (a Pushgateway; https is not supported)");
  }
  PushTarget t;
  t.host = m[1];
  t.port = std::stoi(m[2]);
  if (t.port < 1 || t.port > 65535)
    fail(ExitCode::kUsage, "--metrics-push '" + url + "': bad port");
  t.path = m[3].matched ? m[3].str() : "/metrics/job/vpipe";
  return t;
}

std::string push_metrics(const PushTarget& target, const std::string& text) {
  httplib::Client client(target.host, target.port);
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  client.set_write_timeout(10);
  const auto res = client.Put(target.path, text, "text/plain; version=0.0.4");
  const std::string where =
      "http://" + target.host + ":" + std::to_string(target.port) + target.path;
  if (!res) {
    return "cannot push the metrics to " + where + ": " +
           (res.error() == httplib::Error::Connection ? std::string("cannot connect")
                                                      : httplib::to_string(res.error()));
  }
  if (res->status / 100 != 2) {
    std::string body = res->body.substr(0, 200);
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
    return "the Pushgateway at " + where + " refused the metrics (HTTP " +
           std::to_string(res->status) + (body.empty() ? "" : ": " + body) + ")";
  }
  return "";
}

}  // namespace vpipe::report
