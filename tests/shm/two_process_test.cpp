// Producer and consumer in different processes, joined only by the shared segment.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include "shm/run_segment.hpp"

namespace vpipe::shm {
namespace {

using namespace std::chrono_literals;

int wait_child(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(TwoProcessRingTest, TenThousandFramesArriveOnceAndInOrder) {
  constexpr int kFrames = 10000;
  RunSegment seg = RunSegment::create({8, 256, 8, 1, "{}"});
  const pid_t producer = fork();
  if (producer == 0) {
    // Child: its own mapping of the same memfd, as a stage would have.
    RunSegment mine = RunSegment::attach(dup(seg.fd()));
    FrameRing out = mine.decoded_ring();
    for (int i = 0; i < kFrames; ++i) {
      auto slot = mine.pool().acquire_for(5s);
      if (!slot) _exit(2);
      slot->desc().seq = i;
      slot->data()[0] = static_cast<std::uint8_t>(i);
      if (!out.push_for(*slot, 5s)) _exit(3);
    }
    _exit(out.push_end_of_stream_for(5s) ? 0 : 4);
  }
  FrameRing in = seg.decoded_ring();
  int expected = 0;
  bool in_order = true;
  for (;;) {
    auto item = in.pop_for(5s);
    ASSERT_TRUE(item) << "consumer waited 5 s for a frame";
    if (item->end_of_stream()) break;
    in_order &= item->slot.desc().seq == expected &&
                item->slot.data()[0] == static_cast<std::uint8_t>(expected);
    ++expected;
  }
  EXPECT_TRUE(in_order);
  EXPECT_EQ(expected, kFrames);
  EXPECT_EQ(wait_child(producer), 0);
  EXPECT_EQ(seg.pool().nb_free(), 8u) << "every slot came back";
}

TEST(TwoProcessRingTest, AFullRingBlocksTheProducerUntilTheConsumerTakesOne) {
  RunSegment seg = RunSegment::create({1, 4096, 1, 1, "{}"});
  // A ring of two cells placed in the shared slot memory, so both processes use the same one.
  auto slot = seg.pool().acquire_for(1ms);
  ASSERT_TRUE(slot);
  std::uint8_t* ring_memory = slot->data();
  IndexRing ring = IndexRing::create(ring_memory, 2);
  const pid_t producer = fork();
  if (producer == 0) {
    IndexRing mine = IndexRing::attach(ring_memory);
    if (!mine.push_for(1, 1s) || !mine.push_for(2, 1s)) _exit(2);
    if (mine.push_for(3, 100ms)) _exit(3);  // full: a bounded wait that must time out
    seg.control().stop_input.store(1);      // tell the consumer the producer is now blocked
    _exit(mine.push_for(3, 5s) ? 0 : 4);
  }
  while (seg.control().stop_input.load() == 0) usleep(1000);
  EXPECT_EQ(ring.size(), 2u);
  EXPECT_EQ(ring.pop_for(1s), 1u);
  EXPECT_EQ(wait_child(producer), 0);
  EXPECT_EQ(ring.pop_for(1s), 2u);
  EXPECT_EQ(ring.pop_for(1s), 3u);
}

TEST(TwoProcessRingTest, AnEmptyRingBlocksTheConsumerUntilTheProducerPushes) {
  RunSegment seg = RunSegment::create({4, 64, 4, 1, "{}"});
  const pid_t consumer = fork();
  if (consumer == 0) {
    RunSegment mine = RunSegment::attach(dup(seg.fd()));
    FrameRing in = mine.decoded_ring();
    if (in.pop_for(50ms)) _exit(2);  // empty: bounded wait, nothing
    mine.control().stop_input.store(1);
    auto item = in.pop_for(5s);
    _exit(item && !item->end_of_stream() && item->slot.desc().seq == 99 ? 0 : 3);
  }
  while (seg.control().stop_input.load() == 0) usleep(1000);
  FrameRing out = seg.decoded_ring();
  auto slot = seg.pool().acquire_for(1ms);
  ASSERT_TRUE(slot);
  slot->desc().seq = 99;
  ASSERT_TRUE(out.push_for(*slot, 1s));
  EXPECT_EQ(wait_child(consumer), 0);
}

}  // namespace
}  // namespace vpipe::shm
