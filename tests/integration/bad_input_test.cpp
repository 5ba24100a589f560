// Bad input of every kind: a one-line error naming the problem, the documented exit code, no
// crash, no hang, no shared memory left behind.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "support/media.hpp"
#include "support/vpipe_process.hpp"

namespace vpipe::test {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kSample = std::string(VPIPE_SOURCE_DIR) + "/samples/sample.mp4";

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = make_temp_dir(); }
  void TearDown() override {
    EXPECT_EQ(processes_holding_run_segments(), 0);
    std::filesystem::remove_all(dir_);
  }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string write(const std::string& name, const std::string& bytes) const {
    std::ofstream(path(name), std::ios::binary) << bytes;
    return path(name);
  }
  // Expects exactly one line on stderr, starting "vpipe: error:", containing `needle`.
  void expect_error(const std::vector<std::string>& args, int code, const std::string& needle) {
    const RunResult r = run_vpipe(args, 30);
    EXPECT_EQ(r.exit_code, code) << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_THAT(r.err, StartsWith("vpipe: error:"));
    EXPECT_THAT(r.err, HasSubstr(needle));
  }
  std::string dir_;
};

TEST_F(BadInputTest, MissingFile) {
  expect_error({"run", "-i", path("nope.mp4"), "-o", path("o.mp4")}, 3, "No such file");
}

// Writing over the file being read would destroy it; -y does not make that wanted.
TEST_F(BadInputTest, OutputThatIsTheInputIsRefusedAndTheInputKept) {
  std::filesystem::copy_file(kSample, path("in.mp4"));
  std::filesystem::create_symlink(path("in.mp4"), path("link.mp4"));
  for (const std::string out : {"in.mp4", "link.mp4"}) {
    SCOPED_TRACE(out);
    expect_error({"run", "-y", "-i", path("in.mp4"), "-o", path(out)}, 2, "is the input file");
    EXPECT_EQ(read_file(path("in.mp4")), read_file(kSample)) << "the input is untouched";
  }
}

// A container that refuses the stream only when its header is written (MXF has no list of the
// codecs it holds): a usage error as the up-front check's are, with libav's reason in the one
// line, and no empty file left behind.
TEST_F(BadInputTest, HeaderTheContainerRefusesLeavesNoFile) {
  expect_error({"run", "-i", kSample, "-an", "-c:v", "mpeg4", "-o", path("out.mxf")}, 2,
               "the mxf container refuses this stream: track 0: could not find essence container");
  EXPECT_FALSE(std::filesystem::exists(path("out.mxf")));
}

// An encoder library that prints its own error past libav (libx264's "x264 [error]: invalid
// preset", or a failed malloc) and libav's reason for the refusal: both in the one error line.
TEST_F(BadInputTest, AnEncoderLibrarysOwnErrorIsPartOfTheOneErrorLine) {
  expect_error(
      {"run", "-i", kSample, "-an", "-c:v", "libx264", "-preset", "bogus", "-o", path("out.mp4")},
      2, "Error setting preset/tune bogus/(null); libx264: invalid preset 'bogus'");
  expect_error({"run", "-i", kSample, "-an", "-c:v", "libx264", "-profile:v", "bogus", "-o",
                path("out.mkv")},
               2, "libx264: invalid profile: bogus");
}

// A stream copy opens its input twice (a probe, then the copy): stdin is refused up front, before
// the probe reads the start of it.
TEST_F(BadInputTest, AStreamCopyFromStdinIsRefusedBeforeReadingIt) {
  expect_error({"run", "-i", "-", "-c", "copy", "-o", path("out.mkv")}, 2,
               "-c copy cannot read a pipe (stdin)");
  EXPECT_FALSE(std::filesystem::exists(path("out.mkv")));
}

// MPEG-2 video and MXF take only a frame rate as their time base; an MP4's is 1/15360. Both
// used to fail ("MPEG-1/2 does not support 15360/1 fps", MXF's "Unsupported frame rate").
TEST_F(BadInputTest, Mpeg2VideoAndMxfGetAFrameRateTimeBase) {
  const std::size_t frames = decode_video(kSample).nb_frames();
  for (const auto& [codec, out] : std::vector<std::pair<std::string, std::string>>{
           {"mpeg2video", "out.mpg"}, {"mpeg2video", "out.mxf"}, {"mpeg2video", "out.ts"}}) {
    SCOPED_TRACE(out);
    const RunResult r =
        run_vpipe({"run", "-q", "-i", kSample, "-an", "-c:v", codec, "-o", path(out)}, 60);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(decode_video(path(out)).nb_frames(), frames);
  }
}

// A failed run that wrote no frame leaves no header-only file behind; a file it never wrote
// (the encoder failed before opening it) is kept.
TEST_F(BadInputTest, FailedRunWithoutFramesLeavesNoOutputButKeepsAnOldOne) {
  // A source with no frame at all: the run starts, and fails without one.
  expect_error({"run", "-i", "testsrc:size=160x120:duration=0", "-o", path("none.mp4")}, 3,
               "no video frame could be decoded");
  EXPECT_FALSE(std::filesystem::exists(path("none.mp4")));
  std::filesystem::copy_file(kSample, path("old.mp4"));
  expect_error({"run", "-y", "-i", kSample, "-o", path("old.mp4"), "--codec-opt", "bogus=1"}, 2,
               "no option(s): bogus");
  EXPECT_EQ(read_file(path("old.mp4")), read_file(kSample));
}

// What a run can only do at its end is checked at its start: a report that cannot be written,
// a codec the container cannot hold (a GIF muxer does not say so itself): usage errors, exit 2,
// before any process starts and before any output is created.
TEST_F(BadInputTest, WhatARunWouldFailAtItsEndIsAUsageErrorAtItsStart) {
  expect_error(
      {"run", "-i", kSample, "-o", path("out.mp4"), "--stats-json", "/proc/vpipe-none/stats.json"},
      2, "--stats-json '/proc/vpipe-none/stats.json' cannot be written");
  EXPECT_FALSE(std::filesystem::exists(path("out.mp4")));
  expect_error({"run", "-i", kSample, "-o", path("out.gif"), "-c:v", "libx264"}, 2,
               "the gif container cannot hold libx264");
  EXPECT_FALSE(std::filesystem::exists(path("out.gif")));
  expect_error({"run", "-i", kSample, "-o", path("out.mkv"), "--window", "-1"}, 2,
               "out of range 1..1024 (0: from the plan)");
}

TEST_F(BadInputTest, Directory) {
  expect_error({"run", "-i", dir_, "-o", path("o.mp4")}, 3, "is a directory");
}

TEST_F(BadInputTest, EmptyFile) {
  expect_error({"run", "-i", write("empty.mp4", ""), "-o", path("o.mp4")}, 3, "empty");
}

TEST_F(BadInputTest, RandomBytes) {
  std::mt19937 rng(7);
  std::string bytes(64 * 1024, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  expect_error({"run", "-i", write("random.mp4", bytes), "-o", path("o.mp4")}, 3,
               "not a recognised media file");
}

TEST_F(BadInputTest, TruncatedMp4WithoutItsIndex) {
  // The sample is faststart (index first): keep only the tail, so the moov box is gone.
  const std::string data = read_file(kSample);
  expect_error({"run", "-i", write("cut.mp4", data.substr(data.size() / 2)), "-o", path("o.mp4")},
               3, "moov atom not found");
}

TEST_F(BadInputTest, AudioOnlyFile) {
  ASSERT_EQ(shell("ffmpeg -v error -y -f lavfi -i sine=duration=1 " + path("a.wav")), 0);
  expect_error({"run", "-i", path("a.wav"), "-o", path("o.mp4")}, 3, "no video stream");
}

TEST_F(BadInputTest, UnknownFilter) {
  expect_error({"run", "-i", kSample, "-o", path("o.mp4"), "--vf", "sharpen9"}, 2,
               "unknown filter 'sharpen9'");
}

TEST_F(BadInputTest, ZeroSizeResize) {
  expect_error({"run", "-i", kSample, "-o", path("o.mp4"), "--vf", "resize=0x0"}, 2, "resize");
}

TEST_F(BadInputTest, BadFilterArgument) {
  expect_error({"run", "-i", kSample, "-o", path("o.mp4"), "--vf", "cv.gblur=sigma=fast"}, 2,
               "sigma");
}

TEST_F(BadInputTest, HugeGeometry) {
  expect_error({"run", "-i", kSample, "-o", path("o.mp4"), "--vf", "resize=100000x100000"}, 2,
               "1..16384");
}

TEST_F(BadInputTest, PoolTooLargeForMemory) {
  expect_error(
      {"run", "-i", kSample, "-o", path("o.mp4"), "--vf", "resize=16000x16000", "--window", "1000"},
      2, "exceeds");
}

TEST_F(BadInputTest, ZeroWorkers) {
  expect_error({"run", "-i", kSample, "-o", path("o.mp4"), "--workers", "0"}, 2, "--workers");
}

TEST_F(BadInputTest, HugeWorkers) {
  expect_error({"run", "-i", kSample, "-o", path("o.mp4"), "--workers", "100000"}, 2, "--workers");
}

TEST_F(BadInputTest, UnknownOption) {
  expect_error({"run", "--frobnicate"}, 2, "frobnicate");
}

TEST_F(BadInputTest, MalformedConfig) {
  expect_error({"run", "--config", write("bad.yaml", "input: [unclosed\n")}, 2, "malformed");
}

TEST_F(BadInputTest, ConfigWithUnknownKey) {
  expect_error({"run", "--config", write("bad.yaml", "input: x.mp4\nspeed: 11\n")}, 2,
               "unknown key 'speed'");
}

TEST_F(BadInputTest, ConflictingRateControl) {
  expect_error({"run", "-i", kSample, "-o", path("o.mp4"), "--crf", "20", "-b:v", "2M"}, 2,
               "conflict");
}

TEST_F(BadInputTest, OutputFolderMissing) {
  expect_error({"run", "-i", kSample, "-o", path("no/such/dir/o.mp4")}, 4, "does not exist");
}

TEST_F(BadInputTest, OutputExistsWithoutOverwrite) {
  expect_error({"run", "-i", kSample, "-o", write("o.mp4", "keep me")}, 4, "-y");
  EXPECT_EQ(read_file(path("o.mp4")), "keep me");
}

TEST_F(BadInputTest, UnknownEncoder) {
  expect_error({"run", "-i", kSample, "-o", path("o.mp4"), "-c:v", "nosuchcodec"}, 2,
               "nosuchcodec");
}

TEST_F(BadInputTest, CodecTheContainerCannotHold) {
  expect_error({"run", "-i", kSample, "-o", path("o.mp4"), "-c:v", "ffv1"}, 2,
               "mp4 container cannot hold ffv1");
  EXPECT_FALSE(std::filesystem::exists(path("o.mp4"))) << "found out before anything was written";
}

TEST_F(BadInputTest, UnknownContainer) {
  expect_error({"run", "-i", kSample, "-o", path("o.notacontainer")}, 2, "container");
}

TEST_F(BadInputTest, EncoderOptionRejectedInsideTheEncodeStage) {
  // Only the encode process can tell: the error still comes back as one line, nothing leaks.
  expect_error({"run", "-i", kSample, "-o", path("o.mp4"), "--codec-opt", "nosuchoption=1"}, 2,
               "encode: encoder libx264 has no option(s): nosuchoption");
}

}  // namespace
}  // namespace vpipe::test
