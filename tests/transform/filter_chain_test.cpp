#include "transform/filter_chain.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <map>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "transform/lavfi.hpp"
#include "transform/picture.hpp"

namespace vpipe::transform {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

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

// "640x360,1280x720": geometries as text, for readable failures.
std::string to_text(const std::vector<Geometry>& steps) {
  std::string text;
  for (const Geometry& g : steps) {
    text += (text.empty() ? "" : ",") + std::to_string(g.width) + "x" + std::to_string(g.height);
  }
  return text;
}

// A spec as a test's value in test names: quoted, tabs made visible.
std::string quoted(const std::string& spec) {
  std::string text = "'";
  for (char c : spec) text += c == '\t' ? std::string("\\t") : std::string(1, c);
  return text + "'";
}

// ---- parse: valid specs ---------------------------------------------------------------------

struct ValidSpec {
  const char* spec;
  const char* described;  // FilterChain::describe() of the parsed chain
};

void PrintTo(const ValidSpec& param, std::ostream* os) {
  *os << quoted(param.spec);
}

class FilterChainValidSpecTest : public ::testing::TestWithParam<ValidSpec> {};

TEST_P(FilterChainValidSpecTest, ParseBuildsTheChainTheSpecNames) {
  const ValidSpec& param = GetParam();

  const FilterChain sut = FilterChain::parse(param.spec);

  EXPECT_EQ(sut.describe(), param.described);
}

INSTANTIATE_TEST_SUITE_P(
    Specs, FilterChainValidSpecTest,
    ::testing::Values(ValidSpec{"resize=1280x720,cv.gblur=2",
                                "resize=1280x720:interp=linear,cv.gblur=sigma=2"},
                      ValidSpec{"resize=w=640:h=-1:interp=area", "resize=640x-1:interp=area"},
                      ValidSpec{"resize=-1x720:interp=lanczos", "resize=-1x720:interp=lanczos"},
                      ValidSpec{"resize=320x240:interp=nearest", "resize=320x240:interp=nearest"},
                      ValidSpec{"resize=320x240:interp=cubic", "resize=320x240:interp=cubic"},
                      ValidSpec{"cv.crop=100:50:10:20", "cv.crop=100:50:10:20"},
                      ValidSpec{"cv.crop=w=100:h=50", "cv.crop=100:50:center:center"},
                      ValidSpec{"cv.crop=100:50:y=4", "cv.crop=100:50:center:4"},
                      ValidSpec{"flip=hv", "flip=hv"}, ValidSpec{"flip=vh", "flip=hv"},
                      ValidSpec{"flip=dir=h", "flip=h"}, ValidSpec{"flip", "flip=v"},
                      ValidSpec{"cv.hflip", "flip=h"}, ValidSpec{"cv.vflip", "flip=v"},
                      ValidSpec{"gray", "gray"}, ValidSpec{"cv.gblur", "cv.gblur=sigma=0.5"},
                      ValidSpec{"cv.gblur=sigma=1.5", "cv.gblur=sigma=1.5"},
                      ValidSpec{"  resize = 320x240 ,\tgray , cv.gblur = sigma = 3 ",
                                "resize=320x240:interp=linear,gray,cv.gblur=sigma=3"},
                      ValidSpec{"", "(none)"}, ValidSpec{" \t ", "(none)"}));

TEST(FilterChainTest, EmptySpecGivesAnEmptyChain) {
  const FilterChain sut = FilterChain::parse("");

  EXPECT_TRUE(sut.empty());
  EXPECT_FALSE(sut.needs_spare());
  EXPECT_FALSE(sut.needs_scratch());
  EXPECT_EQ(to_text(sut.plan({640, 360})), "640x360");
}

TEST(FilterChainTest, NonEmptySpecGivesANonEmptyChain) {
  const FilterChain sut = FilterChain::parse("gray");

  EXPECT_FALSE(sut.empty());
}

// ---- parse: invalid specs -------------------------------------------------------------------

struct InvalidSpec {
  const char* spec;
  const char* names;   // the filter (or chain) the message must name
  const char* reason;  // and what is wrong
};

void PrintTo(const InvalidSpec& param, std::ostream* os) {
  *os << quoted(param.spec);
}

class FilterChainInvalidSpecTest : public ::testing::TestWithParam<InvalidSpec> {};

TEST_P(FilterChainInvalidSpecTest, ParseThrowsAUsageErrorNamingTheFilter) {
  const InvalidSpec& param = GetParam();

  const std::string message = usage_error_of([&] { (void)FilterChain::parse(param.spec); });

  EXPECT_THAT(message, HasSubstr(param.names));
  EXPECT_THAT(message, HasSubstr(param.reason));
  EXPECT_THAT(message, Not(HasSubstr("\n")));
}

INSTANTIATE_TEST_SUITE_P(
    Specs, FilterChainInvalidSpecTest,
    ::testing::Values(
        InvalidSpec{"blur=2", "unknown filter 'blur'", "vpipe filters"},
        InvalidSpec{"resize=1280x720,nosuchfilter", "unknown filter 'nosuchfilter'",
                    "vpipe filters"},
        InvalidSpec{"resize=0x0", "filter 'resize'", "0x0 is invalid"},
        InvalidSpec{"resize=abc", "filter 'resize'", "'abc' must be WxH"},
        InvalidSpec{"resize=12ax34", "filter 'resize'", "must be an integer, got '12a'"},
        InvalidSpec{"resize=100000x10", "filter 'resize'", "100000x10 is invalid"},
        InvalidSpec{"resize=-1x-1", "filter 'resize'", "-1x-1 is invalid"},
        InvalidSpec{"resize=-65x100", "filter 'resize'", "-65x100 is invalid"},
        InvalidSpec{"resize=w=640", "filter 'resize'", "must be WxH"},
        InvalidSpec{"resize=h=640", "filter 'resize'", "needs a size"},
        InvalidSpec{"resize", "filter 'resize'", "needs a size"},
        InvalidSpec{"resize=64x64:interp=fast", "filter 'resize'", "interp 'fast'"},
        InvalidSpec{"resize=64x64:mode=fast", "filter 'resize'", "unknown argument 'mode'"},
        InvalidSpec{"resize=w=64:w=32:h=8", "filter 'resize'", "argument 'w' given twice"},
        InvalidSpec{"resize=64x64:w=32", "filter 'resize'", "argument 'w' given twice"},
        InvalidSpec{"resize=64x64:interp=area:1", "filter 'resize'", "positional argument '1'"},
        InvalidSpec{"resize=64x64:", "filter 'resize'", "empty argument"},
        InvalidSpec{"resize=64x64:=area", "filter 'resize'", "has no name"},
        InvalidSpec{"cv.crop=w=10:20", "filter 'cv.crop'",
                    "positional argument '20' after a named"},
        InvalidSpec{"cv.crop=10", "filter 'cv.crop'", "needs a size"},
        InvalidSpec{"cv.crop=0:10", "filter 'cv.crop'", "width 0 is out of range"},
        InvalidSpec{"cv.crop=10:20000", "filter 'cv.crop'", "height 20000 is out of range"},
        InvalidSpec{"cv.crop=10:10:-2:0", "filter 'cv.crop'", "must not be negative"},
        InvalidSpec{"cv.crop=1:2:3:4:5", "filter 'cv.crop'", "too many arguments"},
        InvalidSpec{"cv.gblur=-1", "filter 'cv.gblur'", "sigma -1 is out of range"},
        InvalidSpec{"cv.gblur=0", "filter 'cv.gblur'", "sigma 0 is out of range"},
        InvalidSpec{"cv.gblur=2000", "filter 'cv.gblur'", "sigma 2000 is out of range"},
        InvalidSpec{"cv.gblur=abc", "filter 'cv.gblur'", "must be a number, got 'abc'"},
        InvalidSpec{"cv.gblur=nan", "filter 'cv.gblur'", "must be a number"},
        InvalidSpec{"cv.gblur=radius=2", "filter 'cv.gblur'", "unknown argument 'radius'"},
        InvalidSpec{"gray=1", "filter 'gray'", "too many arguments"},
        InvalidSpec{"gray=strength=1", "filter 'gray'", "unknown argument 'strength'"},
        InvalidSpec{"flip=x", "filter 'flip'", "dir 'x'"},
        InvalidSpec{"cv.hflip=v", "filter 'cv.hflip'", "too many arguments"},
        InvalidSpec{",,", "filter chain ',,'", "empty entry"},
        InvalidSpec{"gray,", "filter chain 'gray,'", "empty entry"},
        InvalidSpec{"gray, ,flip", "filter chain 'gray, ,flip'", "empty entry"},
        InvalidSpec{"=2", "unknown filter ''", "vpipe filters"}));

// ---- plan -----------------------------------------------------------------------------------

TEST(FilterChainTest, PlanListsTheGeometryAfterEachStep) {
  const FilterChain sut =
      FilterChain::parse("resize=1280x720,cv.gblur=2,cv.crop=100:50:10:20,gray,flip");

  const std::vector<Geometry> steps = sut.plan({640, 360});

  EXPECT_EQ(to_text(steps), "640x360,1280x720,1280x720,100x50,100x50,100x50");
}

struct AspectCase {
  const char* spec;
  Geometry input;
  Geometry expected;
};

void PrintTo(const AspectCase& param, std::ostream* os) {
  *os << quoted(param.spec) << " on " << param.input.width << "x" << param.input.height;
}

class FilterChainAspectTest : public ::testing::TestWithParam<AspectCase> {};

TEST_P(FilterChainAspectTest, ResizeWithMinusOneKeepsTheAspectRatioRoundedToEven) {
  const AspectCase& param = GetParam();
  const FilterChain sut = FilterChain::parse(param.spec);

  const std::vector<Geometry> steps = sut.plan(param.input);

  EXPECT_EQ(to_text({steps.back()}), to_text({param.expected}));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, FilterChainAspectTest,
    ::testing::Values(AspectCase{"resize=w=640:h=-1", {1920, 1080}, {640, 360}},
                      AspectCase{"resize=-1x720", {1920, 1080}, {1280, 720}},
                      // 300 * 480 / 640 = 225: odd, so rounded to the nearest even height.
                      AspectCase{"resize=300x-1", {640, 480}, {300, 226}},
                      // 800 * 640 / 1920 = 266.67 -> 266.
                      AspectCase{"resize=640x-1", {1920, 800}, {640, 266}},
                      // 480 * 99 / 640 = 74.25 -> 74; the explicit odd side is kept as given.
                      AspectCase{"resize=-1x99", {480, 640}, {74, 99}},
                      // Never below 2 pixels.
                      AspectCase{"resize=-1x10", {16, 1000}, {2, 10}},
                      // ffmpeg's -N: a multiple of N.
                      AspectCase{"resize=640x-2", {1920, 800}, {640, 266}},
                      AspectCase{"resize=640x-4", {1920, 800}, {640, 268}},
                      AspectCase{"resize=-16x360", {1280, 720}, {640, 360}},
                      AspectCase{"resize=-8x100", {1920, 1080}, {176, 100}}));

TEST(FilterChainTest, PlanThrowsNamingCropWhenTheWindowDoesNotFitTheInput) {
  const FilterChain sut = FilterChain::parse("cv.crop=100:50:600:20");

  const std::string message = usage_error_of([&] { (void)sut.plan({640, 360}); });

  EXPECT_THAT(message, HasSubstr("filter 'cv.crop'"));
  EXPECT_THAT(message, HasSubstr("does not fit in the 640x360 input"));
}

TEST(FilterChainTest, PlanThrowsWhenALaterStepNoLongerFits) {
  const FilterChain sut = FilterChain::parse("resize=64x64,cv.crop=100:50");

  const std::string message = usage_error_of([&] { (void)sut.plan({640, 360}); });

  EXPECT_THAT(message, HasSubstr("filter 'cv.crop'"));
  EXPECT_THAT(message, HasSubstr("64x64 input"));
}

TEST(FilterChainTest, PlanRoundsTheCropOriginDownToEven) {
  const FilterChain fits = FilterChain::parse("cv.crop=638:358:3:3");       // origin 2,2
  const FilterChain overflows = FilterChain::parse("cv.crop=638:358:4:0");  // origin 4,0

  EXPECT_EQ(to_text(fits.plan({640, 360})), "640x360,638x358");
  usage_error_of([&] { (void)overflows.plan({640, 360}); });
}

TEST(FilterChainTest, PlanThrowsNamingResizeWhenTheKeptAspectRatioIsOutOfRange) {
  const FilterChain sut = FilterChain::parse("resize=-1x16384");

  const std::string message = usage_error_of([&] { (void)sut.plan({16384, 2}); });

  EXPECT_THAT(message, HasSubstr("filter 'resize'"));
  EXPECT_THAT(message, HasSubstr("width"));
}

TEST(FilterChainTest, MaxPictureBytesIsTheLargestStep) {
  const FilterChain sut = FilterChain::parse("resize=1280x720,resize=320x240");

  const std::uint64_t bytes = sut.max_picture_bytes({640, 360});

  // 1280 x 720 luma plus two 640 x 360 chroma planes, lines already 64-byte multiples.
  EXPECT_EQ(bytes, 1280u * 720u + 2u * 640u * 360u);
  EXPECT_EQ(bytes, picture_bytes({1280, 720}));
}

TEST(FilterChainTest, MaxPictureBytesCountsTheInputWhenTheChainShrinksIt) {
  const FilterChain sut = FilterChain::parse("cv.crop=100:50,resize=32x32");

  EXPECT_EQ(sut.max_picture_bytes({640, 360}), picture_bytes({640, 360}));
  EXPECT_EQ(FilterChain::parse("").max_picture_bytes({640, 360}), picture_bytes({640, 360}));
}

TEST(FilterChainTest, MaxPictureBytesIncludesLinePaddingForOddSizes) {
  const FilterChain sut = FilterChain::parse("resize=65x47");

  // Luma lines of 65 pad to 128 bytes, chroma (33 x 24) lines to 64.
  EXPECT_EQ(sut.max_picture_bytes({32, 32}), 128u * 47u + 2u * 64u * 24u);
}

TEST(FilterChainTest, ResizeNeedsASpareSlot) {
  EXPECT_TRUE(FilterChain::parse("resize=64x64").needs_spare());
  EXPECT_TRUE(FilterChain::parse("gray,cv.crop=10:10,resize=64x64,flip").needs_spare());
}

// The input is never written, so every filter that writes pixels, in place or not, needs the
// spare slot for its result.
TEST(FilterChainTest, EveryPixelWritingFilterNeedsASpareSlot) {
  for (const char* spec :
       {"cv.gblur=2", "gray", "flip=hv", "cv.hflip", "cv.vflip", "cv.crop=10:10,gray",
        "cv.crop=10:10,cv.crop=4:4,flip", "cv.gblur,cv.crop=10:10,gray,flip=h,cv.hflip,cv.vflip"}) {
    SCOPED_TRACE(spec);

    const FilterChain sut = FilterChain::parse(spec);

    EXPECT_TRUE(sut.needs_spare());
  }
}

// Crop only moves plane pointers: a chain of views returns a view of the input.
TEST(FilterChainTest, ViewOnlyChainsNeedNoSpareSlot) {
  for (const char* spec : {"cv.crop=10:10", "cv.crop=100:50,cv.crop=10:10:2:2", ""}) {
    SCOPED_TRACE(spec);

    const FilterChain sut = FilterChain::parse(spec);

    EXPECT_FALSE(sut.needs_spare());
    EXPECT_FALSE(sut.needs_scratch());
  }
}

struct ScratchCase {
  const char* spec;
  bool needs_scratch;
};

void PrintTo(const ScratchCase& param, std::ostream* os) {
  *os << quoted(param.spec);
}

class FilterChainScratchTest : public ::testing::TestWithParam<ScratchCase> {};

// The scratch is needed when an out-of-place step follows the first pixel-writing step: the two
// must then alternate between spare and scratch so that the last write lands in the spare.
TEST_P(FilterChainScratchTest, NeedsScratchWhenAnOutOfPlaceStepFollowsTheFirstWriter) {
  const ScratchCase& param = GetParam();

  const FilterChain sut = FilterChain::parse(param.spec);

  EXPECT_EQ(sut.needs_scratch(), param.needs_scratch);
  EXPECT_TRUE(sut.needs_spare());
}

INSTANTIATE_TEST_SUITE_P(
    Chains, FilterChainScratchTest,
    ::testing::Values(ScratchCase{"resize=64x64", false}, ScratchCase{"cv.gblur=2", false},
                      ScratchCase{"gray", false}, ScratchCase{"flip=hv", false},
                      ScratchCase{"gray,cv.hflip", false},
                      ScratchCase{"cv.crop=32:32,resize=16x16,cv.gblur=1", false},
                      ScratchCase{"cv.crop=10:10,resize=64x64,cv.crop=8:8", false},
                      ScratchCase{"resize=64x64,cv.gblur,flip,gray", false},
                      ScratchCase{"cv.gblur,cv.crop=10:10,gray,flip=h,cv.hflip,cv.vflip", false},
                      ScratchCase{"cv.gblur=1,resize=20x20,flip,resize=16x16", true},
                      ScratchCase{"gray,resize=64x64", true},
                      ScratchCase{"resize=64x64,resize=32x32", true},
                      ScratchCase{"resize=64x64,cv.crop=10:10,resize=8x8", true},
                      ScratchCase{"resize=32x24,flip=h,resize=20x20:interp=area,gray", true},
                      ScratchCase{"resize=80x60,resize=70x50,resize=30x20", true}));

TEST(FilterChainTest, BuiltInStatelessFiltersDoNotMakeTheChainSequential) {
  const FilterChain sut =
      FilterChain::parse("resize=64x64,cv.gblur,cv.crop=10:10,gray,flip,cv.hflip,cv.vflip");

  EXPECT_FALSE(sut.sequential());
}

// ---- fuzz -----------------------------------------------------------------------------------

template <typename T>
const T& pick(std::mt19937& rng, const std::vector<T>& items) {
  return items[std::uniform_int_distribution<std::size_t>(0, items.size() - 1)(rng)];
}

int between(std::mt19937& rng, int low, int high) {
  return std::uniform_int_distribution<int>(low, high)(rng);
}

// Half the time a chain shaped like the real grammar with a few characters mutated, so that a
// good share parses and reaches plan(); otherwise characters that specs are made of.
std::string random_spec(std::mt19937& rng) {
  static const std::string kChars = "resizecropgblurflipgrayhvwnx=:,-0123456789 .";
  static const std::vector<std::string> kNames = {"resize", "cv.crop",  "cv.gblur", "flip",
                                                  "gray",   "cv.hflip", "cv.vflip"};
  static const std::vector<std::string> kKeys = {
      "", "", "", "w=", "h=", "x=", "y=", "sigma=", "interp=", "dir="};
  static const std::vector<std::string> kValues = {
      "-1",      "0",      "1",     "2",   "7", "33",  "640",  "360",
      "100000",  "1.5",    "abc",   "h",   "v", "hv",  "area", "cubic",
      "640x360", "-1x100", "10x-1", "2x2", "",  "1e9", "65x47"};
  std::string spec;
  if (between(rng, 0, 1) == 0) {
    const int nb_chars = between(rng, 0, 30);
    for (int i = 0; i < nb_chars; ++i) spec += kChars[between(rng, 0, kChars.size() - 1)];
    return spec;
  }
  static const std::map<std::string, std::vector<std::string>> kValidArgs = {
      {"resize", {"=640x360", "=w=320:h=-1", "=-1x100:interp=area", "=33x17:interp=cubic"}},
      {"cv.crop", {"=100:50", "=64:48:2:2", "=w=10:h=10:x=1", "=640:360", "=600:300:50:50"}},
      {"cv.gblur", {"", "=2", "=sigma=0.7"}},
      {"flip", {"", "=h", "=hv", "=dir=vh"}},
      {"gray", {""}},
      {"cv.hflip", {""}},
      {"cv.vflip", {""}}};
  const int nb_filters = between(rng, 1, 3);
  for (int f = 0; f < nb_filters; ++f) {
    if (f > 0) spec += ",";
    const std::string& name = pick(rng, kNames);
    spec += name;
    if (between(rng, 0, 1) == 0) {
      spec += pick(rng, kValidArgs.at(name));
      continue;
    }
    spec += "=";
    const int nb_args = between(rng, 1, 4);
    for (int a = 0; a < nb_args; ++a) {
      if (a > 0) spec += ":";
      spec += pick(rng, kKeys) + pick(rng, kValues);
    }
  }
  const int nb_mutations = std::max(0, between(rng, -2, 2));
  for (int m = 0; m < nb_mutations && !spec.empty(); ++m) {
    const std::size_t at = between(rng, 0, spec.size() - 1);
    const char c = kChars[between(rng, 0, kChars.size() - 1)];
    switch (between(rng, 0, 2)) {
      case 0:
        spec.insert(spec.begin() + at, c);
        break;
      case 1:
        spec.erase(at, 1);
        break;
      default:
        spec[at] = c;
    }
  }
  return spec;
}

TEST(FilterChainFuzzTest, RandomSpecsEitherParseOrThrowAUsageError) {
  std::mt19937 rng(20240607);
  int nb_parsed = 0;
  int nb_planned = 0;
  std::vector<std::string> failures;

  for (int i = 0; i < 20000; ++i) {
    const std::string spec = random_spec(rng);
    try {
      const FilterChain sut = FilterChain::parse(spec);
      if (!sut.empty()) ++nb_parsed;
      if (sut.needs_scratch() && !sut.needs_spare()) {
        failures.push_back("'" + spec + "': needs a scratch but no spare");
      }
      (void)sut.plan({640, 360});
      (void)sut.max_picture_bytes({640, 360});
      if (!sut.empty()) ++nb_planned;
    } catch (const Error& e) {
      const std::string message = e.what();
      if (e.code() != ExitCode::kUsage || message.empty() ||
          message.find('\n') != std::string::npos) {
        failures.push_back("'" + spec + "': " + message);
      }
    } catch (const std::exception& e) {
      failures.push_back("'" + spec + "': not a vpipe::Error: " + e.what());
    } catch (...) {
      failures.push_back("'" + spec + "': unknown exception");
    }
  }

  EXPECT_TRUE(failures.empty()) << failures.size() << " bad outcomes, first: " << failures.front();
  // The generator must reach both the success and the failure paths to test anything.
  EXPECT_GT(nb_planned, 1000);
  EXPECT_GT(nb_parsed - nb_planned, 20);
  EXPECT_LT(nb_parsed, 15000);
}

}  // namespace
}  // namespace vpipe::transform

namespace vpipe::transform {
namespace {

// vpipe knows which of its names ffmpeg also has without loading libavfilter; the list must be
// what libavfilter says.
TEST(FilterChainNamesTest, VpipesNamesThatFfmpegAlsoHasAreExactlyTheListedOnes) {
  for (const FilterInfo& f : filter_registry()) {
    EXPECT_EQ(is_ffmpeg_name(f.name), lavfi_has_filter(f.name)) << f.name;
  }
  EXPECT_TRUE(is_ffmpeg_name("scale"));
  EXPECT_FALSE(is_ffmpeg_name("resize"));
}

TEST(FilterChainNamesTest, WithoutFfmpegsFiltersTheirNamesAreUsageErrorsAndVpipesStillParse) {
  EXPECT_EQ(FilterChain::parse("resize=8x8,cv.gblur=2", /*ffmpeg_filters=*/false).describe(),
            "resize=8x8:interp=linear,cv.gblur=sigma=2");
  for (const char* spec : {"gblur=2", "scale=8:8", "nosuch", "[in]null[out]"}) {
    EXPECT_THAT(usage_error_of([&] { (void)FilterChain::parse(spec, false); }),
                HasSubstr("not taken here"))
        << spec;
  }
}

}  // namespace
}  // namespace vpipe::transform
