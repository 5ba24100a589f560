// The decode stage: demux + decode, each picture written once, straight into a pool slot in the
// working format, then handed on by index.
extern "C" {
#include <libavutil/imgutils.h>
}

#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "decode/decoder.hpp"
#include "scheduler/stage_context.hpp"
#include "transform/slot_picture.hpp"

namespace vpipe::scheduler {
namespace {

// Writes `frame` into `dst` (YUV420P at the planned geometry): a plain plane copy when the
// decoder already produced that, else one swscale pass (format and/or size change).
class SlotWriter {
 public:
  void write(const AVFrame* frame, const transform::Picture& dst) {
    if (frame->format == AV_PIX_FMT_YUV420P && frame->width == dst.width &&
        frame->height == dst.height) {
      for (int i = 0; i < 3; ++i) {
        const transform::Geometry g = dst.plane_geometry(i);
        av_image_copy_plane(dst.data[i], dst.linesize[i], frame->data[i], frame->linesize[i],
                            g.width, g.height);
      }
      return;
    }
    if ((frame->width != dst.width || frame->height != dst.height) && !warned_resize_) {
      spdlog::warn("input picture size changed to {}x{} mid-stream: scaling to {}x{}", frame->width,
                   frame->height, dst.width, dst.height);
      warned_resize_ = true;
    }
    sws_ = sws_getCachedContext(sws_, frame->width, frame->height,
                                static_cast<AVPixelFormat>(frame->format), dst.width, dst.height,
                                AV_PIX_FMT_YUV420P, SWS_BICUBIC, nullptr, nullptr, nullptr);
    if (sws_ == nullptr)
      fail(ExitCode::kInput, "cannot convert decoded pictures of this pixel format");
    sws_scale(sws_, frame->data, frame->linesize, 0, frame->height,
              const_cast<std::uint8_t* const*>(dst.data), dst.linesize);
  }
  ~SlotWriter() { sws_freeContext(sws_); }

 private:
  SwsContext* sws_ = nullptr;
  bool warned_resize_ = false;
};

}  // namespace

int run_decode_stage(StageContext& ctx) {
  const RunPlan& plan = ctx.plan;
  shm::ControlBlock& control = ctx.segment.control();
  shm::FrameRing out = ctx.segment.decoded_ring();
  decode::Decoder decoder =
      decode::Decoder::open(plan.input, static_cast<int>(plan.cpus_of("decode").size()));
  const transform::Geometry geometry = plan.steps.front();
  const AVRational tb = plan.input_info.time_base;
  const std::int64_t frame_ticks = av_rescale_q(1, av_inv_q(plan.input_info.frame_rate), tb);
  SlotWriter writer;
  std::int64_t seq = 0;

  for (;;) {
    if (control.stop_input.load(std::memory_order_relaxed) != 0) decoder.stop_reading();
    AVFrame* frame = nullptr;
    {
      ScopedTimer busy(ctx.stats.busy_ns);
      frame = decoder.next_frame();
    }
    if (frame == nullptr) break;
    std::optional<shm::Slot> slot;
    {
      ScopedTimer waiting(ctx.stats.wait_ns);
      // A credit per frame in flight bounds the pipeline (see run_segment.hpp).
      if (!ctx.wait_unless_aborted([&](auto t) { return control.credits.wait_for(t); })) return 0;
      slot = ctx.wait_unless_aborted([&](auto t) { return ctx.segment.pool().acquire_for(t); });
      if (!slot) return 0;
    }
    {
      ScopedTimer busy(ctx.stats.busy_ns);
      const transform::Picture picture = transform::layout_picture(slot->data(), geometry);
      writer.write(frame, picture);
      transform::set_picture(*slot, picture, /*as_source=*/true);
      shm::FrameDesc& d = slot->desc();
      d.seq = seq;
      d.pts = frame->best_effort_timestamp != AV_NOPTS_VALUE ? frame->best_effort_timestamp
                                                             : seq * frame_ticks;
      d.duration = frame->pkt_duration > 0 ? frame->pkt_duration : frame_ticks;
      d.capture_ns = static_cast<std::int64_t>(monotonic_ns());
    }
    ctx.stats.frames_in.fetch_add(1, std::memory_order_relaxed);
    {
      ScopedTimer waiting(ctx.stats.wait_ns);
      if (!ctx.wait_unless_aborted([&](auto t) { return out.push_for(*slot, t); })) return 0;
    }
    ctx.stats.frames_out.fetch_add(1, std::memory_order_relaxed);
    ctx.stats.errors.store(decoder.errors(), std::memory_order_relaxed);
    ++seq;
  }
  ctx.stats.errors.store(decoder.errors(), std::memory_order_relaxed);
  control.total_frames.store(seq, std::memory_order_release);
  // End of stream travels in-band: one marker per worker, each worker forwards its own.
  for (int i = 0; i < plan.nb_workers; ++i) {
    if (!ctx.wait_unless_aborted([&](auto t) { return out.push_end_of_stream_for(t); })) return 0;
  }
  if (decoder.errors() > 0)
    spdlog::warn("{} damaged packets or frames in the input were skipped or concealed",
                 decoder.errors());
  if (seq == 0)
    fail(ExitCode::kInput, "input '" + plan.input + "': no video frame could be decoded");
  return 0;
}

}  // namespace vpipe::scheduler
