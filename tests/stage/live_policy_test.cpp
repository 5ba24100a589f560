// Live mode's decisions (deadlines, pacing, cost estimates, adaptive batches) with an injected
// clock: every time is a number the test chooses, nothing sleeps.
#include "stage/live_policy.hpp"

#include <gtest/gtest.h>

namespace vpipe::stage::live {
namespace {

constexpr std::int64_t kMs = 1'000'000;

TEST(DeadlineTest, AFrameIsLateOnlyPastCapturePlusBudget) {
  const Deadline d{200 * kMs};
  EXPECT_EQ(d.due(1000 * kMs), 1200 * kMs);
  EXPECT_FALSE(d.late(1000 * kMs, 1000 * kMs));
  EXPECT_FALSE(d.late(1000 * kMs, 1200 * kMs)) << "exactly at the deadline is in time";
  EXPECT_TRUE(d.late(1000 * kMs, 1200 * kMs + 1));
}

TEST(DeadlineTest, WorkThatWouldEndPastTheDeadlineMakesTheFrameLateNow) {
  const Deadline d{200 * kMs};
  // 150 ms after capture, 60 ms of work would finish at 210 ms: too late.
  EXPECT_TRUE(d.late(0, 150 * kMs, 60 * kMs));
  EXPECT_FALSE(d.late(0, 150 * kMs, 50 * kMs));
}

TEST(DeadlineTest, SlackIsTheTimeLeftAndGoesNegativeOnceLate) {
  const Deadline d{100 * kMs};
  EXPECT_EQ(d.slack(0, 30 * kMs), 70 * kMs);
  EXPECT_EQ(d.slack(0, 130 * kMs), -30 * kMs);
}

TEST(CostEstimateTest, FirstSampleIsTheEstimateThenOneSlowFrameMovesItAnEighth) {
  CostEstimate c;
  EXPECT_EQ(c.value_ns(), 0);
  c.add(10 * kMs);
  EXPECT_EQ(c.value_ns(), 10 * kMs);
  c.add(90 * kMs);
  EXPECT_EQ(c.value_ns(), 20 * kMs);
  for (int i = 0; i < 100; ++i) c.add(40 * kMs);
  EXPECT_NEAR(static_cast<double>(c.value_ns()), 40.0 * kMs, 0.01 * kMs) << "it converges";
}

TEST(PacerTest, FramesAreDueAtTheirStreamTimeFromTheFirst) {
  Pacer p;
  // The stream starts at pts 5 s; the run at monotonic 100 s.
  EXPECT_EQ(p.due(5000 * kMs, 100'000 * kMs), 100'000 * kMs);
  EXPECT_EQ(p.due(5033 * kMs, 100'001 * kMs), 100'033 * kMs);
  EXPECT_EQ(p.due(5066 * kMs, 100'010 * kMs), 100'066 * kMs);
}

TEST(PacerTest, AFrameDecodedLateKeepsItsDueTimeSoTheLagIsVisible) {
  Pacer p;
  p.due(0, 0);
  // Decoded 500 ms after it was due: its capture time is still when it was due.
  EXPECT_EQ(p.due(40 * kMs, 540 * kMs), 40 * kMs);
}

TEST(PacerTest, ATimestampJumpReanchorsInsteadOfSleepingOrBursting) {
  Pacer p(2000 * kMs);
  p.due(0, 0);
  p.due(40 * kMs, 40 * kMs);
  // The stream jumps an hour ahead: the next frame is due right away, not in an hour.
  EXPECT_EQ(p.due(3'600'000 * kMs, 80 * kMs), 80 * kMs);
  EXPECT_EQ(p.due(3'600'040 * kMs, 90 * kMs), 120 * kMs) << "then the pace goes on from there";
  // And back to 0: again due at once (never before the last due time).
  EXPECT_EQ(p.due(0, 100 * kMs), 120 * kMs);
}

TEST(BatchLimitTest, FullBatchWhileNoCostIsKnown) {
  EXPECT_EQ(batch_limit(1 * kMs, 0, 8), 8u);
}

TEST(BatchLimitTest, OneFrameWhenTheDeadlineLeavesRoomForOnlyOne) {
  EXPECT_EQ(batch_limit(30 * kMs, 20 * kMs, 8), 1u);
  EXPECT_EQ(batch_limit(-5 * kMs, 20 * kMs, 8), 1u) << "late frames still go one at a time";
}

TEST(BatchLimitTest, AsManyAsFitBeforeTheFirstFramesDeadlineUpToTheMaximum) {
  EXPECT_EQ(batch_limit(100 * kMs, 20 * kMs, 8), 5u);
  EXPECT_EQ(batch_limit(1000 * kMs, 20 * kMs, 8), 8u);
}

// Admission: a frame joins the queue while fewer frames wait than there are workers, so that a
// worker can start it within about one frame's processing time.
TEST(AdmitsTest, AFrameJoinsWhileFewerWaitThanThereAreWorkers) {
  const struct {
    std::size_t waiting;
    int workers;
    bool admitted;
  } cases[] = {
      {0, 1, true}, {1, 1, false}, {5, 1, false}, {0, 4, true},
      {3, 4, true}, {4, 4, false}, {0, 0, true},  {1, 0, false},  // no workers counts as one
  };
  // Workers slower than the frames come (50 ms a frame at 30 fps): the count decides.
  for (const auto& c : cases) {
    EXPECT_EQ(admits(c.waiting, c.workers, 50 * kMs, 33 * kMs), c.admitted)
        << c.waiting << " waiting, " << c.workers << " workers";
  }
}

// In time too: a burst of quick frames (a network input's probe buffer, decoded at once) waits
// less than a frame interval in all, so it is no backlog; before their cost is known, the
// workers keep up.
TEST(AdmitsTest, ABurstOfQuickFramesJoinsWhileItHoldsLessThanAFrameIntervalOfWork) {
  constexpr std::int64_t kFrame = 33 * kMs;
  EXPECT_TRUE(admits(10, 1, 2 * kMs, kFrame)) << "20 ms of work waiting";
  EXPECT_FALSE(admits(20, 1, 2 * kMs, kFrame)) << "40 ms of work waiting";
  EXPECT_TRUE(admits(20, 2, 2 * kMs, kFrame)) << "two workers share it";
  EXPECT_FALSE(admits(1, 1, 40 * kMs, kFrame)) << "slow workers: the count decides";
  EXPECT_TRUE(admits(12, 1, 0, kFrame)) << "the workers' cost not known yet";
}

// The encoder is behind once the frames waiting for it hold two frame intervals of its work.
TEST(AdmitsTest, TheEncoderKeepsUpWhileLessThanTwoFrameIntervalsOfWorkWaitForIt) {
  constexpr std::int64_t kFrame = 33 * kMs;
  EXPECT_TRUE(encoder_keeps_up(0, 40 * kMs, kFrame));
  EXPECT_TRUE(encoder_keeps_up(1, 40 * kMs, kFrame)) << "one frame ready: it keeps up";
  EXPECT_FALSE(encoder_keeps_up(2, 40 * kMs, kFrame)) << "80 ms of work for a 66 ms span";
  EXPECT_FALSE(encoder_keeps_up(1, 250 * kMs, kFrame)) << "far too slow: one frame is behind";
  EXPECT_TRUE(encoder_keeps_up(6, 2 * kMs, kFrame)) << "a burst of quick frames is no backlog";
  EXPECT_TRUE(encoder_keeps_up(9, 0, kFrame)) << "its cost not known yet";
}

}  // namespace
}  // namespace vpipe::stage::live
