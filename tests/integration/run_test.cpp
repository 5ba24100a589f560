// End-to-end runs of the vpipe binary, checked by decoding the output with libav.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/media.hpp"
#include "support/vpipe_process.hpp"

namespace vpipe::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kSample = std::string(VPIPE_SOURCE_DIR) + "/samples/sample.mp4";

// The audio packets' pts and duration, a line each, as ffprobe lists them.
std::string audio_timestamps(const std::string& file) {
  const std::string list = file + ".audio.csv";
  EXPECT_EQ(
      shell("ffprobe -v error -select_streams a -show_entries packet=pts,duration -of csv=p=0 " +
            file + " > " + list),
      0);
  return read_file(list);
}

// Each stream's start_time (seconds), by its type ("video", "audio"), as ffprobe gives it.
std::map<std::string, double> stream_starts(const std::string& file) {
  const std::string list = file + ".starts.csv";
  EXPECT_EQ(shell("ffprobe -v error -show_entries stream=codec_type,start_time -of csv=p=0 " +
                  file + " > " + list),
            0);
  std::map<std::string, double> start;
  std::istringstream lines(read_file(list));
  for (std::string line; std::getline(lines, line);) {
    const auto comma = line.find(',');
    if (comma != std::string::npos && comma + 1 < line.size() && line[comma + 1] != ',')
      start[line.substr(0, comma)] = std::stod(line.substr(comma + 1));
  }
  return start;
}

class RunTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = make_temp_dir(); }
  void TearDown() override {
    EXPECT_EQ(processes_holding_run_segments(), 0) << "a run segment outlived its run";
    EXPECT_EQ(dev_shm_vpipe_entries(), 0);
    std::filesystem::remove_all(dir_);
  }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  // Runs vpipe and requires success.
  void vpipe_ok(const std::vector<std::string>& args) {
    const RunResult r = run_vpipe(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  std::string dir_;
};

TEST_F(RunTest, SampleThroughAnEmptyChainKeepsEveryPixel) {
  vpipe_ok({"run", "-q", "-i", kSample, "-o", path("out.mkv"), "-c:v", "ffv1"});
  const DecodedVideo in = decode_video(kSample);
  const DecodedVideo out = decode_video(path("out.mkv"));
  EXPECT_EQ(out.codec, "ffv1");
  EXPECT_EQ(out.nb_frames(), 120u);
  EXPECT_EQ(out.checksums, in.checksums) << "lossless round trip must be bit-exact";
}

TEST_F(RunTest, TestsrcGivesTheRequestedFramesSizeAndCodec) {
  vpipe_ok({"run", "-q", "-i", "testsrc:size=320x240:rate=30:duration=2", "-o", path("out.mkv")});
  const DecodedVideo out = decode_video(path("out.mkv"));
  EXPECT_EQ(out.codec, "h264");
  EXPECT_EQ(out.width, 320);
  EXPECT_EQ(out.height, 240);
  EXPECT_EQ(out.nb_frames(), 60u);
}

TEST_F(RunTest, TestsrcPixelsMatchFfmpegsOwnRendering) {
  vpipe_ok({"run", "-q", "-i", "testsrc:size=320x240:rate=25:duration=1", "-o", path("vpipe.mkv"),
            "-c:v", "ffv1"});
  ASSERT_EQ(shell("ffmpeg -v error -y -f lavfi -i testsrc=size=320x240:rate=25:duration=1 -pix_fmt "
                  "yuv420p -c:v ffv1 " +
                  path("ffmpeg.mkv")),
            0);
  const DecodedVideo ours = decode_video(path("vpipe.mkv"), true);
  const DecodedVideo ref = decode_video(path("ffmpeg.mkv"), true);
  ASSERT_EQ(ours.nb_frames(), 25u);
  ASSERT_EQ(ref.nb_frames(), 25u);
  for (std::size_t i = 0; i < ours.nb_frames(); ++i)
    EXPECT_GE(psnr(ours.frames[i], ref.frames[i]), 40.0) << "frame " << i;
}

TEST_F(RunTest, FilterChainGivesThePlannedGeometryAndKeepsTiming) {
  vpipe_ok({"run", "-q", "-i", kSample, "-o", path("out.mp4"), "--vf",
            "resize=320x180,cv.gblur=1,cv.crop=300:160", "-c:v", "mpeg4", "--crf", "5"});
  const DecodedVideo in = decode_video(kSample);
  const DecodedVideo out = decode_video(path("out.mp4"));
  EXPECT_EQ(out.codec, "mpeg4");
  EXPECT_EQ(out.width, 300);
  EXPECT_EQ(out.height, 160);
  EXPECT_EQ(out.nb_frames(), in.nb_frames());
  EXPECT_NEAR(out.duration_s, in.duration_s, 1.0 / 30 + 1e-3);
}

TEST_F(RunTest, OutputIsTheSameWhateverTheNumberOfWorkers) {
  // stress with vary: each frame costs a different amount, so workers finish out of order.
  const std::string input = "testsrc2:size=320x240:rate=30:duration=2";
  const std::string vf = "stress=5:vary=60,cv.hflip,resize=160x120";
  vpipe_ok({"run", "-q", "-i", input, "-o", path("w1.mkv"), "-c:v", "ffv1", "--vf", vf, "--workers",
            "1"});
  const DecodedVideo one = decode_video(path("w1.mkv"));
  ASSERT_EQ(one.nb_frames(), 60u);
  for (const char* workers : {"2", "4", "8"}) {
    for (const char* batch : {"1", "3"}) {
      const std::string out = path(std::string("w") + workers + "b" + batch + ".mkv");
      vpipe_ok({"run", "-q", "-i", input, "-o", out, "-c:v", "ffv1", "--vf", vf, "--workers",
                workers, "--batch", batch});
      const DecodedVideo many = decode_video(out);
      EXPECT_EQ(many.checksums, one.checksums)
          << workers << " workers, batch " << batch << ": frames lost, reordered or altered";
      EXPECT_EQ(many.pts, one.pts) << workers << " workers, batch " << batch;
    }
  }
}

TEST_F(RunTest, AudioIsCopiedAndStaysInSyncWithTheVideo) {
  vpipe_ok({"run", "-q", "-i", kSample, "-o", path("out.mkv"), "--vf", "resize=320x180"});
  const auto in = probe_streams(kSample);
  const auto out = probe_streams(path("out.mkv"));
  ASSERT_EQ(in.size(), 2u);
  ASSERT_EQ(out.size(), 2u);
  const auto& video = out[0].type == "video" ? out[0] : out[1];
  const auto& audio = out[0].type == "audio" ? out[0] : out[1];
  const auto& in_audio = in[0].type == "audio" ? in[0] : in[1];
  EXPECT_EQ(audio.codec, "aac");
  EXPECT_EQ(audio.packets, in_audio.packets) << "every audio packet is copied";
  EXPECT_NEAR(audio.duration_s, in_audio.duration_s, 1.0 / 30);
  EXPECT_NEAR(audio.duration_s, video.duration_s, 1.0 / 30) << "audio and video end together";
}

// A file cut with `ffmpeg -ss 0.7 -c copy` starts on an MP4 edit list: the packets before the cut
// are in the file, marked to discard. Copied, the audio would start 0.7 s early, and Matroska's
// shift of negative timestamps would start the video 0.7 s late.
TEST_F(RunTest, EditListCutAudioIsNotCopiedAndVideoStartsWithTheAudio) {
  ASSERT_EQ(shell("ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=25:duration=3 -f "
                  "lavfi -i sine=duration=3 -c:v libx264 -g 50 -c:a aac " +
                  path("long.mp4") + " && ffmpeg -v error -y -ss 0.7 -i " + path("long.mp4") +
                  " -c copy " + path("cut.mp4")),
            0);
  vpipe_ok({"run", "-q", "-i", path("cut.mp4"), "-o", path("out.mkv")});
  auto start = stream_starts(path("out.mkv"));
  ASSERT_EQ(start.size(), 2u);
  EXPECT_NEAR(start["video"], 0, 0.05);
  EXPECT_NEAR(start["audio"], 0, 0.05);
  EXPECT_EQ(decode_video(path("out.mkv")).nb_frames(), decode_video(path("cut.mp4")).nb_frames());
}

// As in the ffmpeg CLI, the output starts at 0 where the input starts later (a TS recording's
// clock, here 95000 s in), the streams keeping their offsets from each other.
TEST_F(RunTest, OutputStartsAtZeroWhereTheInputStartsLater) {
  ASSERT_EQ(shell("ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=25:duration=2 -f "
                  "lavfi -i sine=duration=2 -c:v libx264 -c:a aac -output_ts_offset 95000 " +
                  path("late.ts")),
            0);
  auto in = stream_starts(path("late.ts"));
  ASSERT_GT(in["video"], 95000);
  vpipe_ok({"run", "-q", "-i", path("late.ts"), "-o", path("out.mkv")});
  auto out = stream_starts(path("out.mkv"));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_NEAR(std::min(out["video"], out["audio"]), 0, 0.002);
  EXPECT_NEAR(out["video"] - out["audio"], in["video"] - in["audio"], 0.002);
  EXPECT_EQ(decode_video(path("out.mkv")).nb_frames(), 50u);
}

// MPEG-TS carries AAC with ADTS headers; MP4 wants the global header instead. Copying it needs
// aac_adtstoasc (as `ffmpeg -bsf:a aac_adtstoasc`), from a TS file and from a TS on stdin alike.
TEST_F(RunTest, AacFromMpegTsIsCopiedIntoFragmentedMp4) {
  ASSERT_EQ(shell("ffmpeg -v error -y -i " + kSample + " -c copy " + path("in.ts")), 0);
  const auto in = probe_streams(path("in.ts"));
  const StreamInfo& in_audio = in[0].type == "audio" ? in[0] : in[1];
  ASSERT_EQ(in_audio.codec, "aac");
  vpipe_ok({"run", "-q", "-i", path("in.ts"), "-o", path("file.mp4"), "--stats-json",
            path("file.json")});
  ASSERT_EQ(shell("cat " + path("in.ts") + " | " + vpipe_binary() + " run -q -i - -o " +
                  path("stdin.mp4") + " --stats-json " + path("stdin.json")),
            0);
  // Only stdin's audio travels through decode (a file's is read by encode itself).
  EXPECT_TRUE(
      nlohmann::json::parse(read_file(path("file.json"))).at("audio_packets_dropped").is_null());
  EXPECT_EQ(nlohmann::json::parse(read_file(path("stdin.json"))).at("audio_packets_dropped"), 0);
  for (const std::string out : {"file.mp4", "stdin.mp4"}) {
    SCOPED_TRACE(out);
    const auto streams = probe_streams(path(out));
    ASSERT_EQ(streams.size(), 2u);
    const StreamInfo& audio = streams[0].type == "audio" ? streams[0] : streams[1];
    EXPECT_EQ(audio.codec, "aac");
    EXPECT_EQ(audio.packets, in_audio.packets) << "every packet, stream-copied";
    EXPECT_EQ(decode_video(path(out)).nb_frames(), 120u);
  }
}

// A named pipe is read once, by decode, like stdin: its audio too (encode cannot open it again).
// Read from a pipe, the TS demuxer stamps only the first of the AAC frames that share a PES;
// the others get the timestamps that follow, as when the file is read.
TEST_F(RunTest, NamedPipeInputKeepsItsAudio) {
  // ffmpeg's TS muxer packs several AAC frames in a PES; beside MPEG-4 part 2 video, the
  // demuxer has the stream's parameters before it learns the AAC frame duration.
  ASSERT_EQ(shell("ffmpeg -v error -y -f lavfi -i testsrc=duration=3:rate=25 -f lavfi -i "
                  "sine=duration=3 -c:v mpeg4 -c:a aac " +
                  path("in.ts")),
            0);
  ASSERT_EQ(shell("mkfifo " + path("feed")), 0);
  const pid_t run = start_vpipe({"run", "-i", path("feed"), "-o", path("out.mkv")}, path("run"));
  ASSERT_EQ(shell("cat " + path("in.ts") + " > " + path("feed")), 0);
  ASSERT_EQ(wait_vpipe(run, 30), 0) << read_file(path("run.err"));
  EXPECT_THAT(read_file(path("run.err")), Not(HasSubstr("Timestamps are unset")));
  vpipe_ok({"run", "-q", "-i", path("in.ts"), "-o", path("file.mkv")});
  EXPECT_EQ(decode_video(path("out.mkv")).checksums, decode_video(path("file.mkv")).checksums);
  const auto in = probe_streams(path("in.ts"));
  const StreamInfo& in_audio = in[0].type == "audio" ? in[0] : in[1];
  const std::string timestamps = audio_timestamps(path("out.mkv"));
  EXPECT_EQ(std::count(timestamps.begin(), timestamps.end(), '\n'), in_audio.packets)
      << "every packet";
  EXPECT_EQ(timestamps, audio_timestamps(path("file.mkv")));
}

// -q: a run that goes well says nothing; a --log-level given says what it asks for.
TEST_F(RunTest, QuietRunsSayNothingUnlessALogLevelIsGiven) {
  const RunResult quiet =
      run_vpipe({"run", "-q", "-i", "testsrc", "--frames", "10", "-o", path("q.mkv")});
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");
  const RunResult info = run_vpipe(
      {"run", "-q", "--log-level", "info", "-i", "testsrc", "--frames", "10", "-o", path("i.mkv")});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_THAT(info.err, HasSubstr("10 frames in"));
  EXPECT_THAT(info.err, HasSubstr("1 worker ->"));
  EXPECT_EQ(decode_video(path("q.mkv")).checksums, decode_video(path("i.mkv")).checksums);
}

TEST_F(RunTest, NoAudioFlagDropsTheAudio) {
  vpipe_ok({"run", "-q", "-i", kSample, "-o", path("out.mp4"), "-an"});
  const auto out = probe_streams(path("out.mp4"));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, "video");
}

TEST_F(RunTest, NullOutputProcessesEveryFrameAndReportsIt) {
  vpipe_ok({"run", "-q", "-i", kSample, "-o", "null", "--vf", "gray", "--stats-json",
            path("stats.json")});
  const auto stats = nlohmann::json::parse(read_file(path("stats.json")));
  EXPECT_EQ(stats.at("frames"), 120);
  // No picture is copied anywhere: decode decodes the H.264 straight into pool slots, gray
  // works in place, and the frames move between stages as slot indices (invariant 1).
  for (const auto& s : stats.at("stages")) EXPECT_EQ(s.at("frames_copied"), 0) << s.at("stage");
}

TEST_F(RunTest, DryRunPrintsThePlanAndStartsNothing) {
  const RunResult r = run_vpipe(
      {"run", "-i", kSample, "-o", path("out.mp4"), "--dry-run", "--vf", "resize=320x180"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("vpipe:decode"));
  EXPECT_THAT(r.out, HasSubstr("vpipe:xform-0"));
  EXPECT_THAT(r.out, HasSubstr("vpipe:encode"));
  EXPECT_THAT(r.out, HasSubstr("640x360 -> 320x180"));
  EXPECT_THAT(r.out, HasSubstr("slots x"));
  EXPECT_FALSE(std::filesystem::exists(path("out.mp4")));
}

// Without -c:v: H.264 where the container holds it, else the container's own codec, as the
// ffmpeg CLI chooses (a GIF file holds only GIF).
TEST_F(RunTest, WithoutACodecTheContainerGetsOneItCanHold) {
  for (const auto& [out, codec] : std::vector<std::pair<std::string, std::string>>{
           {"out.mp4", "h264"}, {"out.ts", "h264"}, {"out.gif", "gif"}, {"out.ogv", "theora"}}) {
    SCOPED_TRACE(out);
    vpipe_ok(
        {"run", "-q", "-i", kSample, "-t", "0.5", "--vf", "resize=160x90", "-an", "-o", path(out)});
    const DecodedVideo v = decode_video(path(out));
    EXPECT_EQ(v.codec, codec);
    EXPECT_EQ(v.nb_frames(), 15u);
  }
}

// Audio is copied only where the output really takes it: some refusals come from the muxer's
// header alone (FLAC in MP4 is experimental, Opus is not for MOV). Those are re-encoded to the
// container's codec instead, as the ffmpeg CLI does; -c:a copy says why it cannot. AC-3, which
// needs its first packet before the MP4 index is written, is copied: the fragmented MP4's index
// waits for the first fragment.
TEST_F(RunTest, AudioTheContainerRefusesIsReencodedNotAFailedRun) {
  struct Case {
    std::string codec, out, expected;
  };
  for (const Case& c : std::vector<Case>{{"flac", "out.mp4", "aac"},
                                         {"libopus", "out.mov", "aac"},
                                         {"ac3", "out.mp4", "ac3"},
                                         {"ac3", "out.mkv", "ac3"},
                                         {"aac", "out.ogv", "vorbis"}}) {
    SCOPED_TRACE(c.codec + " -> " + c.out);
    const std::string in = path(c.codec + ".mkv");
    ASSERT_EQ(shell("ffmpeg -v error -y -f lavfi -i testsrc=size=160x120:rate=25:duration=1 -f "
                    "lavfi -i sine=duration=1 -c:v ffv1 -c:a " +
                    c.codec + " " + in),
              0);
    vpipe_ok({"run", "-q", "-y", "-i", in, "-o", path(c.out)});
    const auto streams = probe_streams(path(c.out));
    ASSERT_EQ(streams.size(), 2u);
    const StreamInfo& audio = streams[0].type == "audio" ? streams[0] : streams[1];
    EXPECT_EQ(audio.codec, c.expected);
    EXPECT_NEAR(audio.duration_s, 1.0, 0.15);  // an encoder's priming and last frame
    EXPECT_EQ(decode_video(path(c.out)).nb_frames(), 25u);
  }
  const RunResult copy =
      run_vpipe({"run", "-y", "-i", path("flac.mkv"), "-o", path("copy.mp4"), "-c:a", "copy"});
  EXPECT_EQ(copy.exit_code, 2);
  EXPECT_EQ(count_lines(copy.err), 1) << copy.err;
  EXPECT_THAT(copy.err, HasSubstr("cannot hold flac audio"));
  // A GIF holds no audio at all: it is dropped, with a warning.
  vpipe_ok({"run", "-q", "-y", "-i", path("aac.mkv"), "-o", path("out.gif")});
  EXPECT_EQ(probe_streams(path("out.gif")).size(), 1u);
}

TEST_F(RunTest, RunWithNoArgumentsProcessesTheBundledSample) {
  // The default config writes vpipe-out.mp4 in the current folder.
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir_);
  const RunResult r = run_vpipe({"run", "-q"});
  std::filesystem::current_path(cwd);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const DecodedVideo out = decode_video(path("vpipe-out.mp4"));
  EXPECT_EQ(out.nb_frames(), 120u);
  EXPECT_EQ(out.width, 1280);
}

// Real inputs: odd sizes, old codecs, RGB and paletted pictures. vpipe must give the same
// number of frames as the ffmpeg CLI decodes from each.
struct MessyInput {
  const char* name;
  const char* ffmpeg_args;  // after -i testsrc...
};

// x264 takes 4:2:0 at even sizes only; with no -pix_fmt an odd size is encoded as 4:4:4 (the
// ffmpeg CLI does so for an RGB input, and fails on a 4:2:0 one) rather than failing the run.
TEST_F(RunTest, OddSizesWithTheDefaultEncoder) {
  for (const std::string size : {"641x359", "33x17"}) {
    SCOPED_TRACE(size);
    ASSERT_EQ(shell("ffmpeg -v error -y -f lavfi -i testsrc=size=" + size +
                    ":rate=10:duration=1 -c:v ffv1 -pix_fmt rgb24 " + path("in.mkv")),
              0);
    vpipe_ok({"run", "-q", "-y", "-i", path("in.mkv"), "-o", path("out.mp4")});
    const DecodedVideo in = decode_video(path("in.mkv"), true);
    const DecodedVideo out = decode_video(path("out.mp4"), true);
    EXPECT_EQ(out.codec, "h264");
    EXPECT_EQ(std::to_string(out.width) + "x" + std::to_string(out.height), size);
    ASSERT_EQ(out.nb_frames(), in.nb_frames());
    for (std::size_t i = 0; i < in.nb_frames(); ++i)  // x264 at CRF 23: a sane picture, not garbage
      EXPECT_GT(psnr(in.frames[i], out.frames[i]), 25.0) << "frame " << i;
  }
}

class MessyInputTest : public RunTest, public ::testing::WithParamInterface<MessyInput> {};

TEST_P(MessyInputTest, GivesAsManyFramesAsFfmpegDecodes) {
  const MessyInput& m = GetParam();
  const std::string input = path(m.name);
  ASSERT_EQ(
      shell(std::string("ffmpeg -v error -y -f lavfi -i testsrc=size=641x359:rate=10:duration=3 ") +
            m.ffmpeg_args + " " + input),
      0);
  const DecodedVideo reference = decode_video(input);
  ASSERT_GT(reference.nb_frames(), 0u);
  vpipe_ok({"run", "-q", "-i", input, "-o", path("out.mkv"), "-c:v", "ffv1"});
  const DecodedVideo out = decode_video(path("out.mkv"));
  EXPECT_EQ(out.nb_frames(), reference.nb_frames());
  EXPECT_EQ(out.width, 641);
  EXPECT_EQ(out.height, 359);
}

INSTANTIATE_TEST_SUITE_P(
    Inputs, MessyInputTest,
    ::testing::Values(MessyInput{"mpeg4.avi", "-c:v mpeg4 -q:v 5"},
                      MessyInput{"mjpeg.avi", "-c:v mjpeg -pix_fmt yuvj420p -q:v 5"},
                      MessyInput{"rgb.mkv", "-c:v ffv1 -pix_fmt rgb24"},
                      MessyInput{"palette.mkv", "-c:v png -pix_fmt pal8"},
                      MessyInput{"yuv444.mkv", "-c:v libx264 -pix_fmt yuv444p -preset ultrafast"}),
    [](const auto& info) {
      std::string n = info.param.name;
      return n.substr(0, n.find('.'));
    });

// Decoders that decode straight into pool slots (H.264, HEVC, VP9, MPEG-2/4): every picture
// comes out exactly as ffmpeg decodes it, including streams whose references outnumber the
// slots set aside for them (the rest are copied) and pictures the decoder keeps while later
// frames are in flight.
struct DirectInput {
  const char* name;
  const char* ffmpeg_args;  // after -i testsrc2...
  bool all_direct;          // every picture decoded into its slot, none copied
};

class DecodedIntoSlotsTest : public RunTest, public ::testing::WithParamInterface<DirectInput> {};

TEST_P(DecodedIntoSlotsTest, EveryPictureIsTheOneFfmpegDecodes) {
  const DirectInput& d = GetParam();
  const std::string input = path(d.name);
  ASSERT_EQ(shell(std::string("ffmpeg -v error -y -f lavfi -i "
                              "testsrc2=size=641x359:rate=25:duration=3 ") +
                  d.ffmpeg_args + " " + input),
            0);
  const DecodedVideo reference = decode_video(input);
  ASSERT_GT(reference.nb_frames(), 0u);
  vpipe_ok({"run", "-q", "-i", input, "-o", path("out.mkv"), "-c:v", "ffv1", "-w", "2",
            "--stats-json", path("stats.json")});
  const DecodedVideo out = decode_video(path("out.mkv"));
  EXPECT_EQ(out.checksums, reference.checksums);
  const auto stats = nlohmann::json::parse(read_file(path("stats.json")));
  const auto& decode = stats.at("stages").at(0);
  ASSERT_EQ(decode.at("stage"), "decode");
  const auto copied = decode.at("frames_copied").get<std::size_t>();
  if (d.all_direct) {
    EXPECT_EQ(copied, 0u);
  } else {
    EXPECT_GT(copied, 0u) << "more references than slots for them: the rest are copied";
    EXPECT_LT(copied, reference.nb_frames());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Inputs, DecodedIntoSlotsTest,
    ::testing::Values(
        DirectInput{"h264.mp4", "-c:v libx264 -preset veryfast", true},
        DirectInput{"h264_refs.mp4", "-c:v libx264 -x264-params ref=16:bframes=8:b-pyramid=normal",
                    false},
        DirectInput{"interlaced.ts",
                    "-vf scale=640:360,tinterlace=4 -c:v libx264 -flags +ildct+ilme", true},
        DirectInput{"hevc.mkv", "-c:v libx265 -x265-params log-level=error", true},
        DirectInput{"mpeg4.avi", "-c:v mpeg4 -bf 2 -q:v 5", true},
        DirectInput{"mpeg2.mpg", "-c:v mpeg2video -q:v 5", true},
        DirectInput{"vp9.webm", "-c:v libvpx-vp9 -b:v 300k -deadline realtime", true}),
    [](const auto& info) {
      std::string n = info.param.name;
      return n.substr(0, n.find('.'));
    });

}  // namespace
}  // namespace vpipe::test

namespace vpipe::test {
namespace {

// -o - is standard output, as ffmpeg's `-`, with its container named by -f; never a file named
// "-".
TEST(StdoutOutputTest, WritesTheStreamToStandardOutputWithTheContainerNamed) {
  const std::string dir = make_temp_dir();
  const std::string run =
      "cd " + dir + " && " + vpipe_binary() + " run -i testsrc:size=320x240:duration=1 -o - -q";
  ASSERT_EQ(shell(run + " -f matroska > out.mkv 2> err.txt"), 0) << read_file(dir + "/err.txt");
  const DecodedVideo out = decode_video(dir + "/out.mkv");
  EXPECT_EQ(out.nb_frames(), 30u);
  EXPECT_EQ(out.width, 320);
  ASSERT_EQ(shell(run + " -f mpegts | cat > out.ts 2> err.txt"), 0) << "a pipe, not a file";
  EXPECT_EQ(decode_video(dir + "/out.ts").nb_frames(), 30u);
  EXPECT_FALSE(std::filesystem::exists(dir + "/-"));

  EXPECT_EQ(shell(run + " > none.out 2> err.txt"), 2) << "no container named";
  const std::string err = read_file(dir + "/err.txt");
  EXPECT_EQ(count_lines(err), 1) << err;
  EXPECT_NE(err.find("name its container with -f"), std::string::npos) << err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/-"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vpipe::test
