// The filter library. Each filter works on YUV 4:2:0 planes with OpenCV.
#include <opencv2/imgproc.hpp>

#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>

#include "common/error.hpp"
#include "transform/filter.hpp"

namespace vpipe::transform {
namespace {

[[noreturn]] void bad_arg(const FilterArgs& a, const std::string& what) {
  fail(ExitCode::kUsage, "filter '" + a.filter + "': " + what);
}

// Binds positional and named arguments to the filter's parameter names, in order.
std::map<std::string, std::string> bind(const FilterArgs& a, const std::vector<std::string>& names) {
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

// ---- resize ---------------------------------------------------------------------------------

class Resize final : public Filter {
 public:
  Resize(std::string name, int w, int h, int interp, std::string interp_name)
      : name_(std::move(name)), w_(w), h_(h), interp_(interp), interp_name_(std::move(interp_name)) {}

  std::string describe() const override {
    return "resize=" + std::to_string(w_) + "x" + std::to_string(h_) + ":interp=" + interp_name_;
  }
  bool in_place() const override { return false; }
  Geometry output_geometry(Geometry in) const override {
    Geometry out{w_, h_};
    // -1 keeps the aspect ratio, rounded to an even size as 4:2:0 encoders want.
    if (w_ < 0) out.width = std::max(2, static_cast<int>(std::lround(static_cast<double>(in.width) * h_ / in.height / 2)) * 2);
    if (h_ < 0) out.height = std::max(2, static_cast<int>(std::lround(static_cast<double>(in.height) * w_ / in.width / 2)) * 2);
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
  if ((w != -1 && (w < 1 || w > kMaxDimension)) || (h != -1 && (h < 1 || h > kMaxDimension)) ||
      (w == -1 && h == -1)) {
    bad_arg(a, "size " + *w_text + "x" + *h_text + " is invalid: width and height must be 1.." +
                   std::to_string(kMaxDimension) + " (one may be -1 to keep the aspect ratio)");
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
  Geometry output_geometry(Geometry in) const override {
    const auto [x, y] = origin(in);
    if (x + w_ > in.width || y + h_ > in.height) {
      fail(ExitCode::kUsage, "filter 'crop': " + std::to_string(w_) + "x" + std::to_string(h_) +
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
    for (int i = 1; i < 3; ++i) view.data[i] += static_cast<std::ptrdiff_t>(y / 2) * in.linesize[i] + x / 2;
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

std::unique_ptr<Filter> make_crop(const FilterArgs& a) {
  auto args = bind(a, {"w", "h", "x", "y"});
  if (!get(args, "w") || !get(args, "h")) bad_arg(a, "needs a size: crop=W:H[:X:Y]");
  const int w = to_int(a, "w", *get(args, "w"));
  const int h = to_int(a, "h", *get(args, "h"));
  check_dimension(a.filter, "width", w);
  check_dimension(a.filter, "height", h);
  std::optional<int> x, y;
  if (auto t = get(args, "x")) x = to_int(a, "x", *t);
  if (auto t = get(args, "y")) y = to_int(a, "y", *t);
  if ((x && *x < 0) || (y && *y < 0)) bad_arg(a, "x and y must not be negative");
  return std::make_unique<Crop>(w, h, x, y);
}

// ---- gray -----------------------------------------------------------------------------------

class Gray final : public Filter {
 public:
  std::string describe() const override { return "gray"; }
  bool in_place() const override { return true; }
  Geometry output_geometry(Geometry in) const override { return in; }
  void apply(const Picture& in, Picture&, const FrameContext&) const override {
    in.plane(1).setTo(128);
    in.plane(2).setTo(128);
  }
};

std::unique_ptr<Filter> make_gray(const FilterArgs& a) {
  bind(a, {});
  return std::make_unique<Gray>();
}

// ---- gblur ----------------------------------------------------------------------------------

class GaussianBlur final : public Filter {
 public:
  explicit GaussianBlur(double sigma) : sigma_(sigma) {}
  std::string describe() const override { return "gblur=sigma=" + cv::format("%g", sigma_); }
  bool in_place() const override { return true; }
  Geometry output_geometry(Geometry in) const override { return in; }
  // Same sigma on every plane, as ffmpeg's gblur does.
  void apply(const Picture& in, Picture&, const FrameContext&) const override {
    for (int i = 0; i < 3; ++i) {
      cv::Mat plane = in.plane(i);
      cv::GaussianBlur(plane, plane, cv::Size(0, 0), sigma_, sigma_, cv::BORDER_REPLICATE);
    }
  }

 private:
  double sigma_;
};

std::unique_ptr<Filter> make_gblur(const FilterArgs& a) {
  auto args = bind(a, {"sigma"});
  const double sigma = to_double(a, "sigma", get(args, "sigma").value_or("0.5"));
  if (sigma <= 0 || sigma > 1024) bad_arg(a, "sigma " + cv::format("%g", sigma) + " is out of range (0, 1024]");
  return std::make_unique<GaussianBlur>(sigma);
}

// ---- flip -----------------------------------------------------------------------------------

class Flip final : public Filter {
 public:
  Flip(int code, std::string text) : code_(code), text_(std::move(text)) {}
  std::string describe() const override { return "flip=" + text_; }
  // cv::flip reads each mirrored pair before writing it, so it may work in place.
  bool in_place() const override { return true; }
  Geometry output_geometry(Geometry in) const override { return in; }
  void apply(const Picture& in, Picture&, const FrameContext&) const override {
    for (int i = 0; i < 3; ++i) {
      cv::Mat plane = in.plane(i);
      cv::flip(plane, plane, code_);
    }
  }

 private:
  int code_;  // OpenCV: 1 horizontal, 0 vertical, -1 both
  std::string text_;
};

std::unique_ptr<Filter> make_flip(const FilterArgs& a) {
  auto args = bind(a, {"dir"});
  const std::string dir = get(args, "dir").value_or("v");
  if (dir == "h") return std::make_unique<Flip>(1, dir);
  if (dir == "v") return std::make_unique<Flip>(0, dir);
  if (dir == "hv" || dir == "vh") return std::make_unique<Flip>(-1, "hv");
  bad_arg(a, "dir '" + dir + "' is not one of h, v, hv");
}

std::unique_ptr<Filter> make_hflip(const FilterArgs& a) {
  bind(a, {});
  return std::make_unique<Flip>(1, "h");
}

std::unique_ptr<Filter> make_vflip(const FilterArgs& a) {
  bind(a, {});
  return std::make_unique<Flip>(0, "v");
}

}  // namespace

const std::vector<FilterInfo>& filter_registry() {
  static const std::vector<FilterInfo> registry = {
      {"resize", "WxH | w=W:h=H [:interp=nearest|linear|cubic|area|lanczos]",
       "scale to a size; -1 for one side keeps the aspect ratio", "resize=1280x720:interp=area",
       make_resize},
      {"crop", "W:H[:X:Y]", "cut a W x H window (centred unless X, Y given; no pixel copied)",
       "crop=640:360:0:0", make_crop},
      {"gray", "", "drop colour (chroma to neutral)", "gray", make_gray},
      {"gblur", "[sigma=S]", "Gaussian blur, sigma in pixels (default 0.5)", "gblur=2", make_gblur},
      {"flip", "[dir=h|v|hv]", "mirror horizontally, vertically (default) or both", "flip=h",
       make_flip},
      {"hflip", "", "mirror left-right (same as flip=h)", "hflip", make_hflip},
      {"vflip", "", "mirror top-bottom (same as flip=v)", "vflip", make_vflip},
  };
  return registry;
}

}  // namespace vpipe::transform
