#include "report/progress.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "shm/latency_histogram.hpp"

namespace vpipe::report {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

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

TEST(ProgressLineTest, ShowsMediaTimeSizeAndBitrateAsFfmpegDoes) {
  ProgressSample s = sample();
  s.output_bytes = 512 * 1024;
  const std::string sut = progress_line(s);
  EXPECT_THAT(sut, HasSubstr("time 00:00:04.00"));  // 120 frames at 30 fps
  EXPECT_THAT(sut, HasSubstr("elapsed 0:02"));
  EXPECT_THAT(sut, HasSubstr("size 512KiB"));
  EXPECT_THAT(sut, HasSubstr("bitrate 1048.6kbit/s"));
}

TEST(ProgressLineTest, SpeedAndTimeFollowTheOutputRate) {
  ProgressSample s = sample();
  s.output_fps = 10;  // -r 10 on a 30 fps source: 120 frames are 12 s of output
  EXPECT_DOUBLE_EQ(s.media_time_s(), 12);
  EXPECT_DOUBLE_EQ(s.speed(), 6);
  EXPECT_THAT(progress_line(s), HasSubstr("time 00:00:12.00"));
}

TEST(ProgressLineTest, FitsTheTerminalLeavingOutTheLeastUsefulPartsFirst) {
  ProgressSample s = sample();
  s.output_bytes = 1 << 20;
  for (int i = 1; i < 16; ++i) {
    StageSample x;
    x.name = "xform-" + std::to_string(i);
    s.stages.insert(s.stages.end() - 1, x);
  }
  const std::string full = progress_line(s);
  EXPECT_GT(full.size(), 120u);
  for (const int width : {120, 80, 60, 40}) {
    const std::string sut = progress_line(s, width);
    EXPECT_LT(static_cast<int>(sut.size()), width) << sut;
    EXPECT_THAT(sut, HasSubstr("frame 120/300")) << width;
    EXPECT_THAT(sut, HasSubstr("eta 0:03")) << width;
    EXPECT_THAT(sut, Not(HasSubstr("busy"))) << "the stages' busy figures go first: " << sut;
  }
  EXPECT_THAT(progress_line(s, 80), HasSubstr("fps 60.0"));
  EXPECT_THAT(progress_line(s, 80), HasSubstr("speed 2.00x"));
  EXPECT_EQ(progress_line(s, 0), full) << "no width: no limit (a log file)";
}

TEST(ProgressJsonTest, IsOneParsableObjectWithTheSameFields) {
  const std::string text = progress_json(sample());
  EXPECT_EQ(text.find('\n'), std::string::npos);
  const auto sut = nlohmann::json::parse(text);
  EXPECT_EQ(sut.at("version"), kProgressJsonVersion);
  EXPECT_EQ(sut.at("event"), "progress");
  EXPECT_EQ(sut.at("frames"), 120);
  EXPECT_EQ(sut.at("frames_total"), 300);
  EXPECT_DOUBLE_EQ(sut.at("time_s").get<double>(), 4);
  EXPECT_DOUBLE_EQ(sut.at("fps").get<double>(), 60);
  EXPECT_DOUBLE_EQ(sut.at("eta_s").get<double>(), 3);
  EXPECT_EQ(sut.at("queues").at("decoded"), 3);
  ASSERT_EQ(sut.at("stages").size(), 3u);
  EXPECT_EQ(sut.at("stages")[1].at("stage"), "xform-0");
  EXPECT_EQ(sut.at("stages")[1].at("busy_percent"), 100);
  EXPECT_GT(sut.at("latency_ms").at("p99").get<double>(),
            sut.at("latency_ms").at("p50").get<double>());
}

TEST(ProgressJsonTest, TheEndRecordHasTheResult) {
  ProgressSample s = sample();
  s.result = "interrupted";
  s.exit_code = 255;
  s.output_bytes = 1000;
  const auto sut = nlohmann::json::parse(progress_end_json(s));
  EXPECT_EQ(sut.at("version"), kProgressJsonVersion);
  EXPECT_EQ(sut.at("event"), "end");
  EXPECT_EQ(sut.at("result"), "interrupted");
  EXPECT_EQ(sut.at("exit_code"), 255);
  EXPECT_EQ(sut.at("frames"), 120);
  EXPECT_EQ(sut.at("size_bytes"), 1000);
}

TEST(RecentRateTest, IsTheRateOverTheLastSpanNotSinceTheStart) {
  RecentRate sut(5);
  EXPECT_EQ(sut.per_second(), 0) << "no rate from one point";
  // 100 fps for 10 s, then a stall for 6 s: the average since the start is still 62.5 fps.
  for (int t = 0; t <= 10; ++t) sut.add(t, static_cast<std::uint64_t>(t) * 100);
  EXPECT_DOUBLE_EQ(sut.per_second(), 100);
  for (int t = 11; t <= 16; ++t) sut.add(t, 1000);
  EXPECT_DOUBLE_EQ(sut.per_second(), 0);
  sut.add(17, 1030);
  EXPECT_NEAR(sut.per_second(), 30.0 / 5, 1e-9) << "from the point 5 s back (t = 12) to t = 17";
}

}  // namespace
}  // namespace vpipe::report
