#include "plan/run_plan.hpp"

#include <cmath>

#include "encode/audio_copy.hpp"

namespace vpipe::plan {
namespace {

constexpr std::uint64_t kAudioRingBytes = 4ULL << 20;

}  // namespace

const std::vector<int>& RunPlan::cpus_of(const std::string& stage) const {
  static const std::vector<int> kAny;
  for (const auto& s : cpus.stages) {
    if (s.stage == stage) return s.cpus;
  }
  return kAny;
}

encode::StreamParams RunPlan::stream_params() const {
  const auto& in = input_info;
  // After an autorotation, the picture the filters start from is the turned one, and its
  // pixels' aspect ratio turns with it.
  const bool turned = autorotate_degrees % 180 == 90;
  const transform::Geometry first = steps.at(autorotate_degrees != 0 ? 1 : 0), last = steps.back();
  encode::StreamParams p{last.width, last.height, in.time_base, in.frame_rate};
  if (output_rate.num > 0) {
    // -r: encode numbers frames in 1/rate.
    p.time_base = av_inv_q(output_rate);
    p.frame_rate = output_rate;
  }
  if (in.sample_aspect_ratio.num > 0 && in.sample_aspect_ratio.den > 0) {
    const AVRational sar = turned ? av_inv_q(in.sample_aspect_ratio) : in.sample_aspect_ratio;
    // The display shape is kept: a resize to another shape changes the pixels' aspect (as
    // ffmpeg's scale filter does).
    p.sample_aspect_ratio =
        first == last
            ? sar
            : av_mul_q(sar, AVRational{last.height * first.width, last.width * first.height});
    av_reduce(&p.sample_aspect_ratio.num, &p.sample_aspect_ratio.den, p.sample_aspect_ratio.num,
              p.sample_aspect_ratio.den, 1 << 30);
  }
  if (display_aspect.num > 0) {
    // -aspect: the pixels take the shape that shows the output's size at that ratio.
    av_reduce(&p.sample_aspect_ratio.num, &p.sample_aspect_ratio.den,
              static_cast<std::int64_t>(display_aspect.num) * last.height,
              static_cast<std::int64_t>(display_aspect.den) * last.width, 1 << 30);
    p.aspect_given = true;
  }
  if (!in.rgb) {
    // Decode converts a full-range yuvj format into limited-range yuv420p; RGB inputs have no
    // YUV tags worth keeping (the conversion uses swscale's default matrix, BT.601).
    p.color_range = in.pix_fmt.rfind("yuvj", 0) == 0 ? AVCOL_RANGE_MPEG : in.color_range;
    p.color_primaries = in.color_primaries;
    p.color_trc = in.color_trc;
    p.colorspace = in.colorspace;
  }
  if (keep_metadata && autorotate_degrees == 0) p.display_matrix = in.display_matrix;
  if (keep_metadata) {
    p.metadata = in.metadata;
  }
  return p;
}

decode::OpenSettings RunPlan::open_settings() const {
  return {decoder_threads, input_format, input_timeout_s, maps, input_options};
}

std::int64_t RunPlan::expected_frames() const {
  std::int64_t frames = input_info.nb_frames;
  // Filters that give frames of their own give them at their own rate (0/1: unknown, as select).
  const bool cut = start_s > 0 || duration_s > 0 || output_rate.num > 0 || !vf_graph.empty();
  if (pts_range) {
    frames = 0;  // a segment job: its own range, counted by its caller
  } else if (cut) {
    const AVRational rate = output_frame_rate();
    double seconds = input_info.duration_s > 0 ? std::max(0.0, input_info.duration_s - start_s) : 0;
    if (duration_s > 0) seconds = seconds > 0 ? std::min(seconds, duration_s) : duration_s;
    frames = seconds > 0 && rate.num > 0 ? std::llround(seconds * av_q2d(rate)) : 0;
    // Without a duration, -t alone cannot bound a live source's frames: unknown.
    if (input_info.duration_s <= 0 && (live || duration_s <= 0)) frames = 0;
  }
  if (max_frames > 0) frames = frames > 0 ? std::min(frames, max_frames) : max_frames;
  return frames;
}

shm::SegmentSpec RunPlan::segment_spec() const {
  std::uint32_t output_rings = 0;
  for (std::size_t i = 0; i < more_outputs.size(); ++i) {
    if (more_outputs[i].fed_by_ring()) output_rings |= 1u << (i + 1);
  }
  return {nb_slots,       slot_bytes,
          window,         static_cast<std::uint32_t>(nb_workers),
          to_json(*this), audio_from_decode ? kAudioRingBytes : 0,
          output_rings};
}

std::unique_ptr<encode::AudioTrack> open_audio_track(const RunPlan& plan,
                                                     std::optional<encode::AudioRingReader> ring) {
  if (!plan.copy_audio) return nullptr;
  const auto& in = plan.input_info;
  if (plan.audio_encoder.empty()) {
    return ring ? encode::AudioCopy::from_ring(*ring, in.audio, plan.origin_s())
                : encode::AudioCopy::open(in.url, in.audio_stream_index, plan.origin_s());
  }
  return ring ? encode::AudioTranscode::from_ring(*ring, in.audio, plan.origin_s(),
                                                  plan.audio_encoder, plan.audio_bitrate)
              : encode::AudioTranscode::open(in.url, in.audio_stream_index, plan.origin_s(),
                                             plan.audio_encoder, plan.audio_bitrate);
}

}  // namespace vpipe::plan
