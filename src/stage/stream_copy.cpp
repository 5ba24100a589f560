#include "stage/stream_copy.hpp"

#include <spdlog/spdlog.h>

#include <cmath>
#include <csignal>

#include "common/av.hpp"
#include "common/error.hpp"
#include "common/memory.hpp"
#include "common/signals.hpp"
#include "encode/audio_copy.hpp"
#include "encode/encoder.hpp"

namespace vpipe::stage {
namespace {

// libav's blocking I/O (a network input that has gone quiet) asks this between waits: a stop
// signal waiting to be taken ends the wait, and the copy.
int stop_signal_pending(void*) {
  sigset_t pending;
  if (sigpending(&pending) != 0) return 0;
  const sigset_t stop = stop_signal_set();
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sigismember(&stop, sig) == 1 && sigismember(&pending, sig) == 1) return 1;
  }
  return 0;
}

av::InputContextPtr open_input(const plan::RunPlan& plan) {
  AVFormatContext* raw = avformat_alloc_context();
  if (raw == nullptr) fail_out_of_memory("opening the input");
  raw->interrupt_callback = {stop_signal_pending, nullptr};
  const AVInputFormat* format =
      plan.input_format.empty() ? nullptr : av_find_input_format(plan.input_format.c_str());
  AVDictionary* options = nullptr;
  for (const auto& [key, value] : plan.input_options)
    av_dict_set(&options, key.c_str(), value.c_str(), 0);
  const int err = avformat_open_input(&raw, plan.input.c_str(), format, &options);
  av_dict_free(&options);
  if (err == AVERROR_EXIT) {
    fail(ExitCode::kStopped, "stopped by a signal while the input was opening: nothing written");
  }
  if (err < 0) {
    fail(ExitCode::kInput, "input '" + plan.input + "': " + av::error_text(err));
  }
  av::InputContextPtr input(raw);
  if (avformat_find_stream_info(raw, nullptr) < 0)
    fail(ExitCode::kInput, "input '" + plan.input + "': cannot read its streams");
  return input;
}

// The input's video stream, checked to fit the output's container.
const AVStream* stream_to_copy(const AVFormatContext* input, const plan::RunPlan& plan) {
  const int index = plan.input_info.stream_index;
  if (index < 0 || index >= static_cast<int>(input->nb_streams))
    fail(ExitCode::kInput, "input '" + plan.input + "': no video stream to copy");
  const AVStream* stream = input->streams[index];
  std::string why;
  if (!encode::container_accepts(plan.encoder, stream->codecpar, &why)) {
    fail(ExitCode::kUsage, "-c:v copy: the output cannot hold the input's " +
                               std::string(avcodec_get_name(stream->codecpar->codec_id)) +
                               " video" + (why.empty() ? "" : " (" + why + ")") +
                               ": re-encode it (-c:v libx264) or choose another container");
  }
  return stream;
}

// The output, opened at the keyframe the copy begins with (`origin`, in the stream's time base):
// with -ss, the audio starts where the video does, and -t still ends at `end_s`.
std::unique_ptr<encode::Encoder> open_output_at(plan::RunPlan& plan, const AVStream* stream,
                                                std::int64_t origin, double end_s) {
  const AVRational tb = stream->time_base;
  const double origin_s = static_cast<double>(origin) * av_q2d(tb);
  if (plan.start_s > 0) {
    plan.start_s = std::max(0.0, origin_s - plan.input_info.timeline_start_s);
    if (plan.duration_s > 0) plan.duration_s = end_s - origin_s;
  }
  return encode::Encoder::open_remux(plan.encoder, plan.stream_params(), stream->codecpar, tb,
                                     plan::open_audio_track(plan, std::nullopt));
}

}  // namespace

CopyResult run_stream_copy(plan::RunPlan plan,
                           const std::function<bool(std::uint64_t frames)>& keep_going) {
  const av::InputContextPtr input = open_input(plan);
  const AVStream* stream = stream_to_copy(input.get(), plan);
  const int index = stream->index;
  const AVRational tb = stream->time_base;
  const double begin_s = plan.origin_s();
  if (plan.start_s > 0) {
    const std::int64_t ts = std::llround(begin_s / av_q2d(tb));
    if (av_seek_frame(input.get(), index, ts, AVSEEK_FLAG_BACKWARD) < 0)
      spdlog::warn("-ss: the input cannot seek; reading up to the start");
  }
  const double end_s = plan.duration_s > 0 ? begin_s + plan.duration_s : 0;

  const av::PacketPtr packet(av_packet_alloc());
  // The first keyframe at or before the start: the copy begins there, the audio with it.
  std::int64_t origin = AV_NOPTS_VALUE;
  std::unique_ptr<encode::Encoder> out;
  CopyResult result;
  bool stopped_early = false;
  for (;;) {
    const int err = av_read_frame(input.get(), packet.get());
    if (err == AVERROR_EOF) break;
    if (err == AVERROR_EXIT) {  // a stop signal, while the input kept vpipe waiting
      result.stopped = stopped_early = true;
      break;
    }
    if (err < 0) {
      spdlog::warn("input: {}; the copy ends here", av::error_text(err));
      break;
    }
    const bool video = packet->stream_index == index;
    const std::int64_t pts = packet->pts != AV_NOPTS_VALUE ? packet->pts : packet->dts;
    if (!video || pts == AV_NOPTS_VALUE) {
      av_packet_unref(packet.get());
      continue;
    }
    if (origin == AV_NOPTS_VALUE) {
      if ((packet->flags & AV_PKT_FLAG_KEY) == 0) {
        av_packet_unref(packet.get());
        continue;
      }
      origin = pts;
      out = open_output_at(plan, stream, origin, end_s);
    }
    if (end_s > 0 && static_cast<double>(pts) * av_q2d(tb) >= end_s - 1e-9) {
      stopped_early = true;
      av_packet_unref(packet.get());
      // Past the end by more than the reorder delay of a B-frame stream: nothing more to keep.
      if (packet->dts != AV_NOPTS_VALUE && static_cast<double>(packet->dts) * av_q2d(tb) >= end_s)
        break;
      continue;
    }
    if (plan.max_frames > 0 && static_cast<std::int64_t>(result.frames) >= plan.max_frames) {
      stopped_early = true;
      break;
    }
    packet->pts = packet->pts != AV_NOPTS_VALUE ? packet->pts - origin : AV_NOPTS_VALUE;
    packet->dts = packet->dts != AV_NOPTS_VALUE ? packet->dts - origin : AV_NOPTS_VALUE;
    packet->stream_index = 0;
    packet->pos = -1;
    out->write_packet(packet.get(), tb);
    ++result.frames;
    av_packet_unref(packet.get());
    if (!keep_going(result.frames)) {
      result.stopped = stopped_early = true;
      break;
    }
  }
  if (!out) fail(ExitCode::kInput, "input '" + plan.input + "': no video keyframe to copy from");
  out->finish(stopped_early);
  if (!plan.quiet) {
    spdlog::info("{} video packets copied -> {}", result.frames, plan.encoder.output);
  }
  return result;
}

}  // namespace vpipe::stage
