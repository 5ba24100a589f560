// The encode stage: restores decode order through a reorder window, wraps each slot as an
// AVFrame without copying, and encodes + muxes. A frame's credit returns to decode when the
// encoder lets go of its slot. With several outputs, a later output's encoder runs in a process
// of its own (run_output_stage), fed the same slots in order through a ring; the slot and its
// credit go back when the last of them lets go.
#include <spdlog/spdlog.h>

extern "C" {
#include <libavutil/imgutils.h>
}

#include <deque>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <vector>

#include "common/error.hpp"
#include "common/filter_graph.hpp"
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
#include "stage/stream_copy.hpp"
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
    shm::frame_left(lease->slot, *lease->control);
    delete lease;
  }
};

// Output `output` has its -frames:v; once every output has, the input stops.
void output_full(shm::ControlBlock& control, int output, int nb_outputs) {
  const std::uint32_t all = (1u << nb_outputs) - 1;
  const std::uint32_t mine = 1u << output;
  if ((control.outputs_full.fetch_or(mine) | mine) == all) control.stop_input.store(1);
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

// -r: frames are re-timed onto the output rate (see RateConverter), which holds one frame (a
// reference to its slot) until the next shows which output slots it fills.
struct Timed {
  av::FramePtr frame;
  std::int64_t capture_ns;
};

// Stopped early (a signal, or -t): the audio ends with the video.
bool stopped_early(const StageContext& ctx) {
  return ctx.segment.control().stop_input.load() != 0 || ctx.plan.duration_s > 0;
}

// What the encode stage does for one output, with frames in decode order: the output's own part
// of the chain (its in-order filters, then its graph of filters that give frames of their own),
// -r, the encoder and the muxer. The first output's branch also counts the stage's frames out
// and the latency; every branch counts its frames in the control block's output_frames.
class Branch {
 public:
  // Calls back into the stage for what all outputs share (latency, frame counts).
  struct Counters {
    std::function<void(std::int64_t)> latency;  // a frame's packet written (capture time)
    std::function<void()> frame_out;            // a frame handed to the encoder
  };

  // `audio`: this output's reader of decode's audio ring (a stream input's audio); none: the
  // output reads its audio from the input file, if it takes any.
  Branch(const plan::RunPlan& plan, const plan::RunPlan& run, StageContext& ctx, int index,
         Counters counters, std::optional<encode::AudioRingReader> audio)
      : plan_(plan),
        ctx_(ctx),
        control_(ctx.segment.control()),
        index_(index),
        nb_outputs_(static_cast<int>(run.more_outputs.size()) + 1),
        counters_(std::move(counters)) {
    encode::StreamParams params = plan_.stream_params();
    frames_tb_ = plan_.input_info.time_base;
    if (!plan_.vf_graph.empty()) open_graph(params, run);
    if (!plan_.null_output) {
      encoder_ = encode::Encoder::open(plan_.encoder, params,
                                       plan::open_audio_track(plan_, std::move(audio)));
    }
    if (plan_.output_rate.num > 0) rate_.emplace(plan_.output_rate);
    if (!plan_.vf_in_order.empty()) {
      in_order_.emplace(transform::FilterChain::parse(plan_.vf_in_order));
      // From what the workers hand on (the shared part of the chain), as large as any step.
      const transform::Geometry in = transform::FilterChain::parse(plan_.vf_workers)
                                         .plan({plan_.input_info.width, plan_.input_info.height})
                                         .back();
      const auto bytes =
          std::max<std::uint64_t>(control_.slot_bytes, in_order_->max_picture_bytes(in)) +
          transform::kPlaneAlign;
      spare_.resize(bytes);
      scratch_.resize(bytes);
    }
  }

  // Whether this output takes the frame as the slot holds it (no filter of its own).
  [[nodiscard]] bool takes_slot() const { return !in_order_ && !graph_; }
  [[nodiscard]] bool encodes() const { return encoder_ != nullptr; }
  // Frames handed on to the encoder (or counted, for null): what -frames:v counts.
  [[nodiscard]] std::int64_t handed() const { return handed_; }

  // The next frame in decode order, for an output that takes it as the slot holds it: a
  // reference to the slot (null for a null output).
  void put_frame(av::FramePtr frame, std::int64_t capture) {
    if (finished_once_full()) return;
    const TimedWork work(*this);
    hand_on(std::move(frame), capture);
  }

  // The next frame in decode order, for an output with filters of its own: read from the slot.
  void put_slot(const shm::Slot& slot, std::int64_t capture) {
    if (finished_once_full()) return;
    const TimedWork work(*this);
    av::FramePtr frame = take_out(slot);
    if (graph_) {
      to_graph(frame.get(), capture);
    } else {
      hand_on(std::move(frame), capture);
    }
  }

  // Live, with several outputs: whether this output, at its own cost per frame, would encode
  // the frame past its deadline. It then drops the frame on its own (counted by output), and the
  // other outputs still take it.
  bool drops_late(const live::Deadline& deadline, std::int64_t capture) {
    if (full_ ||
        !deadline.late(capture, static_cast<std::int64_t>(monotonic_ns()), cost_.value_ns()))
      return false;  // an output with its -frames:v takes no more frames, and drops none
    control_.output_drops[index_].fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  // The input has ended (or was stopped): what the graph and -r held, then the encoder's tail.
  // An output that -frames:v cut ends its audio with its video, as one stopped early does (and
  // as the ffmpeg CLI ends it), not with the input's.
  void finish(bool stopped_early) {
    if (finished_) return;
    finished_ = true;
    const TimedWork work(*this);
    if (graph_) to_graph(nullptr, static_cast<std::int64_t>(monotonic_ns()));
    if (rate_) rate_->finish(end_s_, [&](Timed& t, std::int64_t index) { send_at(t, index); });
    if (encoder_) {
      const std::uint64_t before = encoder_->packets();
      const bool cut = plan_.max_frames > 0 && handed_ >= plan_.max_frames;
      encoder_->finish(stopped_early || cut);
      packets_written(before);
    }
  }

 private:
  // An output that has its -frames:v is finished at the next frame that comes (not at the end
  // of the input, which may be hours away live): its file is complete, and decode's audio ring
  // keeps nothing more for it. True once it is: the frame is not this output's.
  bool finished_once_full() {
    if (!full_) return false;
    finish(/*stopped_early=*/true);
    return true;
  }

  // The time of one piece of this output's work: into its busy time and its cost per frame.
  class TimedWork {
   public:
    explicit TimedWork(Branch& branch) : branch_(branch), began_(monotonic_ns()) {}
    ~TimedWork() {
      const auto ns = static_cast<std::int64_t>(monotonic_ns() - began_);
      branch_.control_.output_busy_ns[branch_.index_].fetch_add(static_cast<std::uint64_t>(ns),
                                                                std::memory_order_relaxed);
      branch_.cost_.add(ns);
      branch_.control_.output_cost_ns[branch_.index_].store(branch_.cost_.value_ns(),
                                                            std::memory_order_relaxed);
    }
    TimedWork(const TimedWork&) = delete;
    TimedWork& operator=(const TimedWork&) = delete;

   private:
    Branch& branch_;
    std::uint64_t began_;
  };

  // The graph of -vf's filters that give frames of their own (RunPlan::vf_graph). Its frames
  // come in its own time base and rate, and in a format the encoder takes as it is (a GIF's
  // palettes).
  void open_graph(encode::StreamParams& params, const plan::RunPlan& run) {
    const transform::Geometry in = plan_.vf_graph_input, out = plan_.output_geometry();
    graph_.emplace(plan_.vf_graph, in.width, in.height, AV_PIX_FMT_YUV420P,
                   plan_.input_info.time_base,
                   plan_.null_output ? std::vector<AVPixelFormat>{AV_PIX_FMT_YUV420P}
                                     : encode::frame_formats(plan_.encoder, out.width, out.height),
                   std::max<int>(1, static_cast<int>(run.cpus_of(stage_name()).size())),
                   plan_.input_info.frame_rate);
    frames_tb_ = graph_->out_time_base();
    graph_rate_ = graph_->out_frame_rate();
    params.pix_fmt = graph_->out_format();
    if (plan_.output_rate.num > 0) return;  // -r numbers the frames itself
    params.time_base = frames_tb_;
    if (graph_rate_.num > 0 && graph_rate_.den > 0) params.frame_rate = graph_rate_;
  }

  // A frame out of the chain, in output order: re-timed (-r) and encoded, or counted (null).
  // Past the output's -frames:v it is dropped (decode stops once every output has its count).
  void hand_on(av::FramePtr frame, std::int64_t capture) {
    if (plan_.max_frames > 0 && handed_ >= plan_.max_frames) {
      if (!full_) {
        full_ = true;
        output_full(control_, index_, nb_outputs_);
      }
      return;
    }
    ++handed_;
    if (!encoder_) {
      counters_.latency(capture);
      counted();
    } else if (rate_) {
      const double pts_s = static_cast<double>(frame->pts) * av_q2d(frames_tb_);
      end_s_ = std::max(
          end_s_, static_cast<double>(frame->pts + std::max<std::int64_t>(frame->pkt_duration, 0)) *
                      av_q2d(frames_tb_));
      rate_->push(Timed{std::move(frame), capture}, pts_s,
                  [&](Timed& t, std::int64_t index) { send_at(t, index); });
    } else {
      send(frame.get(), capture);
    }
  }

  void counted() {
    control_.output_frames[index_].fetch_add(1, std::memory_order_relaxed);
    if (index_ == 0) counters_.frame_out();
  }

  // The slot's picture as a frame of its own, through -vf's in-order part (RunPlan::vf_in_order)
  // where there is one, for what must see frames in order here; the copy is counted.
  av::FramePtr take_out(const shm::Slot& slot) {
    const shm::FrameDesc& d = slot.desc();
    transform::Picture picture = transform::current_picture(slot);
    if (in_order_) {
      picture = in_order_
                    ->run(picture, transform::aligned_start(spare_),
                          transform::aligned_start(scratch_), transform::frame_context(d, plan_))
                    .picture;
    }
    av::FramePtr frame = transform::copy_to_frame(picture);
    frame->pts = d.pts;
    frame->pkt_duration = d.duration;
    frame->interlaced_frame = d.fields != shm::kProgressive ? 1 : 0;
    frame->top_field_first = d.fields == shm::kTopFieldFirst ? 1 : 0;
    ++taken_out_;
    const std::uint64_t copied = (in_order_ ? in_order_->frames_copied() : 0) + taken_out_;
    ctx_.stats.frames_copied.fetch_add(copied - copied_, std::memory_order_relaxed);
    copied_ = copied;
    return frame;
  }

  // Into the graph (null: the input's end, where its last frame ends), and on with every frame
  // it gives now. A frame's capture time is that of the latest frame in at or before its
  // timestamp.
  void to_graph(AVFrame* frame, std::int64_t capture) {
    int err = 0;
    if (frame != nullptr) {
      captures_[frame->pts] = capture;
      graph_end_ =
          std::max(graph_end_, frame->pts + std::max<std::int64_t>(frame->pkt_duration, 0));
      err = graph_->push(frame);
    } else {
      err = graph_->end(graph_end_);
    }
    if (err < 0) av::filter_error(plan_.vf_graph, "refused a frame", err);
    const AVRational input_tb = plan_.input_info.time_base;
    for (;;) {
      av::FramePtr out(av_frame_alloc());
      if (!out) fail(ExitCode::kRunFailed, "out of memory");
      err = graph_->pull(out.get());
      if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return;
      if (err < 0) av::filter_error(plan_.vf_graph, "failed on a frame", err);
      // Durations from the graph's own rate (the encoder derives a variable rate's from the
      // next timestamp).
      out->pkt_duration = graph_rate_.num > 0 && graph_rate_.den > 0
                              ? av_rescale_q(1, av_inv_q(graph_rate_), frames_tb_)
                              : 0;
      std::int64_t from = capture;
      auto at = captures_.upper_bound(av_rescale_q(out->pts, frames_tb_, input_tb));
      if (at != captures_.begin()) {
        from = std::prev(at)->second;
        captures_.erase(captures_.begin(), std::prev(at));
      }
      hand_on(std::move(out), from);
    }
  }

  void send(AVFrame* frame, std::int64_t capture) {
    unpacketed_.push_back(capture);
    const std::uint64_t before = encoder_->packets();
    encoder_->send(frame);
    packets_written(before);
    counted();
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
      if (index_ == 0) counters_.latency(unpacketed_.front());
      unpacketed_.pop_front();
    }
  }

  // The process this output is encoded in (its CPUs): encode, or one of its own.
  [[nodiscard]] std::string stage_name() const {
    return StageId::output_encoder(plan_.own_process ? index_ : 0).name();
  }

  const plan::RunPlan& plan_;
  StageContext& ctx_;
  shm::ControlBlock& control_;
  const int index_;  // the output's place: 0 for -o's first
  const int nb_outputs_;
  Counters counters_;
  std::unique_ptr<encode::Encoder> encoder_;
  live::CostEstimate cost_;  // time per frame
  // Capture times of frames sent to the encoder whose packets have not come out yet.
  std::deque<std::int64_t> unpacketed_;
  std::optional<encode::RateConverter<Timed>> rate_;
  std::optional<transform::FilterChain> in_order_;  // -vf's part that must see frames in order
  std::vector<std::uint8_t> spare_, scratch_;       // its buffers
  std::optional<av::FilterGraph> graph_;            // -vf's part that gives frames of its own
  AVRational frames_tb_{1, 1};   // of the frames handed on: the input's, or the graph's
  AVRational graph_rate_{0, 1};  // the graph's frame rate, 0/1: variable
  std::map<std::int64_t, std::int64_t> captures_;  // frames in the graph: pts -> capture time
  std::int64_t graph_end_ = 0;                     // where the last frame in ends
  std::int64_t handed_ = 0;                        // frames handed on (-frames:v counts them)
  bool full_ = false;                              // -frames:v reached
  bool finished_ = false;                          // finish() ran (once full, or at the end)
  std::uint64_t taken_out_ = 0;                    // slots copied out to frames of their own
  std::uint64_t copied_ = 0;                       // frames_copied already counted
  double end_s_ = 0;                               // where the last frame ends
};

// One run of the encode stage: takes frames from the filtered ring, restores decode order, and
// hands each to every output: the same slot, without a copy, to the ring of each output encoded
// in a process of its own, and to each branch here (a reference to the slot for those that take
// it as it is); also to the preview and the latency histogram.
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
    const Branch::Counters counters{[this](std::int64_t capture) { record_latency(capture); },
                                    [this] { ctx_.frame_out(); }};
    std::vector<const plan::RunPlan*> outputs{&plan_};
    for (const plan::RunPlan& more : plan_.more_outputs) outputs.push_back(&more);
    // A stream input's audio, read once by decode: every output that takes it reads decode's
    // ring, each packet given to each.
    const auto from_ring = [](const plan::RunPlan* p) {
      return p->copy_audio && p->audio_from_decode;
    };
    std::shared_ptr<encode::SharedAudioRing> audio;
    if (const auto readers = std::count_if(outputs.begin(), outputs.end(), from_ring)) {
      if (std::optional<shm::PacketRing> ring = ctx.segment.audio_ring())
        audio = std::make_shared<encode::SharedAudioRing>(*ring, static_cast<int>(readers));
    }
    int reader = 0;
    for (std::size_t i = 0; i < outputs.size(); ++i) {
      if (outputs[i]->fed_by_ring()) {
        std::optional<shm::OutputRing> ring = ctx.segment.output_ring(static_cast<int>(i));
        if (!ring) std::abort();  // the plan gave the output a process, the segment a ring
        elsewhere_.push_back({static_cast<int>(i), *ring});
        continue;
      }
      if (outputs[i]->own_process) continue;  // a copy, remuxed by a process of its own
      std::optional<encode::AudioRingReader> own;
      if (audio && from_ring(outputs[i])) own = encode::AudioRingReader{audio, reader++};
      branches_.push_back(std::make_unique<Branch>(*outputs[i], plan_, ctx, static_cast<int>(i),
                                                   counters, std::move(own)));
    }
    if (plan_.preview) preview_ = encode::PreviewSink::open("vpipe: " + plan_.input);
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
  // The next frame in decode order: dropped (a tombstone, pre-roll, or live and too late), or
  // handed to every output.
  void next_in_order(shm::Slot slot) {
    const std::int64_t capture = slot.desc().capture_ns;
    const auto now = static_cast<std::int64_t>(monotonic_ns());
    bool drop = slot.desc().dropped != 0;  // a tombstone: dropped and counted upstream
    if (slot.desc().pts < keep_from_) drop = true;
    // With several outputs, each drops what would be late for it; the stage drops a frame only
    // when it would be late for every output.
    const bool each_drops = plan_.live && !plan_.more_outputs.empty();
    std::int64_t cost = cost_.value_ns();
    if (each_drops) {
      for (std::size_t i = 0; i <= plan_.more_outputs.size(); ++i)
        cost = std::min(cost, control_.output_cost_ns[i].load(std::memory_order_relaxed));
    }
    if (!drop && plan_.live && deadline_.late(capture, now, cost)) {
      drop = true;
      ctx_.stats.drops_late.fetch_add(1, std::memory_order_relaxed);
    }
    if (drop) {
      shm::frame_left(slot, control_);
      return;
    }
    // Outputs encoded in processes of their own read the slot too (each drops its own late
    // frames there); one that has its -frames:v takes no more.
    for (Elsewhere& output : elsewhere_) {
      if ((control_.outputs_full.load(std::memory_order_relaxed) & (1u << output.index)) != 0)
        continue;
      if (!ctx_.wait_unless_aborted([&](auto t) { return output.ring.share_for(slot, t); })) {
        shm::frame_left(slot, control_);
        return;  // aborted
      }
    }
    if (branches_.front()->takes_slot()) show(slot);
    // Outputs with filters of their own read the slot first; then those that take it as it is
    // get a reference each: the slot and its credit go back when the last encoder lets go.
    bool shared_use = false;
    for (const auto& branch : branches_) {
      if (!branch->takes_slot()) {
        if (!each_drops || !branch->drops_late(deadline_, capture)) branch->put_slot(slot, capture);
      } else if (!branch->encodes()) {
        branch->put_frame(nullptr, capture);
      } else {
        shared_use = true;
      }
    }
    if (shared_use) {
      const av::FramePtr shared = wrap_slot(std::move(slot), control_);
      for (const auto& branch : branches_) {
        if (!branch->takes_slot() || !branch->encodes()) continue;
        if (each_drops && branch->drops_late(deadline_, capture)) continue;
        av::FramePtr mine(av_frame_clone(shared.get()));
        if (!mine) fail(ExitCode::kRunFailed, "out of memory");
        branch->put_frame(std::move(mine), capture);
      }
    } else {
      shm::frame_left(slot, control_);
    }
    cost_.add(static_cast<std::int64_t>(monotonic_ns()) - now);
    ctx_.stats.cost_ns.store(cost_.value_ns(), std::memory_order_relaxed);
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

  // Every frame decode counted must have come through; then every output is finished.
  void finish() {
    const std::int64_t total = control_.total_frames.load(std::memory_order_acquire);
    if (total >= 0 && order_.next_seq() != total) {
      fail(ExitCode::kRunFailed, "encode received " + std::to_string(order_.next_seq()) + " of " +
                                     std::to_string(total) + " frames");
    }
    ScopedTimer busy(ctx_.stats.busy_ns);
    for (Elsewhere& output : elsewhere_) {
      if (!ctx_.wait_unless_aborted([&](auto t) { return output.ring.push_end_of_stream_for(t); }))
        return;
    }
    for (const auto& branch : branches_) branch->finish(stopped_early(ctx_));
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
  std::vector<std::unique_ptr<Branch>> branches_;  // one per output encoded here, -o's first first
  // An output encoded in a process of its own (run_output_stage), and the ring that feeds it.
  struct Elsewhere {
    int index;
    shm::OutputRing ring;
  };
  std::vector<Elsewhere> elsewhere_;
  std::unique_ptr<encode::PreviewSink> preview_;
  std::uint64_t first_shown_ns_ = 0;
  std::uint64_t shown_ = 0;
};

// A later output's encoder in a process of its own: the frames encode shares with it, in decode
// order, through its branch (its own filters, -r, encoder and muxer). Live, it drops the frames
// that would be late for it alone.
class OutputStage {
 public:
  explicit OutputStage(StageContext& ctx)
      : ctx_(ctx),
        control_(ctx.segment.control()),
        ring_(ring_of(ctx)),
        deadline_{ctx.plan.latency_budget_ns()},
        branch_(ctx.plan.more_outputs.at(static_cast<std::size_t>(ctx.worker_index) - 1), ctx.plan,
                ctx, ctx.worker_index, Branch::Counters{[](std::int64_t) {}, [] {}}, std::nullopt) {
  }

  int run() {
    control_.stages_ready.fetch_add(1);
    for (;;) {
      std::optional<shm::RingItem> item;
      {
        ScopedTimer waiting(ctx_.stats.wait_ns);
        item = ctx_.wait_unless_aborted([&](auto t) { return ring_.pop_for(t); });
      }
      if (!item) return 0;
      if (item->end_of_stream()) break;
      ctx_.stats.frames_in.fetch_add(1, std::memory_order_relaxed);
      ScopedTimer busy(ctx_.stats.busy_ns);
      take(std::move(item->slot));
    }
    ScopedTimer busy(ctx_.stats.busy_ns);
    branch_.finish(stopped_early(ctx_));
    count_out();
    return 0;
  }

 private:
  static shm::OutputRing ring_of(StageContext& ctx) {
    std::optional<shm::OutputRing> ring = ctx.segment.output_ring(ctx.worker_index);
    if (!ring) fail(ExitCode::kRunFailed, "no frames are planned for this output's process");
    return *ring;
  }

  void take(shm::Slot slot) {
    const std::int64_t capture = slot.desc().capture_ns;
    if (ctx_.plan.live && branch_.drops_late(deadline_, capture)) {
      shm::frame_left(slot, control_);
      return;
    }
    if (!branch_.takes_slot()) {
      branch_.put_slot(slot, capture);
      shm::frame_left(slot, control_);
    } else {
      branch_.put_frame(wrap_slot(std::move(slot), control_), capture);
    }
    count_out();
  }

  // Frames out: what the branch handed on (none once it has its -frames:v; a graph's own).
  void count_out() {
    ctx_.stats.frames_out.fetch_add(static_cast<std::uint64_t>(branch_.handed() - counted_),
                                    std::memory_order_relaxed);
    counted_ = branch_.handed();
  }

  StageContext& ctx_;
  shm::ControlBlock& control_;
  shm::OutputRing ring_;
  const live::Deadline deadline_;
  Branch branch_;
  std::int64_t counted_ = 0;  // of the branch's frames handed on, those in frames_out
};

}  // namespace

// A later output with -c copy, in a process of its own: its packets remuxed from the input file
// (stage/stream_copy.hpp) beside the pipeline, until the run is told to stop.
int run_copy_output(StageContext& ctx) {
  const int index = ctx.worker_index;
  shm::ControlBlock& control = ctx.segment.control();
  control.stages_ready.fetch_add(1);
  const std::uint64_t began = monotonic_ns();
  const auto counted = [&](std::uint64_t frames) {
    control.output_frames[index].store(frames, std::memory_order_relaxed);
    ctx.stats.frames_out.store(frames, std::memory_order_relaxed);
    control.output_busy_ns[index].store(monotonic_ns() - began, std::memory_order_relaxed);
  };
  const CopyResult copied = run_stream_copy(
      ctx.plan.more_outputs.at(static_cast<std::size_t>(index) - 1), [&](std::uint64_t frames) {
        ctx.beat();
        counted(frames);
        return control.stop_requested.load(std::memory_order_relaxed) == 0 && !ctx.aborted();
      });
  counted(copied.frames);
  return 0;
}

int run_encode_stage(StageContext& ctx) {
  if (ctx.worker_index > 0) {
    if (ctx.plan.more_outputs.at(static_cast<std::size_t>(ctx.worker_index) - 1).stream_copy())
      return run_copy_output(ctx);
    OutputStage stage(ctx);
    return stage.run();
  }
  EncodeStage stage(ctx);
  return stage.run();
}

}  // namespace vpipe::stage
