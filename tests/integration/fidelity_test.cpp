// What a transcode keeps, checked by reading the output back with libav: container tags,
// colour description, sample aspect ratio, rotation, pixel formats, -ss/-t ranges (against the
// ffmpeg CLI on the same input), and the 10-bit warning. Inputs are made here with ffmpeg.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

extern "C" {
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
}

#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>

#include "support/media.hpp"
#include "support/run_dir_test.hpp"
#include "support/vpipe_process.hpp"

namespace vpipe::test {
namespace {

using ::testing::HasSubstr;

// The video stream's description as a player sees it.
struct VideoStream {
  std::map<std::string, std::string> tags;  // the container's
  std::string pix_fmt, color_range, color_primaries, color_trc, colorspace;
  AVRational sar{0, 1};
  bool has_rotation = false;
  double rotation = 0;
};

VideoStream read_stream(const std::string& path) {
  VideoStream v;
  AVFormatContext* fmt = nullptr;
  if (avformat_open_input(&fmt, path.c_str(), nullptr, nullptr) < 0) {
    ADD_FAILURE() << "cannot open " << path;
    return v;
  }
  avformat_find_stream_info(fmt, nullptr);
  const AVDictionaryEntry* tag = nullptr;
  while ((tag = av_dict_get(fmt->metadata, "", tag, AV_DICT_IGNORE_SUFFIX)) != nullptr)
    v.tags[tag->key] = tag->value;
  const int idx = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (idx >= 0) {
    const AVStream* st = fmt->streams[idx];
    const AVCodecParameters* par = st->codecpar;
    const char* name = av_get_pix_fmt_name(static_cast<AVPixelFormat>(par->format));
    v.pix_fmt = name ? name : "";
    v.color_range = av_color_range_name(par->color_range);
    v.color_primaries = av_color_primaries_name(par->color_primaries);
    v.color_trc = av_color_transfer_name(par->color_trc);
    v.colorspace = av_color_space_name(par->color_space);
    v.sar = st->sample_aspect_ratio.num ? st->sample_aspect_ratio : par->sample_aspect_ratio;
    std::size_t size = 0;
    const std::uint8_t* m = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
    if (m != nullptr && size >= 36) {
      v.has_rotation = true;
      v.rotation = av_display_rotation_get(reinterpret_cast<const std::int32_t*>(m));
    }
  }
  avformat_close_input(&fmt);
  return v;
}

class FidelityTest : public RunDirTest {
 protected:
  void ffmpeg(const std::string& args) {
    ASSERT_EQ(shell("ffmpeg -v error -y " + args), 0) << args;
  }
  RunResult vpipe_ok(std::vector<std::string> args) {
    args.insert(args.begin(), {"run", "-q", "-y"});
    RunResult r = run_vpipe(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r;
  }
  // 2 s of 320x240 H.264 with AAC, tagged BT.709 limited range, 4:3 pixels (16:9 display),
  // a title and a creation time, and a 90 degree rotation.
  std::string tagged_input() {
    ffmpeg(
        "-f lavfi -i testsrc=size=320x240:rate=25:duration=2 -f lavfi -i sine=d=2 -c:v libx264 "
        "-pix_fmt yuv420p -color_primaries bt709 -color_trc bt709 -colorspace bt709 "
        "-color_range tv -aspect 16:9 -c:a aac " +
        path("plain.mp4"));
    // ffmpeg 5.1 writes rotation only when stream-copying (and drops creation_time then).
    ffmpeg("-i " + path("plain.mp4") +
           " -c copy -metadata:s:v:0 rotate=90 -metadata title=Harbour "
           "-metadata creation_time=2024-01-02T03:04:05Z " +
           path("in.mp4"));
    return path("in.mp4");
  }
};

TEST_F(FidelityTest, TagsColourAspectRatioAndRotationAreCarriedIntoMp4) {
  const std::string in = tagged_input();
  const VideoStream src = read_stream(in);
  ASSERT_TRUE(src.has_rotation) << "the test input must carry rotation";
  ASSERT_EQ(src.tags.count("creation_time"), 1u) << "and a creation time";
  vpipe_ok({"-i", in, "-o", path("out.mp4")});
  VideoStream out = read_stream(path("out.mp4"));
  EXPECT_EQ(out.tags["title"], "Harbour");
  EXPECT_THAT(out.tags["creation_time"], HasSubstr("2024-01-02T03:04:05"));
  EXPECT_EQ(out.color_primaries, "bt709");
  EXPECT_EQ(out.color_trc, "bt709");
  EXPECT_EQ(out.colorspace, "bt709");
  EXPECT_EQ(out.color_range, "tv");
  EXPECT_EQ(av_cmp_q(out.sar, src.sar), 0) << out.sar.num << ":" << out.sar.den;
  ASSERT_TRUE(out.has_rotation);
  EXPECT_DOUBLE_EQ(out.rotation, src.rotation);
}

TEST_F(FidelityTest, MapMetadataMinusOneDropsTagsAndRotationButKeepsColour) {
  const std::string in = tagged_input();
  vpipe_ok({"-i", in, "-o", path("out.mp4"), "-map_metadata", "-1"});
  const VideoStream out = read_stream(path("out.mp4"));
  EXPECT_EQ(out.tags.count("title"), 0u);
  EXPECT_EQ(out.tags.count("creation_time"), 0u);
  EXPECT_FALSE(out.has_rotation);
  EXPECT_EQ(out.colorspace, "bt709") << "colour describes the pixels: it stays";
}

// -aspect sets the display shape as the ffmpeg CLI's does: after the chain, re-encoded or copied.
TEST_F(FidelityTest, AspectSetsTheDisplayShapeAsTheFfmpegCliDoes) {
  ffmpeg("-f lavfi -i testsrc=size=320x240:rate=25:duration=1 -c:v libx264 " + path("in.mp4"));
  struct Case {
    std::vector<std::string> vpipe;
    std::string ffmpeg;
    std::string out;
  };
  const std::vector<Case> cases = {
      {{"-aspect", "16:9"}, "-aspect 16:9", "wide.mp4"},
      {{"-aspect", "1.7778", "--vf", "scale=160:240"},
       "-aspect 1.7778 -vf scale=160:240",
       "narrow.mkv"},
      {{"-aspect", "16:9", "-c", "copy"}, "-aspect 16:9 -c copy", "copy.mkv"},
      {{"-aspect", "21:9", "-c", "copy"}, "-aspect 21:9 -c copy", "copy.mp4"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.ffmpeg);
    std::vector<std::string> args = {"-i", path("in.mp4"), "-o", path(c.out)};
    args.insert(args.end(), c.vpipe.begin(), c.vpipe.end());
    vpipe_ok(args);
    ffmpeg("-i " + path("in.mp4") + " " + c.ffmpeg + " " + path("ff-" + c.out));
    const AVRational ours = read_stream(path(c.out)).sar,
                     theirs = read_stream(path("ff-" + c.out)).sar;
    EXPECT_EQ(av_cmp_q(ours, theirs), 0)
        << ours.num << ":" << ours.den << " vs " << theirs.num << ":" << theirs.den;
    EXPECT_NE(av_cmp_q(ours, AVRational{1, 1}), 0);
  }
  const RunResult bad =
      run_vpipe({"run", "-i", path("in.mp4"), "-aspect", "0", "-o", path("x.mp4")});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("-aspect '0' is not an aspect ratio"));
}

TEST_F(FidelityTest, AResizeKeepsTheDisplayShapeThroughTheSampleAspectRatio) {
  const std::string in = tagged_input();  // 320x240 with 4:3 pixels: 16:9 on screen
  ffmpeg("-i " + in + " -c copy -metadata:s:v:0 rotate=0 " + path("upright.mp4"));
  vpipe_ok({"-i", path("upright.mp4"), "-o", path("out.mkv"), "--vf", "resize=160x240"});
  // 160x240 must show 16:9 too: pixels 8:3 wide.
  const VideoStream out = read_stream(path("out.mkv"));
  EXPECT_EQ(av_cmp_q(out.sar, AVRational{8, 3}), 0) << out.sar.num << ":" << out.sar.den;
  // Turned a quarter (the input's rotation), the picture is 9:16 on screen, 240x320 with 3:4
  // pixels; 160x240 shows 9:16 with 27:32 pixels.
  vpipe_ok({"-i", in, "-o", path("turned.mkv"), "--vf", "resize=160x240"});
  const VideoStream turned = read_stream(path("turned.mkv"));
  EXPECT_EQ(av_cmp_q(turned.sar, AVRational{27, 32}), 0) << turned.sar.num << ":" << turned.sar.den;
}

// A rotated phone clip: where the output cannot say how to show it (Matroska, in FFmpeg 5.1),
// the pixels are turned (as ffmpeg's autorotate); sizes follow the picture as it is seen; and a
// turned picture never keeps the rotation side data (no double rotation).
TEST_F(FidelityTest, ARotatedInputIsShownUprightWhereverItGoes) {
  const std::string in = tagged_input();  // 320x240, shown a quarter turn clockwise
  vpipe_ok({"-i", in, "-o", path("out.mkv"), "-c:v", "ffv1"});
  ffmpeg("-i " + in + " -an -c:v ffv1 " + path("ref.mkv"));
  const DecodedVideo got = decode_video(path("out.mkv"));
  EXPECT_EQ(got.width, 240);
  EXPECT_EQ(got.height, 320);
  EXPECT_FALSE(read_stream(path("out.mkv")).has_rotation);
  EXPECT_EQ(got.checksums, decode_video(path("ref.mkv")).checksums)
      << "the same pictures as ffmpeg's autorotate";

  // resize=640x-1 is 640 wide as seen, even into MP4 (which could have kept the side data).
  vpipe_ok({"-i", in, "-o", path("wide.mp4"), "--vf", "resize=640x-1"});
  const DecodedVideo wide = decode_video(path("wide.mp4"));
  EXPECT_EQ(wide.width, 640);
  EXPECT_EQ(wide.height, 854);
  EXPECT_FALSE(read_stream(path("wide.mp4")).has_rotation) << "turned once, not twice";

  // -noautorotate: the pixels as coded (and into Matroska, no rotation at all).
  vpipe_ok({"-i", in, "-o", path("coded.mkv"), "-noautorotate"});
  EXPECT_EQ(decode_video(path("coded.mkv")).width, 320);

  // A filter that turns works on the upright picture; the side data is not kept either.
  vpipe_ok({"-i", in, "-o", path("back.mp4"), "--vf", "cv.rotate=270"});
  const DecodedVideo back = decode_video(path("back.mp4"));
  EXPECT_EQ(back.width, 320);
  EXPECT_EQ(back.height, 240);
  EXPECT_FALSE(read_stream(path("back.mp4")).has_rotation);
}

// Full-range pictures (JPEG's yuvj formats, and H.264/HEVC flagged full range, which libav
// decodes into them) become limited range, and the output says limited: black is 16, not 0.
TEST_F(FidelityTest, FullRangeInputsBecomeLimitedRangeTaggedSoInEveryContainer) {
  const std::string black = "-f lavfi -i color=c=black:size=64x64:d=0.2,format=yuvj420p ";
  ffmpeg(black + "-c:v mjpeg " + path("mjpeg.avi"));
  ffmpeg(black + "-c:v libx264 " + path("h264.mp4"));
  ffmpeg(black + "-c:v libx265 -x265-params log-level=error " + path("hevc.mkv"));
  for (const std::string in : {"mjpeg.avi", "h264.mp4", "hevc.mkv"}) {
    for (const std::string out : {"out.mkv", "out.mp4"}) {
      SCOPED_TRACE(in + " -> " + out);
      vpipe_ok({"-i", path(in), "-o", path(out)});
      // "unknown": H.264 without a signal type in its VUI, which the standard reads as limited
      // (x264 writes one only when some colour property is given).
      EXPECT_THAT(read_stream(path(out)).color_range, ::testing::AnyOf("tv", "unknown"));
      const DecodedVideo v = decode_video(path(out), /*keep_pixels=*/true);
      ASSERT_FALSE(v.frames.empty());
      EXPECT_NEAR(v.frames[0][0], 16, 1) << "black in limited range";
    }
  }
}

TEST_F(FidelityTest, TenBitInputIsDecodedWholeWithAWarningThatTheOutputIs8Bit) {
  ffmpeg("-f lavfi -i testsrc=size=320x240:rate=25:duration=1 -pix_fmt yuv420p10le -c:v libx264 " +
         path("ten.mkv"));
  const RunResult r = run_vpipe(
      {"run", "-i", path("ten.mkv"), "-o", path("out.mkv"), "-c:v", "ffv1", "--progress", "none"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("10-bit"));
  EXPECT_THAT(r.err, HasSubstr("output is 8-bit"));
  const DecodedVideo out = decode_video(path("out.mkv"), /*keep_pixels=*/true);
  const DecodedVideo ref = decode_video(path("ten.mkv"), /*keep_pixels=*/true);
  ASSERT_EQ(out.nb_frames(), 25u);
  ASSERT_EQ(ref.nb_frames(), 25u);
  EXPECT_GT(psnr(out.frames[10], ref.frames[10]), 40) << "the same pictures, at 8 bits";
}

TEST_F(FidelityTest, EightBitInputFormatsDecodeToTheSamePictures) {
  // Each input format, converted to 4:2:0 by vpipe, against ffmpeg's own conversion.
  for (const auto& [pix_fmt, file] : std::vector<std::pair<std::string, std::string>>{
           {"yuv422p", "in422.mkv"}, {"yuv444p", "in444.mkv"}, {"nv12", "nv12.nut"}}) {
    SCOPED_TRACE(pix_fmt);
    const std::string codec = pix_fmt == "nv12" ? "rawvideo" : "ffv1";
    ffmpeg("-f lavfi -i testsrc2=size=176x144:rate=25:duration=1 -pix_fmt " + pix_fmt + " -c:v " +
           codec + " " + path(file));
    vpipe_ok({"-i", path(file), "-o", path("out.mkv"), "-c:v", "ffv1"});
    ffmpeg("-i " + path(file) + " -pix_fmt yuv420p -c:v ffv1 " + path("ref.mkv"));
    const DecodedVideo got = decode_video(path("out.mkv"), /*keep_pixels=*/true);
    const DecodedVideo ref = decode_video(path("ref.mkv"), /*keep_pixels=*/true);
    ASSERT_EQ(got.nb_frames(), 25u);
    ASSERT_EQ(ref.nb_frames(), 25u);
    for (std::size_t i = 0; i < got.frames.size(); i += 8)
      EXPECT_GT(psnr(got.frames[i], ref.frames[i]), 40) << "frame " << i;
  }
}

TEST_F(FidelityTest, PixFmtPicksTheEncodersFormatAndAnUnsupportedOneIsAUsageError) {
  vpipe_ok({"-i", "testsrc:size=160x120:duration=1", "-o", path("out.mkv"), "-pix_fmt", "yuv444p"});
  EXPECT_EQ(read_stream(path("out.mkv")).pix_fmt, "yuv444p");
  EXPECT_EQ(decode_video(path("out.mkv")).nb_frames(), 30u);
  const RunResult bad = run_vpipe(
      {"run", "-i", "testsrc", "-o", path("bad.mkv"), "-c:v", "mjpeg", "-pix_fmt", "yuv420p10le"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(count_lines(bad.err), 1) << bad.err;
  EXPECT_THAT(bad.err, HasSubstr("cannot take -pix_fmt yuv420p10le"));
}

TEST_F(FidelityTest, SeekAndDurationGiveFfmpegsFramesWithAudioInStep) {
  ffmpeg(
      "-f lavfi -i testsrc=size=320x240:rate=25:duration=6 -f lavfi -i sine=d=6 -c:v libx264 "
      "-g 25 -c:a aac " +
      path("in.mp4"));
  vpipe_ok({"-i", path("in.mp4"), "-ss", "2", "-t", "3", "-o", path("cut.mkv"), "-c:v", "ffv1"});
  ffmpeg("-ss 2 -t 3 -i " + path("in.mp4") + " -c:v ffv1 -c:a copy " + path("ref.mkv"));
  const DecodedVideo got = decode_video(path("cut.mkv"));
  const DecodedVideo ref = decode_video(path("ref.mkv"));
  EXPECT_EQ(got.nb_frames(), 75u);
  EXPECT_EQ(got.checksums, ref.checksums) << "the same frames as ffmpeg -ss 2 -t 3";
  ASSERT_FALSE(got.pts.empty());
  const auto streams = probe_streams(path("cut.mkv"));
  ASSERT_EQ(streams.size(), 2u);
  EXPECT_NEAR(streams[1].duration_s, streams[0].duration_s, 0.1) << "audio ends with the video";
}

// -ss counts from the file's start, the earliest of its streams, as the ffmpeg CLI's: here the
// video starts 0.85 s after the audio.
TEST_F(FidelityTest, SeekCountsFromTheFilesStartNotTheVideos) {
  ffmpeg(
      "-f lavfi -i testsrc=size=160x120:rate=25:duration=6 -f lavfi -i sine=d=6 -c:v libx264 "
      "-g 25 -c:a aac " +
      path("base.mp4"));
  ffmpeg("-i " + path("base.mp4") + " -itsoffset 0.85 -i " + path("base.mp4") +
         " -map 1:v -map 0:a -c copy " + path("late.mp4"));
  vpipe_ok({"-i", path("late.mp4"), "-ss", "2", "-t", "1", "-o", path("cut.mkv"), "-c:v", "ffv1"});
  ffmpeg("-ss 2 -i " + path("late.mp4") + " -t 1 -an -c:v ffv1 " + path("ref.mkv"));
  const DecodedVideo got = decode_video(path("cut.mkv"));
  EXPECT_EQ(got.nb_frames(), 25u);
  EXPECT_EQ(got.checksums, decode_video(path("ref.mkv")).checksums)
      << "the same frames as ffmpeg -ss 2 -t 1";
}

// The frames a cut must hold: those of the whole input whose time from the file's start is in
// [start, start + length).
std::vector<std::uint64_t> frames_between(const DecodedVideo& all, double tb, double file_start,
                                          double start, double length) {
  std::vector<std::uint64_t> frames;
  for (std::size_t i = 0; i < all.pts.size(); ++i) {
    const double t = static_cast<double>(all.pts[i]) * tb - file_start;
    if (t >= start - 1e-6 && t < start + length - 1e-6) frames.push_back(all.checksums[i]);
  }
  return frames;
}

// MPEG-PS has no index: a seek to a time lands on the next GOP as often as not. The cut still
// starts at the first frame at or after -ss (the seek goes back until it lands before it).
TEST_F(FidelityTest, SeekInMpegPsStartsAtTheFirstFrameAtOrAfterTheStart) {
  ffmpeg("-f lavfi -i testsrc2=size=160x120:rate=25:duration=8 -c:v mpeg2video -g 15 -bf 2 " +
         path("in.mpg"));
  const DecodedVideo all = decode_video(path("in.mpg"));
  ASSERT_EQ(all.nb_frames(), 200u);
  for (const double ss : {1.0, 2.3, 4.0, 5.5}) {
    SCOPED_TRACE("-ss " + std::to_string(ss));
    vpipe_ok({"-i", path("in.mpg"), "-ss", std::to_string(ss), "-t", "1", "-o", path("cut.mkv"),
              "-c:v", "ffv1"});
    // MPEG-PS: 90 kHz timestamps; ffmpeg's muxer starts the file at 0.54 s.
    const auto want = frames_between(all, 1.0 / 90000, all.pts.front() / 90000.0, ss, 1.0);
    EXPECT_EQ(want.size(), 25u);
    EXPECT_EQ(decode_video(path("cut.mkv")).checksums, want);
  }
}

// A raw H.264 stream has no timestamps: -ss decodes up to the start, counting frames.
TEST_F(FidelityTest, SeekInARawH264StreamCountsFrames) {
  ffmpeg("-f lavfi -i testsrc2=size=160x120:rate=25:duration=4 -c:v libx264 -bf 3 -g 25 " +
         path("in.mp4"));
  ffmpeg("-i " + path("in.mp4") + " -c:v copy -f h264 " + path("in.h264"));
  vpipe_ok({"-i", path("in.h264"), "-ss", "2", "-t", "1", "-o", path("cut.mkv"), "-c:v", "ffv1"});
  vpipe_ok({"-i", path("in.mp4"), "-ss", "2", "-t", "1", "-o", path("ref.mkv"), "-c:v", "ffv1"});
  const DecodedVideo got = decode_video(path("cut.mkv"));
  EXPECT_EQ(got.nb_frames(), 25u);
  EXPECT_EQ(got.checksums, decode_video(path("ref.mkv")).checksums);
}

TEST_F(FidelityTest, SeekPastTheEndIsAUsageErrorSayingHowLongTheInputIs) {
  ffmpeg("-f lavfi -i testsrc2=size=160x120:rate=25:duration=4 -c:v libx264 " + path("in.mp4"));
  const RunResult r =
      run_vpipe({"run", "-y", "-i", path("in.mp4"), "-ss", "100", "-o", path("cut.mkv")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("-ss 100 is past the input's end (it is 4 s long)"));
  EXPECT_FALSE(std::filesystem::exists(path("cut.mkv")));
}

TEST_F(FidelityTest, SeekIntoAStreamThatCannotSeekDecodesUpToTheStart) {
  // The test source cannot seek: frames before -ss are decoded and dropped.
  vpipe_ok({"-i", "testsrc:size=160x120:rate=30:duration=4", "-ss", "1.5", "-t", "1", "-o",
            path("cut.mkv"), "-c:v", "ffv1"});
  ffmpeg(
      "-f lavfi -i testsrc=size=160x120:rate=30:duration=4 -ss 1.5 -t 1 -pix_fmt yuv420p "
      "-c:v ffv1 " +
      path("ref.mkv"));
  const DecodedVideo got = decode_video(path("cut.mkv"));
  EXPECT_EQ(got.nb_frames(), 30u);
  EXPECT_EQ(got.checksums, decode_video(path("ref.mkv")).checksums);
}

TEST_F(FidelityTest, AudioTheContainerCannotHoldIsReencodedToItsUsualCodec) {
  // AAC cannot go into WebM: it becomes Opus, in step with the video.
  ffmpeg(
      "-f lavfi -i testsrc=size=160x120:rate=25:duration=2 -f lavfi -i sine=d=2 -c:v libx264 "
      "-c:a aac " +
      path("in.mp4"));
  const RunResult r = vpipe_ok(
      {"-i", path("in.mp4"), "-o", path("out.webm"), "-c:v", "libvpx-vp9", "--progress", "none"});
  const auto streams = probe_streams(path("out.webm"));
  ASSERT_EQ(streams.size(), 2u) << r.err;
  EXPECT_EQ(streams[1].codec, "opus");
  EXPECT_NEAR(streams[1].duration_s, 2.0, 0.1);
  EXPECT_EQ(decode_video(path("out.webm")).nb_frames(), 50u);
}

TEST_F(FidelityTest, CodecAudioAacReencodesAndCopyIntoAContainerThatCannotHoldItFails) {
  ffmpeg(
      "-f lavfi -i testsrc=size=160x120:rate=25:duration=3 -f lavfi -i sine=d=3 -c:v libx264 "
      "-c:a libvorbis " +
      path("in.mkv"));
  vpipe_ok({"-i", path("in.mkv"), "-o", path("out.mkv"), "-c:a", "aac", "-b:a", "96k"});
  const auto streams = probe_streams(path("out.mkv"));
  ASSERT_EQ(streams.size(), 2u);
  EXPECT_EQ(streams[1].codec, "aac");
  EXPECT_NEAR(streams[1].duration_s, streams[0].duration_s, 0.1);
  // -t ends the re-encoded audio with the video too.
  vpipe_ok({"-i", path("in.mkv"), "-o", path("short.mkv"), "-c:a", "aac", "-t", "1"});
  const auto cut = probe_streams(path("short.mkv"));
  ASSERT_EQ(cut.size(), 2u);
  EXPECT_NEAR(cut[1].duration_s, 1.0, 0.1);

  ffmpeg(
      "-f lavfi -i testsrc=size=160x120:rate=25:duration=1 -f lavfi -i sine=d=1 -c:v libx264 "
      "-c:a aac " +
      path("aac.mp4"));
  const RunResult bad = run_vpipe(
      {"run", "-i", path("aac.mp4"), "-o", path("x.webm"), "-c:v", "libvpx-vp9", "-c:a", "copy"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(count_lines(bad.err), 1) << bad.err;
  EXPECT_THAT(bad.err, HasSubstr("cannot hold aac"));
}

// A phone's 3GP with AMR-NB audio: -c:a copy into Matroska carries it through the ACM tag, as
// the ffmpeg CLI does, and it decodes back (it was refused, exit 2). This Debian's FFmpeg has no
// AMR encoder: the stream is written here, 5 s of 12.2 kbit/s frames (any payload bits decode).
TEST_F(FidelityTest, AmrNbFromAPhoneClipIsCopiedIntoMatroska) {
  {
    std::ofstream amr(path("in.amr"), std::ios::binary);
    amr << "#!AMR\n";
    std::uint32_t state = 1;
    for (int frame = 0; frame < 250; ++frame) {
      amr.put(static_cast<char>(7 << 3 | 1 << 2));  // mode 7 (12.2 kbit/s), quality ok
      for (int i = 0; i < 31; ++i) {
        state = state * 1664525u + 1013904223u;
        amr.put(static_cast<char>(state >> 24));
      }
    }
  }
  ffmpeg("-f lavfi -i testsrc2=size=176x144:rate=15:duration=5 -i " + path("in.amr") +
         " -c:v libx264 -c:a copy -shortest " + path("phone.3gp"));
  const auto in = probe_streams(path("phone.3gp"));
  ASSERT_EQ(in.size(), 2u);
  ASSERT_EQ(in[1].codec, "amr_nb");
  vpipe_ok({"-i", path("phone.3gp"), "-c:a", "copy", "-o", path("out.mkv")});
  const auto out = probe_streams(path("out.mkv"));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].codec, "amr_nb");
  EXPECT_EQ(out[1].packets, in[1].packets);
  EXPECT_NEAR(out[1].duration_s, in[1].duration_s, 0.05);
  EXPECT_EQ(shell("ffmpeg -v error -i " + path("out.mkv") + " -map 0:a -f null -"), 0);
}

// Re-encoded audio follows the input's timestamps (as ffmpeg's aresample=async=1): a 2 s hole
// in the sound (lost packets) is filled with silence, so the rest stays in step with the
// picture and the audio is as long as the input's.
TEST_F(FidelityTest, ReencodedAudioKeepsItsTimingAcrossAGap) {
  ffmpeg(
      "-f lavfi -i testsrc=size=160x120:rate=25:duration=6 -f lavfi -i sine=d=6 -af "
      "\"aselect='not(between(t,2,4))'\" -c:v libx264 -c:a libvorbis " +
      path("gap.mkv"));
  const std::vector<StreamInfo> in = probe_streams(path("gap.mkv"));
  ASSERT_EQ(in.size(), 2u);
  ASSERT_GT(in[1].last_pts_s, 5.9) << "the input's audio goes on after its hole";
  vpipe_ok({"-i", path("gap.mkv"), "-o", path("out.mp4"), "-c:a", "aac"});
  const std::vector<StreamInfo> out = probe_streams(path("out.mp4"));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].codec, "aac");
  EXPECT_NEAR(out[1].last_pts_s, in[1].last_pts_s, 0.05) << "the sound after the hole is in step";
  EXPECT_NEAR(out[1].duration_s, 6.0, 0.1);
}

TEST_F(FidelityTest, RateConversionPicksTheSameFramesAsFfmpegsFpsFilter) {
  for (const std::string rate : {"30", "15", "24000/1001", "7"}) {
    SCOPED_TRACE("-r " + rate);
    vpipe_ok({"-i", "testsrc:size=160x120:rate=25:duration=2", "-r", rate, "-o", path("r.mkv"),
              "-c:v", "ffv1"});
    ffmpeg("-f lavfi -i testsrc=size=160x120:rate=25:duration=2 -vf fps=" + rate +
           " -pix_fmt yuv420p -c:v ffv1 " + path("ref.mkv"));
    const DecodedVideo got = decode_video(path("r.mkv"));
    const DecodedVideo ref = decode_video(path("ref.mkv"));
    EXPECT_EQ(got.nb_frames(), ref.nb_frames());
    EXPECT_EQ(got.checksums, ref.checksums);
    for (std::size_t i = 1; i < got.pts.size(); ++i) ASSERT_GT(got.pts[i], got.pts[i - 1]);
  }
}

TEST_F(FidelityTest, VariableFrameRateTimestampsPassThroughUnchanged) {
  // 25 fps with a half-second hole after frame 10 and a slow stretch after frame 30.
  ffmpeg(
      "-f lavfi -i testsrc=size=160x120:rate=25:duration=2 -vf "
      "\"setpts='(N/25+gte(N,10)*0.5+gte(N,30)*(N-30)/25)/TB'\" -c:v libx264 -bf 0 " +
      path("vfr.mkv"));
  vpipe_ok({"-i", path("vfr.mkv"), "-o", path("out.mkv")});
  const DecodedVideo in = decode_video(path("vfr.mkv"));
  const DecodedVideo out = decode_video(path("out.mkv"));
  ASSERT_EQ(in.nb_frames(), 50u);
  EXPECT_EQ(out.nb_frames(), in.nb_frames());
  EXPECT_EQ(out.pts, in.pts) << "every frame keeps its own time (Matroska, 1 ms both sides)";
}

// The default MP4 (fragmented) starts the picture and the sound together, as the input does:
// a B-frame encoder's delay is two frame intervals in real time, which is 0.067 s at 30 fps,
// 2 s at 1 fps and 2 s where the first frame lasts 2 s (VFR), unless an edit list takes it out.
TEST_F(FidelityTest, DefaultMp4StartsVideoAndAudioTogetherForCfrVfrAndSlowSources) {
  struct Case {
    std::string name, make;
  };
  const std::vector<Case> cases = {
      {"cfr",
       "-f lavfi -i testsrc2=size=160x120:rate=30:duration=3 -f lavfi -i sine=d=3 "
       "-c:v libx264 -bf 3 -c:a aac -shortest"},
      {"vfr",
       "-f lavfi -i testsrc2=size=160x120:duration=4 -f lavfi -i sine=duration=6 -vf "
       "\"setpts='if(eq(N,0),0,PTS+2/TB)'\" -fps_mode passthrough -c:v libx264 -c:a aac "
       "-shortest"},
      {"slow",
       "-f lavfi -i testsrc2=size=160x120:rate=1:duration=6 -f lavfi -i sine=d=6 "
       "-c:v libx264 -c:a aac -shortest"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string in = path(c.name + ".mkv"), out = path(c.name + ".mp4");
    ffmpeg(c.make + " " + in);
    vpipe_ok({"-i", in, "-o", out});
    const std::vector<StreamInfo> src = probe_streams(in), got = probe_streams(out);
    ASSERT_EQ(got.size(), 2u);
    ASSERT_EQ(got[0].type, "video");
    ASSERT_EQ(got[1].type, "audio");
    // The picture starts where it started in the input, relative to the sound, within 1 ms.
    EXPECT_NEAR(got[0].start_s - got[1].start_s, src[0].start_s - src[1].start_s, 0.001);
    EXPECT_NEAR(got[0].last_pts_s - got[0].start_s, src[0].last_pts_s - src[0].start_s, 0.001);
  }
}

TEST_F(FidelityTest, MapChoosesTheVideoAndAudioStreamAndABadOneFailsInOneLine) {
  // Two video streams (160x120, 320x240), two audio streams (mono, stereo).
  ffmpeg(
      "-f lavfi -i testsrc=size=160x120:rate=25:duration=1 -f lavfi "
      "-i smptebars=size=320x240:rate=25:duration=1 -f lavfi -i sine=d=1 -f lavfi "
      "-i 'sine=d=1,pan=stereo|c0=c0|c1=c0' -map 0 -map 1 -map 2 -map 3 -c:v libx264 -c:a aac " +
      path("multi.mkv"));
  vpipe_ok({"-i", path("multi.mkv"), "-o", path("default.mkv")});
  EXPECT_EQ(decode_video(path("default.mkv")).width, 320) << "the best video by default";
  vpipe_ok({"-i", path("multi.mkv"), "-map", "0:v:0", "-map", "0:a:1", "-o", path("mapped.mkv")});
  EXPECT_EQ(decode_video(path("mapped.mkv")).width, 160);
  AVFormatContext* fmt = nullptr;
  ASSERT_EQ(avformat_open_input(&fmt, path("mapped.mkv").c_str(), nullptr, nullptr), 0);
  avformat_find_stream_info(fmt, nullptr);
  const int audio = av_find_best_stream(fmt, AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
  ASSERT_GE(audio, 0);
  EXPECT_EQ(fmt->streams[audio]->codecpar->ch_layout.nb_channels, 2) << "the second audio stream";
  avformat_close_input(&fmt);

  for (const auto& [map, code] :
       std::vector<std::pair<std::string, int>>{{"0:v:5", 3}, {"0:x:y", 2}}) {
    const RunResult r =
        run_vpipe({"run", "-i", path("multi.mkv"), "-map", map, "-o", path("bad.mkv")});
    EXPECT_EQ(r.exit_code, code) << map;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_THAT(r.err, HasSubstr(map));
  }
}

TEST_F(FidelityTest, SubtitlesAreNotCarriedAndTheRunSaysSo) {
  std::FILE* srt = std::fopen(path("subs.srt").c_str(), "w");
  ASSERT_NE(srt, nullptr);
  std::fputs("1\n00:00:00,000 --> 00:00:00,800\nHello\n", srt);
  std::fclose(srt);
  ffmpeg("-f lavfi -i testsrc=size=160x120:rate=25:duration=1 -i " + path("subs.srt") +
         " -c:v libx264 -c:s srt " + path("subbed.mkv"));
  const RunResult r =
      run_vpipe({"run", "-i", path("subbed.mkv"), "-o", path("out.mkv"), "--progress", "none"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("1 subtitle stream(s) in the input are not carried"));
  EXPECT_EQ(decode_video(path("out.mkv")).nb_frames(), 25u);
}

// MPEG-1 video has eight frame rates. A 15 fps input (a screen capture, an old clip) becomes the
// nearest of them, frames repeated by timestamp, where the ffmpeg CLI fails ("MPEG-1/2 does not
// support 15/1 fps"): the same frames and timestamps as ffmpeg's -r 24000/1001. The encoder's
// buffer size reaches the MPEG-PS muxer, which does not warn of buffer underflows.
TEST_F(FidelityTest, Mpeg1AtAnUnusualFrameRateTakesTheNearestOfItsRates) {
  const RunResult r = vpipe_ok({"-i", "testsrc:size=320x240:rate=15:duration=2", "-c:v",
                                "mpeg1video", "-o", path("out.mpg")});
  EXPECT_THAT(r.err, HasSubstr("15 fps becomes 23.976"));
  EXPECT_THAT(r.err, Not(HasSubstr("underflow")));
  ffmpeg("-f lavfi -i testsrc=size=320x240:rate=15:duration=2 -r 24000/1001 -c:v mpeg1video " +
         path("ffmpeg.mpg"));
  const DecodedVideo got = decode_video(path("out.mpg"));
  const DecodedVideo want = decode_video(path("ffmpeg.mpg"));
  EXPECT_EQ(got.nb_frames(), 48u);
  ASSERT_EQ(got.nb_frames(), want.nb_frames());
  // The same timestamps, to the MPEG-PS muxer's rounding (2 ticks of 90 kHz); ffmpeg's file
  // leaves its last frame without one.
  for (std::size_t i = 0; i < got.pts.size(); ++i) {
    if (want.pts[i] == std::numeric_limits<std::int64_t>::min()) continue;
    EXPECT_NEAR(got.pts[i], want.pts[i], 2) << "frame " << i;
  }
}

TEST_F(FidelityTest, BadTimesAreUsageErrorsNamingTheFlag) {
  for (const auto& [flag, value] : std::vector<std::pair<std::string, std::string>>{
           {"-ss", "soon"}, {"-t", "0"}, {"-t", "-4"}, {"-r", "0"}, {"-r", "fast"}}) {
    const RunResult r = run_vpipe({"run", "-i", "testsrc", "-o", "null", flag, value});
    EXPECT_EQ(r.exit_code, 2) << flag << " " << value;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_THAT(r.err, HasSubstr(flag));
  }
}

// Every encoder the issue names that this FFmpeg build has, into the containers that carry it.
struct CodecCase {
  const char* codec;
  const char* file;
  const char* decoded_as;
};

class CodecContainerTest : public FidelityTest, public ::testing::WithParamInterface<CodecCase> {};

TEST_P(CodecContainerTest, EncodesEveryFrameIntoTheContainer) {
  const CodecCase c = GetParam();
  const RunResult r = run_vpipe({"run", "-i", "testsrc:size=160x120:rate=25:duration=1", "-c:v",
                                 c.codec, "-o", path(c.file), "--progress", "none"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << "only the summary line: " << r.err;
  const DecodedVideo out = decode_video(path(c.file));
  EXPECT_EQ(out.codec, c.decoded_as);
  EXPECT_EQ(out.nb_frames(), 25u);
}

INSTANTIATE_TEST_SUITE_P(Encoders, CodecContainerTest,
                         ::testing::Values(CodecCase{"libx264", "out.mp4", "h264"},
                                           CodecCase{"libx264", "out.mov", "h264"},
                                           CodecCase{"libx264", "out.ts", "h264"},
                                           CodecCase{"libx264", "out.m3u8", "h264"},
                                           CodecCase{"libx265", "out.mp4", "hevc"},
                                           CodecCase{"libvpx-vp9", "out.webm", "vp9"},
                                           CodecCase{"libaom-av1", "out.mkv", "libdav1d"},
                                           CodecCase{"libsvtav1", "out.mp4", "libdav1d"},
                                           CodecCase{"mpeg4", "out.avi", "mpeg4"},
                                           CodecCase{"mjpeg", "out.mov", "mjpeg"},
                                           CodecCase{"ffv1", "out.mkv", "ffv1"},
                                           CodecCase{"rawvideo", "out.nut", "rawvideo"}),
                         [](const auto& info) {
                           std::string name = std::string(info.param.codec) + "_" + info.param.file;
                           for (char& ch : name) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace vpipe::test
