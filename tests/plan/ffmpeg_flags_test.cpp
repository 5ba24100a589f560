// ffmpeg's spellings on vpipe's command line: what each becomes, what is passed through to the
// encoder or the muxer as ffmpeg would, and what is refused (in one line, naming the flag).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/error.hpp"
#include "plan/run_flags.hpp"

namespace vpipe::plan {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Args = std::vector<std::string>;

std::string refusal(const Args& args) {
  try {
    (void)translate_ffmpeg_spellings(args);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
    return e.what();
  }
  ADD_FAILURE() << "accepted";
  return {};
}

TEST(FfmpegFlagsTest, ThreadsIsAnEncoderOptionNeverMinusTWithHreads) {
  EXPECT_THAT(translate_ffmpeg_spellings({"run", "-i", "in.mp4", "-threads", "2", "-o", "o.mp4"}),
              ElementsAre("run", "-i", "in.mp4", "--codec-opt", "threads=2", "-o", "o.mp4"));
}

// As in ffmpeg, -threads before -i sets the decoder's threads.
TEST(FfmpegFlagsTest, ThreadsBeforeTheInputIsTheDecoders) {
  EXPECT_THAT(translate_ffmpeg_spellings(
                  {"run", "-threads", "1", "-i", "in.mp4", "-threads", "4", "-o", "o.mp4"}),
              ElementsAre("run", "--decoder-threads", "1", "-i", "in.mp4", "--codec-opt",
                          "threads=4", "-o", "o.mp4"));
  // ffmpeg's -threads 0 is its default, automatic: vpipe's auto.
  EXPECT_EQ(parse_run_args({"--decoder-threads", "0", "-i", "in.mp4"}).decoder_threads, 0);
  EXPECT_EQ(parse_run_args({"--decoder-threads", "3", "-i", "in.mp4"}).decoder_threads, 3);
}

TEST(FfmpegFlagsTest, CommonSpellingsBecomeVpipeFlags) {
  EXPECT_THAT(translate_ffmpeg_spellings({"run",     "-i",        "a",         "-crf",  "20",
                                          "-preset", "fast",      "-frames:v", "1",     "-to",
                                          "70",      "-n",        "-s",        "hd720", "-metadata",
                                          "title=T", "-loglevel", "warning",   "-o",    "b"}),
              ElementsAre("run", "-i", "a", "--crf", "20", "--preset", "fast", "--frames", "1",
                          "--to", "70", "--no-overwrite", "--size", "hd720", "--metadata",
                          "title=T", "--log-level", "warn", "-o", "b"));
}

TEST(FfmpegFlagsTest, EncoderAndMuxerOptionsPassThroughAsFfmpegPassesThem) {
  EXPECT_THAT(translate_ffmpeg_spellings({"run", "-i", "a", "-tune", "film", "-profile:v", "high",
                                          "-x264-params", "keyint=60", "-movflags", "+faststart",
                                          "-hls_time", "4", "-o", "b"}),
              ElementsAre("run", "-i", "a", "--codec-opt", "tune=film", "--codec-opt",
                          "profile=high", "--codec-opt", "x264-params=keyint=60", "--muxer-opt",
                          "movflags=+faststart", "--muxer-opt", "hls_time=4", "-o", "b"));
}

TEST(FfmpegFlagsTest, NoOpsAreDroppedAndCopyCopiesEveryStream) {
  EXPECT_THAT(translate_ffmpeg_spellings({"run", "-hide_banner", "-nostdin", "-i", "a", "-c",
                                          "copy", "-stats", "-o", "b"}),
              ElementsAre("run", "-i", "a", "--codec", "copy", "--audio-codec", "copy", "-o", "b"));
}

TEST(FfmpegFlagsTest, TheLastArgumentIsTheOutputAsInFfmpeg) {
  EXPECT_THAT(translate_ffmpeg_spellings({"run", "-i", "in.mp4", "-vf", "hflip", "out.mkv"}),
              ElementsAre("run", "-i", "in.mp4", "--vf", "hflip", "-o", "out.mkv"));
  // A flag's value is never taken for the output, nor read as a flag.
  EXPECT_THAT(translate_ffmpeg_spellings({"run", "-i", "in.mp4", "--map-metadata", "-1"}),
              ElementsAre("run", "-i", "in.mp4", "--map-metadata", "-1"));
}

TEST(FfmpegFlagsTest, FormatBeforeTheInputIsTheInputsFormat) {
  EXPECT_THAT(translate_ffmpeg_spellings({"run", "-f", "v4l2", "-i", "/dev/video0", "-f", "mpegts",
                                          "-o", "udp://127.0.0.1:5000"}),
              ElementsAre("run", "--input-format", "v4l2", "-i", "/dev/video0", "-f", "mpegts",
                          "-o", "udp://127.0.0.1:5000"));
}

TEST(FfmpegFlagsTest, UnknownAndUnsupportedFlagsAreRefusedNamingThem) {
  EXPECT_THAT(refusal({"run", "-i", "a", "-frobnicate", "3"}),
              HasSubstr("unknown option -frobnicate"));
  EXPECT_THAT(refusal({"run", "-i", "a", "-filter_complex", "x"}), HasSubstr("use --vf"));
  EXPECT_THAT(refusal({"run", "-i", "a", "-vsync", "cfr"}), HasSubstr("-r RATE"));
  EXPECT_THAT(refusal({"run", "-i", "a", "-af", "volume=2"}), HasSubstr("-af is not supported"));
  EXPECT_THAT(refusal({"run", "-i", "a", "-crf"}), HasSubstr("-crf needs a value"));
}

}  // namespace
}  // namespace vpipe::plan
