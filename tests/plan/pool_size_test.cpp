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
