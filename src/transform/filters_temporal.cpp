// Filters whose work depends on the frame's place in the stream: tdenoise keeps the previous
// frame (so it is sequential), stress varies its cost with the frame's sequence number.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <opencv2/core.hpp>

#include "transform/filter_library.hpp"

namespace vpipe::transform::library {
namespace {

// ---- tdenoise -------------------------------------------------------------------------------

// A recursive average of luma with the previous output, weighted by how small the change is:
// a change up to half the threshold keeps 3/4 of the previous value (noise averages away over a
// few frames), the weight then fades to nothing at the threshold (no flicker at a hard edge), and
// a larger change is motion and passes untouched, so moving edges do not smear.
//
// The running average is kept in floats: in 8 bits, rounding would stall it a level or two short
// of a still picture, or never let small noise average out.
class TemporalDenoise final : public Filter {
 public:
  explicit TemporalDenoise(int threshold)
      : threshold_(threshold), inverse_range_(1.0F / static_cast<float>(threshold + 1)) {}

  std::string describe() const override {
    return "tdenoise=strength=" + std::to_string(threshold_);
  }
  bool in_place() const override { return true; }
  bool can_write_elsewhere() const override { return true; }
  bool sequential() const override { return true; }
  Geometry output_geometry(Geometry in) const override { return in; }
  // Only ever called by the one worker of a sequential chain, frame after frame, so previous_
  // needs no lock.
  void apply(const Picture& in, Picture& out, const FrameContext&) const override {
    constexpr float kMostKept = 0.75F;
    copy_plane_unless_same(in, out, 1);
    copy_plane_unless_same(in, out, 2);
    const cv::Mat y = in.plane(0);
    if (previous_.size() != y.size()) {
      y.convertTo(previous_, CV_32F);
      copy_plane_unless_same(in, out, 0);
      return;
    }
    cv::Mat out_y = out.plane(0);
    for (int row = 0; row < y.rows; ++row) {
      const auto* current = y.ptr<std::uint8_t>(row);
      auto* previous = previous_.ptr<float>(row);
      auto* result = out_y.ptr<std::uint8_t>(row);
      for (int x = 0; x < y.cols; ++x) {
        const float change = static_cast<float>(current[x]) - previous[x];
        const float fade = 2 * (1 - std::abs(change) * inverse_range_);
        const float kept = kMostKept * std::clamp(fade, 0.0F, 1.0F);
        // Between the previous and the current value, so within 0..255: adding a half and
        // truncating rounds it, without a call per pixel.
        const float value = static_cast<float>(current[x]) - change * kept;
        previous[x] = value;
        result[x] = static_cast<std::uint8_t>(value + 0.5F);
      }
    }
  }

 private:
  int threshold_;
  float inverse_range_;       // 1 / (threshold + 1)
  mutable cv::Mat previous_;  // the last output's luma, CV_32F, a deep copy
};

// ---- stress ---------------------------------------------------------------------------------

// Benchmark load that depends only on the pixels and the frame's sequence number, so runs with
// any number of workers must produce identical output. Each round applies x -> 2x^2 + 7x + 13
// (mod 256), a permutation of 0..255: rounds never collapse values, so every round's work shows
// in the result and cannot be skipped.
class Stress final : public Filter {
 public:
  Stress(int rounds, int vary, int from) : rounds_(rounds), vary_(vary), from_(from) {}
  std::string describe() const override {
    return "stress=" + std::to_string(rounds_) + ":vary=" + std::to_string(vary_) +
           (from_ > 0 ? ":from=" + std::to_string(from_) : "");
  }
  bool in_place() const override { return true; }
  bool can_write_elsewhere() const override { return true; }
  Geometry output_geometry(Geometry in) const override { return in; }
  void apply(const Picture& in, Picture& out, const FrameContext& frame) const override {
    // 7919 is prime: unless vary + 1 is a multiple of it, any vary + 1 consecutive frames take
    // every extra count 0..vary once, in a scattered order.
    const auto extra = static_cast<int>(static_cast<std::uint64_t>(frame.seq) * 7919 %
                                        (static_cast<std::uint64_t>(vary_) + 1));
    // Before frame `from`, no work: a load that changes mid-run.
    const int rounds = frame.seq < from_ ? 0 : rounds_ + extra;
    copy_plane_unless_same(in, out, 0);
    copy_plane_unless_same(in, out, 1);
    copy_plane_unless_same(in, out, 2);
    cv::Mat y = out.plane(0);
    for (int row = 0; row < y.rows; ++row) {
      auto* p = y.ptr<std::uint8_t>(row);
      for (int r = 0; r < rounds; ++r) {
        for (int x = 0; x < y.cols; ++x)
          p[x] = static_cast<std::uint8_t>(2 * p[x] * p[x] + 7 * p[x] + 13);
      }
    }
  }

 private:
  int rounds_, vary_, from_;
};

}  // namespace

std::unique_ptr<Filter> make_tdenoise(const FilterArgs& a) {
  auto args = bind(a, {"strength"});
  return std::make_unique<TemporalDenoise>(int_arg(a, args, "strength", 6, 1, 64));
}

std::unique_ptr<Filter> make_stress(const FilterArgs& a) {
  auto args = bind(a, {"n", "vary", "from"});
  if (!get(args, "n")) bad_arg(a, "needs a round count: stress=N[:vary=V][:from=F]");
  const int rounds = int_arg(a, args, "n", 0, 0, 10000);
  const int vary = int_arg(a, args, "vary", 0, 0, 10000);
  const int from = int_arg(a, args, "from", 0, 0, 1 << 30);
  return std::make_unique<Stress>(rounds, vary, from);
}

}  // namespace vpipe::transform::library
