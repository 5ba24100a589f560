// The filter library: argument helpers, the filters that move pixels (resize, crop, pad, rotate,
// flip), gray and gblur, and the registry. The others live in filters_<kind>.cpp. Every filter
// works on the YUV 4:2:0 planes with OpenCV, never converting to BGR.
#include <charconv>
#include <cmath>
#include <cstring>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <vector>

#include "common/error.hpp"
#include "transform/filter.hpp"
#include "transform/filter_library.hpp"

namespace vpipe::transform {
namespace library {

[[noreturn]] void bad_arg(const FilterArgs& a, const std::string& what) {
  fail(ExitCode::kUsage, "filter '" + a.filter + "': " + what);
}

std::map<std::string, std::string> bind(const FilterArgs& a,
                                        const std::vector<std::string>& names) {
  if (a.positional.size() > names.size()) {
    bad_arg(a, "too many arguments (takes at most " + std::to_string(names.size()) + ")");
  }
  std::map<std::string, std::string> bound;
  for (std::size_t i = 0; i < a.positional.size(); ++i) bound[names[i]] = a.positional[i];
  for (const auto& [key, value] : a.named) {
    if (std::find(names.begin(), names.end(), key) == names.end()) {
      std::string known;
      for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
      bad_arg(a, "unknown argument '" + key + "' (takes " + (known.empty() ? "none" : known) + ")");
    }
    if (!bound.emplace(key, value).second) bad_arg(a, "argument '" + key + "' given twice");
  }
  return bound;
}

int to_int(const FilterArgs& a, const std::string& key, const std::string& text) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    bad_arg(a, "argument '" + key + "' must be an integer, got '" + text + "'");
  }
  return value;
}

double to_double(const FilterArgs& a, const std::string& key, const std::string& text) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value)) {
    bad_arg(a, "argument '" + key + "' must be a number, got '" + text + "'");
  }
  return value;
}

std::optional<std::string> get(const std::map<std::string, std::string>& m, const std::string& k) {
  const auto it = m.find(k);
  if (it == m.end()) return std::nullopt;
  return it->second;
}

void check_dimension(const std::string& filter, const char* what, int value) {
  if (value < 1 || value > kMaxDimension) {
    fail(ExitCode::kUsage, "filter '" + filter + "': " + what + " " + std::to_string(value) +
                               " is out of range 1.." + std::to_string(kMaxDimension));
  }
}

int int_arg(const FilterArgs& a, const std::map<std::string, std::string>& bound,
            const std::string& key, int fallback, int lo, int hi) {
  const auto text = get(bound, key);
  const int value = text ? to_int(a, key, *text) : fallback;
  if (value < lo || value > hi) {
    bad_arg(a, key + " " + std::to_string(value) + " is out of range " + std::to_string(lo) + ".." +
                   std::to_string(hi));
  }
  return value;
}

double number_arg(const FilterArgs& a, const std::map<std::string, std::string>& bound,
                  const std::string& key, double fallback, double lo, double hi) {
  const auto text = get(bound, key);
  const double value = text ? to_double(a, key, *text) : fallback;
  if (value < lo || value > hi) {
    bad_arg(a, key + " " + cv::format("%g", value) + " is out of range " + cv::format("%g", lo) +
                   ".." + cv::format("%g", hi));
  }
  return value;
}

void copy_plane_unless_same(const Picture& in, const Picture& out, int i) {
  if (in.data[i] == out.data[i]) return;
  cv::Mat dst = out.plane(i);
  in.plane(i).copyTo(dst);
}

namespace {

// ---- resize ---------------------------------------------------------------------------------

class Resize final : public Filter {
 public:
  Resize(std::string name, int w, int h, int interp, std::string interp_name)
      : name_(std::move(name)),
        w_(w),
        h_(h),
        interp_(interp),
        interp_name_(std::move(interp_name)) {}

  std::string describe() const override {
    return "resize=" + std::to_string(w_) + "x" + std::to_string(h_) + ":interp=" + interp_name_;
  }
  bool in_place() const override { return false; }
  Geometry output_geometry(Geometry in) const override {
    Geometry out{w_, h_};
    // -N keeps the aspect ratio, rounded to a multiple of N (as ffmpeg's scale); -1 to an even
    // size, as 4:2:0 encoders want.
    const auto keep = [](double size, int n) {
      const int multiple = std::max(2, -n);
      return std::max(multiple, static_cast<int>(std::lround(size / multiple)) * multiple);
    };
    if (w_ < 0) out.width = keep(static_cast<double>(in.width) * h_ / in.height, w_);
    if (h_ < 0) out.height = keep(static_cast<double>(in.height) * w_ / in.width, h_);
    check_dimension(name_, "width", out.width);
    check_dimension(name_, "height", out.height);
    return out;
  }
  void apply(const Picture& in, Picture& out, const FrameContext&) const override {
    for (int i = 0; i < 3; ++i) {
      cv::Mat dst = out.plane(i);
      cv::resize(in.plane(i), dst, dst.size(), 0, 0, interp_);
    }
  }

 private:
  std::string name_;
  int w_, h_, interp_;
  std::string interp_name_;
};

std::unique_ptr<Filter> make_resize(const FilterArgs& a) {
  auto args = bind(a, {"w", "h", "interp"});
  auto w_text = get(args, "w");
  auto h_text = get(args, "h");
  if (w_text && !h_text) {
    const auto x = w_text->find('x');
    if (x == std::string::npos) bad_arg(a, "size '" + *w_text + "' must be WxH, or give w and h");
    h_text = w_text->substr(x + 1);
    w_text = w_text->substr(0, x);
  }
  if (!w_text || !h_text) bad_arg(a, "needs a size: resize=WxH or resize=w=W:h=H");
  const int w = to_int(a, "w", *w_text);
  const int h = to_int(a, "h", *h_text);
  const auto valid = [](int n) { return (n >= 1 && n <= kMaxDimension) || (n <= -1 && n >= -64); };
  if (!valid(w) || !valid(h) || (w < 0 && h < 0)) {
    bad_arg(a, "size " + *w_text + "x" + *h_text + " is invalid: width and height must be 1.." +
                   std::to_string(kMaxDimension) +
                   " (one may be -N to keep the aspect ratio, rounded to a multiple of N: -1 and "
                   "-2 even, -4 a multiple of 4)");
  }
  static const std::map<std::string, int> kInterp = {{"nearest", cv::INTER_NEAREST},
                                                     {"linear", cv::INTER_LINEAR},
                                                     {"cubic", cv::INTER_CUBIC},
                                                     {"area", cv::INTER_AREA},
                                                     {"lanczos", cv::INTER_LANCZOS4}};
  const std::string interp = get(args, "interp").value_or("linear");
  const auto it = kInterp.find(interp);
  if (it == kInterp.end()) {
    bad_arg(a, "interp '" + interp + "' is not one of nearest, linear, cubic, area, lanczos");
  }
  return std::make_unique<Resize>(a.filter, w, h, it->second, interp);
}

// ---- crop -----------------------------------------------------------------------------------

// Crop moves the plane pointers: no pixel is copied.
class Crop final : public Filter {
 public:
  Crop(int w, int h, std::optional<int> x, std::optional<int> y) : w_(w), h_(h), x_(x), y_(y) {}

  std::string describe() const override {
    return "crop=" + std::to_string(w_) + ":" + std::to_string(h_) + ":" +
           (x_ ? std::to_string(*x_) : "center") + ":" + (y_ ? std::to_string(*y_) : "center");
  }
  bool in_place() const override { return true; }
  bool is_view() const override { return true; }
  Geometry output_geometry(Geometry in) const override {
    const auto [x, y] = origin(in);
    if (x + w_ > in.width || y + h_ > in.height) {
      fail(ExitCode::kUsage, "filter 'cv.crop': " + std::to_string(w_) + "x" + std::to_string(h_) +
                                 " at " + std::to_string(x) + "," + std::to_string(y) +
                                 " does not fit in the " + std::to_string(in.width) + "x" +
                                 std::to_string(in.height) + " input");
    }
    return {w_, h_};
  }
  void apply(const Picture& in, Picture& out, const FrameContext&) const override {
    const auto [x, y] = origin(in.geometry());
    Picture view = in;
    view.width = w_;
    view.height = h_;
    view.data[0] += static_cast<std::ptrdiff_t>(y) * in.linesize[0] + x;
    for (int i = 1; i < 3; ++i)
      view.data[i] += static_cast<std::ptrdiff_t>(y / 2) * in.linesize[i] + x / 2;
    out = view;
  }

 private:
  // Chroma is subsampled by two, so the origin is rounded down to even coordinates.
  std::pair<int, int> origin(Geometry in) const {
    const int x = x_ ? *x_ : (in.width - w_) / 2;
    const int y = y_ ? *y_ : (in.height - h_) / 2;
    return {std::max(0, x) & ~1, std::max(0, y) & ~1};
  }
  int w_, h_;
  std::optional<int> x_, y_;
};

// W:H[:X:Y], shared by crop and pad: a size, and an optional origin (centred when absent).
struct Window {
  int w, h;
  std::optional<int> x, y;
};

Window window_args(const FilterArgs& a, const std::map<std::string, std::string>& args) {
  if (!get(args, "w") || !get(args, "h")) bad_arg(a, "needs a size: " + a.filter + "=W:H[:X:Y]");
  Window win{to_int(a, "w", *get(args, "w")), to_int(a, "h", *get(args, "h")), std::nullopt,
             std::nullopt};
  check_dimension(a.filter, "width", win.w);
  check_dimension(a.filter, "height", win.h);
  if (auto t = get(args, "x")) win.x = to_int(a, "x", *t);
  if (auto t = get(args, "y")) win.y = to_int(a, "y", *t);
  // Bounded, so that origin + size can never overflow an int.
  for (const auto& v : {win.x, win.y}) {
    if (v && (*v < 0 || *v > kMaxDimension))
      bad_arg(a, "x and y must not be negative or above " + std::to_string(kMaxDimension));
  }
  return win;
}

std::unique_ptr<Filter> make_crop(const FilterArgs& a) {
  const Window win = window_args(a, bind(a, {"w", "h", "x", "y"}));
  return std::make_unique<Crop>(win.w, win.h, win.x, win.y);
}

// ---- gray -----------------------------------------------------------------------------------

class Gray final : public Filter {
 public:
  std::string describe() const override { return "gray"; }
  bool in_place() const override { return true; }
  bool can_write_elsewhere() const override { return true; }
  Geometry output_geometry(Geometry in) const override { return in; }
  void apply(const Picture& in, Picture& out, const FrameContext&) const override {
    if (out.data[0] != in.data[0]) in.plane(0).copyTo(out.plane(0));
    out.plane(1).setTo(128);
    out.plane(2).setTo(128);
  }
};

std::unique_ptr<Filter> make_gray(const FilterArgs& a) {
  bind(a, {});
  return std::make_unique<Gray>();
}

// ---- gblur ----------------------------------------------------------------------------------

// Exact (OpenCV's 8-bit Gaussian kernel, 6 sigma wide) up to kExactGblurBelow; from there three
// box blurs of widths chosen for the same variance (W. Wells, 1986; widths as in P. Kovesi,
// "Fast almost-Gaussian filtering", 2010). The kernel's cost grows with sigma (1080p: 4 ms at
// sigma 3, 14 ms at 8, 42 ms at 16 on one core here) and the boxes' does not (4 ms), within
// about 50 dB PSNR of the exact Gaussian, as ffmpeg's gblur is itself an approximation.
constexpr double kExactGblurBelow = 4;

class GaussianBlur final : public Filter {
 public:
  explicit GaussianBlur(double sigma) : sigma_(sigma) {
    if (sigma_ < kExactGblurBelow) return;
    // The odd widths wl and wl + 2 nearest the ideal one, m boxes of wl and 3 - m of wl + 2.
    constexpr int kPasses = 3;
    const double ideal = std::sqrt(12 * sigma_ * sigma_ / kPasses + 1);
    int lower = static_cast<int>(std::floor(ideal));
    if (lower % 2 == 0) --lower;
    const int m = static_cast<int>(std::lround(
        (12 * sigma_ * sigma_ - kPasses * lower * lower - 4 * kPasses * lower - 3 * kPasses) /
        (-4.0 * lower - 4)));
    for (int i = 0; i < kPasses; ++i) {
      boxes_.push_back(i < m ? lower : lower + 2);
      reach_ += boxes_.back() / 2;
    }
  }
  std::string describe() const override { return "gblur=sigma=" + cv::format("%g", sigma_); }
  bool in_place() const override { return true; }
  bool can_write_elsewhere() const override { return true; }
  Geometry output_geometry(Geometry in) const override { return in; }
  // Same sigma on every plane, as ffmpeg's gblur does.
  void apply(const Picture& in, Picture& out, const FrameContext&) const override {
    for (int i = 0; i < 3; ++i) {
      cv::Mat dst = out.plane(i);
      if (boxes_.empty()) {
        cv::GaussianBlur(in.plane(i), dst, cv::Size(0, 0), sigma_, sigma_, cv::BORDER_REPLICATE);
        continue;
      }
      // Padded once by the passes' reach, as the kernel pads the input: each pass padding its
      // own output would weigh the edge pixels more with every pass. Reused, so that no frame
      // touches fresh memory.
      thread_local cv::Mat padded;
      cv::copyMakeBorder(in.plane(i), padded, reach_, reach_, reach_, reach_, cv::BORDER_REPLICATE);
      for (const int w : boxes_)
        cv::blur(padded, padded, cv::Size(w, w), cv::Point(-1, -1), cv::BORDER_REPLICATE);
      padded(cv::Rect(reach_, reach_, dst.cols, dst.rows)).copyTo(dst);
    }
  }

 private:
  double sigma_;
  std::vector<int> boxes_;  // widths of the box passes; empty: the exact kernel
  int reach_ = 0;           // how far the box passes reach together
};

std::unique_ptr<Filter> make_gblur(const FilterArgs& a) {
  auto args = bind(a, {"sigma"});
  const double sigma = to_double(a, "sigma", get(args, "sigma").value_or("0.5"));
  if (sigma <= 0 || sigma > 1024)
    bad_arg(a, "sigma " + cv::format("%g", sigma) + " is out of range (0, 1024]");
  return std::make_unique<GaussianBlur>(sigma);
}

// ---- flip -----------------------------------------------------------------------------------

class Flip final : public Filter {
 public:
  Flip(int code, std::string description) : code_(code), description_(std::move(description)) {}
  std::string describe() const override { return description_; }
  // cv::flip reads each mirrored pair before writing it, so it may work in place.
  bool in_place() const override { return true; }
  bool can_write_elsewhere() const override { return true; }
  Geometry output_geometry(Geometry in) const override { return in; }
  void apply(const Picture& in, Picture& out, const FrameContext&) const override {
    for (int i = 0; i < 3; ++i) {
      cv::Mat dst = out.plane(i);
      cv::flip(in.plane(i), dst, code_);
    }
  }

 private:
  int code_;  // OpenCV: 1 horizontal, 0 vertical, -1 both
  std::string description_;
};

std::unique_ptr<Filter> make_flip(const FilterArgs& a) {
  auto args = bind(a, {"dir"});
  const std::string dir = get(args, "dir").value_or("v");
  if (dir == "h") return std::make_unique<Flip>(1, "flip=h");
  if (dir == "v") return std::make_unique<Flip>(0, "flip=v");
  if (dir == "hv" || dir == "vh") return std::make_unique<Flip>(-1, "flip=hv");
  bad_arg(a, "dir '" + dir + "' is not one of h, v, hv");
}

std::unique_ptr<Filter> make_hflip(const FilterArgs& a) {
  bind(a, {});
  return std::make_unique<Flip>(1, "flip=h");
}

std::unique_ptr<Filter> make_vflip(const FilterArgs& a) {
  bind(a, {});
  return std::make_unique<Flip>(0, "flip=v");
}

// ---- pad ------------------------------------------------------------------------------------

struct PadColor {
  const char* name;
  std::uint8_t y;
};
constexpr PadColor kPadColors[] = {{"black", kBlackY}, {"white", kWhiteY}, {"gray", 126}};

class Pad final : public Filter {
 public:
  Pad(int w, int h, std::optional<int> x, std::optional<int> y, PadColor color)
      : w_(w), h_(h), x_(x), y_(y), color_(color) {}

  std::string describe() const override {
    return "pad=" + std::to_string(w_) + ":" + std::to_string(h_) + ":" +
           (x_ ? std::to_string(*x_) : "center") + ":" + (y_ ? std::to_string(*y_) : "center") +
           ":color=" + color_.name;
  }
  bool in_place() const override { return false; }
  Geometry output_geometry(Geometry in) const override {
    const auto [x, y] = origin(in);
    if (x + in.width > w_ || y + in.height > h_) {
      fail(ExitCode::kUsage, "filter 'cv.pad': the " + std::to_string(in.width) + "x" +
                                 std::to_string(in.height) + " input does not fit in " +
                                 std::to_string(w_) + "x" + std::to_string(h_) + " at " +
                                 std::to_string(x) + "," + std::to_string(y));
    }
    return {w_, h_};
  }
  void apply(const Picture& in, Picture& out, const FrameContext&) const override {
    const auto [x, y] = origin(in.geometry());
    for (int i = 0; i < 3; ++i) {
      const cv::Mat src = in.plane(i);
      cv::Mat dst = out.plane(i);
      const int left = i == 0 ? x : x / 2;
      const int top = i == 0 ? y : y / 2;
      cv::copyMakeBorder(src, dst, top, dst.rows - src.rows - top, left, dst.cols - src.cols - left,
                         cv::BORDER_CONSTANT, cv::Scalar(i == 0 ? color_.y : kNeutralChroma));
    }
  }

 private:
  // Even, so that the chroma planes shift by whole samples along with luma.
  std::pair<int, int> origin(Geometry in) const {
    const int x = x_ ? *x_ : (w_ - in.width) / 2;
    const int y = y_ ? *y_ : (h_ - in.height) / 2;
    return {std::max(0, x) & ~1, std::max(0, y) & ~1};
  }
  int w_, h_;
  std::optional<int> x_, y_;
  PadColor color_;
};

std::unique_ptr<Filter> make_pad(const FilterArgs& a) {
  auto args = bind(a, {"w", "h", "x", "y", "color"});
  const Window win = window_args(a, args);
  const std::string color = get(args, "color").value_or("black");
  for (const PadColor& c : kPadColors) {
    if (color == c.name) return std::make_unique<Pad>(win.w, win.h, win.x, win.y, c);
  }
  bad_arg(a, "color '" + color + "' is not one of black, white, gray");
}

// ---- rotate ---------------------------------------------------------------------------------

class QuarterTurn final : public Filter {
 public:
  explicit QuarterTurn(int degrees) : degrees_(degrees) {}
  std::string describe() const override { return "rotate=" + std::to_string(degrees_); }
  bool in_place() const override { return false; }
  Geometry output_geometry(Geometry in) const override { return {in.height, in.width}; }
  // ceil(w/2) x ceil(h/2) chroma turns into exactly the chroma of the h x w output.
  void apply(const Picture& in, Picture& out, const FrameContext&) const override {
    const int code = degrees_ == 90 ? cv::ROTATE_90_CLOCKWISE : cv::ROTATE_90_COUNTERCLOCKWISE;
    for (int i = 0; i < 3; ++i) {
      cv::Mat dst = out.plane(i);
      cv::rotate(in.plane(i), dst, code);
    }
  }

 private:
  int degrees_;  // 90 or 270, clockwise
};

class RotateByAngle final : public Filter {
 public:
  explicit RotateByAngle(double degrees) : degrees_(degrees) {}
  std::string describe() const override { return "rotate=angle=" + cv::format("%g", degrees_); }
  bool in_place() const override { return false; }
  Geometry output_geometry(Geometry in) const override { return in; }
  void apply(const Picture& in, Picture& out, const FrameContext&) const override {
    const cv::Point2d luma_centre((in.width - 1) / 2.0, (in.height - 1) / 2.0);
    for (int i = 0; i < 3; ++i) {
      // A chroma sample sits between the two luma samples it covers, half a luma pixel on.
      const cv::Point2d centre = i == 0 ? luma_centre : (luma_centre - cv::Point2d(0.5, 0.5)) / 2;
      // OpenCV turns positive angles counter-clockwise; rotate=90 turns clockwise, so must this.
      const cv::Mat m = cv::getRotationMatrix2D(centre, -degrees_, 1.0);
      cv::Mat dst = out.plane(i);
      cv::warpAffine(in.plane(i), dst, m, dst.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT,
                     cv::Scalar(i == 0 ? kBlackY : kNeutralChroma));
    }
  }

 private:
  double degrees_;
};

std::unique_ptr<Filter> make_rotate(const FilterArgs& a) {
  auto args = bind(a, {"turn", "angle"});
  const auto turn = get(args, "turn");
  const auto angle = get(args, "angle");
  if (turn && angle) bad_arg(a, "give either 90, 180, 270 or angle=DEG, not both");
  if (angle) return std::make_unique<RotateByAngle>(number_arg(a, args, "angle", 0, -360, 360));
  if (!turn) bad_arg(a, "needs 90, 180, 270 or angle=DEG");
  const int degrees = to_int(a, "turn", *turn);
  if (degrees == 90 || degrees == 270) return std::make_unique<QuarterTurn>(degrees);
  // A half turn is both flips, which work in place.
  if (degrees == 180) return std::make_unique<Flip>(-1, "rotate=180");
  bad_arg(a, "turn " + *turn + " is not 90, 180 or 270 (angle=DEG turns by any angle)");
}

// The order `vpipe filters` lists them in: geometry, colour, sharpness and noise, drawing, load.
std::vector<FilterInfo> all_filters() {
  return {
      {"resize", "WxH | w=W:h=H [:interp=nearest|linear|cubic|area|lanczos]",
       "scale to a size; -1 (or -N) for one side keeps the aspect ratio (a multiple of N)",
       "resize=1280x720:interp=area", make_resize, false},
      {"crop", "W:H[:X:Y]", "cut a W x H window (centred unless X, Y given; no pixel copied)",
       "cv.crop=640:360:0:0", make_crop, false},
      {"pad", "W:H[:X:Y][:color=black|white|gray]",
       "add borders up to W x H (centred unless X, Y given; X, Y rounded down to even)",
       "cv.pad=1920:1080:color=black", make_pad, false},
      {"rotate", "90|180|270 | angle=DEG",
       "turn clockwise: 90 and 270 swap width and height; angle=DEG keeps the size, corners black",
       "cv.rotate=90", make_rotate, false},
      {"flip", "[dir=h|v|hv]", "mirror horizontally, vertically (default) or both", "flip=h",
       make_flip, false},
      {"hflip", "", "mirror left-right (same as flip=h)", "cv.hflip", make_hflip, false},
      {"vflip", "", "mirror top-bottom (same as flip=v)", "cv.vflip", make_vflip, false},
      {"gray", "", "drop colour (chroma to neutral)", "gray", make_gray, false},
      {"eq", "[contrast:brightness:saturation:gamma] (named or in that order)",
       "contrast 0..4, brightness -1..1, saturation 0..3, gamma 0.1..10 (as ffmpeg's eq)",
       "cv.eq=brightness=0.1:contrast=1.2:gamma=1.5", make_eq, false},
      {"hue", "[h=DEG][:s=SAT]",
       "turn the hue by DEG degrees and scale saturation by SAT (-10..10)", "cv.hue=h=90:s=1.5",
       make_hue, false},
      {"sepia", "", "old-photograph brown tint (brightness kept)", "sepia", make_sepia, false},
      {"gblur", "[sigma=S]",
       "Gaussian blur, sigma in pixels (default 0.5; from 4, three box passes: same cost at "
       "any sigma)",
       "cv.gblur=2", make_gblur, false},
      {"boxblur", "[r=R]", "box blur: mean over a (2R+1) x (2R+1) square, every plane (default 1)",
       "cv.boxblur=2", make_boxblur, false},
      {"unsharp", "[lx:ly:la] (luma kernel width, height: odd 3..23; amount -2..5)",
       "sharpen luma (amount > 0) or soften it (< 0), as ffmpeg's unsharp (default 5:5:1)",
       "cv.unsharp=7:7:1.5", make_unsharp, false},
      {"sharpen", "[amount=A]", "the same as unsharp=5:5:A (default 1)", "sharpen=0.8",
       make_sharpen, false},
      {"edges", "[low:high]", "Canny edge map of luma: white edges on black (default 50:150)",
       "edges=30:90", make_edges, false},
      {"denoise", "[strength=S]",
       "fast spatial denoise: mixes a 3x3 median into luma by S (0..1, default 1)", "denoise=0.7",
       make_denoise, false},
      {"tdenoise", "[strength=T]",
       "temporal denoise: luma changes below T levels (1..64, default 6) are averaged away",
       "tdenoise=8", make_tdenoise, true},
      {"drawtext", "text=T[:x=X:y=Y:size=PX] (T without ':' or ',')",
       "draw text in white, outlined; %{n} frame number, %{pts} seconds, %{localtime} HH:MM:SS",
       "cv.drawtext=text=frame %{n} at %{pts}s:x=16:y=16:size=32", make_drawtext, false},
      {"overlay", "file=PATH[:x=X:y=Y:alpha=A]",
       "blend an image (PNG alpha honoured) at X, Y (rounded down to even), clipped to the frame",
       "cv.overlay=file=logo.png:x=16:y=16:alpha=0.8", make_overlay, false},
      {"stress", "N[:vary=V][:from=F] (0..10000 each)",
       "benchmark load: N rounds of integer work per luma pixel, plus 0..V varying by frame; none "
       "before frame F (a load that changes mid-run)",
       "stress=200:vary=100", make_stress, false},
  };
}

}  // namespace
}  // namespace library

const std::vector<FilterInfo>& filter_registry() {
  static const std::vector<FilterInfo> registry = library::all_filters();
  return registry;
}

}  // namespace vpipe::transform
