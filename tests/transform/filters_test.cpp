// Each filter's output against OpenCV run by the test on a copy of the same frame, and the
// executor's buffer contract: the input is only read, pixels are written into the spare (and the
// scratch between out-of-place steps), and the result lands in the spare.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <new>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <ostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "transform/filter_chain.hpp"
#include "transform/picture.hpp"

namespace vpipe::transform {
namespace {

// Every byte of a buffer starts as this, so that writes outside a picture's planes show.
constexpr std::uint8_t kUnwritten = 0xA5;

// Pool slots and the worker's scratch start on a kPlaneAlign boundary; so do the test's buffers.
template <typename T>
struct PlaneAlignedAllocator {
  using value_type = T;
  PlaneAlignedAllocator() = default;
  template <typename U>
  explicit PlaneAlignedAllocator(const PlaneAlignedAllocator<U>&) {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{kPlaneAlign}));
  }
  void deallocate(T* p, std::size_t) { ::operator delete (p, std::align_val_t{kPlaneAlign}); }
  template <typename U>
  bool operator==(const PlaneAlignedAllocator<U>&) const {
    return true;
  }
};
using Buffer = std::vector<std::uint8_t, PlaneAlignedAllocator<std::uint8_t>>;

using Planes = std::array<cv::Mat, 3>;

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

::testing::AssertionResult PicturesEqual(const Picture& actual, const Planes& expected) {
  for (int i = 0; i < 3; ++i) {
    const ::testing::AssertionResult same = PlanesEqual(actual.plane(i), expected[i]);
    if (!same) return ::testing::AssertionFailure() << "plane " << i << ": " << same.message();
  }
  return ::testing::AssertionSuccess();
}

// Checks that no byte of `buffer` outside the planes of a picture of `g` laid out at its start
// was written.
::testing::AssertionResult OnlyPlanesWritten(const Buffer& buffer, Geometry g) {
  Buffer rest = buffer;
  const Picture picture = layout_picture(rest.data(), g);
  for (int i = 0; i < 3; ++i) picture.plane(i).setTo(kUnwritten);
  const auto written =
      std::count_if(rest.begin(), rest.end(), [](auto b) { return b != kUnwritten; });
  if (written != 0) return ::testing::AssertionFailure() << written << " padding bytes written";
  return ::testing::AssertionSuccess();
}

// Checks that every byte of `buffer` (planes and padding) is what `before` holds.
::testing::AssertionResult BytesUnchanged(const Buffer& buffer, const Buffer& before) {
  if (buffer.size() != before.size()) {
    return ::testing::AssertionFailure() << "size " << buffer.size() << ", was " << before.size();
  }
  std::size_t changed = 0;
  std::size_t first = buffer.size();
  for (std::size_t i = 0; i < buffer.size(); ++i) {
    if (buffer[i] == before[i]) continue;
    if (changed++ == 0) first = i;
  }
  if (changed != 0) {
    return ::testing::AssertionFailure()
           << changed << " bytes written, the first at offset " << first;
  }
  return ::testing::AssertionSuccess();
}

bool lies_in(const Picture& picture, const Buffer& buffer) {
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

// Deep copies of a picture's planes, which outlive the buffers the picture lies in.
Planes copy_of(const Picture& picture) {
  Planes planes;
  for (int i = 0; i < 3; ++i) planes[i] = picture.plane(i).clone();
  return planes;
}

// ---- OpenCV references, one step at a time on deep copies ----------------------------------

Planes reference_crop(const Planes& in, int x, int y, Geometry window) {
  const Geometry chroma = chroma_geometry(window);
  Planes out;
  out[0] = in[0](cv::Rect(x, y, window.width, window.height)).clone();
  for (int i = 1; i < 3; ++i) {
    out[i] = in[i](cv::Rect(x / 2, y / 2, chroma.width, chroma.height)).clone();
  }
  return out;
}

Planes reference_resize(const Planes& in, Geometry to, int interpolation) {
  Planes out;
  for (int i = 0; i < 3; ++i) {
    cv::resize(in[i], out[i], size_of(i == 0 ? to : chroma_geometry(to)), 0, 0, interpolation);
  }
  return out;
}

Planes reference_gblur(const Planes& in, double sigma) {
  Planes out;
  for (int i = 0; i < 3; ++i) {
    cv::GaussianBlur(in[i], out[i], cv::Size(0, 0), sigma, sigma, cv::BORDER_REPLICATE);
  }
  return out;
}

Planes reference_flip(const Planes& in, int code) {
  Planes out;
  for (int i = 0; i < 3; ++i) cv::flip(in[i], out[i], code);
  return out;
}

Planes reference_gray(const Planes& in) {
  Planes out{in[0].clone(), cv::Mat(in[1].size(), CV_8UC1, cv::Scalar(128)),
             cv::Mat(in[2].size(), CV_8UC1, cv::Scalar(128))};
  return out;
}

class FilterTest : public ::testing::Test {
 protected:
  // Lays out a `g` frame of seeded noise in a buffer sized for `chain`, as a pool slot would
  // be, keeps a copy of its planes in original_ and of the whole buffer in input_before_, and
  // runs the chain on it with a spare and a scratch of the same size, passing null for those
  // the chain says it does not need.
  FilterChain::Result run(const FilterChain& chain, Geometry g) {
    const std::uint64_t bytes = chain.max_picture_bytes(g);
    input_.assign(bytes, kUnwritten);
    spare_.assign(bytes, kUnwritten);
    scratch_.assign(bytes, kUnwritten);
    input_picture_ = layout_picture(input_.data(), g);
    for (int i = 0; i < 3; ++i) {
      cv::Mat plane = input_picture_.plane(i);
      cv::RNG rng(0x5EED + i);
      rng.fill(plane, cv::RNG::UNIFORM, 0, 256);
      original_[i] = plane.clone();
    }
    input_before_ = input_;
    return run_again(chain);
  }

  // Runs `chain` again on the same input, into the spare and scratch as they are now.
  FilterChain::Result run_again(const FilterChain& chain) {
    return chain.run(input_picture_, chain.needs_spare() ? spare_.data() : nullptr,
                     chain.needs_scratch() ? scratch_.data() : nullptr);
  }

  // Fills the spare and the scratch with noise, as a slot and a scratch that served other
  // frames (or a worker that died mid-chain) leave them.
  void soil_buffers(std::uint64_t seed) {
    cv::RNG rng(seed);
    for (Buffer* buffer : {&spare_, &scratch_}) {
      cv::Mat bytes(1, static_cast<int>(buffer->size()), CV_8UC1, buffer->data());
      rng.fill(bytes, cv::RNG::UNIFORM, 0, 256);
    }
  }

  // The guarantee crash recovery relies on: not one byte of the input's slot is written.
  ::testing::AssertionResult InputUnchanged() const {
    return BytesUnchanged(input_, input_before_);
  }

  Buffer input_;
  Buffer input_before_;
  Buffer spare_;
  Buffer scratch_;
  Picture input_picture_;
  Planes original_;
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
      ASSERT_TRUE(sut.needs_spare());
      ASSERT_FALSE(sut.needs_scratch());

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
      EXPECT_TRUE(InputUnchanged());
    }
  }
}

// ---- gblur ----------------------------------------------------------------------------------

TEST_P(FilterGeometryTest, GblurMatchesOpenCvGaussianBlurWithReplicatedBorders) {
  for (const auto& [text, sigma] : std::vector<std::pair<std::string, double>>{
           {"", 0.5}, {"=1", 1.0}, {"=sigma=2", 2.0}, {"=3.7", 3.7}}) {
    const std::string spec = "cv.gblur" + text;
    SCOPED_TRACE(spec);
    const FilterChain sut = FilterChain::parse(spec);
    ASSERT_TRUE(sut.needs_spare());
    ASSERT_FALSE(sut.needs_scratch());

    const FilterChain::Result result = run(sut, frame());

    // The blur reads the input and writes the spare: the input is never blurred in place.
    EXPECT_TRUE(result.in_spare);
    EXPECT_TRUE(lies_in(result.picture, spare_));
    const Picture in_spare = layout_picture(spare_.data(), frame());
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(result.picture.data[i], in_spare.data[i]);
      cv::Mat expected;
      cv::GaussianBlur(original_[i], expected, cv::Size(0, 0), sigma, sigma, cv::BORDER_REPLICATE);
      EXPECT_TRUE(PlanesEqual(result.picture.plane(i), expected)) << "plane " << i;
    }
    EXPECT_TRUE(OnlyPlanesWritten(spare_, frame()));
    EXPECT_TRUE(InputUnchanged());
  }
}

// From sigma 4, three box passes stand in for the kernel: within a fraction of a level of the
// exact Gaussian (computed in floating point), and as smooth (the same spread left).
TEST_P(FilterGeometryTest, GblurFromSigma4IsWithinAFractionOfALevelOfTheExactGaussian) {
  for (const double sigma : {4.0, 6.5, 12.0}) {
    const std::string spec = "cv.gblur=" + cv::format("%g", sigma);
    SCOPED_TRACE(spec);
    const FilterChain::Result result = run(FilterChain::parse(spec), frame());
    for (int i = 0; i < 3; ++i) {
      cv::Mat in_float, exact, got;
      original_[i].convertTo(in_float, CV_32F);
      cv::GaussianBlur(in_float, exact, cv::Size(0, 0), sigma, sigma, cv::BORDER_REPLICATE);
      result.picture.plane(i).convertTo(got, CV_32F);
      const double rms = cv::norm(got, exact, cv::NORM_L2) / std::sqrt(double(got.total()));
      EXPECT_LT(rms, 0.75) << "plane " << i << ": RMS difference from the exact Gaussian";
      cv::Scalar mean, got_spread, exact_spread;
      cv::meanStdDev(got, mean, got_spread);
      cv::meanStdDev(exact, mean, exact_spread);
      EXPECT_NEAR(got_spread[0], exact_spread[0], 0.15 * exact_spread[0] + 0.1) << "plane " << i;
    }
    EXPECT_TRUE(OnlyPlanesWritten(spare_, frame()));
    EXPECT_TRUE(InputUnchanged());
  }
}

TEST_P(FilterGeometryTest, GblurInPlaceAfterAnotherWriterMatchesOpenCv) {
  for (const double sigma : {0.5, 1.0, 2.0, 3.7}) {
    const std::string spec = "cv.hflip,cv.gblur=" + cv::format("%g", sigma);
    SCOPED_TRACE(spec);
    const FilterChain sut = FilterChain::parse(spec);
    ASSERT_FALSE(sut.needs_scratch());

    const FilterChain::Result result = run(sut, frame());

    EXPECT_TRUE(result.in_spare);
    EXPECT_TRUE(lies_in(result.picture, spare_));
    EXPECT_TRUE(
        PicturesEqual(result.picture, reference_gblur(reference_flip(original_, 1), sigma)));
    EXPECT_TRUE(OnlyPlanesWritten(spare_, frame()));
    EXPECT_TRUE(InputUnchanged());
  }
}

TEST_P(FilterGeometryTest, GblurChangesThePicture) {
  const FilterChain sut = FilterChain::parse("cv.gblur=2");

  const FilterChain::Result result = run(sut, frame());

  for (int i = 0; i < 3; ++i) EXPECT_FALSE(PlanesEqual(result.picture.plane(i), original_[i]));
  EXPECT_TRUE(InputUnchanged());
}

// ---- flip -----------------------------------------------------------------------------------

const std::vector<std::pair<std::string, int>> kFlips = {
    {"flip=h", 1},   {"cv.hflip", 1}, {"flip=v", 0},      {"flip", 0},
    {"cv.vflip", 0}, {"flip=hv", -1}, {"flip=dir=vh", -1}};

TEST_P(FilterGeometryTest, FlipIntoTheSpareMatchesOpenCvFlipOfACopy) {
  for (const auto& [spec, code] : kFlips) {
    SCOPED_TRACE(spec);
    const FilterChain sut = FilterChain::parse(spec);
    ASSERT_TRUE(sut.needs_spare());
    ASSERT_FALSE(sut.needs_scratch());

    const FilterChain::Result result = run(sut, frame());

    EXPECT_TRUE(result.in_spare);
    EXPECT_TRUE(lies_in(result.picture, spare_));
    const Picture in_spare = layout_picture(spare_.data(), frame());
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(result.picture.data[i], in_spare.data[i]);
      cv::Mat expected;
      cv::flip(original_[i], expected, code);
      EXPECT_TRUE(PlanesEqual(result.picture.plane(i), expected)) << "plane " << i;
    }
    EXPECT_TRUE(OnlyPlanesWritten(spare_, frame()));
    EXPECT_TRUE(InputUnchanged());
  }
}

TEST_P(FilterGeometryTest, FlipInPlaceAfterAnotherWriterMatchesOpenCvFlipOfACopy) {
  for (const auto& [flip, code] : kFlips) {
    const std::string spec = "cv.gblur=1," + flip;
    SCOPED_TRACE(spec);
    const FilterChain sut = FilterChain::parse(spec);
    ASSERT_FALSE(sut.needs_scratch());

    const FilterChain::Result result = run(sut, frame());

    EXPECT_TRUE(result.in_spare);
    EXPECT_TRUE(lies_in(result.picture, spare_));
    EXPECT_TRUE(PicturesEqual(result.picture, reference_flip(reference_gblur(original_, 1), code)));
    EXPECT_TRUE(OnlyPlanesWritten(spare_, frame()));
    EXPECT_TRUE(InputUnchanged());
  }
}

TEST_P(FilterGeometryTest, FlippingTwiceRestoresThePicture) {
  const FilterChain sut = FilterChain::parse("flip=hv,cv.hflip,cv.vflip");

  const FilterChain::Result result = run(sut, frame());

  EXPECT_TRUE(result.in_spare);
  EXPECT_TRUE(lies_in(result.picture, spare_));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(PlanesEqual(result.picture.plane(i), original_[i]));
  EXPECT_TRUE(InputUnchanged());
}

// ---- gray -----------------------------------------------------------------------------------

TEST_P(FilterGeometryTest, GraySetsChromaToNeutralAndKeepsLuma) {
  const FilterChain sut = FilterChain::parse("gray");
  ASSERT_TRUE(sut.needs_spare());
  ASSERT_FALSE(sut.needs_scratch());

  const FilterChain::Result result = run(sut, frame());

  EXPECT_TRUE(result.in_spare);
  EXPECT_TRUE(lies_in(result.picture, spare_));
  EXPECT_TRUE(PlanesEqual(result.picture.plane(0), original_[0]));
  for (int i = 1; i < 3; ++i) {
    const cv::Mat neutral(original_[i].size(), CV_8UC1, cv::Scalar(128));
    EXPECT_TRUE(PlanesEqual(result.picture.plane(i), neutral)) << "plane " << i;
  }
  EXPECT_TRUE(OnlyPlanesWritten(spare_, frame()));
  EXPECT_TRUE(InputUnchanged());
}

TEST_P(FilterGeometryTest, GrayInPlaceAfterAnotherWriterMatchesOpenCv) {
  const FilterChain sut = FilterChain::parse("cv.gblur=1,gray");

  const FilterChain::Result result = run(sut, frame());

  EXPECT_TRUE(result.in_spare);
  EXPECT_TRUE(lies_in(result.picture, spare_));
  EXPECT_TRUE(PicturesEqual(result.picture, reference_gray(reference_gblur(original_, 1))));
  EXPECT_TRUE(OnlyPlanesWritten(spare_, frame()));
  EXPECT_TRUE(InputUnchanged());
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
  // A view writes no pixel: run() gets no spare and no scratch at all.
  ASSERT_FALSE(sut.needs_spare());
  ASSERT_FALSE(sut.needs_scratch());

  const FilterChain::Result result = run(sut, c.input);

  EXPECT_FALSE(result.in_spare);
  EXPECT_TRUE(lies_in(result.picture, input_));
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
  EXPECT_TRUE(InputUnchanged());
}

INSTANTIATE_TEST_SUITE_P(Windows, CropTest,
                         ::testing::Values(CropCase{{64, 48}, "cv.crop=32:16:8:4", 8, 4, 32, 16},
                                           CropCase{{64, 48}, "cv.crop=31:17:7:5", 6, 4, 31, 17},
                                           CropCase{{64, 48}, "cv.crop=20:10", 22, 18, 20, 10},
                                           CropCase{{64, 48}, "cv.crop=64:48", 0, 0, 64, 48},
                                           CropCase{{65, 47}, "cv.crop=21:11", 22, 18, 21, 11},
                                           CropCase{{65, 47}, "cv.crop=65:47:1:1", 0, 0, 65, 47},
                                           CropCase{
                                               {65, 47}, "cv.crop=33:15:31:31", 30, 30, 33, 15},
                                           CropCase{{65, 47}, "cv.crop=1:1:64:46", 64, 46, 1, 1}));

TEST_F(FilterTest, FilterAfterCropWritesOnlyTheWindowIntoTheSpare) {
  const FilterChain sut = FilterChain::parse("cv.crop=32:16:8:8,cv.gblur=2");
  ASSERT_TRUE(sut.needs_spare());
  ASSERT_FALSE(sut.needs_scratch());

  const FilterChain::Result result = run(sut, {64, 48});

  EXPECT_TRUE(result.in_spare);
  EXPECT_TRUE(lies_in(result.picture, spare_));
  ASSERT_EQ(result.picture.width, 32);
  ASSERT_EQ(result.picture.height, 16);
  const cv::Rect windows[3] = {{8, 8, 32, 16}, {4, 4, 16, 8}, {4, 4, 16, 8}};
  for (int i = 0; i < 3; ++i) {
    cv::Mat expected;
    cv::GaussianBlur(original_[i](windows[i]).clone(), expected, cv::Size(0, 0), 2, 2,
                     cv::BORDER_REPLICATE);
    EXPECT_TRUE(PlanesEqual(result.picture.plane(i), expected)) << "plane " << i;
    // The window is blurred in the spare; the input keeps every pixel, inside it too.
    EXPECT_TRUE(PlanesEqual(input_picture_.plane(i), original_[i])) << "input plane " << i;
  }
  EXPECT_TRUE(OnlyPlanesWritten(spare_, {32, 16}));
  EXPECT_TRUE(InputUnchanged());
}

// ---- chains ---------------------------------------------------------------------------------

struct MixedChainCase {
  Geometry input;
  int crop_x, crop_y;  // where cv.crop=32:32 centres its window
};

void PrintTo(const MixedChainCase& c, std::ostream* os) {
  *os << c.input.width << "x" << c.input.height;
}

class MixedChainTest : public FilterTest, public ::testing::WithParamInterface<MixedChainCase> {};

TEST_P(MixedChainTest, MixedChainMatchesTheSameOpenCvSequenceAndEndsInTheSpare) {
  const MixedChainCase& c = GetParam();
  const FilterChain sut = FilterChain::parse("cv.crop=32:32,resize=16x16,cv.gblur=1");
  ASSERT_TRUE(sut.needs_spare());
  // The crop is a view and the blur works in place after the resize: one buffer is enough.
  ASSERT_FALSE(sut.needs_scratch());

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
  EXPECT_TRUE(OnlyPlanesWritten(spare_, {16, 16}));
  EXPECT_TRUE(InputUnchanged());
}

TEST_P(MixedChainTest, TwoResizesAroundAFlipGoThroughTheScratchAndEndInTheSpare) {
  const MixedChainCase& c = GetParam();
  const FilterChain sut = FilterChain::parse("cv.gblur=1,resize=20x20,flip,resize=16x16");
  ASSERT_TRUE(sut.needs_spare());
  ASSERT_TRUE(sut.needs_scratch());

  const FilterChain::Result result = run(sut, c.input);

  EXPECT_TRUE(result.in_spare);
  EXPECT_TRUE(lies_in(result.picture, spare_));
  ASSERT_EQ(result.picture.width, 16);
  ASSERT_EQ(result.picture.height, 16);
  const Planes expected = reference_resize(
      reference_flip(reference_resize(reference_gblur(original_, 1), {20, 20}, cv::INTER_LINEAR),
                     0),
      {16, 16}, cv::INTER_LINEAR);
  EXPECT_TRUE(PicturesEqual(result.picture, expected));
  EXPECT_TRUE(InputUnchanged());
}

TEST_P(MixedChainTest, GrayThenHflipEndsInTheSpareWithoutAScratch) {
  const MixedChainCase& c = GetParam();
  const FilterChain sut = FilterChain::parse("gray,cv.hflip");
  ASSERT_TRUE(sut.needs_spare());
  ASSERT_FALSE(sut.needs_scratch());

  const FilterChain::Result result = run(sut, c.input);

  EXPECT_TRUE(result.in_spare);
  EXPECT_TRUE(lies_in(result.picture, spare_));
  EXPECT_TRUE(PicturesEqual(result.picture, reference_flip(reference_gray(original_), 1)));
  EXPECT_TRUE(OnlyPlanesWritten(spare_, c.input));
  EXPECT_TRUE(InputUnchanged());
}

INSTANTIATE_TEST_SUITE_P(Frames, MixedChainTest,
                         ::testing::Values(MixedChainCase{{64, 48}, 16, 8},
                                           MixedChainCase{{65, 47}, 16, 6}));

TEST_F(FilterTest, TwoOutOfPlaceStepsGoThroughTheScratchAndEndInTheSpare) {
  const FilterChain sut = FilterChain::parse("resize=32x24,flip=h,resize=20x20:interp=area,gray");
  ASSERT_TRUE(sut.needs_spare());
  ASSERT_TRUE(sut.needs_scratch());

  const FilterChain::Result result = run(sut, {64, 48});

  EXPECT_TRUE(result.in_spare);
  EXPECT_TRUE(lies_in(result.picture, spare_));
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
  EXPECT_TRUE(OnlyPlanesWritten(spare_, {20, 20}));
  EXPECT_TRUE(InputUnchanged());
}

TEST_F(FilterTest, InPlaceStepsAfterAResizeStayInTheSpare) {
  // gray writes the scratch so that the resize, the one out-of-place step after it, lands in
  // the spare, where the flip then works in place.
  const FilterChain sut = FilterChain::parse("gray,resize=40x30,flip=v");
  ASSERT_TRUE(sut.needs_spare());
  ASSERT_TRUE(sut.needs_scratch());

  const FilterChain::Result result = run(sut, {64, 48});

  EXPECT_TRUE(result.in_spare);
  EXPECT_TRUE(lies_in(result.picture, spare_));
  EXPECT_EQ(result.picture.width, 40);
  EXPECT_EQ(result.picture.height, 30);
  EXPECT_TRUE(PicturesEqual(
      result.picture,
      reference_flip(reference_resize(reference_gray(original_), {40, 30}, cv::INTER_LINEAR), 0)));
  EXPECT_TRUE(OnlyPlanesWritten(spare_, {40, 30}));
  EXPECT_TRUE(InputUnchanged());
}

TEST_F(FilterTest, InPlaceChainNeedsASpareButNoScratch) {
  const FilterChain sut = FilterChain::parse("cv.gblur=2,flip=hv,gray");
  ASSERT_TRUE(sut.needs_spare());
  ASSERT_FALSE(sut.needs_scratch());  // run() then gets no scratch buffer

  const FilterChain::Result result = run(sut, {65, 47});

  EXPECT_TRUE(result.in_spare);
  EXPECT_TRUE(lies_in(result.picture, spare_));
  EXPECT_TRUE(PicturesEqual(result.picture,
                            reference_gray(reference_flip(reference_gblur(original_, 2), -1))));
  EXPECT_TRUE(OnlyPlanesWritten(spare_, {65, 47}));
  EXPECT_TRUE(InputUnchanged());
}

TEST_F(FilterTest, EmptyChainReturnsTheInputUntouched) {
  const FilterChain sut = FilterChain::parse("");
  ASSERT_FALSE(sut.needs_spare());
  ASSERT_FALSE(sut.needs_scratch());

  const FilterChain::Result result = run(sut, {64, 48});

  EXPECT_FALSE(result.in_spare);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(result.picture.data[i], input_picture_.data[i]);
    EXPECT_EQ(result.picture.linesize[i], input_picture_.linesize[i]);
    EXPECT_TRUE(PlanesEqual(result.picture.plane(i), original_[i]));
  }
  EXPECT_TRUE(InputUnchanged());
}

// ---- the buffer contract, chain by chain ----------------------------------------------------

struct ContractCase {
  const char* spec;
  bool needs_spare;
  bool needs_scratch;
};

void PrintTo(const ContractCase& c, std::ostream* os) {
  *os << "'" << c.spec << "'";
}

class ChainContractTest : public FilterTest, public ::testing::WithParamInterface<ContractCase> {
 protected:
  static constexpr Geometry kFrames[] = {{64, 48}, {65, 47}};
};

TEST_P(ChainContractTest, NeedsSpareAndNeedsScratchFollowThePixelWritingSteps) {
  const ContractCase& c = GetParam();

  const FilterChain sut = FilterChain::parse(c.spec);

  EXPECT_EQ(sut.needs_spare(), c.needs_spare);
  EXPECT_EQ(sut.needs_scratch(), c.needs_scratch);
}

TEST_P(ChainContractTest, RunNeverWritesTheInputAndLeavesTheResultInTheSpare) {
  const ContractCase& c = GetParam();
  const FilterChain sut = FilterChain::parse(c.spec);
  for (const Geometry frame : kFrames) {
    SCOPED_TRACE(::testing::Message() << frame.width << "x" << frame.height);

    const FilterChain::Result result = run(sut, frame);

    EXPECT_TRUE(InputUnchanged());
    // Pixels were written exactly when the chain asked for a spare, and then they are there.
    EXPECT_EQ(result.in_spare, sut.needs_spare());
    EXPECT_TRUE(lies_in(result.picture, result.in_spare ? spare_ : input_));
    EXPECT_EQ(result.picture.geometry(), sut.plan(frame).back());
  }
}

TEST_P(ChainContractTest, RunningTheChainAgainOnTheSameInputGivesTheSameResult) {
  const ContractCase& c = GetParam();
  const FilterChain sut = FilterChain::parse(c.spec);
  for (const Geometry frame : kFrames) {
    SCOPED_TRACE(::testing::Message() << frame.width << "x" << frame.height);
    const FilterChain::Result first = run(sut, frame);
    const Planes expected = copy_of(first.picture);

    // Again on the buffers as the first run left them, as when the same worker retries.
    const FilterChain::Result again = run_again(sut);

    EXPECT_EQ(again.in_spare, first.in_spare);
    EXPECT_EQ(again.picture.geometry(), first.picture.geometry());
    EXPECT_TRUE(PicturesEqual(again.picture, expected));
    EXPECT_TRUE(InputUnchanged());

    // And on buffers full of garbage, as when another worker takes the requeued frame.
    for (const std::uint64_t seed : {1, 2, 3}) {
      soil_buffers(seed);

      const FilterChain::Result requeued = run_again(sut);

      EXPECT_EQ(requeued.in_spare, first.in_spare);
      EXPECT_TRUE(lies_in(requeued.picture, requeued.in_spare ? spare_ : input_));
      EXPECT_TRUE(PicturesEqual(requeued.picture, expected)) << "seed " << seed;
      EXPECT_TRUE(InputUnchanged());
    }
  }
}

TEST_P(ChainContractTest, BuffersTheChainDoesNotNeedMayBeNull) {
  const ContractCase& c = GetParam();
  const FilterChain sut = FilterChain::parse(c.spec);
  for (const Geometry frame : kFrames) {
    SCOPED_TRACE(::testing::Message() << frame.width << "x" << frame.height);
    // run() passes null for every buffer the chain says it does not need.
    const FilterChain::Result with_null = run(sut, frame);
    const Planes expected = copy_of(with_null.picture);
    soil_buffers(7);

    const FilterChain::Result with_both = sut.run(input_picture_, spare_.data(), scratch_.data());

    EXPECT_EQ(with_both.in_spare, with_null.in_spare);
    EXPECT_TRUE(PicturesEqual(with_both.picture, expected));
    EXPECT_TRUE(InputUnchanged());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Chains, ChainContractTest,
    ::testing::Values(ContractCase{"", false, false}, ContractCase{"cv.crop=20:10", false, false},
                      ContractCase{"cv.crop=40:30,cv.crop=21:11:3:3", false, false},
                      ContractCase{"resize=33x17", true, false},
                      ContractCase{"resize=100x70:interp=lanczos", true, false},
                      ContractCase{"cv.gblur=2", true, false}, ContractCase{"flip=hv", true, false},
                      ContractCase{"cv.hflip", true, false}, ContractCase{"cv.vflip", true, false},
                      ContractCase{"gray", true, false}, ContractCase{"gray,cv.hflip", true, false},
                      ContractCase{"cv.crop=32:32,gray", true, false},
                      ContractCase{"cv.crop=32:32,resize=16x16,cv.gblur=1", true, false},
                      ContractCase{"cv.gblur=1,resize=20x20,flip,resize=16x16", true, true},
                      ContractCase{"gray,resize=40x30,flip=v", true, true},
                      ContractCase{"resize=32x24,flip=h,resize=20x20:interp=area,gray", true, true},
                      ContractCase{"resize=80x60,resize=70x50,resize=30x20", true, true},
                      ContractCase{"resize=80x60,cv.crop=40:30,resize=16x16,cv.crop=8:8", true,
                                   true},
                      ContractCase{"cv.gblur=2,flip=hv,gray", true, false}));

// ---- random chains --------------------------------------------------------------------------

int between(std::mt19937& rng, int low, int high) {
  return std::uniform_int_distribution<int>(low, high)(rng);
}

// A random chain of resize, cv.crop, cv.gblur, flip and gray that fits `input`, and the planes the
// same steps give when OpenCV runs them on deep copies of `original`.
std::pair<std::string, Planes> random_chain(std::mt19937& rng, Geometry input,
                                            const Planes& original) {
  static const std::vector<std::pair<std::string, int>> kInterpolations = {
      {"nearest", cv::INTER_NEAREST}, {"linear", cv::INTER_LINEAR}, {"area", cv::INTER_AREA}};
  static const std::vector<std::pair<std::string, double>> kSigmas = {
      {"0.5", 0.5}, {"1", 1.0}, {"2.5", 2.5}};
  static const std::vector<std::pair<std::string, int>> kFlipCodes = {
      {"cv.hflip", 1}, {"cv.vflip", 0}, {"flip=hv", -1}, {"cv.rotate=180", -1}};
  std::string spec;
  Planes expected = original;
  Geometry g = input;
  const int nb_steps = between(rng, 1, 6);
  for (int s = 0; s < nb_steps; ++s) {
    if (!spec.empty()) spec += ",";
    switch (between(rng, 0, 4)) {
      case 0: {
        const Geometry window{between(rng, 1, g.width), between(rng, 1, g.height)};
        spec += "cv.crop=" + std::to_string(window.width) + ":" + std::to_string(window.height);
        int x = (g.width - window.width) / 2;
        int y = (g.height - window.height) / 2;
        if (between(rng, 0, 1) == 0) {
          x = between(rng, 0, g.width - window.width);
          y = between(rng, 0, g.height - window.height);
          spec += ":" + std::to_string(x) + ":" + std::to_string(y);
        }
        expected = reference_crop(expected, x & ~1, y & ~1, window);
        g = window;
        break;
      }
      case 1: {
        const Geometry to{between(rng, 1, 80), between(rng, 1, 80)};
        const auto& [name, interpolation] = kInterpolations[between(rng, 0, 2)];
        spec += "resize=" + std::to_string(to.width) + "x" + std::to_string(to.height) +
                ":interp=" + name;
        expected = reference_resize(expected, to, interpolation);
        g = to;
        break;
      }
      case 2: {
        const auto& [text, sigma] = kSigmas[between(rng, 0, 2)];
        spec += "cv.gblur=" + text;
        expected = reference_gblur(expected, sigma);
        break;
      }
      case 3: {
        const auto& [name, code] = kFlipCodes[between(rng, 0, 3)];
        spec += name;
        expected = reference_flip(expected, code);
        break;
      }
      default:
        spec += "gray";
        expected = reference_gray(expected);
    }
  }
  return {spec, expected};
}

TEST_F(FilterTest, RandomChainsMatchOpenCvNeverWriteTheInputAndEndInTheSpare) {
  std::mt19937 rng(20240611);
  int nb_with_scratch = 0;
  int nb_views = 0;
  for (int n = 0; n < 300; ++n) {
    const Geometry frame = n % 2 == 0 ? Geometry{64, 48} : Geometry{65, 47};
    // The noise run() lays out depends only on the geometry: make it once to build the chain.
    (void)run(FilterChain::parse(""), frame);
    const auto [spec, expected] = random_chain(rng, frame, original_);
    SCOPED_TRACE(spec + " on " + std::to_string(frame.width) + "x" + std::to_string(frame.height));
    const FilterChain sut = FilterChain::parse(spec);
    nb_with_scratch += sut.needs_scratch() ? 1 : 0;
    nb_views += sut.needs_spare() ? 0 : 1;

    const FilterChain::Result result = run(sut, frame);

    ASSERT_TRUE(PicturesEqual(result.picture, expected));
    ASSERT_TRUE(InputUnchanged());
    ASSERT_EQ(result.in_spare, sut.needs_spare());
    ASSERT_TRUE(lies_in(result.picture, result.in_spare ? spare_ : input_));
    ASSERT_TRUE(sut.needs_spare() || !sut.needs_scratch());

    soil_buffers(n);
    const FilterChain::Result again = run_again(sut);

    ASSERT_TRUE(PicturesEqual(again.picture, expected));
    ASSERT_TRUE(InputUnchanged());
  }
  // The generator must reach chains with a scratch and view-only chains to test them.
  EXPECT_GT(nb_with_scratch, 30);
  EXPECT_GT(nb_views, 5);
}

}  // namespace
}  // namespace vpipe::transform
