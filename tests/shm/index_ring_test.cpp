#include "shm/index_ring.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace vpipe::shm {
namespace {

using namespace std::chrono_literals;

class IndexRingTest : public ::testing::Test {
 protected:
  IndexRing make(std::uint32_t capacity) {
    memory_.assign(IndexRing::bytes_for(capacity) + kCacheLine, 0);
    void* aligned = reinterpret_cast<void*>(
        (reinterpret_cast<std::uintptr_t>(memory_.data()) + kCacheLine - 1) & ~(kCacheLine - 1));
    return IndexRing::create(aligned, capacity);
  }
  std::vector<std::uint8_t> memory_;
};

TEST_F(IndexRingTest, PopReturnsValuesInPushOrder) {
  IndexRing sut = make(8);
  for (std::uint32_t v : {5u, 1u, 7u}) ASSERT_TRUE(sut.try_push(v));
  EXPECT_EQ(sut.try_pop(), 5u);
  EXPECT_EQ(sut.try_pop(), 1u);
  EXPECT_EQ(sut.try_pop(), 7u);
  EXPECT_EQ(sut.try_pop(), std::nullopt);
}

TEST_F(IndexRingTest, PushFailsWhenFull) {
  IndexRing sut = make(4);
  for (std::uint32_t v = 0; v < 4; ++v) ASSERT_TRUE(sut.try_push(v));
  EXPECT_FALSE(sut.try_push(99));
  EXPECT_EQ(sut.size(), 4u);
}

TEST_F(IndexRingTest, PushForTimesOutWhenFullAndSucceedsOnceSpaceFrees) {
  IndexRing sut = make(2);
  ASSERT_TRUE(sut.try_push(1));
  ASSERT_TRUE(sut.try_push(2));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(sut.push_for(3, 30ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
  ASSERT_EQ(sut.try_pop(), 1u);
  EXPECT_TRUE(sut.push_for(3, 30ms));
}

TEST_F(IndexRingTest, PopForTimesOutWhenEmpty) {
  IndexRing sut = make(2);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(sut.pop_for(20ms), std::nullopt);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
}

TEST_F(IndexRingTest, WrapsAroundManyTimes) {
  IndexRing sut = make(4);
  for (std::uint32_t v = 0; v < 1000; ++v) {
    ASSERT_TRUE(sut.try_push(v));
    ASSERT_EQ(sut.try_pop(), v);
  }
  EXPECT_EQ(sut.high_water(), 1u);
}

TEST_F(IndexRingTest, HighWaterRecordsTheDeepestQueue) {
  IndexRing sut = make(8);
  for (std::uint32_t v = 0; v < 5; ++v) ASSERT_TRUE(sut.try_push(v));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(sut.try_pop());
  EXPECT_EQ(sut.high_water(), 5u);
}

TEST_F(IndexRingTest, ManyProducersAndConsumersDeliverEveryValueOnce) {
  IndexRing sut = make(16);
  constexpr std::uint32_t kPerProducer = 20000;
  constexpr int kThreads = 4;
  std::vector<std::atomic<int>> seen(kPerProducer * kThreads);
  std::atomic<std::uint32_t> consumed{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < kThreads; ++p) {
    threads.emplace_back([&, p] {
      for (std::uint32_t i = 0; i < kPerProducer; ++i) {
        while (!sut.push_for(p * kPerProducer + i, 10ms)) {
        }
      }
    });
    threads.emplace_back([&] {
      while (consumed.load() < kPerProducer * kThreads) {
        if (auto v = sut.pop_for(1ms)) {
          seen[*v].fetch_add(1);
          consumed.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](const auto& s) { return s.load() == 1; }));
}

}  // namespace
}  // namespace vpipe::shm
