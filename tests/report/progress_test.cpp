#include "report/progress.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "shm/latency_histogram.hpp"

namespace vpipe::report {
namespace {

using ::testing::HasSubstr;

ProgressSample sample() {
  ProgressSample s;
  s.elapsed_s = 2;
  s.frames_done = 120;
  s.frames_total = 300;
  s.input_fps = 30;
  s.in_flight = 5;
  s.window = 8;
  s.decoded_queue = 3;
  s.filtered_queue = 1;
  s.decoded_high_water = 6;
  s.filtered_high_water = 4;
  s.restarts = 1;
  s.latency_buckets.assign(100, 0);
  s.latency_buckets[shm::LatencyHistogram::bucket_of(1000)] = 90;   // 1 ms
  s.latency_buckets[shm::LatencyHistogram::bucket_of(20000)] = 10;  // 20 ms
  StageSample d;
  d.name = "decode";
  d.busy_s = 1;
  StageSample x;
  x.name = "xform-0";
  x.busy_s = 2;
  x.frames_out = 120;
  StageSample e;
  e.name = "encode";
  e.busy_s = 0.5;
  e.frames_out = 120;
  s.stages = {d, x, e};
  return s;
}

TEST(ProgressSampleTest, DerivesFpsSpeedAndEta) {
  const ProgressSample sut = sample();
  EXPECT_DOUBLE_EQ(sut.fps(), 60);
  EXPECT_DOUBLE_EQ(sut.speed(), 2);
  EXPECT_DOUBLE_EQ(sut.eta_s(), 3);
}

TEST(ProgressSampleTest, EtaIsUnknownWithoutATotal) {
  ProgressSample sut = sample();
  sut.frames_total = 0;
  EXPECT_LT(sut.eta_s(), 0);
}

TEST(ProgressLineTest, ShowsFramesRateEtaQueuesAndBusyPerStage) {
  const std::string sut = progress_line(sample());
  EXPECT_THAT(sut, HasSubstr("frame 120/300"));
  EXPECT_THAT(sut, HasSubstr("fps 60.0"));
  EXPECT_THAT(sut, HasSubstr("speed 2.00x"));
  EXPECT_THAT(sut, HasSubstr("eta 0:03"));
  EXPECT_THAT(sut, HasSubstr("queues 3/1"));
  EXPECT_THAT(sut, HasSubstr("restarts 1"));
  EXPECT_THAT(sut, HasSubstr("busy d 50% x0 100% e 25%"));
  EXPECT_EQ(sut.find('\n'), std::string::npos);
}

TEST(ProgressJsonTest, IsOneParsableObjectWithTheSameFields) {
  const std::string text = progress_json(sample());
  EXPECT_EQ(text.find('\n'), std::string::npos);
  const auto sut = nlohmann::json::parse(text);
  EXPECT_EQ(sut.at("frames"), 120);
  EXPECT_EQ(sut.at("frames_total"), 300);
  EXPECT_DOUBLE_EQ(sut.at("fps").get<double>(), 60);
  EXPECT_DOUBLE_EQ(sut.at("eta_s").get<double>(), 3);
  EXPECT_EQ(sut.at("queues").at("decoded"), 3);
  ASSERT_EQ(sut.at("stages").size(), 3u);
  EXPECT_EQ(sut.at("stages")[1].at("stage"), "xform-0");
  EXPECT_EQ(sut.at("stages")[1].at("busy_percent"), 100);
  EXPECT_GT(sut.at("latency_ms").at("p99").get<double>(),
            sut.at("latency_ms").at("p50").get<double>());
}

TEST(PrometheusTextTest, EveryMetricHasHelpTypeAndAValue) {
  const std::string sut = prometheus_text(sample());
  std::istringstream lines(sut);
  std::string line;
  int samples = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("#", 0) == 0) {
      EXPECT_TRUE(line.rfind("# HELP vpipe_", 0) == 0 || line.rfind("# TYPE vpipe_", 0) == 0)
          << line;
      continue;
    }
    ++samples;
    EXPECT_TRUE(line.rfind("vpipe_", 0) == 0) << line;
    EXPECT_NE(line.rfind(' '), std::string::npos) << line;
  }
  EXPECT_GT(samples, 20);
  EXPECT_THAT(sut, HasSubstr("vpipe_frames_total 120\n"));
  EXPECT_THAT(sut, HasSubstr("vpipe_ring_depth{ring=\"decoded\"} 3\n"));
  EXPECT_THAT(sut, HasSubstr("vpipe_stage_frames_out_total{stage=\"xform-0\"} 120\n"));
  EXPECT_THAT(sut, HasSubstr("vpipe_latency_seconds{quantile=\"0.99\"}"));
}

}  // namespace
}  // namespace vpipe::report
