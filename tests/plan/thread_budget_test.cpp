// The decoder's thread budget (plan/thread_budget.hpp) as a decision table: its share of the
// job's estimated work, of the CPUs decode may use.
#include "plan/thread_budget.hpp"

#include <gtest/gtest.h>

namespace vpipe::plan {
namespace {

TEST(ThreadBudgetTest, TheDecoderGetsItsShareOfTheCpus) {
  struct Row {
    const char* what;
    double decode_ms, rest_ms;
    int cpus, threads;
  };
  const Row rows[] = {
      {"nothing else to do (-o null): every CPU", 3.3, 0, 2, 2},
      {"nothing else on 16 CPUs", 3.3, 0, 16, 16},
      {"x264 does most of the work: one thread", 3.3, 7.4, 2, 1},
      {"a light encoder, still under 60%: one thread", 3.3, 2.3, 2, 1},
      {"decode is most of the work: both", 8, 1, 2, 2},
      {"a third of the work on 16 CPUs", 3.3, 6.6, 16, 5},
      {"a tiny share is still one thread", 0.1, 100, 16, 1},
      {"one CPU", 3.3, 0, 1, 1},
      {"not pinned: libavcodec decides", 3.3, 7, 0, 0},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.what);
    EXPECT_EQ(decoder_threads(r.decode_ms, r.rest_ms, r.cpus), r.threads);
  }
}

// The workers' libavfilter threads: their share, split between them, rounded up.
TEST(ThreadBudgetTest, EachWorkerGetsItsShareOfTheCpusRoundedUp) {
  struct Row {
    const char* what;
    double filter_ms, total_ms;
    int workers, cpus, threads;
  };
  const Row rows[] = {
      {"a blur beside x264 on 2 shared CPUs: one", 6.2, 24, 1, 2, 1},
      {"a blur to -o null: the bound stage, both", 6.2, 9.5, 1, 2, 2},
      {"two workers share it", 6.2, 9.5, 2, 2, 1},
      {"a core of its own: one", 50, 51, 4, 1, 1},
      {"all the work on 16 shared CPUs and 4 workers", 10, 10, 4, 16, 4},
      {"not pinned", 6, 9, 1, 0, 1},
      {"no filter", 0, 9, 1, 2, 1},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.what);
    EXPECT_EQ(worker_threads(r.filter_ms, r.total_ms, r.workers, r.cpus), r.threads);
  }
}

TEST(ThreadBudgetTest, CostsRankCodecsPresetsAndFiltersAsMeasured) {
  // Slower presets cost more, x265 more than x264, nothing encoded nothing.
  const char* presets[] = {"ultrafast", "superfast", "veryfast", "faster",   "fast",
                           "medium",    "slow",      "slower",   "veryslow", "placebo"};
  for (int i = 1; i < 10; ++i) {
    EXPECT_GT(encode_ms_per_megapixel("libx264", presets[i]),
              encode_ms_per_megapixel("libx264", presets[i - 1]))
        << presets[i];
  }
  EXPECT_EQ(encode_ms_per_megapixel("libx264", ""), encode_ms_per_megapixel("libx264", "medium"));
  EXPECT_GT(encode_ms_per_megapixel("libx265", "fast"), encode_ms_per_megapixel("libx264", "fast"));
  EXPECT_EQ(encode_ms_per_megapixel("null", ""), 0);
  EXPECT_GT(encode_ms_per_megapixel("libx264", "veryfast"), encode_ms_per_megapixel("mpeg4", ""));
  // Decoders: H.264 above MPEG-4 part 2, raw video next to nothing, an unknown one in between.
  EXPECT_GT(decode_ms_per_megapixel("h264"), decode_ms_per_megapixel("mpeg4"));
  EXPECT_LT(decode_ms_per_megapixel("rawvideo"), 0.1);
  EXPECT_GT(decode_ms_per_megapixel("cinepak"), decode_ms_per_megapixel("mpeg4"));
  // Filters: by name, their arguments aside; stress by its rounds.
  EXPECT_EQ(filter_ms_per_megapixel("gblur=sigma=3"), filter_ms_per_megapixel("gblur"));
  EXPECT_GT(filter_ms_per_megapixel("gblur=sigma=3"), filter_ms_per_megapixel("scale=640:360"));
  EXPECT_EQ(filter_ms_per_megapixel("stress=60"), 2 * filter_ms_per_megapixel("stress=30"));
  EXPECT_EQ(filter_ms_per_megapixel("setsar=1"), 0);
}

}  // namespace
}  // namespace vpipe::plan
