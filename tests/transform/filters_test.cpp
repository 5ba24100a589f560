// Each filter's output against OpenCV run by the test on a copy of the same frame.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "transform/filter_chain.hpp"
#include "transform/picture.hpp"

namespace vpipe::transform {
namespace {

// Every byte of a buffer starts as this, so that writes outside a picture's planes show.
constexpr std::uint8_t kUnwritten = 0xA5;

::testing::AssertionResult PlanesEqual(const cv::Mat& actual, const cv::Mat& expected) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure() << "size " << actual.cols << "x" << actual.rows
                                         << ", expected " << expected.cols << "x" << expected.rows;
  }
  const double difference = cv::norm(actual, expected, cv::NORM_INF);
  if (difference != 0) {
    return ::testing::AssertionFailure() << "pixels differ by up to " << difference;
  }
  return ::testing::AssertionSuccess();
}

// Checks that no byte of `buffer` outside the planes of a picture of `g` laid out at its start
// was written.
::testing::AssertionResult OnlyPlanesWritten(const std::vector<std::uint8_t>& buffer, Geometry g) {
  std::vector<std::uint8_t> rest = buffer;
  const Picture picture = layout_picture(rest.data(), g);
  for (int i = 0; i < 3; ++i) picture.plane(i).setTo(kUnwritten);
  const auto written =
      std::count_if(rest.begin(), rest.end(), [](auto b) { return b != kUnwritten; });
  if (written != 0) return ::testing::AssertionFailure() << written << " padding bytes written";
  return ::testing::AssertionSuccess();
}

bool lies_in(const Picture& picture, const std::vector<std::uint8_t>& buffer) {
  const auto begin = reinterpret_cast<std::uintptr_t>(buffer.data());
  const auto end = begin + buffer.size();
  for (int i = 0; i < 3; ++i) {
    const Geometry g = picture.plane_geometry(i);
    const auto first = reinterpret_cast<std::uintptr_t>(picture.data[i]);
    const auto last =
        first + static_cast<std::uintptr_t>(g.height - 1) * picture.linesize[i] + g.width;
    if (first < begin || last > end) return false;
  }
  return true;
}

cv::Size size_of(Geometry g) {
  return {g.width, g.height};
}

class FilterTest : public ::testing::Test {
 protected:
  // Lays out a `g` frame of seeded noise in a buffer sized for `chain`, as a pool slot would
  // be, keeps a copy of its planes in original_, and runs the chain on it.
  FilterChain::Result run(const FilterChain& chain, Geometry g) {
    const std::uint64_t bytes = chain.max_picture_bytes(g);
    input_.assign(bytes, kUnwritten);
    spare_.assign(bytes, kUnwritten);
    input_picture_ = layout_picture(input_.data(), g);
    for (int i = 0; i < 3; ++i) {
      cv::Mat plane = input_picture_.plane(i);
      cv::RNG rng(0x5EED + i);
      rng.fill(plane, cv::RNG::UNIFORM, 0, 256);
      original_[i] = plane.clone();
    }
    return chain.run(input_picture_, input_.data(), chain.needs_spare() ? spare_.data() : nullptr);
  }

  std::vector<std::uint8_t> input_;
  std::vector<std::uint8_t> spare_;
  Picture input_picture_;
  std::array<cv::Mat, 3> original_;
};

// Even and odd frame sizes: odd ones have chroma planes that round up.
struct FrameSize {
  Geometry geometry;
};

void PrintTo(const FrameSize& size, std::ostream* os) {
  *os << size.geometry.width << "x" << size.geometry.height;
}

class FilterGeometryTest : public FilterTest, public ::testing::WithParamInterface<FrameSize> {
 protected:
  Geometry frame() const { return GetParam().geometry; }
};

INSTANTIATE_TEST_SUITE_P(Frames, FilterGeometryTest,
                         ::testing::Values(FrameSize{{64, 48}}, FrameSize{{65, 47}}));

// ---- resize ---------------------------------------------------------------------------------

TEST_P(FilterGeometryTest, ResizeMatchesOpenCvOnEveryPlaneForEveryInterpolation) {
  const std::vector<std::pair<std::string, int>> interpolations = {{"nearest", cv::INTER_NEAREST},
                                                                   {"linear", cv::INTER_LINEAR},
                                                                   {"cubic", cv::INTER_CUBIC},
                                                                   {"area", cv::INTER_AREA},
                                                                   {"lanczos", cv::INTER_LANCZOS4}};
  for (const auto& [name, interpolation] : interpolations) {
    for (const std::string size : {"32x24", "100x70", "33x17", "-1x30"}) {
      const std::string spec = "resize=" + size + ":interp=" + name;
      SCOPED_TRACE(spec);
      const FilterChain sut = FilterChain::parse(spec);
      const Geometry planned = sut.plan(frame()).back();

      const FilterChain::Result result = run(sut, frame());

      EXPECT_TRUE(result.in_spare);
      EXPECT_TRUE(lies_in(result.picture, spare_));
      ASSERT_EQ(result.picture.width, planned.width);
      ASSERT_EQ(result.picture.height, planned.height);
      for (int i = 0; i < 3; ++i) {
        const Geometry plane = i == 0 ? planned : chroma_geometry(planned);
        cv::Mat expected;
        cv::resize(original_[i], expected, size_of(plane), 0, 0, interpolation);
        EXPECT_TRUE(PlanesEqual(result.picture.plane(i), expected)) << "plane " << i;
        EXPECT_TRUE(PlanesEqual(input_picture_.plane(i), original_[i])) << "input plane " << i;
      }
      EXPECT_TRUE(OnlyPlanesWritten(spare_, planned));
    }
  }
}

// ---- gblur ----------------------------------------------------------------------------------

TEST_P(FilterGeometryTest, GblurMatchesOpenCvGaussianBlurWithReplicatedBorders) {
  for (const auto& [text, sigma] : std::vector<std::pair<std::string, double>>{
           {"", 0.5}, {"=1", 1.0}, {"=sigma=2", 2.0}, {"=3.7", 3.7}}) {
    const std::string spec = "gblur" + text;
    SCOPED_TRACE(spec);
    const FilterChain sut = FilterChain::parse(spec);

    const FilterChain::Result result = run(sut, frame());

    EXPECT_FALSE(result.in_spare);
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(result.picture.data[i], input_picture_.data[i]);
      cv::Mat expected;
      cv::GaussianBlur(original_[i], expected, cv::Size(0, 0), sigma, sigma, cv::BORDER_REPLICATE);
      EXPECT_TRUE(PlanesEqual(result.picture.plane(i), expected)) << "plane " << i;
    }
    EXPECT_TRUE(OnlyPlanesWritten(input_, frame()));
  }
}

TEST_P(FilterGeometryTest, GblurChangesThePicture) {
  const FilterChain sut = FilterChain::parse("gblur=2");

  const FilterChain::Result result = run(sut, frame());

  for (int i = 0; i < 3; ++i) EXPECT_FALSE(PlanesEqual(result.picture.plane(i), original_[i]));
}

// ---- flip -----------------------------------------------------------------------------------

TEST_P(FilterGeometryTest, FlipInPlaceMatchesOpenCvFlipOfACopy) {
  for (const auto& [spec, code] : std::vector<std::pair<std::string, int>>{{"flip=h", 1},
                                                                           {"hflip", 1},
                                                                           {"flip=v", 0},
                                                                           {"flip", 0},
                                                                           {"vflip", 0},
                                                                           {"flip=hv", -1},
                                                                           {"flip=dir=vh", -1}}) {
    SCOPED_TRACE(spec);
    const FilterChain sut = FilterChain::parse(spec);

    const FilterChain::Result result = run(sut, frame());

    EXPECT_FALSE(result.in_spare);
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(result.picture.data[i], input_picture_.data[i]);
      cv::Mat expected;
      cv::flip(original_[i], expected, code);
      EXPECT_TRUE(PlanesEqual(result.picture.plane(i), expected)) << "plane " << i;
    }
    EXPECT_TRUE(OnlyPlanesWritten(input_, frame()));
  }
}

TEST_P(FilterGeometryTest, FlippingTwiceRestoresThePicture) {
  const FilterChain sut = FilterChain::parse("flip=hv,hflip,vflip");

  const FilterChain::Result result = run(sut, frame());

  for (int i = 0; i < 3; ++i) EXPECT_TRUE(PlanesEqual(result.picture.plane(i), original_[i]));
}

// ---- gray -----------------------------------------------------------------------------------

TEST_P(FilterGeometryTest, GraySetsChromaToNeutralAndKeepsLuma) {
  const FilterChain sut = FilterChain::parse("gray");

  const FilterChain::Result result = run(sut, frame());

  EXPECT_FALSE(result.in_spare);
  EXPECT_TRUE(PlanesEqual(result.picture.plane(0), original_[0]));
  for (int i = 1; i < 3; ++i) {
    const cv::Mat neutral(original_[i].size(), CV_8UC1, cv::Scalar(128));
    EXPECT_TRUE(PlanesEqual(result.picture.plane(i), neutral)) << "plane " << i;
  }
  EXPECT_TRUE(OnlyPlanesWritten(input_, frame()));
}

// ---- crop -----------------------------------------------------------------------------------

struct CropCase {
  Geometry input;
  const char* spec;
  int x, y;  // where the window lands: the asked origin (or the centre) rounded down to even
  int width, height;
};

void PrintTo(const CropCase& c, std::ostream* os) {
  *os << "'" << c.spec << "' on " << c.input.width << "x" << c.input.height;
}

class CropTest : public FilterTest, public ::testing::WithParamInterface<CropCase> {};

TEST_P(CropTest, CropReturnsAViewOfTheWindowWithChromaAtHalfTheOrigin) {
  const CropCase& c = GetParam();
  const FilterChain sut = FilterChain::parse(c.spec);

  const FilterChain::Result result = run(sut, c.input);

  EXPECT_FALSE(result.in_spare);
  ASSERT_EQ(result.picture.width, c.width);
  ASSERT_EQ(result.picture.height, c.height);
  const Geometry chroma = chroma_geometry({c.width, c.height});
  const cv::Rect windows[3] = {{c.x, c.y, c.width, c.height},
                               {c.x / 2, c.y / 2, chroma.width, chroma.height},
                               {c.x / 2, c.y / 2, chroma.width, chroma.height}};
  for (int i = 0; i < 3; ++i) {
    const cv::Rect& w = windows[i];
    EXPECT_EQ(result.picture.linesize[i], input_picture_.linesize[i]);
    EXPECT_EQ(result.picture.data[i],
              input_picture_.data[i] + w.y * input_picture_.linesize[i] + w.x)
        << "plane " << i << " is not a view at " << w.x << "," << w.y;
    EXPECT_TRUE(PlanesEqual(result.picture.plane(i), original_[i](w))) << "plane " << i;
    EXPECT_TRUE(PlanesEqual(input_picture_.plane(i), original_[i])) << "input plane " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Windows, CropTest,
                         ::testing::Values(CropCase{{64, 48}, "crop=32:16:8:4", 8, 4, 32, 16},
                                           CropCase{{64, 48}, "crop=31:17:7:5", 6, 4, 31, 17},
                                           CropCase{{64, 48}, "crop=20:10", 22, 18, 20, 10},
                                           CropCase{{64, 48}, "crop=64:48", 0, 0, 64, 48},
                                           CropCase{{65, 47}, "crop=21:11", 22, 18, 21, 11},
                                           CropCase{{65, 47}, "crop=65:47:1:1", 0, 0, 65, 47},
                                           CropCase{{65, 47}, "crop=33:15:31:31", 30, 30, 33, 15},
                                           CropCase{{65, 47}, "crop=1:1:64:46", 64, 46, 1, 1}));

TEST_F(FilterTest, InPlaceFilterAfterCropChangesOnlyTheWindow) {
  const FilterChain sut = FilterChain::parse("crop=32:16:8:8,gblur=2");

  const FilterChain::Result result = run(sut, {64, 48});

  const cv::Rect windows[3] = {{8, 8, 32, 16}, {4, 4, 16, 8}, {4, 4, 16, 8}};
  for (int i = 0; i < 3; ++i) {
    cv::Mat expected = original_[i].clone();
    cv::Mat window = expected(windows[i]);
    cv::GaussianBlur(original_[i](windows[i]).clone(), window, cv::Size(0, 0), 2, 2,
                     cv::BORDER_REPLICATE);
    EXPECT_TRUE(PlanesEqual(result.picture.plane(i), expected(windows[i]))) << "plane " << i;
    EXPECT_TRUE(PlanesEqual(input_picture_.plane(i), expected)) << "input plane " << i;
  }
}

// ---- chains ---------------------------------------------------------------------------------

struct MixedChainCase {
  Geometry input;
  int crop_x, crop_y;  // where crop=32:32 centres its window
};

void PrintTo(const MixedChainCase& c, std::ostream* os) {
  *os << c.input.width << "x" << c.input.height;
}

class MixedChainTest : public FilterTest, public ::testing::WithParamInterface<MixedChainCase> {};

TEST_P(MixedChainTest, MixedChainMatchesTheSameOpenCvSequenceAndEndsInTheSpare) {
  const MixedChainCase& c = GetParam();
  const FilterChain sut = FilterChain::parse("crop=32:32,resize=16x16,gblur=1");

  const FilterChain::Result result = run(sut, c.input);

  EXPECT_TRUE(result.in_spare);
  EXPECT_TRUE(lies_in(result.picture, spare_));
  ASSERT_EQ(result.picture.width, 16);
  ASSERT_EQ(result.picture.height, 16);
  for (int i = 0; i < 3; ++i) {
    const int scale = i == 0 ? 1 : 2;
    const cv::Rect window(c.crop_x / scale, c.crop_y / scale, 32 / scale, 32 / scale);
    cv::Mat resized;
    cv::resize(original_[i](window), resized, cv::Size(16 / scale, 16 / scale), 0, 0,
               cv::INTER_LINEAR);
    cv::Mat expected;
    cv::GaussianBlur(resized, expected, cv::Size(0, 0), 1, 1, cv::BORDER_REPLICATE);
    EXPECT_TRUE(PlanesEqual(result.picture.plane(i), expected)) << "plane " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Frames, MixedChainTest,
                         ::testing::Values(MixedChainCase{{64, 48}, 16, 8},
                                           MixedChainCase{{65, 47}, 16, 6}));

TEST_F(FilterTest, TwoOutOfPlaceStepsEndBackInTheInputBuffer) {
  const FilterChain sut = FilterChain::parse("resize=32x24,flip=h,resize=20x20:interp=area,gray");

  const FilterChain::Result result = run(sut, {64, 48});

  EXPECT_FALSE(result.in_spare);
  EXPECT_TRUE(lies_in(result.picture, input_));
  for (int i = 0; i < 3; ++i) {
    const int scale = i == 0 ? 1 : 2;
    cv::Mat small;
    cv::resize(original_[i], small, cv::Size(32 / scale, 24 / scale), 0, 0, cv::INTER_LINEAR);
    cv::flip(small, small, 1);
    cv::Mat expected;
    cv::resize(small, expected, cv::Size(20 / scale, 20 / scale), 0, 0, cv::INTER_AREA);
    if (i > 0) expected.setTo(128);
    EXPECT_TRUE(PlanesEqual(result.picture.plane(i), expected)) << "plane " << i;
  }
}

TEST_F(FilterTest, InPlaceStepsAfterAResizeStayInTheSpare) {
  const FilterChain sut = FilterChain::parse("gray,resize=40x30,flip=v");

  const FilterChain::Result result = run(sut, {64, 48});

  EXPECT_TRUE(result.in_spare);
  EXPECT_TRUE(lies_in(result.picture, spare_));
  EXPECT_EQ(result.picture.width, 40);
  EXPECT_EQ(result.picture.height, 30);
}

TEST_F(FilterTest, InPlaceChainRunsWithoutASpareAndStaysInTheInput) {
  const FilterChain sut = FilterChain::parse("gblur=2,flip=hv,gray");
  ASSERT_FALSE(sut.needs_spare());  // run() then passes no spare buffer

  const FilterChain::Result result = run(sut, {65, 47});

  EXPECT_FALSE(result.in_spare);
  EXPECT_TRUE(lies_in(result.picture, input_));
  EXPECT_TRUE(OnlyPlanesWritten(input_, {65, 47}));
}

TEST_F(FilterTest, EmptyChainReturnsTheInputUntouched) {
  const FilterChain sut = FilterChain::parse("");

  const FilterChain::Result result = run(sut, {64, 48});

  EXPECT_FALSE(result.in_spare);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(result.picture.data[i], input_picture_.data[i]);
    EXPECT_TRUE(PlanesEqual(result.picture.plane(i), original_[i]));
  }
}

}  // namespace
}  // namespace vpipe::transform
