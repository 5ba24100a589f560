#include "plan/options.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/error.hpp"

namespace vpipe::plan {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string usage_error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no vpipe::Error was thrown";
  return {};
}

// ---- apply_config_file --------------------------------------------------------------------------

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "vpipe-options-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Writes `text` to `name` (which may name sub-folders) under the test's folder.
  std::string write(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path.string();
  }

  fs::path dir_;
};

TEST_F(ConfigFileTest, AppliesEveryKnownKey) {
  const std::string path = write("all.yaml",
                                 "input: /media/in.mp4\n"
                                 "output: out.mkv\n"
                                 "format: matroska\n"
                                 "vf: \"resize=1280x720,cv.gblur=1\"\n"
                                 "codec: libx265\n"
                                 "preset: slow\n"
                                 "crf: 20\n"
                                 "bitrate: 2M\n"
                                 "gop: 48\n"
                                 "codec_options:\n"
                                 "  tune: film\n"
                                 "  x265-params: \"aq-mode=3\"\n"
                                 "workers: 6\n"
                                 "affinity: none\n"
                                 "window: 12\n"
                                 "overwrite: true\n"
                                 "quiet: yes\n"
                                 "log_level: debug\n"
                                 "log_file: run.log\n"
                                 "stats_json: stats.json\n"
                                 "input_format: mpegts\n"
                                 "input_timeout: 3.5\n"
                                 "live: on\n"
                                 "realtime: true\n"
                                 "latency_budget: 150\n"
                                 "drop: newest\n"
                                 "drain_timeout: 12\n"
                                 "start: 1.5\n"
                                 "duration: 00:00:02\n"
                                 "rate: 30000/1001\n"
                                 "map: [\"0:v:1\", \"0:a:0\"]\n"
                                 "tee: udp://127.0.0.1:5000\n"
                                 "pix_fmt: yuv444p\n"
                                 "no_metadata: true\n"
                                 "audio_codec: libopus\n"
                                 "audio_bitrate: 96k\n"
                                 "input_options:\n"
                                 "  video_size: 640x480\n");
  RunOptions sut;

  apply_config_file(path, sut);

  EXPECT_EQ(sut.input, "/media/in.mp4");
  EXPECT_EQ(sut.output, "out.mkv");
  EXPECT_EQ(sut.format, "matroska");
  EXPECT_EQ(sut.vf, "resize=1280x720,cv.gblur=1");
  EXPECT_EQ(sut.codec, "libx265");
  EXPECT_EQ(sut.preset, "slow");
  EXPECT_EQ(sut.crf, 20);
  EXPECT_EQ(sut.bitrate, 2000000);
  EXPECT_EQ(sut.gop, 48);
  EXPECT_EQ(sut.codec_options,
            (std::map<std::string, std::string>{{"tune", "film"}, {"x265-params", "aq-mode=3"}}));
  EXPECT_EQ(sut.workers, 6);
  EXPECT_EQ(sut.affinity, "none");
  EXPECT_EQ(sut.window, 12);
  EXPECT_TRUE(sut.overwrite);
  EXPECT_TRUE(sut.quiet);
  EXPECT_EQ(sut.log_level, "debug");
  EXPECT_EQ(sut.log_file, "run.log");
  EXPECT_EQ(sut.stats_json, "stats.json");
  EXPECT_EQ(sut.input_format, "mpegts");
  EXPECT_EQ(sut.input_timeout_s, 3.5);
  EXPECT_EQ(sut.live, "on");
  EXPECT_TRUE(sut.realtime);
  EXPECT_EQ(sut.latency_budget_ms, 150);
  EXPECT_EQ(sut.drop, "newest");
  EXPECT_EQ(sut.drain_timeout_s, 12);
  EXPECT_EQ(sut.start_s, 1.5);
  EXPECT_EQ(sut.duration_s, 2.0);
  ASSERT_TRUE(sut.rate.has_value());
  EXPECT_EQ(sut.rate->num, 30000);
  EXPECT_EQ(sut.rate->den, 1001);
  EXPECT_EQ(sut.maps, (std::vector<std::string>{"0:v:1", "0:a:0"}));
  EXPECT_EQ(sut.tee, "udp://127.0.0.1:5000");
  EXPECT_EQ(sut.pix_fmt, "yuv444p");
  EXPECT_TRUE(sut.no_metadata);
  EXPECT_EQ(sut.audio_codec, "libopus");
  EXPECT_EQ(sut.audio_bitrate, 96000);
  EXPECT_EQ(sut.input_options, (std::map<std::string, std::string>{{"video_size", "640x480"}}));
}

TEST_F(ConfigFileTest, AKeyGivenTwiceIsAUsageErrorNamingIt) {
  const std::string path = write("twice.yaml", "crf: 20\npreset: slow\ncrf: 30\n");
  RunOptions sut;
  try {
    apply_config_file(path, sut);
    ADD_FAILURE() << "a key given twice was accepted (crf " << sut.crf.value_or(-1) << ")";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
    EXPECT_THAT(e.what(), HasSubstr("'crf' is given twice"));
  }
}

TEST_F(ConfigFileTest, KeysTheFileDoesNotNameKeepTheirValues) {
  const std::string path = write("crf.yaml", "crf: 30\n");
  RunOptions sut;
  sut.codec = "libvpx-vp9";
  sut.workers = 3;
  sut.output = "given.mp4";

  apply_config_file(path, sut);

  EXPECT_EQ(sut.crf, 30);
  EXPECT_EQ(sut.codec, "libvpx-vp9");
  EXPECT_EQ(sut.workers, 3);
  EXPECT_EQ(sut.output, "given.mp4");
}

TEST_F(ConfigFileTest, EmptyFileChangesNothing) {
  const std::string path = write("empty.yaml", "# only a comment\n");
  RunOptions sut;

  apply_config_file(path, sut);

  EXPECT_EQ(sut.codec, "") << "the default: chosen for the container";
  EXPECT_EQ(sut.input, "");
  EXPECT_FALSE(sut.crf);
}

TEST_F(ConfigFileTest, RelativeInputIsResolvedAgainstTheConfigFolder) {
  const std::string path = write("configs/run.yaml", "input: ../clips/in.mp4\noutput: out/o.mp4\n");
  RunOptions sut;

  apply_config_file(path, sut);

  EXPECT_EQ(sut.input, (dir_ / "clips" / "in.mp4").lexically_normal().string());
  EXPECT_EQ(sut.output, "out/o.mp4");  // outputs stay relative to the current folder
}

TEST_F(ConfigFileTest, AbsoluteInputsUrlsAndStdinAreKeptAsWritten) {
  for (const std::string input : {"/data/in.mp4", "rtsp://camera/stream", "-"}) {
    SCOPED_TRACE(input);
    const std::string path = write("configs/run.yaml", "input: \"" + input + "\"\n");
    RunOptions sut;

    apply_config_file(path, sut);

    EXPECT_EQ(sut.input, input);
  }
}

TEST_F(ConfigFileTest, UnknownKeyIsAUsageErrorNamingTheKey) {
  const std::string path = write("bad.yaml", "input: a.mp4\ncolour: red\n");
  RunOptions sut;

  const std::string message = usage_error_of([&] { apply_config_file(path, sut); });

  EXPECT_THAT(message, HasSubstr("unknown key 'colour'"));
  EXPECT_THAT(message, HasSubstr(path));
}

TEST_F(ConfigFileTest, MalformedYamlIsAUsageError) {
  for (const std::string text : {"input: [a.mp4\n", "input: a\n  - b: [\n", "crf: {\n"}) {
    SCOPED_TRACE(text);
    const std::string path = write("malformed.yaml", text);
    RunOptions sut;

    const std::string message = usage_error_of([&] { apply_config_file(path, sut); });

    EXPECT_THAT(message, HasSubstr("malformed"));
    EXPECT_THAT(message, HasSubstr(path));
  }
}

TEST_F(ConfigFileTest, MissingFileIsAUsageErrorNamingIt) {
  const std::string path = (dir_ / "absent.yaml").string();
  RunOptions sut;

  const std::string message = usage_error_of([&] { apply_config_file(path, sut); });

  EXPECT_THAT(message, HasSubstr(path));
}

TEST_F(ConfigFileTest, ValueOfTheWrongTypeIsAUsageErrorNamingTheKey) {
  for (const auto& [text, key] :
       std::vector<std::pair<std::string, std::string>>{{"crf: abc\n", "crf"},
                                                        {"workers: [1, 2]\n", "workers"},
                                                        {"overwrite: maybe\n", "overwrite"},
                                                        {"gop: 2.5\n", "gop"},
                                                        {"input: {a: b}\n", "input"}}) {
    SCOPED_TRACE(text);
    const std::string path = write("typed.yaml", text);
    RunOptions sut;

    const std::string message = usage_error_of([&] { apply_config_file(path, sut); });

    EXPECT_THAT(message, HasSubstr("'" + key + "'"));
  }
}

TEST_F(ConfigFileTest, BadBitrateIsAUsageError) {
  const std::string path = write("bitrate.yaml", "bitrate: fast\n");
  RunOptions sut;

  const std::string message = usage_error_of([&] { apply_config_file(path, sut); });

  EXPECT_THAT(message, HasSubstr("bitrate 'fast'"));
}

TEST_F(ConfigFileTest, FileThatIsNotAMapIsAUsageError) {
  const std::string path = write("list.yaml", "- input\n- output\n");
  RunOptions sut;

  const std::string message = usage_error_of([&] { apply_config_file(path, sut); });

  EXPECT_THAT(message, HasSubstr("must be a map"));
}

TEST_F(ConfigFileTest, CodecOptionsThatAreNotAMapAreAUsageError) {
  const std::string path = write("opts.yaml", "codec_options: tune=film\n");
  RunOptions sut;

  const std::string message = usage_error_of([&] { apply_config_file(path, sut); });

  EXPECT_THAT(message, HasSubstr("codec_options must be a map"));
}

// ---- parse_bitrate ------------------------------------------------------------------------------

TEST(ParseBitrateTest, ReadsPlainAndSuffixedRates) {
  EXPECT_EQ(parse_bitrate("2M"), 2000000);
  EXPECT_EQ(parse_bitrate("2m"), 2000000);
  EXPECT_EQ(parse_bitrate("800k"), 800000);
  EXPECT_EQ(parse_bitrate("800K"), 800000);
  EXPECT_EQ(parse_bitrate("1500"), 1500);
  EXPECT_EQ(parse_bitrate("1.5M"), 1500000);
  EXPECT_EQ(parse_bitrate("1G"), 1000000000);
}

TEST(ParseBitrateTest, ZeroIsNoTargetAsFfmpegsBv0) {
  EXPECT_EQ(parse_bitrate("0"), 0);
  RunOptions o;
  o.input = "in.mp4";
  o.output = "out.webm";
  o.crf = 33;
  o.bitrate = 0;
  EXPECT_NO_THROW(validate(o));  // -b:v 0 -crf 33: constant quality
  o.bitrate = 1000000;
  EXPECT_THAT(usage_error_of([&] { validate(o); }), HasSubstr("conflict"));
}

TEST(ParseBitrateTest, RejectsWhatIsNotARate) {
  for (const std::string text : {"", "abc", "2X", "-5", "0.5", "k", "2MM", "2 M", "1e12"}) {
    SCOPED_TRACE("'" + text + "'");

    const std::string message = usage_error_of([&] { (void)parse_bitrate(text); });

    EXPECT_THAT(message, HasSubstr("bitrate '" + text + "'"));
  }
}

// ---- validate -----------------------------------------------------------------------------------

RunOptions valid_options() {
  RunOptions options;
  options.input = "in.mp4";
  options.output = "out.mp4";
  return options;
}

TEST(ValidateTest, AcceptsMinimalOptions) {
  EXPECT_NO_THROW(validate(valid_options()));
}

TEST(ValidateTest, RejectsBadLiveSettingsNamingTheFlag) {
  const std::pair<std::function<void(RunOptions&)>, std::string> cases[] = {
      {[](RunOptions& o) { o.live = "sometimes"; }, "--live"},
      {[](RunOptions& o) { o.latency_budget_ms = 0; }, "--latency-budget"},
      {[](RunOptions& o) { o.latency_budget_ms = -5; }, "--latency-budget"},
      {[](RunOptions& o) { o.drop = "sideways"; }, "--drop"},
      {[](RunOptions& o) { o.input_timeout_s = -1; }, "--input-timeout"},
      {[](RunOptions& o) {
         o.realtime = true;
         o.live = "off";
       },
       "--realtime"},
  };
  for (const auto& [change, flag] : cases) {
    RunOptions sut = valid_options();
    change(sut);
    EXPECT_THAT(usage_error_of([&] { validate(sut); }), HasSubstr(flag));
  }
}

TEST(ValidateTest, AcceptsLiveSettingsInRange) {
  RunOptions sut = valid_options();
  sut.live = "on";
  sut.realtime = true;
  sut.latency_budget_ms = 80;
  sut.drop = "newest";
  sut.input_timeout_s = 0;
  EXPECT_NO_THROW(validate(sut));
}

TEST(ValidateTest, AcceptsZeroWorkersAsAutomaticAndUpToSixtyFour) {
  for (int workers : {0, 1, 64}) {
    RunOptions sut = valid_options();
    sut.workers = workers;

    EXPECT_NO_THROW(validate(sut)) << workers;
  }
}

TEST(ValidateTest, RejectsWorkersOutOfRange) {
  for (int workers : {-1, 65}) {
    RunOptions sut = valid_options();
    sut.workers = workers;

    const std::string message = usage_error_of([&] { validate(sut); });

    EXPECT_THAT(message, HasSubstr("--workers " + std::to_string(workers)));
  }
}

TEST(ValidateTest, RejectsCrfWithBitrate) {
  RunOptions sut = valid_options();
  sut.crf = 23;
  sut.bitrate = 2000000;

  const std::string message = usage_error_of([&] { validate(sut); });

  EXPECT_THAT(message, HasSubstr("conflict"));
}

TEST(ValidateTest, AcceptsCrfOrBitrateAlone) {
  RunOptions crf = valid_options();
  crf.crf = 23;
  RunOptions bitrate = valid_options();
  bitrate.bitrate = 2000000;

  EXPECT_NO_THROW(validate(crf));
  EXPECT_NO_THROW(validate(bitrate));
}

TEST(ValidateTest, RejectsEmptyInput) {
  RunOptions sut = valid_options();
  sut.input.clear();

  EXPECT_THAT(usage_error_of([&] { validate(sut); }), HasSubstr("no input"));
}

TEST(ValidateTest, RejectsEmptyOutput) {
  RunOptions sut = valid_options();
  sut.output.clear();

  EXPECT_THAT(usage_error_of([&] { validate(sut); }), HasSubstr("no output"));
}

TEST(ValidateTest, AcceptsAutoNoneAndExplicitAffinity) {
  for (const std::string affinity : {"auto", "none", "decode=0;xform=1-3;encode=4"}) {
    RunOptions sut = valid_options();
    sut.affinity = affinity;

    EXPECT_NO_THROW(validate(sut)) << affinity;
  }
}

TEST(ValidateTest, RejectsBadAffinity) {
  for (const std::string affinity : {"fast", "", "0-3"}) {
    RunOptions sut = valid_options();
    sut.affinity = affinity;

    const std::string message = usage_error_of([&] { validate(sut); });

    EXPECT_THAT(message, HasSubstr("--affinity '" + affinity + "'"));
  }
}

TEST(ValidateTest, RejectsOtherValuesOutOfRange) {
  const std::vector<std::pair<std::function<void(RunOptions&)>, std::string>> cases = {
      {[](RunOptions& o) { o.crf = 64; }, "--crf 64"},
      {[](RunOptions& o) { o.crf = -1; }, "--crf -1"},
      {[](RunOptions& o) { o.gop = 0; }, "-g 0"},
      {[](RunOptions& o) { o.window = -1; }, "--window -1"},
      {[](RunOptions& o) { o.window = 1025; }, "--window 1025"},
      {[](RunOptions& o) { o.log_level = "loud"; }, "--log-level 'loud'"}};
  for (const auto& [change, named] : cases) {
    SCOPED_TRACE(named);
    RunOptions sut = valid_options();
    change(sut);

    EXPECT_THAT(usage_error_of([&] { validate(sut); }), HasSubstr(named));
  }
}

TEST(ConfigKeyTest, KeysThatAreNotPlainNamesAreAUsageError) {
  for (const char* text : {"[input]: x.mp4\n", "codec_options:\n  [a, b]: 1\n"}) {
    char dir[] = "/tmp/vpipe-keys-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    const std::string file = std::string(dir) + "/c.yaml";
    std::ofstream(file) << text;
    vpipe::plan::RunOptions sut;
    try {
      vpipe::plan::apply_config_file(file, sut);
      ADD_FAILURE() << "accepted " << text;
    } catch (const vpipe::Error& e) {
      EXPECT_EQ(e.code(), vpipe::ExitCode::kUsage);
      EXPECT_NE(std::string(e.what()).find("not a plain name"), std::string::npos) << e.what();
    }
    std::filesystem::remove_all(dir);
  }
}

}  // namespace
}  // namespace vpipe::plan
