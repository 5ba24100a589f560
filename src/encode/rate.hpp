// RateConverter (-r): re-times frames onto a constant output rate by timestamp, as ffmpeg's fps
// filter does: each input frame's time is rounded to the nearest output slot; a slot takes the
// last frame that lands on it; an empty slot repeats the frame before it. A frame is held until
// the next one shows which slots it fills. Pure (any frame type), so it is unit-tested.
#pragma once

#include <cmath>
#include <cstdint>
#include <utility>

extern "C" {
#include <libavutil/rational.h>
}

namespace vpipe::encode {

template <typename Frame>
class RateConverter {
 public:
  explicit RateConverter(AVRational rate) : rate_(av_q2d(rate)) {}

  // The next input frame (in order), at `pts_s` seconds. `emit(frame, index)` is called for each
  // output slot now settled, with the frame that fills it (the same frame for a repeat).
  template <typename Emit>
  void push(Frame frame, double pts_s, Emit&& emit) {
    const auto index = static_cast<std::int64_t>(std::llround(pts_s * rate_));
    if (has_held_ && index < held_index_) return;  // a timestamp going backwards: dropped
    if (has_held_) {
      for (std::int64_t slot = held_index_; slot < index; ++slot) emit(held_, slot);
    }
    // A later frame for the same slot wins.
    held_ = std::move(frame);
    held_index_ = index;
    has_held_ = true;
  }

  // The end of the stream, `end_s` being where the last frame ends: the held frame fills the
  // slots from its own up to that end.
  template <typename Emit>
  void finish(double end_s, Emit&& emit) {
    if (!has_held_) return;
    const auto end = static_cast<std::int64_t>(std::llround(end_s * rate_));
    for (std::int64_t slot = held_index_; slot < end; ++slot) emit(held_, slot);
    held_ = Frame{};
    has_held_ = false;
  }

 private:
  double rate_;
  Frame held_{};
  std::int64_t held_index_ = 0;
  bool has_held_ = false;
};

}  // namespace vpipe::encode
