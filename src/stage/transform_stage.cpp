// A transform worker: takes frames from the decode ring in any order, a batch at a time, runs
// the filter chain on each (reading its slot, writing into a spare slot when a filter writes
// pixels), and hands them to encode.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <opencv2/core.hpp>
#include <vector>

#include "shm/end_of_stream.hpp"
#include "stage/live_policy.hpp"
#include "stage/slot_picture.hpp"
#include "stage/stage_context.hpp"
#include "transform/filter_chain.hpp"
#include "transform/lavfi.hpp"

namespace vpipe::stage {
namespace {

class Worker {
 public:
  explicit Worker(StageContext& ctx)
      : ctx_(ctx),
        chain_(transform::FilterChain::parse(ctx.plan.vf_workers)),
        in_(ctx.segment.decoded_ring(&ctx.stats, /*number_on_claim=*/ctx.plan.live)),
        out_(ctx.segment.filtered_ring()),
        deadline_{ctx.plan.latency_budget_ns()} {
    if (chain_.needs_scratch())
      scratch_.resize(ctx.segment.control().slot_bytes + transform::kPlaneAlign);
  }

  int run() {
    // OpenCV's and libavfilter's threads: the workers' share of the job (plan_threads).
    cv::setNumThreads(ctx_.plan.worker_threads);
    transform::set_lavfi_threads(ctx_.plan.worker_threads);
    std::vector<shm::Slot> batch;
    batch.reserve(ctx_.plan.batch);
    ctx_.segment.control().stages_ready.fetch_add(1);
    for (;;) {
      if (!wait_while_parked()) return 0;
      const bool end = claim(batch);
      for (shm::Slot& slot : batch) {
        if (!process(slot)) return 0;
      }
      if (end) {
        ctx_.wait_unless_aborted(
            [&](auto t) { return shm::forward_end_of_stream(out_, ctx_.stats, t); });
        return 0;
      }
      if (ctx_.aborted()) return 0;
    }
  }

 private:
  // Between batches: a worker the scheduler parked (its number at or past active_workers: the
  // pool shrank) takes no frame until it is needed again, or until the stream ends (decode has
  // counted its frames, or was told to stop), when it takes its end-of-stream marker as every
  // worker does. It holds nothing while parked: no frame is lost or held back. False: aborted.
  bool wait_while_parked() {
    shm::ControlBlock& control = ctx_.segment.control();
    const auto parked = [&] {
      return static_cast<std::uint32_t>(ctx_.worker_index) >=
                 control.active_workers.load(std::memory_order_relaxed) &&
             control.total_frames.load(std::memory_order_relaxed) < 0 &&
             control.stop_input.load(std::memory_order_relaxed) == 0;
    };
    if (!parked()) return true;
    ScopedTimer waiting(ctx_.stats.wait_ns);
    while (parked()) {
      if (ctx_.aborted()) return false;
      ctx_.beat();
      usleep(5000);  // a parked worker wakes within 5 ms of being needed
    }
    return !ctx_.aborted();
  }

  // Waits for one frame, then takes what else is already queued, up to the batch size: one
  // wake-up serves the whole batch. Stops at the end-of-stream marker (true) so that each
  // worker takes exactly one.
  bool claim(std::vector<shm::Slot>& batch) {
    batch.clear();
    std::optional<shm::RingItem> item;
    {
      ScopedTimer waiting(ctx_.stats.wait_ns);
      item = ctx_.wait_unless_aborted([&](auto t) { return in_.pop_for(t); });
    }
    std::uint32_t limit = ctx_.plan.batch;
    while (item) {
      if (item->end_of_stream()) return true;
      if (ctx_.plan.live && batch.empty()) {
        // Live: only as many as can be finished before the first one's deadline.
        limit = live::batch_limit(deadline_.slack(item->slot.desc().capture_ns,
                                                  static_cast<std::int64_t>(monotonic_ns())),
                                  cost_.value_ns(), ctx_.plan.batch);
      }
      batch.push_back(std::move(item->slot));
      if (batch.size() >= limit) break;
      item = in_.try_pop();
    }
    return false;
  }

  // Live: a frame that could not be filtered and then encoded by its deadline goes on to encode
  // as a tombstone, unfiltered, so that the order holds and its credit returns.
  bool drop_if_late(shm::Slot& slot) {
    shm::FrameDesc& d = slot.desc();
    const std::int64_t encode_cost =
        ctx_.segment.control().stage(StageId::encode()).cost_ns.load(std::memory_order_relaxed);
    if (d.dropped == 0 && !deadline_.late(d.capture_ns, static_cast<std::int64_t>(monotonic_ns()),
                                          cost_.value_ns() + encode_cost)) {
      return false;
    }
    if (d.dropped == 0) {
      d.dropped = static_cast<std::int32_t>(live::DropReason::kLate);
      ctx_.stats.drops_late.fetch_add(1, std::memory_order_relaxed);
    }
    return true;
  }

  bool process(shm::Slot& slot) {
    ctx_.beat();
    ctx_.stats.frames_in.fetch_add(1, std::memory_order_relaxed);
    if (ctx_.plan.live && drop_if_late(slot)) {
      ScopedTimer waiting(ctx_.stats.wait_ns);
      return static_cast<bool>(
          ctx_.wait_unless_aborted([&](auto t) { return out_.push_for(slot, t); }));
    }
    const std::uint64_t started = monotonic_ns();
    std::optional<shm::Slot> spare;
    if (chain_.needs_spare()) {
      ScopedTimer waiting(ctx_.stats.wait_ns);
      spare = ctx_.wait_unless_aborted([&](auto t) { return ctx_.segment.pool().acquire_for(t); });
      if (!spare) return false;
    }
    shm::Slot* result_slot = &slot;
    {
      ScopedTimer busy(ctx_.stats.busy_ns);
      const shm::FrameDesc& in = slot.desc();
      const transform::FrameContext frame = transform::frame_context(in, ctx_.plan);
      const auto result =
          chain_.run(transform::source_picture(slot), spare ? spare->data() : nullptr,
                     scratch_.empty() ? nullptr : transform::aligned_start(scratch_), frame);
      if (result.in_spare) {
        shm::FrameDesc& d = spare->desc();
        d.seq = in.seq;
        d.pts = in.pts;
        d.duration = in.duration;
        d.capture_ns = in.capture_ns;
        d.dropped = 0;
        d.fields = in.fields;
        result_slot = &*spare;
      }
      transform::set_picture(*result_slot, result.picture);
      const std::uint64_t copied = chain_.frames_copied();
      ctx_.stats.frames_copied.fetch_add(copied - copied_, std::memory_order_relaxed);
      copied_ = copied;
    }
    cost_.add(static_cast<std::int64_t>(monotonic_ns() - started));
    ctx_.stats.cost_ns.store(cost_.value_ns(), std::memory_order_relaxed);  // for admission
    {
      ScopedTimer waiting(ctx_.stats.wait_ns);
      if (!ctx_.wait_unless_aborted([&](auto t) { return out_.push_for(*result_slot, t); }))
        return false;
    }
    ctx_.frame_out();
    return true;
    // The slot not handed on (input or spare) returns to the pool as it goes out of scope.
  }

  StageContext& ctx_;
  std::vector<std::uint8_t> scratch_;  // worker-local: the chain's second buffer
  const transform::FilterChain chain_;
  shm::FrameRing in_;
  shm::FrameRing out_;
  const live::Deadline deadline_;
  live::CostEstimate cost_;   // this worker's time per frame, filters and hand-over
  std::uint64_t copied_ = 0;  // the chain's frames_copied() already counted
};

}  // namespace

int run_transform_stage(StageContext& ctx) {
  return Worker(ctx).run();
}

}  // namespace vpipe::stage
