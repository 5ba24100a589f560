// The metrics' text as Prometheus reads it: every family with HELP and TYPE, a real histogram
// (cumulative buckets, +Inf, _sum, _count) for the latency, drops by stage and reason, and the
// result once the run has ended. The textfile is written atomically; Pushgateway URLs are
// checked up front.
#include "report/metrics.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "common/error.hpp"
#include "shm/latency_histogram.hpp"

namespace vpipe::report {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

ProgressSample run_sample() {
  ProgressSample s;
  s.elapsed_s = 2;
  s.frames_done = 120;
  s.frames_total = 300;
  s.input_fps = 30;
  s.fps_now = 45;
  s.decoded_queue = 3;
  s.input = "in.mp4";
  s.output = "out.mkv";
  s.mode = "live";
  s.latency_buckets.assign(shm::kLatencyBuckets, 0);
  s.latency_buckets[shm::LatencyHistogram::bucket_of(1000)] = 90;   // 1 ms
  s.latency_buckets[shm::LatencyHistogram::bucket_of(20000)] = 10;  // 20 ms
  s.latency_sum_s = 90 * 0.001 + 10 * 0.020;
  StageSample d;
  d.name = "decode";
  d.drops_full = 4;
  StageSample x;
  x.name = "xform-0";
  x.frames_out = 120;
  x.drops_late = 7;
  x.cpu_s = 1.5;
  x.rss_kib = 2048;
  StageSample e;
  e.name = "encode";
  e.frames_out = 120;
  s.stages = {d, x, e};
  return s;
}

// name{labels} -> value, for every sample line.
std::map<std::string, double> samples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

TEST(PrometheusTextTest, EveryFamilyHasHelpTypeAndSamples) {
  const std::string sut = prometheus_text(run_sample());
  std::istringstream lines(sut);
  std::string line;
  int helps = 0, types = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("# HELP vpipe_", 0) == 0) ++helps;
    if (line.rfind("# TYPE vpipe_", 0) == 0) ++types;
    if (line[0] != '#') {
      EXPECT_TRUE(line.rfind("vpipe_", 0) == 0) << line;
    }
  }
  EXPECT_EQ(helps, types);
  EXPECT_GT(types, 20);
  const auto v = samples(sut);
  EXPECT_EQ(v.at("vpipe_frames_total"), 120);
  EXPECT_EQ(v.at("vpipe_frames_expected"), 300);
  EXPECT_EQ(v.at("vpipe_fps"), 45) << "now, not the 60 fps average since the start";
  EXPECT_EQ(v.at("vpipe_speed"), 1.5);
  EXPECT_EQ(v.at("vpipe_ring_depth{ring=\"decoded\"}"), 3);
  EXPECT_EQ(v.at("vpipe_stage_frames_out_total{stage=\"xform-0\"}"), 120);
  EXPECT_EQ(v.at("vpipe_stage_cpu_seconds_total{stage=\"xform-0\"}"), 1.5);
  EXPECT_EQ(v.at("vpipe_stage_resident_bytes{stage=\"xform-0\"}"), 2048.0 * 1024);
  EXPECT_EQ(v.at("vpipe_run_info{input=\"in.mp4\",output=\"out.mkv\",mode=\"live\"}"), 1);
  EXPECT_THAT(sut, HasSubstr("vpipe_build_info{"));
  EXPECT_THAT(sut, Not(HasSubstr("vpipe_run_result"))) << "only once the run has ended";
}

TEST(PrometheusTextTest, DropsCarryTheStageAndTheReason) {
  const auto v = samples(prometheus_text(run_sample()));
  EXPECT_EQ(v.at("vpipe_drops_total{stage=\"xform-0\",reason=\"late\"}"), 7);
  EXPECT_EQ(v.at("vpipe_drops_total{stage=\"decode\",reason=\"ring_full\"}"), 4);
  EXPECT_EQ(v.at("vpipe_drops_total{stage=\"encode\",reason=\"late\"}"), 0);
}

TEST(PrometheusTextTest, LatencyIsAHistogramWithCumulativeBucketsSumAndCount) {
  const std::string sut = prometheus_text(run_sample());
  EXPECT_THAT(sut, HasSubstr("# TYPE vpipe_latency_seconds histogram"));
  const auto v = samples(sut);
  EXPECT_EQ(v.at("vpipe_latency_seconds_count"), 100);
  EXPECT_NEAR(v.at("vpipe_latency_seconds_sum"), 0.29, 1e-9);
  EXPECT_EQ(v.at("vpipe_latency_seconds_bucket{le=\"+Inf\"}"), 100);
  // Buckets rise with their bound, from 0 below 1 ms through 90 to 100 past 20 ms.
  std::vector<std::pair<double, double>> buckets;
  const std::regex le(R"re(vpipe_latency_seconds_bucket\{le="([0-9.e+-]+)"\})re");
  for (const auto& [name, count] : v) {
    std::smatch m;
    if (std::regex_match(name, m, le)) buckets.emplace_back(std::stod(m[1]), count);
  }
  std::sort(buckets.begin(), buckets.end());
  ASSERT_GT(buckets.size(), 20u);
  for (std::size_t i = 1; i < buckets.size(); ++i)
    EXPECT_GE(buckets[i].second, buckets[i - 1].second);
  for (const auto& [bound, count] : buckets) {
    if (bound < 0.0009) {
      EXPECT_EQ(count, 0) << bound;
    } else if (bound > 0.0012 && bound < 0.019) {
      EXPECT_EQ(count, 90) << bound;
    } else if (bound > 0.024) {
      EXPECT_EQ(count, 100) << bound;
    }
  }
}

TEST(PrometheusTextTest, AnEndedRunSaysItsResult) {
  ProgressSample s = run_sample();
  s.result = "interrupted";
  s.exit_code = 255;
  const auto v = samples(prometheus_text(s));
  EXPECT_EQ(v.at("vpipe_run_result{result=\"interrupted\"}"), 1);
  EXPECT_EQ(v.at("vpipe_run_result{result=\"complete\"}"), 0);
  EXPECT_EQ(v.at("vpipe_exit_code"), 255);
}

TEST(MetricsTextfileTest, IsReplacedWholeAndLeavesNoTemporaryFile) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("vpipe-textfile-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "vpipe.prom").string();
  write_textfile(path, "old\n");
  write_textfile(path, prometheus_text(run_sample()));
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), prometheus_text(run_sample()));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);
  EXPECT_THROW(write_textfile((dir / "missing" / "x.prom").string(), "x"), Error);
  std::filesystem::remove_all(dir);
}

TEST(PushUrlTest, TakesAGatewayAndAGroupingKey) {
  EXPECT_EQ(parse_push_url("http://127.0.0.1:9091").path, "/metrics/job/vpipe");
  const PushTarget t = parse_push_url("http://gw.example:9091/metrics/job/transcode/instance/n1");
  EXPECT_EQ(t.host, "gw.example");
  EXPECT_EQ(t.port, 9091);
  EXPECT_EQ(t.path, "/metrics/job/transcode/instance/n1");
  for (const char* bad : {"127.0.0.1:9091", "https://gw:9091", "http://gw", "http://gw:99999",
                          "http://gw:9091/metrics", "http://gw:9091/other/path"}) {
    EXPECT_THROW(parse_push_url(bad), Error) << bad;
  }
}

}  // namespace
}  // namespace vpipe::report
