#include "shm/packet_ring.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <thread>
#include <vector>

namespace vpipe::shm {
namespace {

// A ring in ordinary memory (the segment gives it shared memory; the logic is the same).
class PacketRingTest : public ::testing::Test {
 protected:
  PacketRing make(std::uint64_t capacity) {
    memory_.assign(PacketRing::bytes_for(capacity) + kCacheLine, 0);
    auto* at = reinterpret_cast<void*>(
        (reinterpret_cast<std::uintptr_t>(memory_.data()) + kCacheLine - 1) / kCacheLine *
        kCacheLine);
    return PacketRing::create(at, capacity);
  }
  static std::vector<std::uint8_t> bytes(std::uint32_t size, std::uint8_t seed) {
    std::vector<std::uint8_t> b(size);
    for (std::uint32_t i = 0; i < size; ++i) b[i] = static_cast<std::uint8_t>(seed + i * 7);
    return b;
  }
  std::vector<std::uint8_t> memory_;
};

TEST_F(PacketRingTest, PacketsComeOutAsTheyWentInInOrder) {
  PacketRing ring = make(4096);
  for (std::uint8_t i = 0; i < 10; ++i) {
    const auto data = bytes(100 + i, i);
    ASSERT_TRUE(ring.try_push({i * 10, i * 10 - 1, 10, i % 2, 100u + i}, data.data()));
  }
  PacketHeader h{};
  std::vector<std::uint8_t> data;
  for (std::uint8_t i = 0; i < 10; ++i) {
    ASSERT_TRUE(ring.try_pop(h, data));
    EXPECT_EQ(h.pts, i * 10);
    EXPECT_EQ(h.dts, i * 10 - 1);
    EXPECT_EQ(h.duration, 10);
    EXPECT_EQ(h.flags, i % 2);
    EXPECT_EQ(data, bytes(100 + i, i));
  }
  EXPECT_FALSE(ring.try_pop(h, data));
  EXPECT_EQ(ring.dropped(), 0u);
}

TEST_F(PacketRingTest, AFullRingDropsAndCountsAndTakesPacketsAgainOnceRead) {
  PacketRing ring = make(1024);
  const auto data = bytes(200, 1);
  int pushed = 0;
  while (ring.try_push({pushed, pushed, 1, 0, 200}, data.data())) ++pushed;
  EXPECT_EQ(pushed, 4) << "232-byte records in 1024 bytes";
  EXPECT_EQ(ring.dropped(), 1u);
  EXPECT_FALSE(ring.try_push({0, 0, 0, 0, 2000}, data.data())) << "never fits";
  PacketHeader h{};
  std::vector<std::uint8_t> out;
  ASSERT_TRUE(ring.try_pop(h, out));
  EXPECT_EQ(h.pts, 0);
  EXPECT_TRUE(ring.try_push({99, 99, 1, 0, 200}, data.data()));
}

TEST_F(PacketRingTest, RecordsWrapAroundTheEndWhateverTheirSizes) {
  PacketRing ring = make(1000);  // not a multiple of the record sizes
  std::int64_t next_in = 0, next_out = 0;
  PacketHeader h{};
  std::vector<std::uint8_t> out;
  for (int round = 0; round < 2000; ++round) {
    const auto size = static_cast<std::uint32_t>((round * 37) % 300);
    const auto data = bytes(size, static_cast<std::uint8_t>(next_in));
    if (ring.try_push({next_in, 0, 0, 0, size}, data.data())) ++next_in;
    if (round % 3 != 0) {
      while (ring.try_pop(h, out)) {
        ASSERT_EQ(h.pts, next_out);
        ASSERT_EQ(out, bytes(h.size, static_cast<std::uint8_t>(next_out)));
        ++next_out;
      }
    }
  }
  while (ring.try_pop(h, out)) ++next_out;
  EXPECT_EQ(next_out, next_in) << "every packet pushed came out once";
  EXPECT_GT(next_in, 1000);
}

TEST_F(PacketRingTest, OneProducerAndOneConsumerAtOnceLoseAndReorderNothing) {
  PacketRing ring = make(2048);
  constexpr std::int64_t kPackets = 20000;
  std::thread producer([&] {
    for (std::int64_t i = 0; i < kPackets;) {
      const auto size = static_cast<std::uint32_t>(i % 97);
      const auto data = bytes(size, static_cast<std::uint8_t>(i));
      if (ring.try_push({i, 0, 0, 0, size}, data.data())) ++i;
    }
  });
  PacketHeader h{};
  std::vector<std::uint8_t> out;
  std::int64_t next = 0;
  while (next < kPackets) {
    if (!ring.try_pop(h, out)) continue;
    ASSERT_EQ(h.pts, next);
    ASSERT_EQ(out, bytes(h.size, static_cast<std::uint8_t>(next)));
    ++next;
  }
  producer.join();
}

}  // namespace
}  // namespace vpipe::shm
