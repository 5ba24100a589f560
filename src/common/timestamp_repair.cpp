#include "common/timestamp_repair.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>

namespace vpipe {
namespace {

constexpr std::int64_t kJumpUs = 10LL * AV_TIME_BASE;         // ffmpeg's -dts_delta_threshold
constexpr std::int64_t kWildUs = 3600LL * 30 * AV_TIME_BASE;  // ffmpeg's -dts_error_threshold
constexpr std::int64_t kBehindUs = AV_TIME_BASE / 10;

}  // namespace

TimestampRepair::TimestampRepair(const AVFormatContext* input, bool say)
    : may_jump_(input != nullptr && input->iformat != nullptr &&
                (input->iformat->flags & AVFMT_TS_DISCONT) != 0),
      say_(say) {}

bool TimestampRepair::fix(AVPacket* packet, const AVStream* stream) {
  const AVRational tb = stream->time_base;
  Stream& s = streams_[stream->index];
  const auto shift = [&](std::int64_t& ts, std::int64_t us) {
    if (ts != AV_NOPTS_VALUE) ts += av_rescale_q(us, AV_TIME_BASE_Q, tb);
  };
  shift(packet->dts, s.offset);
  shift(packet->pts, s.offset);
  // A presentation timestamp far from its decoding timestamp is wild on its own.
  if (packet->pts != AV_NOPTS_VALUE && packet->dts != AV_NOPTS_VALUE &&
      std::llabs(av_rescale_q(packet->pts - packet->dts, tb, AV_TIME_BASE_Q)) > kWildUs) {
    if (repairs_ == 0 && say_) {
      spdlog::warn(
          "an input timestamp is {:.0f} s off at {:.3f} s (stream {}): dropped, the "
          "frame is timed from those before it",
          av_q2d(tb) * static_cast<double>(packet->pts - packet->dts),
          av_q2d(tb) * static_cast<double>(packet->dts), stream->index);
    }
    ++repairs_;
    packet->pts = AV_NOPTS_VALUE;
  }
  // Matroska gives only presentation timestamps: those stand in (they step back over B-frames,
  // by far less than either threshold).
  const std::int64_t ts = packet->dts != AV_NOPTS_VALUE ? packet->dts : packet->pts;
  if (ts == AV_NOPTS_VALUE) return false;
  std::int64_t dts = av_rescale_q(ts, tb, AV_TIME_BASE_Q);
  bool repaired = false;
  if (s.next_dts != AV_NOPTS_VALUE) {
    const std::int64_t delta = dts - s.next_dts;
    if (may_jump_ && (std::llabs(delta) > kJumpUs || dts + kBehindUs < s.last_dts)) {
      s.offset -= delta;
      shift(packet->dts, -delta);
      shift(packet->pts, -delta);
      dts -= delta;
      repaired = true;
      if (repairs_ == 0 && say_) {
        spdlog::warn(
            "input timestamps jump by {:.3f} s at {:.3f} s (stream {}): the output goes "
            "on without the jump",
            static_cast<double>(delta) / AV_TIME_BASE,
            static_cast<double>(s.next_dts) / AV_TIME_BASE, stream->index);
      }
    } else if (!may_jump_ && std::llabs(delta) > kWildUs) {
      if (repairs_ == 0 && say_) {
        spdlog::warn(
            "an input timestamp is {:.0f} s off at {:.3f} s (stream {}): dropped, the "
            "frame is timed from those before it",
            static_cast<double>(delta) / AV_TIME_BASE,
            static_cast<double>(s.next_dts) / AV_TIME_BASE, stream->index);
      }
      ++repairs_;
      packet->dts = AV_NOPTS_VALUE;
      packet->pts = AV_NOPTS_VALUE;
      return true;
    }
  }
  if (repaired) ++repairs_;
  s.last_dts = s.last_dts == AV_NOPTS_VALUE ? dts : std::max(s.last_dts, dts);
  s.next_dts =
      dts + (packet->duration > 0 ? av_rescale_q(packet->duration, tb, AV_TIME_BASE_Q) : 0);
  return repaired;
}

}  // namespace vpipe
