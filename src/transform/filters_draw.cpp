// Filters that draw onto the picture: drawtext and overlay. Both work in place only (out is in:
// the chain copies the picture first when it must be kept) and leave every pixel outside what
// they draw untouched.
#include <algorithm>
#include <ctime>
#include <filesystem>
#include <opencv2/imgproc.hpp>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
}

#include "transform/filter_library.hpp"

namespace vpipe::transform::library {
namespace {

// ---- drawtext -------------------------------------------------------------------------------

// One piece of the text: literal, or a value of the frame filled in when it is drawn.
struct TextPiece {
  enum class Kind { kLiteral, kFrameNumber, kPts, kLocalTime };
  Kind kind;
  std::string literal;
};

// Splits the text at each %{name} once, so no frame parses it again.
std::vector<TextPiece> parse_text(const FilterArgs& a, const std::string& text) {
  static const std::map<std::string, TextPiece::Kind> kExpansions = {
      {"n", TextPiece::Kind::kFrameNumber},
      {"pts", TextPiece::Kind::kPts},
      {"localtime", TextPiece::Kind::kLocalTime}};
  std::vector<TextPiece> pieces;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t open = text.find("%{", pos);
    if (open != pos) {
      pieces.push_back({TextPiece::Kind::kLiteral, text.substr(pos, open - pos)});
      if (open == std::string::npos) break;
    }
    const std::size_t close = text.find('}', open);
    if (close == std::string::npos) bad_arg(a, "text has '%{' without a closing '}'");
    const std::string name = text.substr(open + 2, close - open - 2);
    const auto it = kExpansions.find(name);
    if (it == kExpansions.end()) {
      bad_arg(a, "unknown expansion '%{" + name + "}' (takes %{n}, %{pts}, %{localtime})");
    }
    pieces.push_back({it->second, {}});
    pos = close + 1;
  }
  return pieces;
}

class DrawText final : public Filter {
 public:
  DrawText(std::string text, std::vector<TextPiece> pieces, int x, int y, int size)
      : text_(std::move(text)),
        pieces_(std::move(pieces)),
        x_(x),
        y_(y),
        size_(size),
        thickness_(std::max(1, size / 16)),
        scale_(cv::getFontScaleFromHeight(kFont, size, thickness_)) {}

  std::string describe() const override {
    return "drawtext=text=" + text_ + ":x=" + std::to_string(x_) + ":y=" + std::to_string(y_) +
           ":size=" + std::to_string(size_);
  }
  bool in_place() const override { return true; }
  Geometry output_geometry(Geometry in) const override { return in; }
  // Luma only: white on black reads on any background, and chroma stays the background's.
  void apply(const Picture&, Picture& out, const FrameContext& frame) const override {
    const std::string text = expand(frame);
    cv::Mat y = out.plane(0);
    const cv::Point baseline(x_, y_ + size_);  // putText places the baseline; x, y is the top
    cv::putText(y, text, baseline, kFont, scale_, cv::Scalar(kBlackY), thickness_ + 2, cv::LINE_AA);
    cv::putText(y, text, baseline, kFont, scale_, cv::Scalar(kWhiteY), thickness_, cv::LINE_AA);
  }

 private:
  static constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;

  std::string expand(const FrameContext& frame) const {
    std::string out;
    for (const TextPiece& piece : pieces_) {
      switch (piece.kind) {
        case TextPiece::Kind::kLiteral:
          out += piece.literal;
          break;
        case TextPiece::Kind::kFrameNumber:
          out += std::to_string(frame.seq);
          break;
        case TextPiece::Kind::kPts:
          out += cv::format("%.3f", frame.time_s);
          break;
        case TextPiece::Kind::kLocalTime: {
          const std::time_t now = std::time(nullptr);
          std::tm local{};
          localtime_r(&now, &local);
          char clock[16];
          std::strftime(clock, sizeof clock, "%H:%M:%S", &local);
          out += clock;
          break;
        }
      }
    }
    return out;
  }

  std::string text_;
  std::vector<TextPiece> pieces_;
  int x_, y_, size_, thickness_;
  double scale_;
};

// ---- overlay --------------------------------------------------------------------------------

// The image as the pipeline's planes, converted once: Y, U, V and the alpha of luma and of chroma
// (2x2 means), the opacity already folded in.
struct OverlayImage {
  cv::Mat planes[3];
  cv::Mat alpha[2];
};

// An image file (PNG, JPEG, BMP, ... whatever libavformat's image demuxers read) as 8-bit BGRA;
// empty if it cannot be read. libav rather than OpenCV's imgcodecs, which would make every vpipe
// process load GDAL, Poppler and HDF5 at start for this one call.
cv::Mat read_bgra(const std::string& path) {
  AVFormatContext* fmt = nullptr;
  if (avformat_open_input(&fmt, path.c_str(), nullptr, nullptr) < 0) return {};
  cv::Mat out;
  AVCodecContext* dec = nullptr;
  AVPacket* pkt = av_packet_alloc();
  AVFrame* frame = av_frame_alloc();
  const AVCodec* codec = nullptr;
  if (avformat_find_stream_info(fmt, nullptr) >= 0 &&
      av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0) >= 0 && codec != nullptr) {
    dec = avcodec_alloc_context3(codec);
    const int idx = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    avcodec_parameters_to_context(dec, fmt->streams[idx]->codecpar);
    bool got = false;
    if (avcodec_open2(dec, codec, nullptr) >= 0) {
      while (!got && av_read_frame(fmt, pkt) >= 0) {
        if (pkt->stream_index == idx && avcodec_send_packet(dec, pkt) >= 0)
          got = avcodec_receive_frame(dec, frame) == 0;
        av_packet_unref(pkt);
      }
      if (!got && avcodec_send_packet(dec, nullptr) >= 0)
        got = avcodec_receive_frame(dec, frame) == 0;
    }
    if (got) {
      SwsContext* sws = sws_getContext(
          frame->width, frame->height, static_cast<AVPixelFormat>(frame->format), frame->width,
          frame->height, AV_PIX_FMT_BGRA, SWS_POINT, nullptr, nullptr, nullptr);
      if (sws != nullptr) {
        out.create(frame->height, frame->width, CV_8UC4);
        std::uint8_t* dst[1] = {out.data};
        const int dst_linesize[1] = {static_cast<int>(out.step)};
        sws_scale(sws, frame->data, frame->linesize, 0, frame->height, dst, dst_linesize);
        sws_freeContext(sws);
      }
    }
  }
  av_frame_free(&frame);
  av_packet_free(&pkt);
  avcodec_free_context(&dec);
  avformat_close_input(&fmt);
  return out;
}

OverlayImage load_overlay(const FilterArgs& a, const std::string& path, double opacity) {
  // Checked first so that a wrong path fails with our one line only, not OpenCV's warning too.
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error))
    bad_arg(a, "cannot read image '" + path + "'");
  const cv::Mat image = read_bgra(path);
  if (image.empty()) bad_arg(a, "cannot read image '" + path + "'");
  // Gray, RGB, paletted, 16-bit: all arrive as BGRA (opaque where the file has no alpha).
  cv::Mat bgr, alpha;
  cv::extractChannel(image, alpha, 3);
  cv::cvtColor(image, bgr, cv::COLOR_BGRA2BGR);

  // I420 conversion needs even sizes: repeat the last column and row, then keep w x h of luma;
  // the half-size chroma is then exactly the ceil(w/2) x ceil(h/2) a 4:2:0 plane has.
  const int w = image.cols;
  const int h = image.rows;
  const int even_w = w + w % 2;
  const int even_h = h + h % 2;
  cv::Mat even_bgr, even_alpha, i420;
  cv::copyMakeBorder(bgr, even_bgr, 0, even_h - h, 0, even_w - w, cv::BORDER_REPLICATE);
  cv::copyMakeBorder(alpha, even_alpha, 0, even_h - h, 0, even_w - w, cv::BORDER_REPLICATE);
  cv::cvtColor(even_bgr, i420, cv::COLOR_BGR2YUV_I420);

  OverlayImage out;
  const cv::Size chroma(even_w / 2, even_h / 2);
  std::uint8_t* u = i420.data + static_cast<std::size_t>(even_w) * even_h;
  std::uint8_t* v = u + static_cast<std::size_t>(chroma.area());
  out.planes[0] = i420(cv::Rect(0, 0, w, h)).clone();
  out.planes[1] = cv::Mat(chroma, CV_8U, u).clone();
  out.planes[2] = cv::Mat(chroma, CV_8U, v).clone();
  cv::Mat chroma_alpha;
  cv::resize(even_alpha, chroma_alpha, chroma, 0, 0, cv::INTER_AREA);
  alpha.convertTo(out.alpha[0], CV_8U, opacity);
  chroma_alpha.convertTo(out.alpha[1], CV_8U, opacity);
  return out;
}

// Blends `src` onto `dst` with its top-left corner at `at`, clipped to `dst`.
void blend(cv::Mat& dst, const cv::Mat& src, const cv::Mat& alpha, cv::Point at) {
  const cv::Rect area = cv::Rect(at, src.size()) & cv::Rect(0, 0, dst.cols, dst.rows);
  for (int row = 0; row < area.height; ++row) {
    auto* d = dst.ptr<std::uint8_t>(area.y + row) + area.x;
    const auto* s = src.ptr<std::uint8_t>(area.y - at.y + row) + (area.x - at.x);
    const auto* k = alpha.ptr<std::uint8_t>(area.y - at.y + row) + (area.x - at.x);
    for (int x = 0; x < area.width; ++x) {
      d[x] = static_cast<std::uint8_t>((s[x] * k[x] + d[x] * (255 - k[x]) + 127) / 255);
    }
  }
}

class Overlay final : public Filter {
 public:
  Overlay(std::string path, int x, int y, double opacity, OverlayImage image)
      : path_(std::move(path)), x_(x), y_(y), opacity_(opacity), image_(std::move(image)) {}

  std::string describe() const override {
    return "overlay=file=" + path_ + ":x=" + std::to_string(x_) + ":y=" + std::to_string(y_) +
           ":alpha=" + cv::format("%g", opacity_);
  }
  bool in_place() const override { return true; }
  Geometry output_geometry(Geometry in) const override { return in; }
  void apply(const Picture&, Picture& out, const FrameContext&) const override {
    // Even, so that chroma lands on whole samples under the luma it belongs to.
    const cv::Point at(x_ & ~1, y_ & ~1);
    for (int i = 0; i < 3; ++i) {
      cv::Mat plane = out.plane(i);
      blend(plane, image_.planes[i], image_.alpha[i == 0 ? 0 : 1],
            i == 0 ? at : cv::Point(at.x / 2, at.y / 2));
    }
  }

 private:
  std::string path_;
  int x_, y_;
  double opacity_;
  OverlayImage image_;
};

}  // namespace

std::unique_ptr<Filter> make_drawtext(const FilterArgs& a) {
  auto args = bind(a, {"text", "x", "y", "size"});
  const auto text = get(args, "text");
  if (!text || text->empty()) bad_arg(a, "needs text=T");
  std::vector<TextPiece> pieces = parse_text(a, *text);
  const int x = int_arg(a, args, "x", 10, -kMaxDimension, kMaxDimension);
  const int y = int_arg(a, args, "y", 10, -kMaxDimension, kMaxDimension);
  const int size = int_arg(a, args, "size", 24, 6, 1024);
  return std::make_unique<DrawText>(*text, std::move(pieces), x, y, size);
}

std::unique_ptr<Filter> make_overlay(const FilterArgs& a) {
  auto args = bind(a, {"file", "x", "y", "alpha"});
  const auto path = get(args, "file");
  if (!path || path->empty()) bad_arg(a, "needs file=PATH");
  const int x = int_arg(a, args, "x", 0, -kMaxDimension, kMaxDimension);
  const int y = int_arg(a, args, "y", 0, -kMaxDimension, kMaxDimension);
  const double opacity = number_arg(a, args, "alpha", 1, 0, 1);
  return std::make_unique<Overlay>(*path, x, y, opacity, load_overlay(a, *path, opacity));
}

}  // namespace vpipe::transform::library
