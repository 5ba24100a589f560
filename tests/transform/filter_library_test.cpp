// The filter library beyond the basics: every filter against an OpenCV or hand-computed reference
// on a known frame, its geometry plan, its in-place and sequential declarations, and its errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

extern "C" {
#include <libavcodec/avcodec.h>
}

#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <opencv2/imgproc.hpp>
#include <random>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "transform/filter.hpp"
#include "transform/filter_chain.hpp"
#include "transform/picture.hpp"

namespace vpipe::transform {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::uint8_t kBlack = 16;  // video-range levels the filters draw with
constexpr std::uint8_t kWhite = 235;
constexpr std::uint8_t kNeutral = 128;

// ---- support --------------------------------------------------------------------------------

// A picture that owns its planes, laid out as the pipeline lays out slots.
class OwnedPicture {
 public:
  explicit OwnedPicture(Geometry g)
      : bytes_(picture_bytes(g)), picture_(layout_picture(bytes_.data(), g)) {}
  OwnedPicture(const OwnedPicture& other) : OwnedPicture(other.geometry()) {
    copy_from(other.picture_);
  }
  OwnedPicture(OwnedPicture&&) = default;
  OwnedPicture& operator=(const OwnedPicture&) = delete;
  OwnedPicture& operator=(OwnedPicture&&) = delete;

  static OwnedPicture copy_of(const Picture& p) {
    OwnedPicture out(p.geometry());
    out.copy_from(p);
    return out;
  }
  [[nodiscard]] Geometry geometry() const { return picture_.geometry(); }
  [[nodiscard]] cv::Mat plane(int i) const { return picture_.plane(i); }
  [[nodiscard]] const Picture& picture() const { return picture_; }

 private:
  void copy_from(const Picture& p) {
    for (int i = 0; i < 3; ++i) {
      cv::Mat dst = picture_.plane(i);
      p.plane(i).copyTo(dst);
    }
  }
  std::vector<std::uint8_t> bytes_;
  Picture picture_;
};

// A deterministic frame with smooth gradients, hard 8-pixel checker edges, colour that varies
// across the picture and a little noise: something for every filter to change.
OwnedPicture test_frame(Geometry g, int seed = 1) {
  OwnedPicture frame(g);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(-6, 6);
  for (int i = 0; i < 3; ++i) {
    cv::Mat p = frame.plane(i);
    for (int y = 0; y < p.rows; ++y) {
      for (int x = 0; x < p.cols; ++x) {
        int value = 0;
        if (i == 0) {
          value = 40 + x * 150 / p.cols + y * 40 / p.rows + ((x / 8 + y / 8) % 2 ? 25 : 0);
        } else if (i == 1) {
          value = kNeutral + (x - p.cols / 2) * 100 / p.cols;
        } else {
          value = kNeutral + (y - p.rows / 2) * 100 / p.rows;
        }
        p.at<std::uint8_t>(y, x) = cv::saturate_cast<std::uint8_t>(value + noise(rng));
      }
    }
  }
  return frame;
}

OwnedPicture constant_frame(Geometry g, std::uint8_t y, std::uint8_t u, std::uint8_t v) {
  OwnedPicture frame(g);
  frame.plane(0).setTo(y);
  frame.plane(1).setTo(u);
  frame.plane(2).setTo(v);
  return frame;
}

double max_diff(const cv::Mat& a, const cv::Mat& b) {
  return cv::norm(a, b, cv::NORM_INF);
}

bool same_picture(const OwnedPicture& a, const OwnedPicture& b) {
  if (!(a.geometry() == b.geometry())) return false;
  for (int i = 0; i < 3; ++i) {
    if (max_diff(a.plane(i), b.plane(i)) != 0) return false;
  }
  return true;
}

struct ChainOutput {
  OwnedPicture picture;
  bool in_spare;
};

// Runs `chain` on a copy of `input` the way a worker does, with a spare slot and a scratch
// buffer sized by the plan only when the chain says it needs them, and checks that the input
// was only read (a requeued frame must be processed again from the same pixels).
ChainOutput run_chain(const FilterChain& chain, const OwnedPicture& input,
                      const FrameContext& frame = {}) {
  const std::uint64_t bytes = chain.max_picture_bytes(input.geometry());
  const OwnedPicture slot = input;
  std::vector<std::uint8_t> spare(chain.needs_spare() ? bytes : 0);
  std::vector<std::uint8_t> scratch(chain.needs_scratch() ? bytes : 0);
  const FilterChain::Result result =
      chain.run(slot.picture(), chain.needs_spare() ? spare.data() : nullptr,
                chain.needs_scratch() ? scratch.data() : nullptr, frame);
  ChainOutput out{OwnedPicture::copy_of(result.picture), result.in_spare};
  EXPECT_TRUE(same_picture(slot, input)) << "the input was written";
  return out;
}

OwnedPicture run(const std::string& spec, const OwnedPicture& input,
                 const FrameContext& frame = {}) {
  return run_chain(FilterChain::parse(spec), input, frame).picture;
}

void expect_same_plane(const cv::Mat& actual, const cv::Mat& expected, const char* what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  EXPECT_EQ(max_diff(actual, expected), 0) << what;
}

void expect_same_picture(const OwnedPicture& actual, const OwnedPicture& expected) {
  ASSERT_EQ(actual.geometry(), expected.geometry());
  expect_same_plane(actual.plane(0), expected.plane(0), "Y");
  expect_same_plane(actual.plane(1), expected.plane(1), "U");
  expect_same_plane(actual.plane(2), expected.plane(2), "V");
}

// The message of the vpipe::Error that `action` throws; fails the test unless it throws one
// with the usage exit code.
template <typename Action>
std::string usage_error_of(Action&& action) {
  try {
    action();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no vpipe::Error was thrown";
  return {};
}

// A directory of its own under the test temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir()
      : path_(std::filesystem::path(::testing::TempDir()) /
              ("vpipe_filter_library_" + std::to_string(::getpid()) + "_" +
               std::to_string(counter_++))) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes a BGRA, BGR or grey image as a PNG, with libav's encoder (the one cv.overlay's reader
  // pairs with; OpenCV's image codecs would add a quarter second to every test's start).
  [[nodiscard]] std::string write_png(const std::string& name, const cv::Mat& image) const {
    const std::string file = (path_ / name).string();
    cv::Mat rgb = image;
    AVPixelFormat format = AV_PIX_FMT_GRAY8;
    if (image.type() == CV_8UC4) {
      cv::cvtColor(image, rgb, cv::COLOR_BGRA2RGBA);
      format = AV_PIX_FMT_RGBA;
    } else if (image.type() == CV_8UC3) {
      cv::cvtColor(image, rgb, cv::COLOR_BGR2RGB);
      format = AV_PIX_FMT_RGB24;
    }
    AVCodecContext* codec = avcodec_alloc_context3(avcodec_find_encoder(AV_CODEC_ID_PNG));
    AVFrame* frame = av_frame_alloc();
    AVPacket* packet = av_packet_alloc();
    codec->width = frame->width = rgb.cols;
    codec->height = frame->height = rgb.rows;
    codec->pix_fmt = format;
    frame->format = format;
    codec->time_base = {1, 1};
    frame->data[0] = rgb.data;
    frame->linesize[0] = static_cast<int>(rgb.step);
    const bool encoded = avcodec_open2(codec, codec->codec, nullptr) == 0 &&
                         avcodec_send_frame(codec, frame) == 0 &&
                         avcodec_receive_packet(codec, packet) == 0;
    EXPECT_TRUE(encoded) << file;
    if (encoded) {
      std::ofstream(file, std::ios::binary)
          .write(reinterpret_cast<const char*>(packet->data), packet->size);
    }
    av_packet_free(&packet);
    av_frame_free(&frame);
    avcodec_free_context(&codec);
    return file;
  }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

// "cv.crop" (vpipe's crop, where ffmpeg has one too) or "gray".
const FilterInfo* find_info(const std::string& name) {
  const std::string own = name.rfind("cv.", 0) == 0 ? name.substr(3) : name;
  for (const FilterInfo& info : filter_registry()) {
    if (info.name == own) return &info;
  }
  return nullptr;
}

constexpr Geometry kOdd{65, 47};  // odd both ways: chroma is 33 x 24

// ---- registry -------------------------------------------------------------------------------

const std::vector<std::string> kNewFilters = {
    "cv.pad", "cv.rotate", "cv.boxblur", "cv.unsharp", "sharpen",     "edges",      "cv.eq",
    "cv.hue", "denoise",   "tdenoise",   "sepia",      "cv.drawtext", "cv.overlay", "stress"};

TEST(FilterLibraryRegistryTest, EveryNewFilterIsListedWithASummaryAndAnExample) {
  for (const std::string& name : kNewFilters) {
    SCOPED_TRACE(name);

    const FilterInfo* info = find_info(name);

    ASSERT_NE(info, nullptr);
    EXPECT_FALSE(info->summary.empty());
    EXPECT_THAT(info->example, ::testing::StartsWith(name));
    EXPECT_NE(info->make, nullptr);
  }
}

TEST(FilterLibraryRegistryTest, ExamplesParseRunAndDeclareTheListedSequentialFlag) {
  for (const FilterInfo& info : filter_registry()) {
    if (info.name == "overlay") continue;  // its example names a file; tested below
    SCOPED_TRACE(info.example);

    const FilterChain sut = FilterChain::parse(info.example);
    const OwnedPicture in = test_frame({641, 361});  // large enough for cv.crop's example

    const ChainOutput out = run_chain(sut, in);

    EXPECT_EQ(sut.sequential(), info.sequential);
    EXPECT_EQ(out.picture.geometry(), sut.plan(in.geometry()).back());
  }
}

TEST(FilterLibraryRegistryTest, OnlyTdenoiseIsSequential) {
  for (const FilterInfo& info : filter_registry()) {
    EXPECT_EQ(info.sequential, info.name == "tdenoise") << info.name;
  }
}

// ---- geometry plan and slot needs -----------------------------------------------------------

struct GeometryCase {
  const char* spec;
  Geometry input;
  Geometry output;
  friend void PrintTo(const GeometryCase& c, std::ostream* os) { *os << c.spec; }
};

class FilterLibraryGeometryTest : public ::testing::TestWithParam<GeometryCase> {};

TEST_P(FilterLibraryGeometryTest, PlanGivesTheOutputGeometryAndTheResultLandsInTheSpareSlot) {
  const GeometryCase& param = GetParam();
  const FilterChain sut = FilterChain::parse(param.spec);

  const std::vector<Geometry> steps = sut.plan(param.input);
  const ChainOutput out = run_chain(sut, test_frame(param.input));

  EXPECT_EQ(steps.back(), param.output);
  EXPECT_EQ(out.picture.geometry(), param.output);
  // Every one of these filters writes pixels, and the input slot is never written.
  EXPECT_TRUE(sut.needs_spare());
  EXPECT_TRUE(out.in_spare);
}

INSTANTIATE_TEST_SUITE_P(
    Filters, FilterLibraryGeometryTest,
    ::testing::Values(
        GeometryCase{"cv.pad=100:80", kOdd, {100, 80}}, GeometryCase{"cv.pad=65:47", kOdd, kOdd},
        GeometryCase{"cv.pad=67:48:2:0:color=white", kOdd, {67, 48}},
        GeometryCase{"cv.rotate=90", kOdd, {47, 65}}, GeometryCase{"cv.rotate=270", kOdd, {47, 65}},
        GeometryCase{"cv.rotate=180", kOdd, kOdd}, GeometryCase{"cv.rotate=angle=30", kOdd, kOdd},
        GeometryCase{"cv.rotate=90", {640, 360}, {360, 640}},
        GeometryCase{"cv.boxblur=3", kOdd, kOdd}, GeometryCase{"cv.unsharp=7:3:1.5", kOdd, kOdd},
        GeometryCase{"sharpen", kOdd, kOdd}, GeometryCase{"edges", kOdd, kOdd},
        GeometryCase{"cv.eq=gamma=2", kOdd, kOdd}, GeometryCase{"cv.hue=h=45", kOdd, kOdd},
        GeometryCase{"sepia", kOdd, kOdd}, GeometryCase{"denoise", kOdd, kOdd},
        GeometryCase{"tdenoise", kOdd, kOdd}, GeometryCase{"cv.drawtext=text=hi", kOdd, kOdd},
        GeometryCase{"stress=3", kOdd, kOdd}, GeometryCase{"cv.rotate=90,cv.rotate=90", kOdd, kOdd},
        GeometryCase{"cv.crop=40:30,cv.rotate=90", kOdd, {30, 40}},
        GeometryCase{"cv.pad=80:60,cv.rotate=270,sepia", kOdd, {60, 80}}));

// ---- declarations ---------------------------------------------------------------------------

struct DeclarationCase {
  const char* name;
  std::vector<std::string> positional;
  bool in_place;
  bool can_write_elsewhere;  // in place, yet as cheap reading one buffer and writing another
  friend void PrintTo(const DeclarationCase& c, std::ostream* os) { *os << c.name; }
};

class FilterLibraryDeclarationTest : public ::testing::TestWithParam<DeclarationCase> {};

TEST_P(FilterLibraryDeclarationTest, FilterDeclaresHowItWritesAndThatItIsStatelessOrNot) {
  const DeclarationCase& param = GetParam();
  const FilterInfo* info = find_info(param.name);
  ASSERT_NE(info, nullptr);

  const std::unique_ptr<Filter> sut = info->make(FilterArgs{param.name, param.positional, {}});

  EXPECT_EQ(sut->in_place(), param.in_place);
  EXPECT_EQ(sut->can_write_elsewhere(), param.can_write_elsewhere);
  EXPECT_FALSE(sut->is_view());
  EXPECT_EQ(sut->sequential(), info->sequential);
  EXPECT_EQ(sut->sequential(), std::string(param.name) == "tdenoise");
}

INSTANTIATE_TEST_SUITE_P(
    Filters, FilterLibraryDeclarationTest,
    ::testing::Values(
        DeclarationCase{"cv.pad", {"100", "80"}, false, true},
        DeclarationCase{"cv.rotate", {"90"}, false, true},
        DeclarationCase{"cv.rotate", {"270"}, false, true},
        DeclarationCase{"cv.rotate", {"180"}, true, true},
        DeclarationCase{"cv.boxblur", {}, true, true},
        DeclarationCase{"cv.unsharp", {}, true, true}, DeclarationCase{"sharpen", {}, true, true},
        DeclarationCase{"edges", {}, true, true}, DeclarationCase{"cv.eq", {}, true, true},
        DeclarationCase{"cv.hue", {}, true, true}, DeclarationCase{"sepia", {}, true, true},
        DeclarationCase{"denoise", {}, true, true}, DeclarationCase{"tdenoise", {}, true, true},
        DeclarationCase{"stress", {"1"}, true, true},
        // They draw over what is there, so the chain copies the picture first.
        DeclarationCase{"cv.drawtext", {"x"}, true, false}));

TEST(RotateTest, ArbitraryAngleIsOutOfPlace) {
  const std::unique_ptr<Filter> sut =
      find_info("cv.rotate")->make(FilterArgs{"cv.rotate", {}, {{"angle", "10"}}});

  EXPECT_FALSE(sut->in_place());
}

// Whether a filter runs first (reading the input, writing the spare) or after another writer
// (in place in the spare, or from one buffer into the other), its output must be the same.
class FilterLibraryPositionTest : public ::testing::TestWithParam<const char*> {};

TEST_P(FilterLibraryPositionTest, SameOutputFirstInTheChainOrAfterAnotherWriter) {
  const std::string spec = GetParam();
  const OwnedPicture in = test_frame(kOdd);

  const OwnedPicture first = run(spec, in, {5, 5, 0.2});
  const OwnedPicture after = run("cv.hflip,cv.hflip," + spec, in, {5, 5, 0.2});

  expect_same_picture(after, first);
}

INSTANTIATE_TEST_SUITE_P(Filters, FilterLibraryPositionTest,
                         ::testing::Values("cv.pad=100:80", "cv.rotate=90", "cv.rotate=180",
                                           "cv.rotate=angle=30", "cv.boxblur=2", "cv.unsharp",
                                           "sharpen=2", "edges", "cv.eq=contrast=2:saturation=2",
                                           "cv.eq=gamma=2", "cv.hue=h=30:s=2", "sepia",
                                           "denoise=0.5", "tdenoise", "cv.drawtext=text=%{n}",
                                           "stress=7"));

TEST(FilterLibraryPlanTest, PadThrowsNamingPadWhenTheInputDoesNotFit) {
  const FilterChain too_small = FilterChain::parse("cv.pad=64:47");
  const FilterChain pushed_out = FilterChain::parse("cv.pad=70:50:6:0");

  const std::string message = usage_error_of([&] { (void)too_small.plan(kOdd); });
  const std::string pushed = usage_error_of([&] { (void)pushed_out.plan(kOdd); });

  EXPECT_THAT(message, HasSubstr("filter 'cv.pad'"));
  EXPECT_THAT(message, HasSubstr("65x47 input does not fit in 64x47"));
  EXPECT_THAT(pushed, HasSubstr("at 6,0"));
}

TEST(FilterLibraryPlanTest, RotateBy90ThrowsNamingTheNextFilterThatNoLongerFits) {
  const FilterChain sut = FilterChain::parse("cv.rotate=90,cv.crop=60:40");

  const std::string message = usage_error_of([&] { (void)sut.plan(kOdd); });

  EXPECT_THAT(message, HasSubstr("filter 'cv.crop'"));
  EXPECT_THAT(message, HasSubstr("47x65 input"));
}

TEST(FilterLibraryPlanTest, OnlyTdenoiseMakesAChainSequential) {
  EXPECT_TRUE(FilterChain::parse("tdenoise").sequential());
  EXPECT_TRUE(FilterChain::parse("resize=64x64,tdenoise=3,sepia").sequential());
  EXPECT_FALSE(FilterChain::parse(
                   "cv.pad=100:100,cv.rotate=90,cv.rotate=angle=5,cv.boxblur,cv.unsharp,sharpen,"
                   "edges,cv.eq,cv.hue,sepia,denoise,cv.drawtext=text=x,stress=1")
                   .sequential());
}

// ---- pad ------------------------------------------------------------------------------------

// The input copied at (x, y) (luma; chroma at x/2, y/2) into a w x h picture of `fill`.
OwnedPicture padded(const OwnedPicture& in, Geometry g, int x, int y, std::uint8_t fill) {
  OwnedPicture out = constant_frame(g, fill, kNeutral, kNeutral);
  for (int i = 0; i < 3; ++i) {
    const int scale = i == 0 ? 1 : 2;
    cv::Mat dst = out.plane(i);
    in.plane(i).copyTo(dst(cv::Rect(cv::Point(x / scale, y / scale), in.plane(i).size())));
  }
  return out;
}

TEST(PadTest, CentresTheInputOnEvenCoordinatesInBlack) {
  const OwnedPicture in = test_frame(kOdd);

  const OwnedPicture out = run("cv.pad=100:80", in);

  // (100 - 65) / 2 = 17 -> 16; (80 - 47) / 2 = 16.
  expect_same_picture(out, padded(in, {100, 80}, 16, 16, kBlack));
}

TEST(PadTest, PlacesTheInputAtXYRoundedDownToEvenInTheGivenColour) {
  const OwnedPicture in = test_frame(kOdd);

  const OwnedPicture white = run("cv.pad=80:60:5:3:color=white", in);
  const OwnedPicture gray = run("cv.pad=w=81:h=61:x=0:y=14:color=gray", in);

  expect_same_picture(white, padded(in, {80, 60}, 4, 2, kWhite));
  expect_same_picture(gray, padded(in, {81, 61}, 0, 14, 126));
}

// ---- rotate ---------------------------------------------------------------------------------

TEST(RotateTest, NinetyTurnsClockwiseAndSwapsTheSides) {
  const OwnedPicture in = test_frame(kOdd);

  const OwnedPicture out = run("cv.rotate=90", in);

  for (int i = 0; i < 3; ++i) {
    const cv::Mat src = in.plane(i);
    const cv::Mat dst = out.plane(i);
    ASSERT_EQ(dst.size(), cv::Size(src.rows, src.cols));
    for (int r = 0; r < dst.rows; ++r) {
      for (int c = 0; c < dst.cols; ++c) {
        ASSERT_EQ(dst.at<std::uint8_t>(r, c), src.at<std::uint8_t>(src.rows - 1 - c, r))
            << "plane " << i << " at " << r << "," << c;
      }
    }
  }
}

TEST(RotateTest, TwoSeventyTurnsCounterClockwise) {
  const OwnedPicture in = test_frame(kOdd);

  const OwnedPicture out = run("cv.rotate=270", in);

  for (int i = 0; i < 3; ++i) {
    const cv::Mat src = in.plane(i);
    const cv::Mat dst = out.plane(i);
    ASSERT_EQ(dst.size(), cv::Size(src.rows, src.cols));
    for (int r = 0; r < dst.rows; ++r) {
      for (int c = 0; c < dst.cols; ++c) {
        ASSERT_EQ(dst.at<std::uint8_t>(r, c), src.at<std::uint8_t>(c, src.cols - 1 - r))
            << "plane " << i << " at " << r << "," << c;
      }
    }
  }
}

TEST(RotateTest, OneEightyTurnsInPlace) {
  const OwnedPicture in = test_frame(kOdd);

  const OwnedPicture out = run("cv.rotate=180", in);

  for (int i = 0; i < 3; ++i) {
    cv::Mat expected;
    cv::flip(in.plane(i), expected, -1);
    expect_same_plane(out.plane(i), expected, "plane");
  }
}

TEST(RotateTest, FourQuarterTurnsGiveTheInputBack) {
  const OwnedPicture in = test_frame(kOdd);

  expect_same_picture(run("cv.rotate=90,cv.rotate=90,cv.rotate=90,cv.rotate=90", in), in);
  expect_same_picture(run("cv.rotate=90,cv.rotate=270", in), in);
}

TEST(RotateTest, AngleNinetyOnASquareMatchesTheQuarterTurn) {
  // On a square the rotated grid lands on the grid, so only a wrong centre (luma or chroma)
  // could make these differ.
  const OwnedPicture in = test_frame({64, 64});

  const OwnedPicture by_angle = run("cv.rotate=angle=90", in);
  const OwnedPicture by_turn = run("cv.rotate=90", in);
  const OwnedPicture back = run("cv.rotate=angle=-90", in);

  for (int i = 0; i < 3; ++i) EXPECT_LE(max_diff(by_angle.plane(i), by_turn.plane(i)), 1) << i;
  for (int i = 0; i < 3; ++i) {
    EXPECT_LE(max_diff(back.plane(i), run("cv.rotate=270", in).plane(i)), 1) << i;
  }
}

TEST(RotateTest, AngleZeroLeavesThePictureAsItIs) {
  const OwnedPicture in = test_frame(kOdd);

  expect_same_picture(run("cv.rotate=angle=0", in), in);
}

TEST(RotateTest, AngleMatchesWarpAffineAboutThePlaneCentresWithBlackCorners) {
  const OwnedPicture in = test_frame(kOdd);

  const OwnedPicture out = run("cv.rotate=angle=30", in);

  const cv::Point2d luma_centre(32, 23);
  for (int i = 0; i < 3; ++i) {
    const cv::Point2d centre = i == 0 ? luma_centre : (luma_centre - cv::Point2d(0.5, 0.5)) / 2;
    cv::Mat expected;
    cv::warpAffine(in.plane(i), expected, cv::getRotationMatrix2D(centre, -30, 1),
                   in.plane(i).size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT,
                   cv::Scalar(i == 0 ? kBlack : kNeutral));
    expect_same_plane(out.plane(i), expected, "plane");
  }
  EXPECT_EQ(out.plane(0).at<std::uint8_t>(0, 0), kBlack);
  EXPECT_EQ(out.plane(1).at<std::uint8_t>(0, 0), kNeutral);
  EXPECT_EQ(out.plane(2).at<std::uint8_t>(23, 32), kNeutral);
}

// ---- cv.boxblur, cv.unsharp, sharpen, edges, denoise
// -----------------------------------------------

TEST(BoxBlurTest, MatchesOpenCvBlurOfEveryPlaneWithReplicatedBorders) {
  const OwnedPicture in = test_frame(kOdd);

  const OwnedPicture out = run("cv.boxblur=2", in);

  for (int i = 0; i < 3; ++i) {
    cv::Mat expected;
    cv::blur(in.plane(i), expected, cv::Size(5, 5), cv::Point(-1, -1), cv::BORDER_REPLICATE);
    expect_same_plane(out.plane(i), expected, "plane");
  }
}

TEST(BoxBlurTest, DefaultRadiusIsOne) {
  const OwnedPicture in = test_frame(kOdd);

  expect_same_picture(run("cv.boxblur", in), run("cv.boxblur=r=1", in));
}

// y + amount * (y - gaussian(y)), in doubles.
cv::Mat unsharp_reference(const cv::Mat& y, cv::Size kernel, double amount) {
  cv::Mat blurred;
  cv::GaussianBlur(y, blurred, kernel, 0, 0, cv::BORDER_REPLICATE);
  cv::Mat out(y.size(), CV_8U);
  for (int r = 0; r < y.rows; ++r) {
    for (int c = 0; c < y.cols; ++c) {
      const double v = y.at<std::uint8_t>(r, c);
      out.at<std::uint8_t>(r, c) =
          cv::saturate_cast<std::uint8_t>(v + amount * (v - blurred.at<std::uint8_t>(r, c)));
    }
  }
  return out;
}

TEST(UnsharpTest, AddsTheDifferenceFromAGaussianBlurToLumaOnly) {
  const OwnedPicture in = test_frame(kOdd);

  const OwnedPicture out = run("cv.unsharp=7:3:1.5", in);

  EXPECT_LE(max_diff(out.plane(0), unsharp_reference(in.plane(0), {7, 3}, 1.5)), 1);
  EXPECT_GT(cv::PSNR(out.plane(0), unsharp_reference(in.plane(0), {7, 3}, 1.5)), 50);
  expect_same_plane(out.plane(1), in.plane(1), "U");
  expect_same_plane(out.plane(2), in.plane(2), "V");
}

TEST(UnsharpTest, NegativeAmountSoftens) {
  const OwnedPicture in = test_frame(kOdd);

  const OwnedPicture out = run("cv.unsharp=la=-1", in);

  EXPECT_LE(max_diff(out.plane(0), unsharp_reference(in.plane(0), {5, 5}, -1)), 1);
}

TEST(UnsharpTest, SharpenIsUnsharpFiveByFive) {
  const OwnedPicture in = test_frame(kOdd);

  expect_same_picture(run("sharpen=0.8", in), run("cv.unsharp=5:5:0.8", in));
  expect_same_picture(run("sharpen", in), run("cv.unsharp", in));
}

TEST(EdgesTest, DrawsCannyEdgesOfLumaWhiteOnBlackWithoutColour) {
  const OwnedPicture in = test_frame(kOdd);

  const OwnedPicture out = run("edges=40:120", in);

  cv::Mat edges;
  cv::Canny(in.plane(0), edges, 40, 120);
  cv::Mat expected(edges.size(), CV_8U, cv::Scalar(kBlack));
  expected.setTo(kWhite, edges);
  expect_same_plane(out.plane(0), expected, "Y");
  EXPECT_GT(cv::countNonZero(edges), 0);  // the checker has edges to find
  EXPECT_EQ(cv::countNonZero(out.plane(1) != kNeutral), 0);
  EXPECT_EQ(cv::countNonZero(out.plane(2) != kNeutral), 0);
}

TEST(DenoiseTest, FullStrengthIsAThreeByThreeMedianOfLuma) {
  const OwnedPicture in = test_frame(kOdd);

  const OwnedPicture out = run("denoise", in);

  cv::Mat expected;
  cv::medianBlur(in.plane(0), expected, 3);
  expect_same_plane(out.plane(0), expected, "Y");
  expect_same_plane(out.plane(1), in.plane(1), "U");
  expect_same_plane(out.plane(2), in.plane(2), "V");
}

TEST(DenoiseTest, StrengthMixesTheMedianIn) {
  const OwnedPicture in = test_frame(kOdd);

  const OwnedPicture out = run("denoise=strength=0.25", in);

  cv::Mat median;
  cv::medianBlur(in.plane(0), median, 3);
  cv::Mat expected(median.size(), CV_8U);
  for (int r = 0; r < median.rows; ++r) {
    for (int c = 0; c < median.cols; ++c) {
      expected.at<std::uint8_t>(r, c) = cv::saturate_cast<std::uint8_t>(
          0.75 * in.plane(0).at<std::uint8_t>(r, c) + 0.25 * median.at<std::uint8_t>(r, c));
    }
  }
  EXPECT_LE(max_diff(out.plane(0), expected), 1);
}

TEST(DenoiseTest, RemovesSaltAndPepperNoise) {
  const OwnedPicture clean = test_frame({128, 96});
  OwnedPicture noisy = clean;
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> where(0, 128 * 96 - 1);
  for (int i = 0; i < 400; ++i) {
    const int at = where(rng);
    noisy.plane(0).at<std::uint8_t>(at / 128, at % 128) = i % 2 ? 255 : 0;
  }

  const OwnedPicture out = run("denoise", noisy);

  EXPECT_GT(cv::PSNR(out.plane(0), clean.plane(0)), cv::PSNR(noisy.plane(0), clean.plane(0)) + 5);
}

// ---- cv.eq, cv.hue, sepia
// -------------------------------------------------------------------------

TEST(EqTest, MapsLumaThroughFfmpegsContrastBrightnessGammaCurve) {
  const OwnedPicture in = test_frame(kOdd);

  const OwnedPicture out = run("cv.eq=brightness=0.1:contrast=1.3:gamma=1.8", in);

  cv::Mat expected(in.plane(0).size(), CV_8U);
  for (int r = 0; r < expected.rows; ++r) {
    for (int c = 0; c < expected.cols; ++c) {
      const double v = 1.3 * (in.plane(0).at<std::uint8_t>(r, c) / 255.0 - 0.5) + 0.5 + 0.1;
      expected.at<std::uint8_t>(r, c) =
          cv::saturate_cast<std::uint8_t>(v <= 0 ? 0 : 255 * std::pow(v, 1 / 1.8));
    }
  }
  expect_same_plane(out.plane(0), expected, "Y");
  expect_same_plane(out.plane(1), in.plane(1), "U");
  expect_same_plane(out.plane(2), in.plane(2), "V");
}

TEST(EqTest, SaturationScalesChromaAroundNeutral) {
  const OwnedPicture in = test_frame(kOdd);

  const OwnedPicture out = run("cv.eq=saturation=1.7", in);

  for (int i = 1; i < 3; ++i) {
    cv::Mat expected(in.plane(i).size(), CV_8U);
    for (int r = 0; r < expected.rows; ++r) {
      for (int c = 0; c < expected.cols; ++c) {
        expected.at<std::uint8_t>(r, c) = cv::saturate_cast<std::uint8_t>(
            kNeutral + 1.7 * (in.plane(i).at<std::uint8_t>(r, c) - kNeutral));
      }
    }
    expect_same_plane(out.plane(i), expected, "chroma");
  }
  expect_same_plane(out.plane(0), in.plane(0), "Y");
}

TEST(EqTest, DefaultsLeaveThePictureAsItIs) {
  const OwnedPicture in = test_frame(kOdd);

  expect_same_picture(run("cv.eq", in), in);
  expect_same_picture(run("cv.eq=1:0:1:1", in), in);
}

TEST(HueTest, TurnsTheChromaVectorAndScalesIt) {
  const OwnedPicture in = test_frame(kOdd);

  const OwnedPicture out = run("cv.hue=h=70:s=1.4", in);

  const double angle = 70 * CV_PI / 180;
  for (int r = 0; r < in.plane(1).rows; ++r) {
    for (int c = 0; c < in.plane(1).cols; ++c) {
      const double u = in.plane(1).at<std::uint8_t>(r, c) - kNeutral;
      const double v = in.plane(2).at<std::uint8_t>(r, c) - kNeutral;
      const double nu = kNeutral + 1.4 * (u * std::cos(angle) - v * std::sin(angle));
      const double nv = kNeutral + 1.4 * (u * std::sin(angle) + v * std::cos(angle));
      ASSERT_NEAR(out.plane(1).at<std::uint8_t>(r, c), std::clamp(nu, 0.0, 255.0), 1)
          << r << "," << c;
      ASSERT_NEAR(out.plane(2).at<std::uint8_t>(r, c), std::clamp(nv, 0.0, 255.0), 1)
          << r << "," << c;
    }
  }
  expect_same_plane(out.plane(0), in.plane(0), "Y");
}

TEST(HueTest, NoTurnAndUnitSaturationLeaveThePictureAsItIs) {
  const OwnedPicture in = test_frame(kOdd);

  expect_same_picture(run("cv.hue", in), in);
  expect_same_picture(run("cv.hue=h=360", in), in);
}

TEST(HueTest, ZeroSaturationDropsColour) {
  const OwnedPicture in = test_frame(kOdd);

  expect_same_picture(run("cv.hue=s=0", in), run("gray", in));
}

TEST(SepiaTest, KeepsLumaAndSetsTheSepiaTint) {
  const OwnedPicture in = test_frame(kOdd);

  const OwnedPicture out = run("sepia", in);

  expect_same_plane(out.plane(0), in.plane(0), "Y");
  EXPECT_EQ(cv::countNonZero(out.plane(1) != 110), 0);
  EXPECT_EQ(cv::countNonZero(out.plane(2) != 139), 0);
}

TEST(SepiaTest, TintIsTheHueOfTheSepiaMatrixAppliedToGrey) {
  // The classic matrix turns mid-grey into this BGR; its U, V are the tint.
  cv::Mat grey_through_matrix(2, 2, CV_8UC3, cv::Scalar(120, 154, 173));
  cv::Mat i420;
  cv::cvtColor(grey_through_matrix, i420, cv::COLOR_BGR2YUV_I420);

  const OwnedPicture out = run("sepia", test_frame(kOdd));

  EXPECT_NEAR(out.plane(1).at<std::uint8_t>(0, 0), i420.data[4], 1);
  EXPECT_NEAR(out.plane(2).at<std::uint8_t>(0, 0), i420.data[5], 1);
}

// ---- tdenoise -------------------------------------------------------------------------------

TEST(TemporalDenoiseTest, IsSequentialAndSoIsItsChain) {
  const FilterChain sut = FilterChain::parse("gray,tdenoise");

  EXPECT_TRUE(find_info("tdenoise")->make(FilterArgs{"tdenoise", {}, {}})->sequential());
  EXPECT_TRUE(sut.sequential());
  EXPECT_FALSE(sut.needs_scratch());
}

TEST(TemporalDenoiseTest, FirstFramePassesUnchanged) {
  const FilterChain sut = FilterChain::parse("tdenoise");
  const OwnedPicture in = test_frame(kOdd);

  expect_same_picture(run_chain(sut, in).picture, in);
}

TEST(TemporalDenoiseTest, AConstantFrameStaysUnchanged) {
  const FilterChain sut = FilterChain::parse("tdenoise=20");
  const OwnedPicture in = constant_frame(kOdd, 90, 100, 150);

  for (int seq = 0; seq < 5; ++seq) {
    SCOPED_TRACE(seq);
    expect_same_picture(run_chain(sut, in, {seq, seq, seq / 30.0}).picture, in);
  }
}

TEST(TemporalDenoiseTest, TheSameFrameTwiceComesOutAsItself) {
  const FilterChain sut = FilterChain::parse("tdenoise");
  const OwnedPicture in = test_frame(kOdd);

  (void)run_chain(sut, in);
  expect_same_picture(run_chain(sut, in).picture, in);
}

TEST(TemporalDenoiseTest, OutputConvergesToANewStillPicture) {
  const FilterChain sut = FilterChain::parse("tdenoise=8");
  const OwnedPicture first = test_frame(kOdd, 1);
  const OwnedPicture target = test_frame(kOdd, 2);  // the same scene, different noise
  (void)run_chain(sut, first);

  double previous_gap = max_diff(first.plane(0), target.plane(0));
  ASSERT_GT(previous_gap, 0);
  for (int seq = 1; seq <= 12; ++seq) {
    const OwnedPicture out = run_chain(sut, target, {seq, seq, 0}).picture;
    const double gap = max_diff(out.plane(0), target.plane(0));
    EXPECT_LE(gap, previous_gap) << "frame " << seq;
    previous_gap = gap;
    expect_same_plane(out.plane(1), target.plane(1), "U");
  }
  EXPECT_EQ(previous_gap, 0);
}

TEST(TemporalDenoiseTest, SmallChangesAreAveragedAndLargeOnesPassUntouched) {
  const FilterChain sut = FilterChain::parse("tdenoise=6");
  (void)run_chain(sut, constant_frame(kOdd, 100, kNeutral, kNeutral));

  const OwnedPicture small = run_chain(sut, constant_frame(kOdd, 104, kNeutral, kNeutral)).picture;
  const OwnedPicture motion = run_chain(sut, constant_frame(kOdd, 160, kNeutral, kNeutral)).picture;

  // A change of 4 under threshold 6 keeps 0.75 * 2 * (1 - 4/7) of the previous value:
  // 104 - 4 * 0.643 = 101.43.
  EXPECT_EQ(cv::countNonZero(small.plane(0) != 101), 0);
  EXPECT_EQ(cv::countNonZero(motion.plane(0) != 160), 0);
}

TEST(TemporalDenoiseTest, ReducesNoiseOnAStillScene) {
  const FilterChain sut = FilterChain::parse("tdenoise=10");
  const OwnedPicture clean = constant_frame({64, 48}, 120, kNeutral, kNeutral);
  double noisy_error = 0;
  double denoised_error = 0;

  for (int seq = 0; seq < 20; ++seq) {
    OwnedPicture noisy = clean;
    cv::Mat noise(48, 64, CV_8S);
    cv::RNG rng(seq + 1);
    rng.fill(noise, cv::RNG::UNIFORM, -4, 5);
    cv::Mat y = noisy.plane(0);
    cv::add(y, noise, y, cv::noArray(), CV_8U);
    const OwnedPicture out = run_chain(sut, noisy, {seq, seq, 0}).picture;
    if (seq < 5) continue;  // let the average settle
    noisy_error += cv::norm(noisy.plane(0), clean.plane(0), cv::NORM_L2SQR);
    denoised_error += cv::norm(out.plane(0), clean.plane(0), cv::NORM_L2SQR);
  }

  EXPECT_LT(denoised_error, noisy_error * 0.6);
}

// ---- drawtext -------------------------------------------------------------------------------

// What drawtext must draw on luma: `size` pixels high, white, outlined in black, its top at y.
cv::Mat drawn_text(const cv::Mat& luma, const std::string& text, int x, int y, int size) {
  cv::Mat out = luma.clone();
  const int thickness = std::max(1, size / 16);
  const double scale = cv::getFontScaleFromHeight(cv::FONT_HERSHEY_SIMPLEX, size, thickness);
  const cv::Point baseline(x, y + size);
  cv::putText(out, text, baseline, cv::FONT_HERSHEY_SIMPLEX, scale, kBlack, thickness + 2,
              cv::LINE_AA);
  cv::putText(out, text, baseline, cv::FONT_HERSHEY_SIMPLEX, scale, kWhite, thickness, cv::LINE_AA);
  return out;
}

TEST(DrawTextTest, DrawsWhiteOutlinedTextWithItsTopAtXYOnLumaOnly) {
  const OwnedPicture in = test_frame({160, 64});

  const OwnedPicture out = run("cv.drawtext=text=Hello:x=5:y=8:size=20", in);

  expect_same_plane(out.plane(0), drawn_text(in.plane(0), "Hello", 5, 8, 20), "Y");
  expect_same_plane(out.plane(1), in.plane(1), "U");
  expect_same_plane(out.plane(2), in.plane(2), "V");
}

TEST(DrawTextTest, TouchesOnlyPixelsAroundTheText) {
  const OwnedPicture in = test_frame({200, 100});

  const OwnedPicture out = run("cv.drawtext=text=vpipe:x=40:y=30:size=24", in);

  int baseline = 0;
  const int outline = 3;  // thickness 1 + 2
  const double scale = cv::getFontScaleFromHeight(cv::FONT_HERSHEY_SIMPLEX, 24, 1);
  const cv::Size text =
      cv::getTextSize("vpipe", cv::FONT_HERSHEY_SIMPLEX, scale, outline, &baseline);
  const cv::Rect allowed(40 - outline, 30 + 24 - text.height - outline, text.width + 2 * outline,
                         text.height + baseline + 2 * outline);
  const cv::Rect changed = cv::boundingRect(out.plane(0) != in.plane(0));
  EXPECT_GT(changed.area(), 0);
  EXPECT_EQ(allowed & changed, changed) << "allowed " << allowed;
  EXPECT_GT(cv::countNonZero(out.plane(0) == kWhite), 0);
  EXPECT_GT(cv::countNonZero(out.plane(0) == kBlack), 0);
}

TEST(DrawTextTest, ExpandsTheFrameNumber) {
  const OwnedPicture in = test_frame({160, 64});

  const OwnedPicture expanded = run("cv.drawtext=text=n %{n}!", in, {1234, 0, 0});

  expect_same_picture(expanded, run("cv.drawtext=text=n 1234!", in));
}

TEST(DrawTextTest, ExpandsThePtsInSecondsWithThreeDecimals) {
  const OwnedPicture in = test_frame({160, 64});

  const OwnedPicture expanded = run("cv.drawtext=text=%{pts}s:size=16", in, {3, 1111, 12.3456});

  expect_same_picture(expanded, run("cv.drawtext=text=12.346s:size=16", in));
}

TEST(DrawTextTest, ExpandsTheWallClockAsHoursMinutesSeconds) {
  const OwnedPicture in = test_frame({200, 64});
  const FilterChain sut = FilterChain::parse("cv.drawtext=text=at %{localtime}");

  // Retried when the clock ticks into another second between drawing and the reference.
  for (int attempt = 0; attempt < 3; ++attempt) {
    const std::time_t before = std::time(nullptr);
    const OwnedPicture out = run_chain(sut, in).picture;
    if (std::time(nullptr) != before) continue;
    std::tm local{};
    localtime_r(&before, &local);
    char clock[16];
    std::strftime(clock, sizeof clock, "%H:%M:%S", &local);
    // Defaults: x=10, y=10, size=24.
    expect_same_plane(out.plane(0), drawn_text(in.plane(0), std::string("at ") + clock, 10, 10, 24),
                      "Y");
    return;
  }
  FAIL() << "the clock kept ticking";
}

TEST(DrawTextTest, TextPartlyOutsideTheFrameIsClipped) {
  const OwnedPicture in = test_frame(kOdd);

  const OwnedPicture out = run("cv.drawtext=text=clipped text:x=-20:y=30:size=40", in);

  EXPECT_GT(cv::countNonZero(out.plane(0) != in.plane(0)), 0);
}

// ---- overlay --------------------------------------------------------------------------------

// Y, U, V of one BGR colour, by OpenCV's own I420 conversion.
cv::Vec3i yuv_of(cv::Scalar bgr) {
  const cv::Mat block(2, 2, CV_8UC3, bgr);
  cv::Mat i420;
  cv::cvtColor(block, i420, cv::COLOR_BGR2YUV_I420);
  return {i420.data[0], i420.data[4], i420.data[5]};
}

// `frame` with a solid `colour` blended in at (x, y) (even) by `alpha` per luma pixel (chroma
// takes the mean of the 2x2 luma alphas it covers, the last row or column repeated when odd).
OwnedPicture blended_reference(const OwnedPicture& frame, cv::Scalar colour, const cv::Mat& alpha,
                               int x, int y, double opacity) {
  OwnedPicture out = frame;
  const cv::Vec3i yuv = yuv_of(colour);
  auto mix = [](std::uint8_t& d, int s, double a) {
    d = cv::saturate_cast<std::uint8_t>(d + (s - d) * a / 255);
  };
  cv::Mat y_plane = out.plane(0);
  for (int r = 0; r < alpha.rows; ++r) {
    for (int c = 0; c < alpha.cols; ++c) {
      if (y + r < 0 || y + r >= y_plane.rows || x + c < 0 || x + c >= y_plane.cols) continue;
      mix(y_plane.at<std::uint8_t>(y + r, x + c), yuv[0], alpha.at<std::uint8_t>(r, c) * opacity);
    }
  }
  for (int r = 0; r < (alpha.rows + 1) / 2; ++r) {
    for (int c = 0; c < (alpha.cols + 1) / 2; ++c) {
      double sum = 0;
      for (int dr = 0; dr < 2; ++dr) {
        for (int dc = 0; dc < 2; ++dc) {
          sum += alpha.at<std::uint8_t>(std::min(2 * r + dr, alpha.rows - 1),
                                        std::min(2 * c + dc, alpha.cols - 1));
        }
      }
      const int cy = y / 2 + r;
      const int cx = x / 2 + c;
      if (cy < 0 || cy >= out.plane(1).rows || cx < 0 || cx >= out.plane(1).cols) continue;
      for (int i = 1; i < 3; ++i) {
        mix(out.plane(i).at<std::uint8_t>(cy, cx), yuv[i], sum / 4 * opacity);
      }
    }
  }
  return out;
}

cv::Mat bgra_image(cv::Size size, cv::Scalar bgr, const cv::Mat& alpha) {
  cv::Mat colour(size, CV_8UC3, bgr);
  cv::Mat channels[] = {colour, alpha};
  cv::Mat bgra;
  cv::merge(channels, 2, bgra);
  return bgra;
}

cv::Mat alpha_ramp(cv::Size size) {
  cv::Mat alpha(size, CV_8U);
  for (int r = 0; r < size.height; ++r) {
    for (int c = 0; c < size.width; ++c) {
      alpha.at<std::uint8_t>(r, c) = static_cast<std::uint8_t>((r * 53 + c * 31) % 256);
    }
  }
  return alpha;
}

TEST(OverlayTest, AnOpaqueImageReplacesThePixelsItCovers) {
  const TempDir dir;
  const cv::Scalar colour(40, 200, 90);
  const cv::Mat opaque(6, 10, CV_8U, cv::Scalar(255));
  const std::string png = dir.write_png("opaque.png", bgra_image({10, 6}, colour, opaque));
  const OwnedPicture in = test_frame(kOdd);

  const OwnedPicture out = run("cv.overlay=file=" + png + ":x=20:y=12", in);

  const cv::Vec3i yuv = yuv_of(colour);
  EXPECT_EQ(cv::countNonZero(out.plane(0)(cv::Rect(20, 12, 10, 6)) != yuv[0]), 0);
  EXPECT_EQ(cv::countNonZero(out.plane(1)(cv::Rect(10, 6, 5, 3)) != yuv[1]), 0);
  EXPECT_EQ(cv::countNonZero(out.plane(2)(cv::Rect(10, 6, 5, 3)) != yuv[2]), 0);
  expect_same_picture(out, blended_reference(in, colour, opaque, 20, 12, 1));
}

TEST(OverlayTest, BlendsByThePngAlphaOnOddSizesAndEvenedPosition) {
  const TempDir dir;
  const cv::Scalar colour(200, 30, 160);
  const cv::Mat alpha = alpha_ramp({7, 5});
  const std::string png = dir.write_png("ramp.png", bgra_image({7, 5}, colour, alpha));
  const OwnedPicture in = test_frame(kOdd);

  const OwnedPicture out = run("cv.overlay=file=" + png + ":x=13:y=9", in);

  const OwnedPicture expected = blended_reference(in, colour, alpha, 12, 8, 1);
  for (int i = 0; i < 3; ++i) EXPECT_LE(max_diff(out.plane(i), expected.plane(i)), 1) << i;
}

TEST(OverlayTest, AlphaArgumentScalesTheOpacity) {
  const TempDir dir;
  const cv::Scalar colour(10, 250, 250);
  const cv::Mat alpha = alpha_ramp({12, 8});
  const std::string png = dir.write_png("ramp.png", bgra_image({12, 8}, colour, alpha));
  const OwnedPicture in = test_frame(kOdd);

  const OwnedPicture out = run("cv.overlay=file=" + png + ":x=4:y=4:alpha=0.5", in);

  const OwnedPicture expected = blended_reference(in, colour, alpha, 4, 4, 0.5);
  for (int i = 0; i < 3; ++i) EXPECT_LE(max_diff(out.plane(i), expected.plane(i)), 1) << i;
}

TEST(OverlayTest, ImagesPartlyOutsideAreClippedAndFullyOutsideChangeNothing) {
  const TempDir dir;
  const cv::Scalar colour(0, 0, 255);
  const cv::Mat alpha = alpha_ramp({21, 15});
  const std::string png = dir.write_png("ramp.png", bgra_image({21, 15}, colour, alpha));
  const OwnedPicture in = test_frame(kOdd);

  for (const auto& [x, y] : std::vector<std::pair<int, int>>{{-6, -4}, {56, 40}, {-10, 38}}) {
    SCOPED_TRACE(std::to_string(x) + "," + std::to_string(y));
    const OwnedPicture out =
        run("cv.overlay=file=" + png + ":x=" + std::to_string(x) + ":y=" + std::to_string(y), in);
    const OwnedPicture expected = blended_reference(in, colour, alpha, x, y, 1);
    for (int i = 0; i < 3; ++i) EXPECT_LE(max_diff(out.plane(i), expected.plane(i)), 1) << i;
  }
  expect_same_picture(run("cv.overlay=file=" + png + ":x=66:y=0", in), in);
  expect_same_picture(run("cv.overlay=file=" + png + ":x=-22:y=-16", in), in);
}

TEST(OverlayTest, TransparentImageChangesNothing) {
  const TempDir dir;
  const std::string png = dir.write_png(
      "clear.png", bgra_image({8, 8}, cv::Scalar(0, 255, 0), cv::Mat(8, 8, CV_8U, cv::Scalar(0))));
  const OwnedPicture in = test_frame(kOdd);

  expect_same_picture(run("cv.overlay=file=" + png + ":x=10:y=10", in), in);
}

TEST(OverlayTest, ImagesWithoutAlphaAreOpaque) {
  const TempDir dir;
  const cv::Scalar colour(30, 60, 220);
  const std::string bgr = dir.write_png("bgr.png", cv::Mat(4, 6, CV_8UC3, colour));
  const std::string gray = dir.write_png("gray.png", cv::Mat(4, 6, CV_8U, cv::Scalar(180)));
  const cv::Mat opaque(4, 6, CV_8U, cv::Scalar(255));
  const OwnedPicture in = test_frame(kOdd);

  expect_same_picture(run("cv.overlay=file=" + bgr + ":x=2:y=2", in),
                      blended_reference(in, colour, opaque, 2, 2, 1));
  expect_same_picture(run("cv.overlay=file=" + gray + ":x=2:y=2", in),
                      blended_reference(in, cv::Scalar(180, 180, 180), opaque, 2, 2, 1));
}

TEST(OverlayTest, IsInPlaceAndStateless) {
  const TempDir dir;
  const std::string png = dir.write_png("logo.png", cv::Mat(4, 4, CV_8UC3, cv::Scalar(1, 2, 3)));

  const std::unique_ptr<Filter> sut =
      find_info("cv.overlay")->make(FilterArgs{"cv.overlay", {}, {{"file", png}}});

  EXPECT_TRUE(sut->in_place());
  EXPECT_FALSE(sut->can_write_elsewhere());  // it blends over what is there
  EXPECT_FALSE(sut->sequential());
  EXPECT_EQ(sut->output_geometry(kOdd), kOdd);
}

TEST(OverlayTest, UnreadableFilesFailAtParseNamingThePath) {
  const TempDir dir;
  const std::string text_file = (dir.path() / "not_an_image.png").string();
  std::FILE* f = std::fopen(text_file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("this is not a PNG\n", f);
  std::fclose(f);

  for (const std::string& path :
       {std::string("/nonexistent/logo.png"), text_file, dir.path().string()}) {
    SCOPED_TRACE(path);
    const std::string message =
        usage_error_of([&] { (void)FilterChain::parse("cv.overlay=file=" + path); });
    EXPECT_EQ(message, "filter 'cv.overlay': cannot read image '" + path + "'");
  }
}

// ---- stress ---------------------------------------------------------------------------------

std::uint8_t stress_rounds(std::uint8_t x, int rounds) {
  for (int r = 0; r < rounds; ++r) x = static_cast<std::uint8_t>(2 * x * x + 7 * x + 13);
  return x;
}

TEST(StressTest, IteratesThePolynomialOnEveryLumaPixel) {
  const OwnedPicture in = test_frame(kOdd);

  const OwnedPicture out = run("stress=5", in);

  cv::Mat expected = in.plane(0).clone();
  expected.forEach<std::uint8_t>([](std::uint8_t& p, const int*) { p = stress_rounds(p, 5); });
  expect_same_plane(out.plane(0), expected, "Y");
  expect_same_plane(out.plane(1), in.plane(1), "U");
  expect_same_plane(out.plane(2), in.plane(2), "V");
}

TEST(StressTest, ZeroRoundsLeaveThePictureAsItIs) {
  const OwnedPicture in = test_frame(kOdd);

  expect_same_picture(run("stress=0", in), in);
}

TEST(StressTest, RunsWithTheSameSeqGiveTheSameOutput) {
  const OwnedPicture in = test_frame(kOdd);
  const FilterChain sut = FilterChain::parse("stress=50:vary=30");

  const OwnedPicture first = run_chain(sut, in, {17, 17, 0}).picture;
  const OwnedPicture second = run_chain(sut, in, {17, 17, 0}).picture;

  expect_same_picture(first, second);
}

TEST(StressTest, VaryAddsSeqTimes7919ModuloVaryPlusOneRounds) {
  const OwnedPicture in = test_frame(kOdd);
  const FilterChain sut = FilterChain::parse("stress=10:vary=5");

  for (std::int64_t seq : {0, 1, 2, 3, 4, 5, 6, 1000}) {
    SCOPED_TRACE(seq);
    const int rounds = 10 + static_cast<int>(seq * 7919 % 6);

    const OwnedPicture out = run_chain(sut, in, {seq, seq, 0}).picture;

    expect_same_picture(out, run("stress=" + std::to_string(rounds), in));
  }
}

TEST(StressTest, CostVariesWithVaryButNotWithoutIt) {
  const OwnedPicture in = test_frame(kOdd);
  const FrameContext frame{3, 3, 0.1};  // 3 * 7919 = 23757

  const OwnedPicture steady = run("stress=10", in, frame);
  const OwnedPicture vary4 = run("stress=10:vary=4", in, frame);  // + 23757 % 5 = 2
  const OwnedPicture vary9 = run("stress=10:vary=9", in, frame);  // + 23757 % 10 = 7

  expect_same_picture(steady, run("stress=10", in));
  expect_same_picture(vary4, run("stress=12", in));
  expect_same_picture(vary9, run("stress=17", in));
  EXPECT_FALSE(same_picture(vary4, vary9));
  EXPECT_FALSE(same_picture(steady, vary4));
}

// ---- bad arguments --------------------------------------------------------------------------

struct InvalidSpec {
  const char* spec;
  const char* names;   // the filter the message must name
  const char* reason;  // and what is wrong
  friend void PrintTo(const InvalidSpec& c, std::ostream* os) { *os << c.spec; }
};

class FilterLibraryInvalidSpecTest : public ::testing::TestWithParam<InvalidSpec> {};

TEST_P(FilterLibraryInvalidSpecTest, ParseThrowsAUsageErrorNamingTheFilterAndArgument) {
  const InvalidSpec& param = GetParam();

  const std::string message = usage_error_of([&] { (void)FilterChain::parse(param.spec); });

  EXPECT_THAT(message, HasSubstr(std::string("filter '") + param.names + "'"));
  EXPECT_THAT(message, HasSubstr(param.reason));
  EXPECT_THAT(message, Not(HasSubstr("\n")));
}

INSTANTIATE_TEST_SUITE_P(
    Specs, FilterLibraryInvalidSpecTest,
    ::testing::Values(
        InvalidSpec{"cv.pad", "cv.pad", "needs a size"},
        InvalidSpec{"cv.pad=100", "cv.pad", "needs a size"},
        InvalidSpec{"cv.pad=0:10", "cv.pad", "width 0 is out of range"},
        InvalidSpec{"cv.pad=10:20000", "cv.pad", "height 20000 is out of range"},
        InvalidSpec{"cv.pad=100:100:-2:0", "cv.pad", "must not be negative"},
        InvalidSpec{"cv.pad=100:100:color=red", "cv.pad", "color 'red'"},
        InvalidSpec{"cv.pad=1:2:3:4:5:6", "cv.pad", "too many arguments"},
        InvalidSpec{"cv.pad=100:100:z=3", "cv.pad", "unknown argument 'z'"},
        InvalidSpec{"cv.rotate", "cv.rotate", "needs 90, 180, 270 or angle=DEG"},
        InvalidSpec{"cv.rotate=45", "cv.rotate", "turn 45 is not 90, 180 or 270"},
        InvalidSpec{"cv.rotate=ninety", "cv.rotate", "must be an integer, got 'ninety'"},
        InvalidSpec{"cv.rotate=90:angle=10", "cv.rotate", "not both"},
        InvalidSpec{"cv.rotate=angle=abc", "cv.rotate", "angle' must be a number, got 'abc'"},
        InvalidSpec{"cv.rotate=angle=400", "cv.rotate", "angle 400 is out of range -360..360"},
        InvalidSpec{"cv.boxblur=0", "cv.boxblur", "r 0 is out of range 1..256"},
        InvalidSpec{"cv.boxblur=1.5", "cv.boxblur", "must be an integer, got '1.5'"},
        InvalidSpec{"cv.boxblur=300", "cv.boxblur", "r 300 is out of range"},
        InvalidSpec{"cv.unsharp=4:5:1", "cv.unsharp", "kernel 4x5 must be odd"},
        InvalidSpec{"cv.unsharp=5:5:9", "cv.unsharp", "la 9 is out of range -2..5"},
        InvalidSpec{"cv.unsharp=25", "cv.unsharp", "lx 25 is out of range 3..23"},
        InvalidSpec{"cv.unsharp=5:5:1:2", "cv.unsharp", "too many arguments"},
        InvalidSpec{"sharpen=10", "sharpen", "amount 10 is out of range"},
        InvalidSpec{"sharpen=size=3", "sharpen", "unknown argument 'size'"},
        InvalidSpec{"edges=100:50", "edges", "low 100 is above high 50"},
        InvalidSpec{"edges=-1", "edges", "low -1 is out of range"},
        InvalidSpec{"edges=1:2:3", "edges", "too many arguments"},
        InvalidSpec{"cv.eq=gamma=0", "cv.eq", "gamma 0 is out of range 0.1..10"},
        InvalidSpec{"cv.eq=contrast=5", "cv.eq", "contrast 5 is out of range 0..4"},
        InvalidSpec{"cv.eq=brightness=2", "cv.eq", "brightness 2 is out of range -1..1"},
        InvalidSpec{"cv.eq=saturation=-1", "cv.eq", "saturation -1 is out of range 0..3"},
        InvalidSpec{"cv.eq=brightness=bright", "cv.eq", "must be a number, got 'bright'"},
        InvalidSpec{"cv.eq=cv.hue=3", "cv.eq", "unknown argument 'cv.hue'"},
        InvalidSpec{"cv.hue=s=20", "cv.hue", "s 20 is out of range -10..10"},
        InvalidSpec{"cv.hue=h=abc", "cv.hue", "must be a number, got 'abc'"},
        InvalidSpec{"cv.hue=b=1", "cv.hue", "unknown argument 'b'"},
        InvalidSpec{"sepia=1", "sepia", "too many arguments"},
        InvalidSpec{"denoise=2", "denoise", "strength 2 is out of range 0..1"},
        InvalidSpec{"denoise=-0.5", "denoise", "strength -0.5 is out of range"},
        InvalidSpec{"tdenoise=0", "tdenoise", "strength 0 is out of range 1..64"},
        InvalidSpec{"tdenoise=100", "tdenoise", "strength 100 is out of range"},
        InvalidSpec{"tdenoise=x", "tdenoise", "must be an integer, got 'x'"},
        InvalidSpec{"cv.drawtext", "cv.drawtext", "needs text=T"},
        InvalidSpec{"cv.drawtext=text=%{foo}", "cv.drawtext", "unknown expansion '%{foo}'"},
        InvalidSpec{"cv.drawtext=text=frame %{n", "cv.drawtext", "without a closing"},
        InvalidSpec{"cv.drawtext=text=a:size=2", "cv.drawtext", "size 2 is out of range"},
        InvalidSpec{"cv.drawtext=text=a:x=1e3", "cv.drawtext", "must be an integer"},
        InvalidSpec{"cv.overlay", "cv.overlay", "needs file=PATH"},
        InvalidSpec{"cv.overlay=file=/nonexistent/x.png", "cv.overlay",
                    "cannot read image '/nonexistent/x.png'"},
        InvalidSpec{"cv.overlay=file=x.png:alpha=2", "cv.overlay", "alpha 2 is out of range 0..1"},
        InvalidSpec{"stress", "stress", "needs a round count"},
        InvalidSpec{"stress=-1", "stress", "n -1 is out of range 0..10000"},
        InvalidSpec{"stress=10001", "stress", "n 10001 is out of range"},
        InvalidSpec{"stress=5:vary=20000", "stress", "vary 20000 is out of range 0..10000"},
        InvalidSpec{"stress=abc", "stress", "must be an integer, got 'abc'"}));

// ---- fuzz -----------------------------------------------------------------------------------

std::string random_spec(std::mt19937& rng) {
  static const std::vector<std::string> kWords = {
      "cv.pad", "cv.rotate", "cv.boxblur", "cv.unsharp", "sharpen",     "edges",      "cv.eq",
      "cv.hue", "sepia",     "denoise",    "tdenoise",   "cv.drawtext", "cv.overlay", "stress",
      "=",      ":",         ",",          "90",         "180",         "270",        "angle=",
      "color=", "white",     "text=",      "%{n}",       "%{",          "}",          "x=",
      "y=",     "size=",     "gamma=",     "h=",         "s=",          "vary=",      "file=",
      "-1",     "0",         "2",          "3",          "5",           "0.5",        "80",
      "100",    "1e9",       " "};
  static const std::string kChars = "padrotehusbxy=:,-0123456789 .%{}";
  std::uniform_int_distribution<int> length(0, 16);
  std::uniform_int_distribution<int> coin(0, 3);
  std::uniform_int_distribution<std::size_t> word(0, kWords.size() - 1);
  std::uniform_int_distribution<std::size_t> character(0, kChars.size() - 1);
  std::string spec;
  const int n = length(rng);
  for (int i = 0; i < n; ++i)
    spec += coin(rng) == 0 ? std::string(1, kChars[character(rng)]) : kWords[word(rng)];
  return spec;
}

TEST(FilterLibraryFuzzTest, RandomSpecsEitherRunOrThrowAOneLineUsageError) {
  std::mt19937 rng(20260523);
  const OwnedPicture in = test_frame(kOdd);
  int nb_run = 0;
  std::vector<std::string> failures;

  for (int i = 0; i < 5000; ++i) {
    const std::string spec = random_spec(rng);
    try {
      const FilterChain sut = FilterChain::parse(spec);
      if (sut.max_picture_bytes(kOdd) > (1u << 22)) continue;  // keep the run small
      (void)run_chain(sut, in, {i, i, i / 30.0});
      ++nb_run;
    } catch (const Error& e) {
      const std::string message = e.what();
      if (e.code() != ExitCode::kUsage || message.empty() ||
          message.find('\n') != std::string::npos) {
        failures.push_back("'" + spec + "': " + message);
      }
    } catch (const std::exception& e) {
      failures.push_back("'" + spec + "': not a vpipe::Error: " + e.what());
    }
  }

  EXPECT_TRUE(failures.empty()) << failures.size() << " bad outcomes, first: " << failures.front();
  EXPECT_GT(nb_run, 100);
}

}  // namespace
}  // namespace vpipe::transform
