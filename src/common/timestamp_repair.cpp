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

void TimestampRepair::count(const std::string& what, std::int64_t at_us, int stream,
                            const char* then) {
  if (repairs_++ == 0 && say_) {
    spdlog::warn("{} at {:.3f} s (stream {}): {}", what, static_cast<double>(at_us) / AV_TIME_BASE,
                 stream, then);
  }
}

bool TimestampRepair::fix(AVPacket* packet, const AVStream* stream) {
  const AVRational tb = stream->time_base;
  const auto us = [&](std::int64_t ts) { return av_rescale_q(ts, tb, AV_TIME_BASE_Q); };
  const auto shift = [&](std::int64_t by_us) {
    for (std::int64_t* ts : {&packet->dts, &packet->pts}) {
      if (*ts != AV_NOPTS_VALUE) *ts += av_rescale_q(by_us, AV_TIME_BASE_Q, tb);
    }
  };
  const auto wild = [&](std::int64_t off_us, std::int64_t at_us) {
    count(fmt::format("an input timestamp is {:.0f} s off",
                      static_cast<double>(off_us) / AV_TIME_BASE),
          at_us, stream->index, "dropped, the frame is timed from those before it");
  };
  Stream& s = streams_[stream->index];
  shift(s.offset);
  // A presentation timestamp far from its decoding timestamp is wild on its own.
  if (packet->pts != AV_NOPTS_VALUE && packet->dts != AV_NOPTS_VALUE &&
      std::llabs(us(packet->pts - packet->dts)) > kWildUs) {
    wild(us(packet->pts - packet->dts), us(packet->dts));
    packet->pts = AV_NOPTS_VALUE;
  }
  // Matroska gives only presentation timestamps: those stand in (they step back over B-frames,
  // by far less than either threshold).
  const std::int64_t ts = packet->dts != AV_NOPTS_VALUE ? packet->dts : packet->pts;
  if (ts == AV_NOPTS_VALUE) return false;
  std::int64_t dts = us(ts);
  bool repaired = false;
  if (s.next_dts != AV_NOPTS_VALUE) {
    const std::int64_t delta = dts - s.next_dts;
    if (may_jump_ && (std::llabs(delta) > kJumpUs || dts + kBehindUs < s.last_dts)) {
      count(fmt::format("input timestamps jump by {:.3f} s",
                        static_cast<double>(delta) / AV_TIME_BASE),
            s.next_dts, stream->index, "the output goes on without the jump");
      s.offset -= delta;
      shift(-delta);
      dts -= delta;
      repaired = true;
    } else if (!may_jump_ && std::llabs(delta) > kWildUs) {
      wild(delta, s.next_dts);
      packet->dts = AV_NOPTS_VALUE;
      packet->pts = AV_NOPTS_VALUE;
      return true;
    }
  }
  s.last_dts = s.last_dts == AV_NOPTS_VALUE ? dts : std::max(s.last_dts, dts);
  s.next_dts = dts + (packet->duration > 0 ? us(packet->duration) : 0);
  return repaired;
}

}  // namespace vpipe
