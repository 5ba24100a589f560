#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/error.hpp"
#include "plan/run_plan.hpp"

namespace vpipe::plan {
namespace {

TEST(PoolSizeTest, WindowBatchAndSlotsFollowTheRunsShape) {
  struct Row {
    const char* what;
    PoolInputs in;
    std::uint32_t window, batch, nb_slots, decoder_slots;
  };
  const Row rows[] = {
      // Offline: 3 per worker + 2, at least 8, at most 64.
      {"one worker", {.nb_workers = 1}, 8, 4, 8, 0},
      {"four workers", {.nb_workers = 4}, 14, 1, 14, 0},
      {"thirty workers", {.nb_workers = 30}, 64, 1, 64, 0},
      // A filter that writes out of place: a spare slot per batch frame per worker.
      {"spares", {.nb_workers = 2, .needs_spare = true}, 8, 2, 12, 0},
      // Decoding straight into slots: 8 references + one per decoder thread.
      {"direct decode",
       {.nb_workers = 1, .decoded_picture_bytes = 1 << 20, .decoder_threads = 2},
       8,
       4,
       18,
       10},
      // Live: what arrives within the budget, at least workers + 2.
      {"live 100 ms at 30 fps",
       {.nb_workers = 1, .live = true, .latency_budget_ms = 100, .frame_rate = 30},
       4,
       2,
       4,
       0},
      {"live 1 s at 30 fps",
       {.nb_workers = 2, .live = true, .latency_budget_ms = 1000, .frame_rate = 30},
       31,
       7,
       31,
       0},
      {"live 10 s",
       {.nb_workers = 2, .live = true, .latency_budget_ms = 10000, .frame_rate = 30},
       64,
       8,
       64,
       0},
      // What the user sets wins.
      {"--window --batch",
       {.nb_workers = 2, .window = 20, .batch = 5, .needs_spare = true},
       20,
       5,
       30,
       0},
  };
  for (const Row& r : rows) {
    const PoolSize got = size_pool(r.in);
    EXPECT_EQ(got.window, r.window) << r.what;
    EXPECT_EQ(got.batch, r.batch) << r.what;
    EXPECT_EQ(got.nb_slots, r.nb_slots) << r.what;
    EXPECT_EQ(got.decoder_slots, r.decoder_slots) << r.what;
  }
}

TEST(PoolSizeTest, ABatchLargerThanTheWindowIsAUsageError) {
  try {
    (void)size_pool({.nb_workers = 1, .window = 4, .batch = 5});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
    EXPECT_STREQ(e.what(), "--batch 5 is larger than the window of 4 frames in flight");
  }
}

}  // namespace
}  // namespace vpipe::plan

namespace vpipe::plan {
namespace {

// What progress, the ETA and the metrics count to: the output's frames, after -ss, -t and -r.
TEST(ExpectedFramesTest, FollowCutsRateAndFrameLimit) {
  const auto sut = [](double ss, double t, int rate, std::int64_t frames) {
    RunPlan p;
    p.input_info.duration_s = 10;
    p.input_info.frame_rate = {30, 1};
    p.input_info.nb_frames = 300;
    p.start_s = ss;
    p.duration_s = t;
    p.output_rate = {rate, 1};
    if (rate == 0) p.output_rate = {0, 1};
    p.max_frames = frames;
    return p.expected_frames();
  };
  EXPECT_EQ(sut(0, 0, 0, 0), 300) << "the input's own count";
  EXPECT_EQ(sut(2, 0, 0, 0), 240);
  EXPECT_EQ(sut(0, 3, 0, 0), 90);
  EXPECT_EQ(sut(0, 0, 10, 0), 100);
  EXPECT_EQ(sut(2, 3, 10, 0), 30);
  EXPECT_EQ(sut(8, 5, 0, 0), 60) << "-t past the end: what is left";
  EXPECT_EQ(sut(0, 0, 0, 50), 50);
  EXPECT_EQ(sut(2, 3, 0, 500), 90);
}

TEST(ExpectedFramesTest, UnknownForALiveSourceWithoutADuration) {
  RunPlan p;
  p.live = true;
  p.input_info.frame_rate = {30, 1};
  p.duration_s = 5;
  EXPECT_EQ(p.expected_frames(), 0);
  p.max_frames = 40;
  EXPECT_EQ(p.expected_frames(), 40);
}

}  // namespace
}  // namespace vpipe::plan

namespace vpipe::plan {
namespace {

// A pool of 1080p slots (3 MiB each) and processes of 64 MiB each, under a cgroup limit.
struct FitCase {
  std::uint64_t limit_mib;
  int window;  // --window; 0: the plan's
};
MemoryFit fit(const FitCase& c) {
  PoolInputs in;
  in.nb_workers = 8;
  in.window = c.window;
  return fit_pool_to_memory(in, c.limit_mib << 20, 10 * (64ULL << 20),
                            [](const PoolSize& p) { return p.nb_slots * (3ULL << 20); });
}

TEST(MemoryFitTest, AGenerousLimitKeepsThePlansWindow) {
  const MemoryFit sut = fit({4096, 0});
  EXPECT_EQ(sut.pool.window, 26u);
  EXPECT_THAT(sut.note, ::testing::HasSubstr("of the cgroup's 4096.0 MiB"));
  EXPECT_THAT(sut.note, ::testing::Not(::testing::HasSubstr("lowered")));
}

TEST(MemoryFitTest, ATightLimitLowersTheWindowUntilTheRunFits) {
  const MemoryFit sut = fit({700, 0});  // 640 MiB for the processes: 20 slots at most
  EXPECT_LE(sut.needed, 700ULL << 20);
  EXPECT_EQ(sut.pool.window, 20u);
  EXPECT_THAT(sut.note, ::testing::HasSubstr("window lowered from 26 to 20"));
}

TEST(MemoryFitTest, ALimitTheRunCannotFitIsRefusedSayingWhatItNeeds) {
  try {
    fit({650, 0});  // even 10 slots (8 workers + 2) need 670 MiB
    FAIL() << "expected a refusal";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
    EXPECT_THAT(e.what(), ::testing::HasSubstr("the run needs about 670.0 MiB"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("the 650.0 MiB its cgroup allows: raise the limit"));
  }
  EXPECT_THROW(fit({700, 26}), Error) << "a --window the user gave is not lowered";
}

TEST(MemoryFitTest, NoLimitNoNote) {
  const MemoryFit sut = fit({0, 0});
  EXPECT_EQ(sut.pool.window, 26u);
  EXPECT_EQ(sut.note, "");
}

}  // namespace
}  // namespace vpipe::plan
