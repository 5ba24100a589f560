// RateConverter (-r) decides which input frame fills each output slot; ints stand in for frames.
#include "encode/rate.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace vpipe::encode {
namespace {

// Feeds frames 0..n-1 at `in_fps` and returns, per output slot in order, which input frame.
std::vector<int> convert(int n, double in_fps, AVRational out, std::vector<std::int64_t>* slots) {
  RateConverter<int> rc(out);
  std::vector<int> got;
  auto emit = [&](int& frame, std::int64_t slot) {
    got.push_back(frame);
    if (slots) slots->push_back(slot);
  };
  for (int i = 0; i < n; ++i) rc.push(i, i / in_fps, emit);
  rc.finish(n / in_fps, emit);
  return got;
}

TEST(RateConverterTest, SameRateKeepsEveryFrameInItsSlot) {
  std::vector<std::int64_t> slots;
  EXPECT_EQ(convert(5, 25, {25, 1}, &slots), (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(slots, (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
}

TEST(RateConverterTest, HalvingTheRateKeepsTheLaterFrameOfEachPair) {
  // 0 s, 0.04 -> slot 0 and 1 (0.5 rounds up)... at 12.5 fps of 25 fps input, slot k covers
  // input frames whose time rounds to it; the last one wins.
  EXPECT_EQ(convert(6, 25, {25, 2}, nullptr), (std::vector<int>{0, 2, 4}));
}

TEST(RateConverterTest, DoublingTheRateRepeatsEachFrame) {
  std::vector<std::int64_t> slots;
  EXPECT_EQ(convert(3, 25, {50, 1}, &slots), (std::vector<int>{0, 0, 1, 1, 2, 2}));
  EXPECT_EQ(slots, (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5}));
}

TEST(RateConverterTest, AGapInTheInputIsFilledWithThePreviousFrame) {
  RateConverter<int> rc({10, 1});
  std::vector<int> got;
  auto emit = [&](int& f, std::int64_t) { got.push_back(f); };
  rc.push(0, 0.0, emit);
  rc.push(1, 0.1, emit);
  rc.push(2, 0.5, emit);  // 0.2 .. 0.4 missing
  rc.finish(0.6, emit);
  EXPECT_EQ(got, (std::vector<int>{0, 1, 1, 1, 1, 2}));
}

TEST(RateConverterTest, ATimestampGoingBackIsDroppedAndNothingIsEmittedForAnEmptyStream) {
  RateConverter<int> rc({10, 1});
  std::vector<int> got;
  auto emit = [&](int& f, std::int64_t) { got.push_back(f); };
  rc.push(0, 0.5, emit);
  rc.push(1, 0.2, emit);
  rc.push(2, 0.6, emit);
  rc.finish(0.7, emit);
  EXPECT_EQ(got, (std::vector<int>{0, 2}));
  RateConverter<int> empty({10, 1});
  empty.finish(1.0, emit);
  EXPECT_EQ(got.size(), 2u);
}

}  // namespace
}  // namespace vpipe::encode
