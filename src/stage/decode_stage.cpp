// The decode stage: demux + decode, each picture written once, straight into a pool slot in the
// working format, then handed on by index.
//
// Decoded straight into slots: when the decoder's pictures are yuv420p (H.264, HEVC, VP8/9,
// MPEG-2/4, ...), its get_buffer2 hands it a pool slot, laid out as libavcodec's own pool would
// (aligned lines, padding), so decode copies no pixel. Such a slot is also one of the decoder's
// reference pictures: FrameDesc::holds has a bit for the pipeline and one for the decoder, and
// the slot returns to the free ring only when both have let go (whoever lets go last pushes it;
// a worker never writes the slot it reads, so a reference is never changed). The plan adds
// `decoder_slots` for them (8 + one per decoder thread: x264's presets up to "slow" need no
// more); a stream that keeps more references, a picture the decoder shows twice, or another
// pixel format gets a plane copy or the one swscale conversion into a fresh slot instead, and
// `frames_copied` in the stats counts those.
extern "C" {
#include <libavutil/imgutils.h>
}

#include <spdlog/spdlog.h>

#include <cmath>

#include "common/error.hpp"
#include "decode/decoder.hpp"
#include "shm/credits.hpp"
#include "shm/end_of_stream.hpp"
#include "shm/eviction.hpp"
#include "stage/live_policy.hpp"
#include "stage/slot_picture.hpp"
#include "stage/stage_context.hpp"

namespace vpipe::stage {
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

// Decoding straight into pool slots: libavcodec's get_buffer2 hands the decoder a slot, so the
// decoded picture is the frame's slot and decode copies no pixels. Only for pictures already in
// the working format (yuv420p, at least the planned size), and for at most the slots the plan
// set aside for the decoder's references (plan::RunPlan::decoder_slots); any other picture comes
// from libavcodec's own memory and is copied into a slot by SlotWriter. A slot stays the decoder's
// while it references it (FramePool::adopt_decoded): stages never write into a decoded slot.
class SlotAllocator final : public decode::FrameAllocator {
 public:
  SlotAllocator(shm::FramePool& pool, transform::Geometry geometry, std::uint32_t budget,
                std::uint64_t capacity)
      : pool_(pool), geometry_(geometry), budget_(budget), capacity_(capacity) {}

  int get_buffer(AVCodecContext* codec, AVFrame* frame) override {
    if (frame->format != AV_PIX_FMT_YUV420P || frame->width < geometry_.width ||
        frame->height < geometry_.height)
      return -1;
    const decode::DecodedLayout layout = decode::decoded_layout(codec, frame->width, frame->height);
    if (layout.bytes == 0 || layout.bytes > capacity_) return -1;
    const std::uint32_t held = held_.fetch_add(1, std::memory_order_relaxed);
    if (held >= budget_) {
      held_.fetch_sub(1, std::memory_order_relaxed);
      return -1;
    }
    std::uint32_t most = most_held_.load(std::memory_order_relaxed);
    while (held + 1 > most && !most_held_.compare_exchange_weak(most, held + 1)) {
    }
    const std::optional<std::uint32_t> index = pool_.take_for_decoder();
    if (!index) {
      held_.fetch_sub(1, std::memory_order_relaxed);
      return -1;
    }
    std::uint8_t* data = pool_.slot_data(*index);
    frame->buf[0] = av_buffer_create(data, capacity_, &SlotAllocator::free_slot, this, 0);
    if (frame->buf[0] == nullptr) {
      free_slot(this, data);
      return AVERROR(ENOMEM);
    }
    for (int i = 0; i < 4; ++i) {
      frame->data[i] = layout.linesize[i] > 0 ? data + layout.offset[i] : nullptr;
      frame->linesize[i] = layout.linesize[i];
    }
    frame->extended_data = frame->data;
    return 0;
  }

  // The slot `frame` was decoded into, now entering the pipeline; empty when the frame is in
  // libavcodec's memory (or its slot is in the pipeline already): then it is copied.
  std::optional<shm::Slot> adopt(const AVFrame* frame) {
    if (frame->buf[0] == nullptr || av_buffer_get_opaque(frame->buf[0]) != this ||
        frame->buf[1] != nullptr || frame->format != AV_PIX_FMT_YUV420P ||
        frame->width != geometry_.width || frame->height != geometry_.height)
      return std::nullopt;
    const std::optional<std::uint32_t> index = pool_.slot_of(frame->buf[0]->data);
    if (!index) return std::nullopt;
    return pool_.adopt_decoded(*index);
  }

  // The most slots the decoder held at once (for the debug log, to size decoder_slots).
  [[nodiscard]] std::uint32_t most_held() const { return most_held_.load(); }

 private:
  static void free_slot(void* self, std::uint8_t* data) {
    auto* allocator = static_cast<SlotAllocator*>(self);
    const std::optional<std::uint32_t> index = allocator->pool_.slot_of(data);
    if (!index) std::abort();
    allocator->pool_.release_from_decoder(*index);
    allocator->held_.fetch_sub(1, std::memory_order_relaxed);
  }

  shm::FramePool& pool_;
  const transform::Geometry geometry_;
  const std::uint32_t budget_;
  const std::uint64_t capacity_;
  std::atomic<std::uint32_t> held_{0};
  std::atomic<std::uint32_t> most_held_{0};
};

// The time between two frames of the input at its nominal rate; 1/30 s where it has none.
std::int64_t frame_interval_ns(const plan::RunPlan& plan) {
  const AVRational rate = plan.input_info.frame_rate;
  return rate.num > 0 && rate.den > 0 ? static_cast<std::int64_t>(1e9 / av_q2d(rate))
                                      : 1'000'000'000 / 30;
}

// Where a decoded frame goes: offline, a fresh slot (waiting for a credit: backpressure); live,
// never waiting: a fresh slot if a credit is free, else (--drop oldest) the slot of the oldest
// frame still queued, whose place the new frame takes, else nowhere (the frame is dropped).
class SlotSource {
 public:
  explicit SlotSource(StageContext& ctx)
      : ctx_(ctx),
        control_(ctx.segment.control()),
        queued_(ctx.segment.decoded_ring()),
        filtered_(ctx.segment.filtered_ring()),
        frame_interval_ns_(frame_interval_ns(ctx.plan)) {}

  // Offline; empty only when the run is aborted. `decoded`: the slot the frame was decoded
  // into, if it was (else a fresh one is taken).
  std::optional<shm::Slot> wait_for_fresh(std::optional<shm::Slot>& decoded) {
    ScopedTimer waiting(ctx_.stats.wait_ns);
    // A credit per frame in flight bounds the pipeline (see run_segment.hpp).
    if (!ctx_.wait_unless_aborted([&](auto t) { return shm::take_credit_for(control_, t); }))
      return std::nullopt;
    ++entered_;
    if (decoded) return std::move(decoded);
    return ctx_.wait_unless_aborted([&](auto t) { return ctx_.segment.pool().acquire_for(t); });
  }

  // Live; empty when the frame has to be dropped (counted here). The pipeline is full when no
  // credit is free (the window, sized from the latency budget, is in flight): --drop oldest then
  // gives the new frame the slot of the oldest waiting one. With a credit free but the workers
  // behind (live::admits), --drop newest drops the new frame, and --drop oldest gives it a slot
  // of its own and sets `replace`: once it is in the slot, drop_oldest_waiting() makes room, so
  // that a worker never finds the queue empty in between. Frames that still wait too long are
  // dropped by the deadline check of the stage that takes them up.
  std::optional<shm::Slot> take_without_waiting(std::optional<shm::Slot>& decoded, bool& replace) {
    // With several outputs each drops its own late frames instead: one slow output's encoder
    // must not starve the others.
    if (ctx_.plan.more_outputs.empty() &&
        !live::encoder_keeps_up(
            filtered_.size(),
            control_.stage(StageId::encode()).cost_ns.load(std::memory_order_relaxed),
            frame_interval_ns_)) {
      ctx_.stats.drops_full.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    const bool admitted = live::admits(
        queued_.size(), static_cast<int>(control_.active_workers.load(std::memory_order_relaxed)),
        worker_cost_ns(), frame_interval_ns_);
    replace = false;
    if (!admitted && !ctx_.plan.drop_oldest) {
      ctx_.stats.drops_full.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    if (shm::try_take_credit(control_)) {
      replace = !admitted;
      ++entered_;
      if (decoded) return std::move(decoded);
      // With a credit, a free slot always exists (the pool holds the window); a short wait
      // covers a slot on its way back.
      return ctx_.wait_unless_aborted([&](auto t) { return ctx_.segment.pool().acquire_for(t); });
    }
    ctx_.stats.drops_full.fetch_add(1, std::memory_order_relaxed);
    if (!ctx_.plan.drop_oldest) return std::nullopt;
    while (std::optional<shm::Slot> evicted = shm::evict_oldest(queued_)) {
      shm::Slot slot = std::move(*evicted);
      if (shm::can_carry_the_new_frame(slot.desc())) {
        if (!decoded) return slot;
        // The new frame is in its own slot already: it takes the dropped frame's credit.
        slot.reset();
        return std::move(decoded);
      }
      if (!pass_on_tombstone(slot)) return std::nullopt;
    }
    return std::nullopt;  // every frame in flight is already being filtered or encoded
  }

  // Drops the oldest frame waiting for a worker, whose place a new frame takes (see `replace`
  // above); its credit comes back. False only when the run is aborted.
  bool drop_oldest_waiting() {
    std::optional<shm::Slot> evicted = shm::evict_oldest(queued_);
    if (!evicted) return true;  // the workers took every waiting frame meanwhile
    if (!shm::can_carry_the_new_frame(evicted->desc())) return pass_on_tombstone(*evicted);
    ctx_.stats.drops_full.fetch_add(1, std::memory_order_relaxed);
    evicted->reset();
    shm::give_back_credit(control_);
    --entered_;
    return true;
  }

  // The slowest worker's time per frame (0: none known yet).
  [[nodiscard]] std::int64_t worker_cost_ns() const {
    std::int64_t most = 0;
    for (int i = 0; i < ctx_.plan.nb_workers; ++i) {
      most = std::max(
          most,
          control_.stage(StageId::transform_worker(i)).cost_ns.load(std::memory_order_relaxed));
    }
    return most;
  }

  // Frames that took a credit: live, each gets its sequence number as a worker claims it.
  [[nodiscard]] std::int64_t entered() const { return entered_; }

 private:
  // A frame requeued after a worker crash already has its place in the order: evicted, it goes
  // on to encode as a tombstone (counted). False only when the run is aborted.
  bool pass_on_tombstone(shm::Slot& slot) {
    ctx_.stats.drops_full.fetch_add(1, std::memory_order_relaxed);
    return ctx_.wait_unless_aborted([&](auto t) { return filtered_.push_for(slot, t); });
  }

  StageContext& ctx_;
  shm::ControlBlock& control_;
  shm::FrameRing queued_;
  shm::FrameRing filtered_;
  const std::int64_t frame_interval_ns_;  // the input's, for the encoder's backlog
  std::int64_t entered_ = 0;
};

void sleep_until(std::int64_t monotonic_target_ns) {
  const timespec ts{static_cast<time_t>(monotonic_target_ns / 1000000000),
                    static_cast<long>(monotonic_target_ns % 1000000000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

// The part of the input a run uses, in the stream's time base. -ss / -t: frames before `begin`
// are decoded (references) but not used, and the output starts at 0; the first frame at `end`
// or later ends the stream. A segment job has its range in exact timestamps instead: frames in
// [preroll, end), numbered from the whole job's origin.
//
// -ss seeks to the keyframe at or before the start; some demuxers (MPEG-PS, without an index)
// land after it. The first frame then says so, and the seek goes back further (1 s, then 2, 4,
// ...) until it lands at or before the start.
class InputRange {
 public:
  InputRange(const plan::RunPlan& plan, decode::Decoder& decoder)
      : plan_(plan), decoder_(decoder), tb_(plan.input_info.time_base) {
    const double begin_s = plan.origin_s();
    begin_pts_ = std::llround(begin_s / av_q2d(tb_));
    end_pts_ = std::llround((begin_s + plan.duration_s) / av_q2d(tb_));
    shift_ = std::llround(plan.origin_s() / av_q2d(tb_));
    from_begin_ = plan.start_s > 0 || plan.pts_range.has_value();
    to_end_ = plan.duration_s > 0 || plan.pts_range.has_value();
    if (plan.pts_range) {
      begin_pts_ = plan.pts_range->preroll;  // pre-roll frames go on; encode leaves them out
      end_pts_ = plan.pts_range->end;
      shift_ = plan.pts_range->origin;
      if (plan.pts_range->seek > std::llround(plan.input_info.start_time_s / av_q2d(tb_)))
        decoder.seek_pts(plan.pts_range->seek);
    }
    seek_s_ = begin_s;
    check_seek_ = !plan.pts_range && plan.start_s > 0 && decoder.seek(seek_s_);
  }

  enum class Verdict { kUse, kSkip, kEnd };
  // What to do with a frame at `stream_pts`; kSkip also after a seek back (the frames start
  // over).
  Verdict judge(std::int64_t stream_pts) {
    if (check_seek_) {
      check_seek_ = false;
      if (stream_pts > begin_pts_ && seek_s_ > plan_.input_info.timeline_start_s) {
        seek_s_ = std::max(plan_.input_info.timeline_start_s, seek_s_ - step_back_s_);
        step_back_s_ *= 2;
        spdlog::debug("-ss: the seek landed after the start; seeking to {:.3f} s", seek_s_);
        check_seek_ = decoder_.seek(seek_s_);
        read_ = 0;
        return Verdict::kSkip;
      }
    }
    if (from_begin_ && stream_pts < begin_pts_) return Verdict::kSkip;
    if (to_end_ && stream_pts >= end_pts_) return Verdict::kEnd;
    return Verdict::kUse;
  }

  // A frame's stream timestamp; a stream without timestamps (raw H.264) is numbered by the
  // frames read, used or not. Counts the frame as read.
  std::int64_t stream_pts(const AVFrame& frame, std::int64_t frame_ticks) {
    const std::int64_t pts = frame.best_effort_timestamp != AV_NOPTS_VALUE
                                 ? frame.best_effort_timestamp
                                 : read_ * frame_ticks;
    ++read_;
    return pts;
  }

  // The output's timestamp of a used frame.
  [[nodiscard]] std::int64_t output_pts(std::int64_t stream_pts) const {
    return stream_pts - shift_;
  }
  // Frames the decoder gave since the last seek, used or not.
  [[nodiscard]] std::int64_t read() const { return read_; }

 private:
  const plan::RunPlan& plan_;
  decode::Decoder& decoder_;
  AVRational tb_;
  std::int64_t begin_pts_ = 0, end_pts_ = 0, shift_ = 0;
  bool from_begin_ = false, to_end_ = false;
  double seek_s_ = 0;
  double step_back_s_ = 1;
  bool check_seek_ = false;
  std::int64_t read_ = 0;
};

// One run of the decode stage: decodes the input's frames (straight into slots where it can),
// and hands each on to the workers by index.
class DecodeStage {
 public:
  DecodeStage(StageContext& ctx, decode::Decoder& decoder)
      : ctx_(ctx),
        plan_(ctx.plan),
        control_(ctx.segment.control()),
        decoder_(decoder),
        out_(ctx.segment.decoded_ring()),
        geometry_(ctx.plan.steps.front()),
        frame_ticks_(av_rescale_q(1, av_inv_q(ctx.plan.input_info.frame_rate),
                                  ctx.plan.input_info.time_base)),
        deadline_{ctx.plan.latency_budget_ns()},
        slots_(ctx) {
    decoder.set_threads(plan_.decoder_threads);
    if (plan_.decoder_slots > 0) {
      allocator_.emplace(ctx.segment.pool(), geometry_, plan_.decoder_slots, control_.slot_bytes);
      decoder.set_allocator(&*allocator_);
    }
    // A live input's audio, read here with the video, goes to encode through the audio ring; a
    // full ring (encode stalled) drops packets, counted, rather than stall the video.
    if (plan_.audio_from_decode) {
      if (std::optional<shm::PacketRing> ring = ctx.segment.audio_ring()) {
        decoder.set_audio_sink([ring](const AVPacket& packet) mutable {
          const shm::PacketHeader header{packet.pts, packet.dts, packet.duration, packet.flags,
                                         static_cast<std::uint32_t>(packet.size)};
          ring->try_push(header, packet.data);
        });
      }
    }
  }
  // The decoder lets go of its slots before the allocator and the segment go, however the run
  // ends.
  ~DecodeStage() { decoder_.release_pictures(); }
  DecodeStage(const DecodeStage&) = delete;
  DecodeStage& operator=(const DecodeStage&) = delete;

  int run() {
    InputRange range(plan_, decoder_);
    if (plan_.live) wait_for_the_other_stages();
    for (;;) {
      if (control_.stop_input.load(std::memory_order_relaxed) != 0) decoder_.stop_reading();
      AVFrame* frame = nullptr;
      {
        ScopedTimer busy(ctx_.stats.busy_ns);
        frame = decoder_.next_frame();
      }
      if (frame == nullptr) break;
      ctx_.beat();
      const std::int64_t stream_pts = range.stream_pts(*frame, frame_ticks_);
      const InputRange::Verdict verdict = range.judge(stream_pts);
      if (verdict == InputRange::Verdict::kSkip) continue;
      if (verdict == InputRange::Verdict::kEnd) break;
      if (frame_limit_ > 0 && decoded_ >= frame_limit_) break;  // -frames:v
      ++decoded_;
      ctx_.stats.frames_in.fetch_add(1, std::memory_order_relaxed);
      if (!hand_on(frame, range.output_pts(stream_pts))) return 0;
    }
    return finish(range);
  }

 private:
  // A live clock starts when every stage can take frames, not while the encoder is still
  // opening: the first frames would otherwise start the run already late.
  void wait_for_the_other_stages() {
    ScopedTimer waiting(ctx_.stats.wait_ns);
    const std::uint64_t give_up = monotonic_ns() + 10'000'000'000ULL;
    // The workers, encode, and each later output's own process.
    const auto others =
        static_cast<std::uint32_t>(plan_.nb_workers + 1 + plan_.nb_output_processes());
    while (control_.stages_ready.load() < others && !ctx_.aborted() && monotonic_ns() < give_up) {
      ctx_.beat();
      usleep(2000);
    }
  }

  // Puts a used frame into a slot and pushes it to the workers. False when the run is aborted.
  bool hand_on(AVFrame* frame, std::int64_t pts) {
    const AVRational tb = plan_.input_info.time_base;
    auto now = static_cast<std::int64_t>(monotonic_ns());
    std::int64_t capture = now;
    if (plan_.realtime) {
      // Paced like a live source: the frame is captured when its time comes.
      capture = pacer_.due(av_rescale_q(pts, tb, AVRational{1, 1000000000}), now);
      if (capture > now) {
        ScopedTimer waiting(ctx_.stats.wait_ns);
        sleep_until(capture);
        now = static_cast<std::int64_t>(monotonic_ns());
      }
    }
    std::optional<shm::Slot> decoded_into;
    if (allocator_) decoded_into = allocator_->adopt(frame);
    std::optional<shm::Slot> slot;
    bool replace = false;  // live: the new frame takes the place of the oldest waiting one
    if (!plan_.live) {
      slot = slots_.wait_for_fresh(decoded_into);
      if (!slot) return false;
    } else if (deadline_.late(capture, now)) {
      ctx_.stats.drops_late.fetch_add(1, std::memory_order_relaxed);  // decode fell behind
      return true;
    } else {
      slot = slots_.take_without_waiting(decoded_into, replace);
      if (!slot) return !ctx_.aborted();
    }
    describe_into(*slot, frame, pts, capture);
    if (replace && !slots_.drop_oldest_waiting()) return false;
    {
      ScopedTimer waiting(ctx_.stats.wait_ns);
      if (!ctx_.wait_unless_aborted([&](auto t) { return out_.push_for(*slot, t); })) return false;
    }
    ctx_.frame_out();
    ctx_.stats.errors.store(decoder_.errors(), std::memory_order_relaxed);
    return true;
  }

  // The picture (copied in, unless the decoder decoded straight into the slot) and its
  // descriptor.
  void describe_into(shm::Slot& slot, AVFrame* frame, std::int64_t pts, std::int64_t capture) {
    ScopedTimer busy(ctx_.stats.busy_ns);
    transform::Picture picture;
    if (frame->buf[0] != nullptr && slot.data() == frame->buf[0]->data) {
      picture.width = frame->width;
      picture.height = frame->height;
      for (int i = 0; i < 3; ++i) {
        picture.data[i] = frame->data[i];
        picture.linesize[i] = frame->linesize[i];
      }
    } else {
      picture = transform::layout_picture(slot.data(), geometry_);
      writer_.write(frame, picture);
      ctx_.stats.frames_copied.fetch_add(1, std::memory_order_relaxed);
    }
    transform::set_picture(slot, picture, /*as_source=*/true);
    shm::FrameDesc& d = slot.desc();
    // Offline, decode numbers frames; live, a worker does as it claims one (see SlotSource).
    d.seq = plan_.live ? -1 : slots_.entered() - 1;
    d.pts = pts;
    d.duration = frame->pkt_duration > 0 ? frame->pkt_duration : frame_ticks_;
    d.capture_ns = capture;
    d.dropped = 0;
    d.fields = frame->interlaced_frame == 0  ? shm::kProgressive
               : frame->top_field_first != 0 ? shm::kTopFieldFirst
                                             : shm::kBottomFieldFirst;
  }

  // The input has ended (or was stopped): the end of stream, and what the run should know.
  int finish(const InputRange& range) {
    ctx_.stats.errors.store(decoder_.errors(), std::memory_order_relaxed);
    control_.total_frames.store(slots_.entered(), std::memory_order_release);
    // End of stream travels in-band (shm/end_of_stream.hpp).
    if (!shm::send_end_of_stream(static_cast<std::uint32_t>(plan_.nb_workers), [&] {
          return ctx_.wait_unless_aborted([&](auto t) { return out_.push_end_of_stream_for(t); });
        }))
      return 0;
    if (allocator_) {
      spdlog::debug("the decoder held up to {} of its {} slots; {} pictures were copied",
                    allocator_->most_held(), plan_.decoder_slots, ctx_.stats.frames_copied.load());
    }
    if (const auto ring = ctx_.segment.audio_ring(); ring && ring->dropped() > 0)
      spdlog::warn("audio: {} packets dropped: encode did not keep up", ring->dropped());
    if (decoder_.errors() > 0)
      spdlog::warn("{} damaged packets or frames in the input were skipped or concealed",
                   decoder_.errors());
    if (decoder_.timestamp_repairs() > 1)
      spdlog::warn("{} input timestamps that jumped were repaired", decoder_.timestamp_repairs());
    // Stopped before the first frame (a signal while the input opened) is not an input error.
    if (decoded_ == 0 && control_.stop_input.load() == 0) {
      if (plan_.start_s > 0 && range.read() > 0)
        fail(ExitCode::kUsage, fmt::format("-ss {:g} is past the input's end", plan_.start_s));
      fail(ExitCode::kInput, "input '" + plan_.input + "': no video frame could be decoded");
    }
    return 0;
  }

  StageContext& ctx_;
  const plan::RunPlan& plan_;
  shm::ControlBlock& control_;
  decode::Decoder& decoder_;
  shm::FrameRing out_;
  const transform::Geometry geometry_;
  const std::int64_t frame_ticks_;
  const live::Deadline deadline_;
  live::Pacer pacer_;
  SlotWriter writer_;
  SlotSource slots_;
  std::optional<SlotAllocator> allocator_;
  std::int64_t decoded_ = 0;
  const std::int64_t frame_limit_ = plan_.decode_frame_limit();  // -frames:v, 0: none
};

}  // namespace

int run_decode_stage(StageContext& ctx, decode::Decoder& decoder) {
  DecodeStage stage(ctx, decoder);
  return stage.run();
}

}  // namespace vpipe::stage
