// A transform worker: takes frames from the decode ring in any order, runs the filter chain on
// them in their slot (plus a spare slot for out-of-place filters), and hands them to encode.
#include <opencv2/core.hpp>
#include <spdlog/spdlog.h>

#include "scheduler/stage_context.hpp"
#include "transform/filter_chain.hpp"
#include "transform/slot_picture.hpp"

namespace vpipe::scheduler {

int run_transform_stage(StageContext& ctx) {
  const transform::FilterChain chain = transform::FilterChain::parse(ctx.plan.vf);
  const auto& cpus = ctx.plan.cpus_of("xform-" + std::to_string(ctx.worker_index));
  // OpenCV's own threads stay within this worker's CPU set.
  cv::setNumThreads(cpus.empty() ? 0 : static_cast<int>(cpus.size()));
  shm::FrameRing in = ctx.segment.decoded_ring();
  shm::FrameRing out = ctx.segment.filtered_ring();
  shm::FramePool& pool = ctx.segment.pool();

  for (;;) {
    std::optional<shm::RingItem> item;
    {
      ScopedTimer waiting(ctx.stats.wait_ns);
      item = ctx.wait_unless_aborted([&](auto t) { return in.pop_for(t); });
    }
    if (!item) return 0;
    if (item->end_of_stream()) {
      if (!ctx.wait_unless_aborted([&](auto t) { return out.push_end_of_stream_for(t); })) return 0;
      return 0;
    }
    ctx.stats.frames_in.fetch_add(1, std::memory_order_relaxed);
    shm::Slot& slot = item->slot;
    std::optional<shm::Slot> spare;
    if (chain.needs_spare()) {
      ScopedTimer waiting(ctx.stats.wait_ns);
      spare = ctx.wait_unless_aborted([&](auto t) { return pool.acquire_for(t); });
      if (!spare) return 0;
    }
    shm::Slot* result_slot = &slot;
    {
      ScopedTimer busy(ctx.stats.busy_ns);
      const shm::FrameDesc& in_desc = slot.desc();
      const transform::FrameContext frame{in_desc.seq, in_desc.pts,
                                          static_cast<double>(in_desc.pts) * av_q2d(ctx.plan.input_info.time_base)};
      const auto result = chain.run(transform::picture_in(slot), slot.data(), spare ? spare->data() : nullptr, frame);
      if (result.in_spare) {
        shm::FrameDesc& d = spare->desc();
        const shm::FrameDesc& s = slot.desc();
        d.seq = s.seq;
        d.pts = s.pts;
        d.duration = s.duration;
        d.capture_ns = s.capture_ns;
        result_slot = &*spare;
      }
      transform::set_picture(*result_slot, result.picture);
    }
    {
      ScopedTimer waiting(ctx.stats.wait_ns);
      if (!ctx.wait_unless_aborted([&](auto t) { return out.push_for(*result_slot, t); })) return 0;
    }
    ctx.stats.frames_out.fetch_add(1, std::memory_order_relaxed);
    // The slot not handed on (input or spare) returns to the pool as it goes out of scope.
  }
}

}  // namespace vpipe::scheduler
