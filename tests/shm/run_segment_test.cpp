#include "shm/run_segment.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "common/error.hpp"
#include "shm/credits.hpp"

namespace vpipe::shm {
namespace {

using namespace std::chrono_literals;

SegmentSpec small_spec(std::uint32_t slots = 4) {
  return {slots, 1024, slots, 2, R"({"plan":1})"};
}

TEST(RunSegmentTest, CreateLaysOutControlBlockAndPlan) {
  RunSegment sut = RunSegment::create(small_spec());
  EXPECT_EQ(sut.plan_json(), R"({"plan":1})");
  EXPECT_EQ(sut.control().nb_slots, 4u);
  EXPECT_EQ(sut.control().credits.value(), 4);
  EXPECT_EQ(sut.control().total_frames.load(), -1);
  EXPECT_EQ(sut.pool().nb_free(), 4u);
}

TEST(RunSegmentTest, AttachSeesTheSameMemory) {
  RunSegment owner = RunSegment::create(small_spec());
  RunSegment sut = RunSegment::attach(dup(owner.fd()));
  owner.control().stop_input.store(1);
  EXPECT_EQ(sut.control().stop_input.load(), 1u);
  EXPECT_EQ(sut.plan_json(), owner.plan_json());
}

TEST(RunSegmentTest, AttachRejectsAnFdThatIsNotASegment) {
  const int fd = memfd_create("not-vpipe", 0);
  ASSERT_EQ(ftruncate(fd, 4096), 0);
  EXPECT_THROW(RunSegment::attach(fd), Error);
}

TEST(FramePoolTest, AcquireRecordsTheOwnerAndTimesOutWhenEmpty) {
  RunSegment seg = RunSegment::create(small_spec(2));
  FramePool& sut = seg.pool();
  auto a = sut.acquire_for(1ms);
  auto b = sut.acquire_for(1ms);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->desc().owner_pid.load(), getpid());
  EXPECT_EQ(sut.acquire_for(5ms), std::nullopt);
}

TEST(FramePoolTest, ASlotGoingOutOfScopeReturnsToThePool) {
  RunSegment seg = RunSegment::create(small_spec(2));
  FramePool& sut = seg.pool();
  {
    auto slot = sut.acquire_for(1ms);
    ASSERT_TRUE(slot);
    EXPECT_EQ(sut.nb_free(), 1u);
  }
  EXPECT_EQ(sut.nb_free(), 2u);
}

TEST(FramePoolTest, SlotsHaveDistinctDataOfTheRequestedSize) {
  RunSegment seg = RunSegment::create(small_spec(2));
  auto a = seg.pool().acquire_for(1ms);
  auto b = seg.pool().acquire_for(1ms);
  ASSERT_TRUE(a && b);
  EXPECT_GE(a->capacity(), 1024u);
  EXPECT_GE(static_cast<std::uint64_t>(std::abs(a->data() - b->data())), a->capacity());
}

TEST(FrameRingTest, MovesASlotByIndexWithoutCopyingItsPixels) {
  RunSegment seg = RunSegment::create(small_spec());
  FrameRing sut = seg.decoded_ring();
  auto slot = seg.pool().acquire_for(1ms);
  ASSERT_TRUE(slot);
  slot->data()[0] = 42;
  slot->desc().seq = 7;
  std::uint8_t* where = slot->data();
  ASSERT_TRUE(sut.push_for(*slot, 1ms));
  EXPECT_FALSE(*slot) << "ownership moves into the ring";
  EXPECT_EQ(seg.pool().nb_free(), 3u) << "a queued slot is not free";
  auto item = sut.pop_for(1ms);
  ASSERT_TRUE(item);
  ASSERT_FALSE(item->end_of_stream());
  EXPECT_EQ(item->slot.data(), where);
  EXPECT_EQ(item->slot.data()[0], 42);
  EXPECT_EQ(item->slot.desc().seq, 7);
  EXPECT_EQ(item->slot.desc().owner_pid.load(), getpid());
}

TEST(FrameRingTest, EndOfStreamTravelsInBand) {
  RunSegment seg = RunSegment::create(small_spec());
  FrameRing sut = seg.filtered_ring();
  ASSERT_TRUE(sut.push_end_of_stream_for(1ms));
  auto item = sut.pop_for(1ms);
  ASSERT_TRUE(item);
  EXPECT_TRUE(item->end_of_stream());
  EXPECT_EQ(sut.pop_for(1ms), std::nullopt);
}

TEST(RunSegmentTest, MarkersMissingCountsWaitingWorkersLessQueuedMarkers) {
  RunSegment sut = RunSegment::create(small_spec());  // 2 workers
  FrameRing decoded = sut.decoded_ring();
  EXPECT_EQ(sut.markers_missing(), 2u) << "both workers wait, none queued";
  ASSERT_TRUE(decoded.push_end_of_stream_for(0ms));
  EXPECT_EQ(sut.markers_missing(), 1u);
  ASSERT_TRUE(decoded.push_end_of_stream_for(0ms));
  EXPECT_EQ(sut.markers_missing(), 0u);
  // Extra markers (decode pushed its own after one was put back) never make it negative.
  ASSERT_TRUE(decoded.push_end_of_stream_for(0ms));
  EXPECT_EQ(sut.markers_missing(), 0u);
  // A worker that forwarded its marker no longer waits.
  sut.control().stages[kFirstWorkerStage].eos_state.store(
      static_cast<std::uint32_t>(EosState::kForwarded));
  FrameRing taken = sut.decoded_ring();
  while (taken.try_pop()) {
  }
  EXPECT_EQ(sut.markers_missing(), 1u);
}

TEST(FrameRingTest, CreditsBoundFramesInFlight) {
  RunSegment seg = RunSegment::create(small_spec(3));
  ShmSemaphore& sut = seg.control().credits;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(sut.wait_for(1ms));
  EXPECT_FALSE(sut.wait_for(5ms));
  sut.post();
  EXPECT_TRUE(sut.wait_for(1ms));
}

// ---- slots the decoder decoded into (FramePool::take_for_decoder / adopt_decoded) ----------

TEST(DecoderHoldTest, ASlotTheDecoderStillReferencesIsNotFreedWithItsFrame) {
  RunSegment seg = RunSegment::create(small_spec(2));
  FramePool& sut = seg.pool();
  const auto index = sut.take_for_decoder();
  ASSERT_TRUE(index);
  EXPECT_EQ(sut.nb_free(), 1u);
  {
    auto frame = sut.adopt_decoded(*index);
    ASSERT_TRUE(frame);
    EXPECT_EQ(frame->desc().owner_pid.load(), getpid());
  }  // the pipeline is done with the frame
  EXPECT_EQ(sut.nb_free(), 1u) << "the decoder still uses it as a reference";
  EXPECT_FALSE(sut.is_free(*index));
  sut.release_from_decoder(*index);
  EXPECT_EQ(sut.nb_free(), 2u);
  EXPECT_TRUE(sut.is_free(*index));
}

TEST(DecoderHoldTest, ASlotTheDecoderLetGoOfFirstIsFreedWithItsFrame) {
  RunSegment seg = RunSegment::create(small_spec(2));
  FramePool& sut = seg.pool();
  const auto index = sut.take_for_decoder();
  ASSERT_TRUE(index);
  auto frame = sut.adopt_decoded(*index);
  ASSERT_TRUE(frame);
  sut.release_from_decoder(*index);
  EXPECT_EQ(sut.nb_free(), 1u) << "the frame is still in the pipeline";
  frame.reset();
  EXPECT_EQ(sut.nb_free(), 2u);
}

TEST(DecoderHoldTest, APictureOutputTwiceEntersThePipelineOnce) {
  RunSegment seg = RunSegment::create(small_spec(2));
  FramePool& sut = seg.pool();
  const auto index = sut.take_for_decoder();
  ASSERT_TRUE(index);
  auto first = sut.adopt_decoded(*index);
  ASSERT_TRUE(first);
  EXPECT_FALSE(sut.adopt_decoded(*index)) << "the second must be copied, not share the slot";
  first.reset();
  sut.release_from_decoder(*index);
  EXPECT_EQ(sut.nb_free(), 2u) << "released once by each holder, freed once";
}

// ---- a slot shared with later outputs' own processes (OutputRing) -----------------------------

SegmentSpec spec_with_output_rings(std::uint32_t slots) {
  SegmentSpec spec = small_spec(slots);
  spec.output_rings = (1u << 1) | (1u << 3);  // outputs 1 and 3 have processes of their own
  return spec;
}

TEST(OutputRingTest, ASharedSlotAndItsCreditReturnOnlyWhenTheLastHolderLetsGo) {
  RunSegment seg = RunSegment::create(spec_with_output_rings(2));
  ASSERT_TRUE(seg.output_ring(1) && seg.output_ring(3));
  EXPECT_FALSE(seg.output_ring(2)) << "output 2 is encoded in encode: no ring";
  OutputRing first = *seg.output_ring(1), third = *seg.output_ring(3);
  ASSERT_TRUE(seg.control().credits.try_wait());  // decode took the frame's credit
  auto frame = seg.pool().acquire_for(1ms);
  ASSERT_TRUE(frame);
  frame->desc().pts = 42;
  ASSERT_TRUE(first.share_for(*frame, 1ms));
  ASSERT_TRUE(third.share_for(*frame, 1ms));
  auto one = first.pop_for(1ms), three = third.pop_for(1ms);
  ASSERT_TRUE(one && three && !one->end_of_stream() && !three->end_of_stream());
  EXPECT_EQ(one->slot.data(), frame->data()) << "the same slot: no copy";
  EXPECT_EQ(three->slot.desc().pts, 42);

  frame_left(*frame, seg.control());  // encode is done with it first
  EXPECT_EQ(seg.pool().nb_free(), 1u) << "the outputs still read it";
  EXPECT_EQ(seg.control().credits.value(), 1);
  frame_left(three->slot, seg.control());
  EXPECT_EQ(seg.pool().nb_free(), 1u);
  EXPECT_EQ(seg.control().credits.value(), 1) << "the frame is still in the pipeline";
  frame_left(one->slot, seg.control());
  EXPECT_EQ(seg.pool().nb_free(), 2u) << "the last holder returned it";
  EXPECT_EQ(seg.control().credits.value(), 2) << "and the frame's credit, once";

  ASSERT_TRUE(first.push_end_of_stream_for(1ms));
  auto end = first.pop_for(1ms);
  ASSERT_TRUE(end);
  EXPECT_TRUE(end->end_of_stream());
  EXPECT_FALSE(first.pop_for(1ms)) << "empty";
}

TEST(OutputRingTest, ReleasingADeadOutputsHoldsGivesBackWhatOnlyItHeld) {
  RunSegment seg = RunSegment::create(spec_with_output_rings(3));
  OutputRing first = *seg.output_ring(1), third = *seg.output_ring(3);
  ASSERT_TRUE(seg.control().credits.try_wait());
  ASSERT_TRUE(seg.control().credits.try_wait());
  auto a = seg.pool().acquire_for(1ms), b = seg.pool().acquire_for(1ms);
  ASSERT_TRUE(a && b);
  for (Slot* slot : {&*a, &*b}) {
    ASSERT_TRUE(first.share_for(*slot, 1ms));
    ASSERT_TRUE(third.share_for(*slot, 1ms));
  }
  frame_left(*a, seg.control());
  frame_left(*b, seg.control());
  auto read = third.pop_for(1ms);  // output 3 read frame a and let go of it
  ASSERT_TRUE(read);
  frame_left(read->slot, seg.control());
  EXPECT_EQ(seg.control().credits.value(), 1);

  // Output 1's process died holding both frames, still queued in its ring.
  EXPECT_EQ(seg.release_output(1), 2u);
  EXPECT_EQ(seg.pool().nb_free(), 2u) << "a, which only output 1 still held, is free";
  EXPECT_EQ(seg.control().credits.value(), 2) << "and its credit back; b is output 3's still";
  auto b_read = third.pop_for(1ms);
  ASSERT_TRUE(b_read);
  frame_left(b_read->slot, seg.control());
  EXPECT_EQ(seg.pool().nb_free(), 3u);
  EXPECT_EQ(seg.control().credits.value(), 3);
}

// A decoder that shows a picture again (the same slot) while an output's process still encodes
// the first showing: the slot is not adopted again (its descriptor would change under the
// reader); the caller copies the frame instead.
TEST(OutputRingTest, ADecodersRepeatedPictureIsNotAdoptedWhileAnOutputReadsIt) {
  RunSegment seg = RunSegment::create(spec_with_output_rings(2));
  FramePool& pool = seg.pool();
  OutputRing first = *seg.output_ring(1);
  const auto index = pool.take_for_decoder();
  ASSERT_TRUE(index);
  auto frame = pool.adopt_decoded(*index);
  ASSERT_TRUE(frame);
  ASSERT_TRUE(first.share_for(*frame, 1ms));
  frame->reset();  // encode is done; output 1 still reads it
  EXPECT_FALSE(pool.adopt_decoded(*index)) << "output 1 still reads the slot";
  auto read = first.pop_for(1ms);
  ASSERT_TRUE(read);
  read->slot.reset();
  auto again = pool.adopt_decoded(*index);
  EXPECT_TRUE(again) << "once no output reads it, the decoder's picture enters again";
  again->reset();
  pool.release_from_decoder(*index);
  EXPECT_EQ(pool.nb_free(), 2u);
}

TEST(DecoderHoldTest, TheDecoderTakesOnlyFreeSlotsAndNeverWaits) {
  RunSegment seg = RunSegment::create(small_spec(2));
  FramePool& sut = seg.pool();
  auto held = sut.acquire_for(1ms);
  const auto index = sut.take_for_decoder();
  ASSERT_TRUE(held && index);
  EXPECT_NE(*index, sut.slot_of(held->data()).value());
  EXPECT_FALSE(sut.take_for_decoder()) << "none left";
  EXPECT_EQ(sut.slot_of(sut.slot_data(*index) + 100), index);
  EXPECT_FALSE(sut.slot_of(sut.slot_data(0) - 1));
  sut.release_from_decoder(*index);
}

// A picture the decoder decoded into a slot, queued as frame 0; returns the slot.
std::uint32_t queue_decoded_frame(RunSegment& seg) {
  const auto index = seg.pool().take_for_decoder();
  if (!index) std::abort();
  auto frame = seg.pool().adopt_decoded(*index);
  if (!frame) std::abort();
  frame->desc().seq = 0;
  if (!seg.decoded_ring().push_for(*frame, 1ms)) std::abort();
  return *index;
}

// A worker process that takes one frame, does `then` with it and is killed (no destructor runs,
// so what it still holds stays marked as its own); returns its pid once it is gone.
template <typename Then>
pid_t worker_killed_after(RunSegment& seg, Then then) {
  const pid_t worker = fork();
  if (worker == 0) {
    auto taken = seg.decoded_ring().pop_for(1s);
    if (!taken || taken->end_of_stream()) _exit(1);
    then(taken->slot);
    _exit(0);
  }
  int status = 0;
  if (waitpid(worker, &status, 0) != worker || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return -1;
  return worker;
}

TEST(DecoderHoldTest, ADeadWorkersFinishedFrameStaysWithTheDecoder) {
  // A worker dies holding a frame that encode already has (it is done): the scheduler frees
  // its slot, but the decoder's reference keeps it out of the free ring.
  RunSegment seg = RunSegment::create(small_spec(3));
  FramePool& pool = seg.pool();
  const std::uint32_t index = queue_decoded_frame(seg);
  const pid_t worker = worker_killed_after(seg, [](Slot&) {});
  ASSERT_GT(worker, 0);
  ASSERT_EQ(pool.nb_free(), 2u);
  seg.control().next_seq_out.store(1);  // encode has already written frame 0
  const auto reclaimed = seg.reclaim(worker, seg.control().stages[kFirstWorkerStage]);
  EXPECT_EQ(reclaimed.requeued, 0u);
  EXPECT_EQ(reclaimed.freed, 1u);
  EXPECT_FALSE(pool.is_free(index)) << "the decoder still references it";
  EXPECT_EQ(pool.nb_free(), 2u);
  pool.release_from_decoder(index);
  EXPECT_TRUE(pool.is_free(index));
  EXPECT_EQ(pool.nb_free(), 3u);
}

TEST(DecoderHoldTest, ThePipelineAndTheDecoderLettingGoAtOnceFreeEachSlotExactlyOnce) {
  // The two holders let go from different threads (processes, in a run) at the same time: one
  // of them, never both or neither, returns the slot. A double push would abort; a lost one
  // would leave the pool short.
  constexpr std::uint32_t kSlots = 8;
  RunSegment seg = RunSegment::create(small_spec(kSlots));
  FramePool& pool = seg.pool();
  for (int round = 0; round < 2000; ++round) {
    std::vector<Slot> frames;
    std::vector<std::uint32_t> indices;
    for (std::uint32_t i = 0; i < kSlots; ++i) {
      const auto index = pool.take_for_decoder();
      ASSERT_TRUE(index);
      auto frame = pool.adopt_decoded(*index);
      ASSERT_TRUE(frame);
      frames.push_back(std::move(*frame));
      indices.push_back(*index);
    }
    std::atomic<bool> go{false};
    std::thread decoder([&] {
      while (!go.load()) {
      }
      for (const std::uint32_t index : indices) pool.release_from_decoder(index);
    });
    go.store(true);
    for (Slot& frame : frames) frame.reset();
    decoder.join();
    ASSERT_EQ(pool.nb_free(), kSlots) << "round " << round;
  }
}

TEST(DecoderHoldTest, AWorkerKilledJustAfterLettingGoLeavesTheSlotWithTheDecoder) {
  // The worker let go of its frame's slot (the decoder still holds it) and died: the slot still
  // names it, and reclaiming it must neither free it nor redo its frame.
  RunSegment seg = RunSegment::create(small_spec(3));
  FramePool& pool = seg.pool();
  const std::uint32_t index = queue_decoded_frame(seg);
  const pid_t worker = worker_killed_after(seg, [](Slot& frame) { frame.reset(); });
  ASSERT_GT(worker, 0);
  EXPECT_FALSE(pool.is_free(index));
  const auto reclaimed = seg.reclaim(worker, seg.control().stages[kFirstWorkerStage]);
  EXPECT_EQ(reclaimed.requeued, 0u) << "it let go of the frame: it is not redone";
  EXPECT_EQ(reclaimed.freed, 0u);
  EXPECT_FALSE(pool.is_free(index)) << "the decoder still references it";
  EXPECT_EQ(seg.decoded_ring().size(), 0u);
  pool.release_from_decoder(index);
  EXPECT_TRUE(pool.is_free(index));
  EXPECT_EQ(pool.nb_free(), 3u);
}

}  // namespace
}  // namespace vpipe::shm
