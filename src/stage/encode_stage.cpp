// The encode stage: restores decode order through a reorder window, wraps each slot as an
// AVFrame without copying, and encodes + muxes. A frame's credit returns to decode when the
// encoder lets go of its slot.
#include <spdlog/spdlog.h>

extern "C" {
#include <libavutil/imgutils.h>
}

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
#include "stage/reorder_window.hpp"
#include "stage/slot_picture.hpp"
#include "stage/stage_context.hpp"
#include "transform/filter_chain.hpp"
#include "transform/lavfi.hpp"

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

// One run of the encode stage: takes frames from the filtered ring, restores decode order, and
// hands each on to the encoder (or the null output), the preview and the latency histogram.
class EncodeStage {
 public:
  explicit EncodeStage(StageContext& ctx)
      : ctx_(ctx),
        plan_(ctx.plan),
        control_(ctx.segment.control()),
        in_(ctx.segment.filtered_ring()),
        order_(ctx.plan.window),
        ends_(static_cast<std::uint32_t>(ctx.plan.nb_workers)),
        deadline_{ctx.plan.latency_budget_ns()},
        // A segment job's pre-roll (output timestamps before this): filtered for its context,
        // not part of the segment.
        keep_from_(ctx.plan.pts_range ? ctx.plan.pts_range->begin - ctx.plan.pts_range->origin
                                      : std::numeric_limits<std::int64_t>::min()) {
    if (!plan_.null_output) {
      encoder_ = encode::Encoder::open(
          plan_.encoder, plan_.stream_params(),
          plan::open_audio_track(
              plan_, plan_.audio_from_decode ? ctx.segment.audio_ring() : std::nullopt));
    }
    if (plan_.preview) preview_ = encode::PreviewSink::open("vpipe: " + plan_.input);
    if (plan_.output_rate.num > 0) rate_.emplace(plan_.output_rate);
    if (!plan_.vf_in_order.empty()) {
      in_order_.emplace(transform::FilterChain::parse(plan_.vf_in_order));
      const auto bytes = ctx.segment.control().slot_bytes + transform::kPlaneAlign;
      spare_.resize(bytes);
      scratch_.resize(bytes);
    }
  }

  int run() {
    control_.stages_ready.fetch_add(1);
    while (!ends_.complete()) {
      std::optional<shm::RingItem> item;
      {
        ScopedTimer waiting(ctx_.stats.wait_ns);
        item = ctx_.wait_unless_aborted([&](auto t) { return in_.pop_for(t); });
      }
      if (!item) return 0;
      if (item->end_of_stream()) {
        ends_.seen();
        continue;
      }
      ctx_.stats.frames_in.fetch_add(1, std::memory_order_relaxed);
      const std::int64_t seq = item->slot.desc().seq;
      switch (order_.put(seq, std::move(item->slot))) {
        case ReorderWindow<shm::Slot>::Put::kOverflow:
          std::abort();  // more in flight than the credits allow
        case ReorderWindow<shm::Slot>::Put::kDuplicate:
          // A frame finished twice (its worker died between handing it on and releasing its
          // input, and the supervisor could not tell): the first copy counts.
          spdlog::warn("frame {} arrived twice; the duplicate is dropped", seq);
          continue;
        case ReorderWindow<shm::Slot>::Put::kQueued:
          break;
      }
      while (std::optional<shm::Slot> slot = order_.take_next()) {
        {
          // Per frame, so that the frame-time histogram sees each frame's own time.
          ScopedTimer busy(ctx_.stats.busy_ns);
          next_in_order(std::move(*slot));
        }
        control_.next_seq_out.store(order_.next_seq(), std::memory_order_release);
      }
    }
    finish();
    return 0;
  }

 private:
  // -r: frames are re-timed onto the output rate (see RateConverter), which holds one frame (a
  // reference to its slot) until the next shows which output slots it fills.
  struct Timed {
    av::FramePtr frame;
    std::int64_t capture_ns;
  };

  // The next frame in decode order: dropped (a tombstone, pre-roll, or live and too late),
  // encoded, or (null output) counted.
  void next_in_order(shm::Slot slot) {
    const std::int64_t capture = slot.desc().capture_ns;
    const auto now = static_cast<std::int64_t>(monotonic_ns());
    bool drop = slot.desc().dropped != 0;  // a tombstone: dropped and counted upstream
    if (slot.desc().pts < keep_from_) drop = true;
    if (!drop && plan_.live && deadline_.late(capture, now, cost_.value_ns())) {
      drop = true;
      ctx_.stats.drops_late.fetch_add(1, std::memory_order_relaxed);
    }
    if (drop) {
      let_go(slot, control_);
      return;
    }
    av::FramePtr frame;
    if (in_order_) {
      frame = filter_in_order(std::move(slot));
    } else {
      show(slot);
      if (encoder_) frame = wrap_slot(std::move(slot), control_);
      if (!encoder_) let_go(slot, control_);
    }
    if (!encoder_) {
      record_latency(capture);
      ctx_.frame_out();
      return;
    }
    if (rate_) {
      const AVRational input_tb = plan_.input_info.time_base;
      const double pts_s = static_cast<double>(frame->pts) * av_q2d(input_tb);
      end_s_ = std::max(
          end_s_, static_cast<double>(frame->pts + std::max<std::int64_t>(frame->pkt_duration, 0)) *
                      av_q2d(input_tb));
      rate_->push(Timed{std::move(frame), capture}, pts_s,
                  [&](Timed& t, std::int64_t index) { send_at(t, index); });
    } else {
      send(frame.get(), capture);
    }
    cost_.add(static_cast<std::int64_t>(monotonic_ns()) - now);
    ctx_.stats.cost_ns.store(cost_.value_ns(), std::memory_order_relaxed);
  }

  // -vf's in-order part (RunPlan::vf_in_order), here where frames arrive in order: into a frame
  // of its own (counted as a copy), and the slot goes back at once.
  av::FramePtr filter_in_order(shm::Slot slot) {
    const shm::FrameDesc& d = slot.desc();
    const auto result =
        in_order_->run(transform::current_picture(slot), transform::aligned_start(spare_),
                       transform::aligned_start(scratch_), transform::frame_context(d, plan_));
    av::FramePtr frame(av_frame_alloc());
    frame->format = AV_PIX_FMT_YUV420P;
    frame->width = result.picture.width;
    frame->height = result.picture.height;
    frame->pts = d.pts;
    frame->pkt_duration = d.duration;
    if (av_frame_get_buffer(frame.get(), 0) < 0) fail(ExitCode::kRunFailed, "out of memory");
    const std::uint8_t* planes[4] = {result.picture.data[0], result.picture.data[1],
                                     result.picture.data[2], nullptr};
    const int lines[4] = {result.picture.linesize[0], result.picture.linesize[1],
                          result.picture.linesize[2], 0};
    av_image_copy(frame->data, frame->linesize, planes, lines, AV_PIX_FMT_YUV420P, frame->width,
                  frame->height);
    const std::uint64_t copied = in_order_->frames_copied() + 1;
    ctx_.stats.frames_copied.fetch_add(copied - copied_, std::memory_order_relaxed);
    copied_ = copied;
    let_go(slot, control_);
    return frame;
  }

  void send(AVFrame* frame, std::int64_t capture) {
    unpacketed_.push_back(capture);
    const std::uint64_t before = encoder_->packets();
    encoder_->send(frame);
    packets_written(before);
    ctx_.frame_out();
  }

  void send_at(Timed& t, std::int64_t index) {
    av::FramePtr copy(av_frame_clone(t.frame.get()));  // a new reference to the slot, no pixels
    copy->pts = index;
    copy->pkt_duration = 1;  // one frame of the output rate (the time base here), not the input's
    send(copy.get(), t.capture_ns);
  }

  // Latency is measured from capture to the packet's write, in output order.
  void packets_written(std::uint64_t before) {
    for (std::uint64_t n = encoder_->packets() - before; n > 0 && !unpacketed_.empty(); --n) {
      record_latency(unpacketed_.front());
      unpacketed_.pop_front();
    }
  }

  void record_latency(std::int64_t capture_ns) {
    const double us =
        static_cast<double>(static_cast<std::int64_t>(monotonic_ns()) - capture_ns) / 1e3;
    control_.latency_buckets[shm::LatencyHistogram::bucket_of(us)].fetch_add(
        1, std::memory_order_relaxed);
    const auto whole_us = static_cast<std::uint64_t>(std::max(0.0, us));
    control_.latency_sum_us.fetch_add(whole_us, std::memory_order_relaxed);
    std::uint64_t max = control_.latency_max_us.load(std::memory_order_relaxed);
    while (whole_us > max && !control_.latency_max_us.compare_exchange_weak(max, whole_us)) {
    }
  }

  // Shows a frame in the preview window; a closed window finishes the run as Ctrl-C does.
  void show(const shm::Slot& slot) {
    if (!preview_) return;
    const std::uint64_t now = monotonic_ns();
    if (first_shown_ns_ == 0) first_shown_ns_ = now;
    ++shown_;  // frames out, for the overlay's fps, whether drawn or not
    if (!preview_->due(now)) return;
    const shm::FrameDesc& d = slot.desc();
    vpipe_preview_frame f{};
    for (int i = 0; i < 3; ++i) {
      f.planes[i] = slot.data() + d.picture.offset[i];
      f.linesize[i] = d.picture.linesize[i];
    }
    f.width = d.picture.width;
    f.height = d.picture.height;
    f.fps = now > first_shown_ns_
                ? static_cast<double>(shown_ - 1) * 1e9 / static_cast<double>(now - first_shown_ns_)
                : 0;
    f.latency_ms = static_cast<double>(static_cast<std::int64_t>(now) - d.capture_ns) / 1e6;
    f.frames = shown_;
    for (const auto& st : control_.stages) f.drops += st.drops_late.load() + st.drops_full.load();
    if (!preview_->show(f, now) && control_.stop_input.exchange(1) == 0)
      spdlog::info("preview closed: finishing the run");
  }

  // Every frame decode counted must have come through; then the encoder is flushed.
  void finish() {
    if (rate_) rate_->finish(end_s_, [&](Timed& t, std::int64_t index) { send_at(t, index); });
    const std::int64_t total = control_.total_frames.load(std::memory_order_acquire);
    if (total >= 0 && order_.next_seq() != total) {
      fail(ExitCode::kRunFailed, "encode received " + std::to_string(order_.next_seq()) + " of " +
                                     std::to_string(total) + " frames");
    }
    if (encoder_) {
      ScopedTimer busy(ctx_.stats.busy_ns);
      const std::uint64_t before = encoder_->packets();
      // Stopped early (a signal, or -t): the audio ends with the video.
      encoder_->finish(/*stopped_early=*/control_.stop_input.load() != 0 || plan_.duration_s > 0);
      packets_written(before);
    }
  }

  StageContext& ctx_;
  const plan::RunPlan& plan_;
  shm::ControlBlock& control_;
  shm::FrameRing in_;
  ReorderWindow<shm::Slot> order_;
  shm::EndOfStreamCount ends_;
  const live::Deadline deadline_;
  live::CostEstimate cost_;
  const std::int64_t keep_from_;
  std::unique_ptr<encode::Encoder> encoder_;
  std::unique_ptr<encode::PreviewSink> preview_;
  std::uint64_t first_shown_ns_ = 0;
  std::uint64_t shown_ = 0;
  // Capture times of frames sent to the encoder whose packets have not come out yet.
  std::deque<std::int64_t> unpacketed_;
  std::optional<encode::RateConverter<Timed>> rate_;
  std::optional<transform::FilterChain> in_order_;  // -vf's part that must see frames in order
  std::vector<std::uint8_t> spare_, scratch_;       // its buffers
  std::uint64_t copied_ = 0;                        // frames_copied already counted
  double end_s_ = 0;                                // where the last frame ends
};

}  // namespace

int run_encode_stage(StageContext& ctx) {
  EncodeStage stage(ctx);
  return stage.run();
}

}  // namespace vpipe::stage
