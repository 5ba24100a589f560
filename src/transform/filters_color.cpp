// Colour filters: eq, hue, sepia. They work on Y and on U, V around their neutral 128 directly,
// so brightness never touches colour and colour never touches brightness.
#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>

#include "transform/filter_library.hpp"

namespace vpipe::transform::library {
namespace {

// ---- eq -------------------------------------------------------------------------------------

class Eq final : public Filter {
 public:
  Eq(double contrast, double brightness, double saturation, double gamma)
      : contrast_(contrast),
        brightness_(brightness),
        saturation_(saturation),
        gamma_(gamma),
        luma_lut_(1, 256, CV_8U),
        chroma_lut_(1, 256, CV_8U) {
    // ffmpeg's eq curve: contrast around mid-grey, then brightness, then gamma.
    for (int i = 0; i < 256; ++i) {
      const double v = contrast * (i / 255.0 - 0.5) + 0.5 + brightness;
      luma_lut_.at<std::uint8_t>(i) =
          cv::saturate_cast<std::uint8_t>(v <= 0 ? 0.0 : 255.0 * std::pow(v, 1.0 / gamma));
      chroma_lut_.at<std::uint8_t>(i) =
          cv::saturate_cast<std::uint8_t>(kNeutralChroma + (i - kNeutralChroma) * saturation);
    }
  }

  std::string describe() const override {
    return cv::format("eq=contrast=%g:brightness=%g:saturation=%g:gamma=%g", contrast_, brightness_,
                      saturation_, gamma_);
  }
  bool in_place() const override { return true; }
  bool can_write_elsewhere() const override { return true; }
  Geometry output_geometry(Geometry in) const override { return in; }
  void apply(const Picture& in, Picture& out, const FrameContext&) const override {
    cv::Mat y = out.plane(0);
    cv::LUT(in.plane(0), luma_lut_, y);
    for (int i = 1; i < 3; ++i) {
      if (saturation_ == 1) {
        copy_plane_unless_same(in, out, i);
        continue;
      }
      cv::Mat plane = out.plane(i);
      cv::LUT(in.plane(i), chroma_lut_, plane);
    }
  }

 private:
  double contrast_, brightness_, saturation_, gamma_;
  cv::Mat luma_lut_, chroma_lut_;
};

// ---- hue ------------------------------------------------------------------------------------

// Turns the (U-128, V-128) vector and scales its length, in 16.16 fixed point as ffmpeg's hue.
class Hue final : public Filter {
 public:
  Hue(double degrees, double saturation)
      : degrees_(degrees),
        saturation_(saturation),
        cos_(static_cast<int>(std::lround(std::cos(degrees * CV_PI / 180) * saturation * 65536))),
        sin_(static_cast<int>(std::lround(std::sin(degrees * CV_PI / 180) * saturation * 65536))) {}

  std::string describe() const override {
    return cv::format("hue=h=%g:s=%g", degrees_, saturation_);
  }
  bool in_place() const override { return true; }
  bool can_write_elsewhere() const override { return true; }
  Geometry output_geometry(Geometry in) const override { return in; }
  void apply(const Picture& in, Picture& out, const FrameContext&) const override {
    copy_plane_unless_same(in, out, 0);
    const cv::Mat u = in.plane(1);
    const cv::Mat v = in.plane(2);
    cv::Mat out_u = out.plane(1);
    cv::Mat out_v = out.plane(2);
    constexpr int kRound = 1 << 15;
    for (int row = 0; row < u.rows; ++row) {
      const auto* pu = u.ptr<std::uint8_t>(row);
      const auto* pv = v.ptr<std::uint8_t>(row);
      auto* qu = out_u.ptr<std::uint8_t>(row);
      auto* qv = out_v.ptr<std::uint8_t>(row);
      for (int x = 0; x < u.cols; ++x) {
        // Both read before either is written: out may be in.
        const int du = pu[x] - kNeutralChroma;
        const int dv = pv[x] - kNeutralChroma;
        qu[x] = clamp8(((cos_ * du - sin_ * dv + kRound) >> 16) + kNeutralChroma);
        qv[x] = clamp8(((sin_ * du + cos_ * dv + kRound) >> 16) + kNeutralChroma);
      }
    }
  }

 private:
  static std::uint8_t clamp8(int value) {
    return static_cast<std::uint8_t>(std::clamp(value, 0, 255));
  }
  double degrees_, saturation_;
  int cos_, sin_;  // 16.16, saturation folded in
};

// ---- sepia ----------------------------------------------------------------------------------

// The classic sepia matrix gives every grey the same hue; these are its BT.601 U, V (for mid-grey,
// R,G,B = 173,154,120), so brightness stays the picture's own.
constexpr std::uint8_t kSepiaU = 110;
constexpr std::uint8_t kSepiaV = 139;

class Sepia final : public Filter {
 public:
  std::string describe() const override { return "sepia"; }
  bool in_place() const override { return true; }
  bool can_write_elsewhere() const override { return true; }
  Geometry output_geometry(Geometry in) const override { return in; }
  void apply(const Picture& in, Picture& out, const FrameContext&) const override {
    copy_plane_unless_same(in, out, 0);
    out.plane(1).setTo(kSepiaU);
    out.plane(2).setTo(kSepiaV);
  }
};

}  // namespace

std::unique_ptr<Filter> make_eq(const FilterArgs& a) {
  auto args = bind(a, {"contrast", "brightness", "saturation", "gamma"});
  const double contrast = number_arg(a, args, "contrast", 1, 0, 4);
  const double brightness = number_arg(a, args, "brightness", 0, -1, 1);
  const double saturation = number_arg(a, args, "saturation", 1, 0, 3);
  const double gamma = number_arg(a, args, "gamma", 1, 0.1, 10);
  return std::make_unique<Eq>(contrast, brightness, saturation, gamma);
}

std::unique_ptr<Filter> make_hue(const FilterArgs& a) {
  auto args = bind(a, {"h", "s"});
  const double degrees = number_arg(a, args, "h", 0, -360, 360);
  const double saturation = number_arg(a, args, "s", 1, -10, 10);
  return std::make_unique<Hue>(degrees, saturation);
}

std::unique_ptr<Filter> make_sepia(const FilterArgs& a) {
  bind(a, {});
  return std::make_unique<Sepia>();
}

}  // namespace vpipe::transform::library
