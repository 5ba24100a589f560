// Decode's audio ring read by several outputs: each gets every packet in order, and an output
// that has finished (its -frames:v) keeps nothing waiting, however long the run goes on.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "encode/audio_copy.hpp"
#include "shm/packet_ring.hpp"

namespace vpipe::encode {
namespace {

class SharedAudioRingTest : public ::testing::Test {
 protected:
  shm::PacketRing make(std::uint64_t capacity) {
    memory_.assign(shm::PacketRing::bytes_for(capacity) + shm::kCacheLine, 0);
    auto* at = reinterpret_cast<void*>(
        (reinterpret_cast<std::uintptr_t>(memory_.data()) + shm::kCacheLine - 1) / shm::kCacheLine *
        shm::kCacheLine);
    return shm::PacketRing::create(at, capacity);
  }
  std::vector<std::uint8_t> memory_;
};

TEST_F(SharedAudioRingTest, EachReaderGetsEveryPacketAndOneThatLeftKeepsNone) {
  shm::PacketRing ring = make(1 << 16);
  SharedAudioRing shared(ring, 2);
  const std::vector<std::uint8_t> payload(100, 7);
  shm::PacketHeader h{};
  std::vector<std::uint8_t> data;
  // Packets `from` .. `to` - 1 into decode's ring, each read by reader 0 as it comes.
  const auto flow = [&](std::int64_t from, std::int64_t to) {
    for (std::int64_t i = from; i < to; ++i) {
      ASSERT_TRUE(ring.try_push({i, i, 1, 0, 100u}, payload.data()));
      ASSERT_TRUE(shared.pop(0, h, data));
      EXPECT_EQ(h.pts, i);
    }
  };
  flow(0, 10);
  EXPECT_EQ(shared.waiting(1), 10u) << "reader 1 has taken none yet";
  ASSERT_TRUE(shared.pop(1, h, data));
  EXPECT_EQ(h.pts, 0) << "in order";

  shared.leave(1);
  EXPECT_EQ(shared.waiting(1), 0u);
  flow(10, 1000);
  EXPECT_EQ(shared.waiting(1), 0u) << "nothing piles up for a reader that left";
  EXPECT_FALSE(shared.pop(1, h, data));
}

}  // namespace
}  // namespace vpipe::encode
