// The encode stage: restores decode order through a reorder window, wraps each slot as an
// AVFrame without copying, and encodes + muxes. A frame's credit returns to decode when the
// encoder lets go of its slot.
#include <spdlog/spdlog.h>

#include <deque>
#include <limits>
#include <vector>

#include "common/error.hpp"
#include "encode/audio_copy.hpp"
#include "encode/encoder.hpp"
#include "encode/preview_sink.hpp"
#include "encode/rate.hpp"
#include "shm/credits.hpp"
#include "shm/end_of_stream.hpp"
#include "stage/live_policy.hpp"
#include "stage/stage_context.hpp"

namespace vpipe::stage {
namespace {

// Owns a slot while libavcodec references it; freeing the AVBuffer returns the slot and the
// frame's credit.
struct SlotLease {
  shm::Slot slot;
  shm::ControlBlock* control;
  static void release(void* opaque, std::uint8_t*) {
    auto* lease = static_cast<SlotLease*>(opaque);
    shm::ControlBlock* control = lease->control;
    delete lease;
    shm::give_back_credit(*control);
  }
};

// A frame that leaves the pipeline without being encoded: its slot and its credit go back.
void let_go(shm::Slot& slot, shm::ControlBlock& control) {
  slot.reset();
  shm::give_back_credit(control);
}

av::FramePtr wrap_slot(shm::Slot slot, shm::ControlBlock& control) {
  const shm::FrameDesc& d = slot.desc();
  av::FramePtr frame(av_frame_alloc());
  frame->format = AV_PIX_FMT_YUV420P;
  frame->width = d.picture.width;
  frame->height = d.picture.height;
  frame->pts = d.pts;
  frame->pkt_duration = d.duration;
  for (int i = 0; i < 3; ++i) {
    frame->data[i] = slot.data() + d.picture.offset[i];
    frame->linesize[i] = d.picture.linesize[i];
  }
  std::uint8_t* data = slot.data();
  const auto size = static_cast<std::size_t>(slot.capacity());
  auto* lease = new SlotLease{std::move(slot), &control};
  frame->buf[0] = av_buffer_create(data, size, &SlotLease::release, lease, 0);
  if (frame->buf[0] == nullptr) {
    SlotLease::release(lease, data);
    fail(ExitCode::kRunFailed, "out of memory");
  }
  return frame;
}

}  // namespace

int run_encode_stage(StageContext& ctx) {
  const plan::RunPlan& plan = ctx.plan;
  shm::ControlBlock& control = ctx.segment.control();
  shm::FrameRing in = ctx.segment.filtered_ring();
  std::unique_ptr<encode::Encoder> encoder;
  if (!plan.null_output) {
    encoder = encode::Encoder::open(
        plan.encoder, plan.stream_params(),
        plan::open_audio_track(plan,
                               plan.audio_from_decode ? ctx.segment.audio_ring() : std::nullopt));
  }
  std::unique_ptr<encode::PreviewSink> preview;
  if (plan.preview) preview = encode::PreviewSink::open("vpipe: " + plan.input);
  std::uint64_t first_shown_ns = 0, shown = 0;
  // Shows a frame in the preview window; a closed window finishes the run as Ctrl-C does.
  auto show = [&](const shm::Slot& slot) {
    if (!preview) return;
    const std::uint64_t now = monotonic_ns();
    if (first_shown_ns == 0) first_shown_ns = now;
    ++shown;  // frames out, for the overlay's fps, whether drawn or not
    if (!preview->due(now)) return;
    const shm::FrameDesc& d = slot.desc();
    vpipe_preview_frame f{};
    for (int i = 0; i < 3; ++i) {
      f.planes[i] = slot.data() + d.picture.offset[i];
      f.linesize[i] = d.picture.linesize[i];
    }
    f.width = d.picture.width;
    f.height = d.picture.height;
    f.fps = now > first_shown_ns
                ? static_cast<double>(shown - 1) * 1e9 / static_cast<double>(now - first_shown_ns)
                : 0;
    f.latency_ms = static_cast<double>(static_cast<std::int64_t>(now) - d.capture_ns) / 1e6;
    f.frames = shown;
    for (const auto& st : control.stages) f.drops += st.drops_late.load() + st.drops_full.load();
    if (!preview->show(f, now) && control.stop_input.exchange(1) == 0)
      spdlog::info("preview closed: finishing the run");
  };
  control.stages_ready.fetch_add(1);
  // Frames in flight never exceed the window, so seq % window indexes a frame uniquely.
  std::vector<shm::Slot> pending(plan.window);
  std::int64_t next_seq = 0;
  shm::EndOfStreamCount ends(static_cast<std::uint32_t>(plan.nb_workers));
  const live::Deadline deadline{plan.latency_budget_ns()};
  live::CostEstimate cost;
  // A segment job's pre-roll (output timestamps before this): filtered for its context, not
  // part of the segment.
  const std::int64_t keep_from = plan.pts_range ? plan.pts_range->begin - plan.pts_range->origin
                                                : std::numeric_limits<std::int64_t>::min();
  // Capture times of frames sent to the encoder whose packets have not come out yet: latency
  // is measured from capture to the packet's write, in output order.
  std::deque<std::int64_t> unpacketed;
  auto record_latency = [&](std::int64_t capture_ns) {
    const double us =
        static_cast<double>(static_cast<std::int64_t>(monotonic_ns()) - capture_ns) / 1e3;
    control.latency_buckets[shm::LatencyHistogram::bucket_of(us)].fetch_add(
        1, std::memory_order_relaxed);
    const auto whole_us = static_cast<std::uint64_t>(std::max(0.0, us));
    std::uint64_t max = control.latency_max_us.load(std::memory_order_relaxed);
    while (whole_us > max && !control.latency_max_us.compare_exchange_weak(max, whole_us)) {
    }
  };
  auto packets_written = [&](std::uint64_t before) {
    for (std::uint64_t n = encoder->packets() - before; n > 0 && !unpacketed.empty(); --n) {
      record_latency(unpacketed.front());
      unpacketed.pop_front();
    }
  };

  auto send = [&](AVFrame* frame, std::int64_t capture) {
    unpacketed.push_back(capture);
    const std::uint64_t before = encoder->packets();
    encoder->send(frame);
    packets_written(before);
    ctx.stats.frames_out.fetch_add(1, std::memory_order_relaxed);
  };
  // -r: frames are re-timed onto the output rate (see RateConverter), which holds one frame (a
  // reference to its slot) until the next shows which output slots it fills.
  struct Timed {
    av::FramePtr frame;
    std::int64_t capture_ns;
  };
  const AVRational input_tb = plan.input_info.time_base;
  std::optional<encode::RateConverter<Timed>> rate;
  double end_s = 0;  // where the last frame ends
  if (plan.output_rate.num > 0) rate.emplace(plan.output_rate);
  auto send_at = [&](Timed& t, std::int64_t index) {
    av::FramePtr copy(av_frame_clone(t.frame.get()));  // a new reference to the slot, no pixels
    copy->pts = index;
    send(copy.get(), t.capture_ns);
  };

  while (!ends.complete()) {
    std::optional<shm::RingItem> item;
    {
      ScopedTimer waiting(ctx.stats.wait_ns);
      item = ctx.wait_unless_aborted([&](auto t) { return in.pop_for(t); });
    }
    if (!item) return 0;
    if (item->end_of_stream()) {
      ends.seen();
      continue;
    }
    ctx.stats.frames_in.fetch_add(1, std::memory_order_relaxed);
    const std::int64_t seq = item->slot.desc().seq;
    if (seq >= next_seq + plan.window) std::abort();  // more in flight than the credits allow
    if (seq < next_seq || pending[seq % plan.window]) {
      // A frame finished twice (its worker died between handing it on and releasing its input,
      // and the scheduler could not tell): the first copy counts.
      spdlog::warn("frame {} arrived twice; the duplicate is dropped", seq);
      continue;
    }
    pending[seq % plan.window] = std::move(item->slot);
    ScopedTimer busy(ctx.stats.busy_ns);
    while (pending[next_seq % plan.window]) {
      shm::Slot slot = std::move(pending[next_seq % plan.window]);
      const std::int64_t capture = slot.desc().capture_ns;
      const auto now = static_cast<std::int64_t>(monotonic_ns());
      bool drop = slot.desc().dropped != 0;  // a tombstone: dropped and counted upstream
      if (slot.desc().pts < keep_from) drop = true;
      if (!drop && plan.live && deadline.late(capture, now, cost.value_ns())) {
        drop = true;
        ctx.stats.drops_late.fetch_add(1, std::memory_order_relaxed);
      }
      if (drop) {
        let_go(slot, control);
      } else if (encoder) {
        show(slot);
        av::FramePtr frame = wrap_slot(std::move(slot), control);
        if (rate) {
          const double pts_s = static_cast<double>(frame->pts) * av_q2d(input_tb);
          end_s = std::max(end_s, static_cast<double>(
                                      frame->pts + std::max<std::int64_t>(frame->pkt_duration, 0)) *
                                      av_q2d(input_tb));
          rate->push(Timed{std::move(frame), capture}, pts_s, send_at);
        } else {
          send(frame.get(), capture);
        }
        cost.add(static_cast<std::int64_t>(monotonic_ns()) - now);
        ctx.stats.cost_ns.store(cost.value_ns(), std::memory_order_relaxed);
      } else {
        show(slot);
        record_latency(capture);
        let_go(slot, control);
      }
      ++next_seq;
      control.next_seq_out.store(next_seq, std::memory_order_release);
      if (!drop && !encoder) ctx.stats.frames_out.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (rate) rate->finish(end_s, send_at);
  const std::int64_t total = control.total_frames.load(std::memory_order_acquire);
  if (total >= 0 && next_seq != total) {
    fail(ExitCode::kRunFailed, "encode received " + std::to_string(next_seq) + " of " +
                                   std::to_string(total) + " frames");
  }
  if (encoder) {
    ScopedTimer busy(ctx.stats.busy_ns);
    const std::uint64_t before = encoder->packets();
    // Stopped early (a signal, or -t): the audio ends with the video.
    encoder->finish(/*stopped_early=*/control.stop_input.load() != 0 || plan.duration_s > 0);
    packets_written(before);
  }
  return 0;
}

}  // namespace vpipe::stage
