// The everyday tasks of an ffmpeg user, each run with the ffmpeg CLI and with vpipe given the
// same flags (ffmpeg's own spellings), and the two outputs compared as ffprobe sees them: the
// streams, sizes, frame counts and durations, and the pictures (PSNR) where they should agree.
// Where vpipe's answer differs on purpose, the test says so and checks vpipe's.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/media.hpp"
#include "support/run_dir_test.hpp"
#include "support/vpipe_process.hpp"

namespace vpipe::test {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

std::string capture(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  pclose(pipe);
  return out;
}

struct Stream {
  std::string type, codec;
  int width = 0, height = 0;
  long frames = 0;  // video frames or audio packets read
};

struct Probe {
  std::vector<Stream> streams;
  double duration_s = 0;
  // The video stream; an empty one (and a failure) when there is none.
  [[nodiscard]] const Stream& video() const {
    for (const auto& s : streams) {
      if (s.type == "video") return s;
    }
    ADD_FAILURE() << "no video stream";
    static const Stream none;
    return none;
  }
  [[nodiscard]] std::vector<std::string> types() const {
    std::vector<std::string> t;
    for (const auto& s : streams) t.push_back(s.type + ":" + s.codec);
    return t;
  }
};

Probe probe(const std::string& path) {
  const std::string text = capture(
      "ffprobe -v error -count_frames -count_packets -show_entries "
      "stream=codec_type,codec_name,width,height,nb_read_frames,nb_read_packets:format="
      "duration -of json '" +
      path + "'");
  Probe p;
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    ADD_FAILURE() << "ffprobe cannot read " << path;
    return p;
  }
  for (const auto& s : j.value("streams", nlohmann::json::array())) {
    Stream st;
    st.type = s.value("codec_type", "");
    st.codec = s.value("codec_name", "");
    st.width = s.value("width", 0);
    st.height = s.value("height", 0);
    const std::string count =
        st.type == "video" ? s.value("nb_read_frames", "0") : s.value("nb_read_packets", "0");
    st.frames = std::atol(count.c_str());
    p.streams.push_back(st);
  }
  if (j.contains("format")) p.duration_s = std::atof(j["format"].value("duration", "0").c_str());
  return p;
}

// The average PSNR of two videos' pictures over their common frames, by ffmpeg's psnr filter,
// first frame with first frame (a cut by the ffmpeg CLI may start its video a few ms late, where
// it leaves room for the audio encoder's priming; vpipe starts both at 0).
double psnr_of(const std::string& a, const std::string& b) {
  const std::string text = capture("ffmpeg -v info -nostats -i '" + a + "' -i '" + b +
                                   "' -lavfi "
                                   "'[0:v]format=yuv420p,setpts=PTS-STARTPTS[x];[1:v]format="
                                   "yuv420p,setpts=PTS-STARTPTS[y];[x][y]psnr' -f null - 2>&1");
  const auto at = text.find("average:");
  if (at == std::string::npos) {
    ADD_FAILURE() << "no PSNR for " << a << " and " << b << ": " << text;
    return 0;
  }
  const std::string value = text.substr(at + 8, text.find(' ', at) - at - 8);
  return value == "inf" ? 1000 : std::atof(value.c_str());
}

class EverydayTest : public RunDirTest {
 protected:
  void ffmpeg(const std::string& args) {
    ASSERT_EQ(shell("ffmpeg -v error -nostdin -y " + args), 0) << args;
  }
  // vpipe with ffmpeg's arguments, as a user copies them from an ffmpeg command line.
  void vpipe(std::vector<std::string> args) {
    args.insert(args.begin(), {"run", "-q", "-y"});
    const RunResult r = run_vpipe(args, 120);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // A clip with sound: 320x240 testsrc2 at 30 fps and a 440 Hz tone, `seconds` long.
  std::string clip(const std::string& name, int seconds, const std::string& extra = "") {
    const std::string out = path(name);
    ffmpeg("-f lavfi -i testsrc2=size=320x240:rate=30:duration=" + std::to_string(seconds) +
           " -f lavfi -i sine=frequency=440:duration=" + std::to_string(seconds) +
           " -c:v libx264 -preset ultrafast -g 30 -pix_fmt yuv420p -c:a aac " + extra + " " + out);
    return out;
  }
  void expect_same_streams(const Probe& got, const Probe& want, double duration_tolerance_s) {
    EXPECT_EQ(got.types(), want.types());
    EXPECT_EQ(got.video().width, want.video().width);
    EXPECT_EQ(got.video().height, want.video().height);
    EXPECT_EQ(got.video().frames, want.video().frames);
    EXPECT_NEAR(got.duration_s, want.duration_s, duration_tolerance_s);
  }
};

// Where the index (moov) lies: before the media (mdat) is what -movflags +faststart asks.
bool index_first(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), {});
  return bytes.find("moov") < bytes.find("mdat");
}

TEST_F(EverydayTest, Web720pWithFaststart) {
  const std::string in = clip("in.mp4", 3);
  const std::string args =
      "-vf scale=-2:720 -c:v libx264 -preset veryfast -crf 23 -c:a copy "
      "-movflags +faststart ";
  ffmpeg("-i " + in + " " + args + path("ffmpeg.mp4"));
  vpipe({"-i", in, "-vf", "scale=-2:720", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
         "-c:a", "copy", "-movflags", "+faststart", path("vpipe.mp4")});
  expect_same_streams(probe(path("vpipe.mp4")), probe(path("ffmpeg.mp4")), 0.05);
  EXPECT_EQ(probe(path("vpipe.mp4")).video().height, 720);
  EXPECT_TRUE(index_first(path("vpipe.mp4")));
  EXPECT_GE(psnr_of(path("vpipe.mp4"), path("ffmpeg.mp4")), 40);
}

TEST_F(EverydayTest, CutTenSecondsFromMinuteOneReencodedAndCopied) {
  const std::string in = clip("in.mp4", 75);
  // ffmpeg re-encodes the AAC into Vorbis for Matroska unless told; vpipe copies it, losing
  // nothing. The ffmpeg side is told, to compare like with like.
  ffmpeg("-ss 60 -i " + in + " -t 10 -c:v libx264 -preset ultrafast -c:a copy " +
         path("ffmpeg.mkv"));
  vpipe({"-ss", "60", "-i", in, "-t", "10", "-c:v", "libx264", "-preset", "ultrafast",
         path("vpipe.mkv")});
  const Probe got = probe(path("vpipe.mkv"));
  expect_same_streams(got, probe(path("ffmpeg.mkv")), 0.1);
  EXPECT_EQ(got.video().frames, 300);
  EXPECT_GE(psnr_of(path("vpipe.mkv"), path("ffmpeg.mkv")), 35);

  // -c copy: whole GOPs from the keyframe at 60 s (a keyframe a second in this clip).
  ffmpeg("-ss 60 -i " + in + " -t 10 -c copy " + path("ffmpeg-copy.mkv"));
  vpipe({"-ss", "60", "-i", in, "-t", "10", "-c", "copy", path("vpipe-copy.mkv")});
  const Probe copied = probe(path("vpipe-copy.mkv"));
  expect_same_streams(copied, probe(path("ffmpeg-copy.mkv")), 0.15);
  EXPECT_EQ(copied.video().frames, 300);
  EXPECT_EQ(copied.video().codec, "h264");
}

TEST_F(EverydayTest, WebmVp9ConstantQuality) {
  const std::string in = clip("in.mp4", 1);
  ffmpeg("-i " + in + " -c:v libvpx-vp9 -b:v 0 -crf 33 -deadline realtime -cpu-used 8 " +
         path("ffmpeg.webm"));
  vpipe({"-i", in, "-c:v", "libvpx-vp9", "-b:v", "0", "-crf", "33", "-deadline", "realtime",
         "-cpu-used", "8", path("vpipe.webm")});
  const Probe got = probe(path("vpipe.webm"));
  expect_same_streams(got, probe(path("ffmpeg.webm")), 0.1);
  EXPECT_EQ(got.video().codec, "vp9");
  EXPECT_GE(psnr_of(path("vpipe.webm"), path("ffmpeg.webm")), 35);
}

TEST_F(EverydayTest, BurntInTimestamp) {
  const std::string in = clip("in.mp4", 2);
  const std::string vf = "drawtext=text='%{pts\\:hms}':fontcolor=white:fontsize=24:x=8:y=8";
  ffmpeg("-i " + in + " -vf \"" + vf + "\" -c:v ffv1 -an " + path("ffmpeg.mkv"));
  vpipe({"-i", in, "-vf", vf, "-c:v", "ffv1", "-an", path("vpipe.mkv")});
  expect_same_streams(probe(path("vpipe.mkv")), probe(path("ffmpeg.mkv")), 0.05);
  EXPECT_EQ(psnr_of(path("vpipe.mkv"), path("ffmpeg.mkv")), 1000) << "bit-exact";
}

TEST_F(EverydayTest, RotatedPhoneClipIsUprightInMp4AndMkvAfterATranspose) {
  const std::string plain = clip("plain.mp4", 1);
  const std::string in = path("phone.mp4");
  ffmpeg("-i " + plain + " -c copy -metadata:s:v:0 rotate=90 " + in);
  for (const std::string ext : {"mp4", "mkv"}) {
    ffmpeg("-i " + in + " -vf transpose=1 -c:v libx264 -crf 10 -c:a copy " + path("ffmpeg." + ext));
    vpipe({"-i", in, "-vf", "transpose=1", "-c:v", "libx264", "-crf", "10", path("vpipe." + ext)});
    const Probe got = probe(path("vpipe." + ext));
    expect_same_streams(got, probe(path("ffmpeg." + ext)), 0.05);
    // Turned upright (240x320), then transposed once more: 320x240, not turned twice.
    EXPECT_EQ(got.video().width, 320) << ext;
    EXPECT_GE(psnr_of(path("vpipe." + ext), path("ffmpeg." + ext)), 35) << ext;
  }
}

TEST_F(EverydayTest, SingleRenditionHlsWithFourSecondSegments) {
  const std::string in = clip("in.mp4", 10);
  const std::string dir = path("hls");
  ASSERT_EQ(shell("mkdir -p " + dir + "/ffmpeg " + dir + "/vpipe"), 0);
  ffmpeg("-i " + in +
         " -c:v libx264 -preset ultrafast -c:a aac -hls_time 4 -hls_playlist_type "
         "vod " +
         dir + "/ffmpeg/index.m3u8");
  vpipe({"-i", in, "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-hls_time", "4",
         "-hls_playlist_type", "vod", dir + "/vpipe/index.m3u8"});
  const std::string playlist = read_file(dir + "/vpipe/index.m3u8");
  EXPECT_THAT(playlist, HasSubstr("#EXT-X-PLAYLIST-TYPE:VOD"));
  EXPECT_THAT(playlist, HasSubstr("#EXT-X-ENDLIST"));
  // ffmpeg cuts where x264 happened to put keyframes (here every 30 frames); vpipe puts one at
  // every boundary, so each segment is the 4 s asked for.
  EXPECT_EQ(std::count(playlist.begin(), playlist.end(), '\n') -
                std::count(playlist.begin(), playlist.end(), '#') + 1,
            4);
  EXPECT_THAT(playlist, HasSubstr("#EXTINF:4.0"));
  expect_same_streams(probe(dir + "/vpipe/index.m3u8"), probe(dir + "/ffmpeg/index.m3u8"), 0.1);
}

TEST_F(EverydayTest, WatermarkInTheBottomRightCorner) {
  const std::string in = clip("in.mp4", 1);
  const std::string logo = path("logo.png");
  ffmpeg("-f lavfi -i color=c=red@0.6:size=48x32,format=rgba -frames:v 1 " + logo);
  ffmpeg("-i " + in + " -i " + logo + " -filter_complex overlay=W-w-16:H-h-16 -c:v ffv1 -an " +
         path("ffmpeg.mkv"));
  vpipe({"-i", in, "-vf", "movie=" + logo + "[wm];[in][wm]overlay=W-w-16:H-h-16[out]", "-c:v",
         "ffv1", "-an", path("vpipe.mkv")});
  expect_same_streams(probe(path("vpipe.mkv")), probe(path("ffmpeg.mkv")), 0.05);
  EXPECT_GE(psnr_of(path("vpipe.mkv"), path("ffmpeg.mkv")), 50);
}

TEST_F(EverydayTest, UdpSendToTheFfmpegCli) {
  // vpipe sends, the ffmpeg CLI receives (vpipe receiving: LiveTest.LoopbackUdpFeed*).
  const std::string url = "udp://127.0.0.1:" + std::to_string(free_udp_port());
  const pid_t rx = fork();
  if (rx == 0) {
    execlp("sh", "sh", "-c",
           ("exec ffmpeg -v error -nostdin -y -i '" + url + "?timeout=1000000' -c copy " +
            path("from-vpipe.ts"))
               .c_str(),
           nullptr);
    _exit(127);
  }
  std::this_thread::sleep_for(500ms);
  vpipe({"-re", "-i", "testsrc:size=320x240:rate=30:duration=2", "-g", "15", "-f", "mpegts", url});
  int status = 0;
  waitpid(rx, &status, 0);
  EXPECT_TRUE(WIFEXITED(status));
  // A 2 s stream, from the first keyframe the receiver saw; it ends 1 s after the last packet.
  EXPECT_GE(probe(path("from-vpipe.ts")).video().frames, 50);
}

TEST_F(EverydayTest, FrameRateChangeGrayscaleAndDenoise) {
  const std::string in = clip("in.mp4", 2);
  // 2 s at 15 fps: 30 frames of 1/15 s. (The ffmpeg CLI writes 31 here: it repeats the last
  // frame to cover the input's last frame's end, making the video 2.07 s long.)
  vpipe({"-i", in, "-r", "15", "-c:v", "ffv1", "-an", path("vpipe-15.mkv")});
  const Probe slower = probe(path("vpipe-15.mkv"));
  EXPECT_EQ(slower.video().frames, 30);
  EXPECT_NEAR(slower.duration_s, 2.0, 0.01);

  for (const std::string vf : {"format=gray,format=yuv420p", "hqdn3d"}) {
    ffmpeg("-i " + in + " -vf " + vf + " -c:v ffv1 -an " + path("ffmpeg.mkv"));
    vpipe({"-i", in, "-vf", vf, "-c:v", "ffv1", "-an", path("vpipe.mkv")});
    expect_same_streams(probe(path("vpipe.mkv")), probe(path("ffmpeg.mkv")), 0.05);
    EXPECT_EQ(psnr_of(path("vpipe.mkv"), path("ffmpeg.mkv")), 1000) << vf << ": bit-exact";
  }
}

// ffmpeg's two-pass-in-one GIF recipe: the palette is made from every frame, then used. vpipe
// runs the graph whole in its encode stage (palettegen gives the palette only at the input's
// end) and writes the ffmpeg CLI's file, byte for byte.
TEST_F(EverydayTest, GifWithPalettegenAndPaletteuse) {
  const std::string in = clip("in.mp4", 2);
  const std::string vf =
      "fps=10,scale=160:-1:flags=lanczos,split[s0][s1];[s0]palettegen[p];[s1][p]paletteuse";
  ffmpeg("-i " + in + " -vf \"" + vf + "\" " + path("ffmpeg.gif"));
  vpipe({"-i", in, "-vf", vf, path("vpipe.gif")});
  const Probe got = probe(path("vpipe.gif"));
  expect_same_streams(got, probe(path("ffmpeg.gif")), 0.01);
  EXPECT_EQ(got.video().frames, 20);  // 2 s at 10 fps
  const DecodedVideo mine = decode_video(path("vpipe.gif"));
  const DecodedVideo theirs = decode_video(path("ffmpeg.gif"));
  EXPECT_EQ(mine.checksums, theirs.checksums);
  EXPECT_EQ(mine.pts, theirs.pts);
}

// An interlaced broadcast recording (MPEG-TS, H.264 coded as fields): deinterlaced at the frame
// rate (yadif) and at the field rate (bwdif's default), as the ffmpeg CLI does it.
TEST_F(EverydayTest, DeinterlaceAtFrameAndFieldRate) {
  const std::string in = clip("in.ts", 2, "-flags +ildct+ilme -x264opts tff=1");
  for (const std::string vf : {"yadif", "bwdif"}) {
    ffmpeg("-i " + in + " -vf " + vf + " -c:v ffv1 -an " + path("ffmpeg.mkv"));
    vpipe({"-i", in, "-vf", vf, "-c:v", "ffv1", "-an", path("vpipe.mkv")});
    const Probe got = probe(path("vpipe.mkv"));
    expect_same_streams(got, probe(path("ffmpeg.mkv")), 0.05);
    EXPECT_EQ(got.video().frames, vf == "yadif" ? 60 : 120) << vf;
    EXPECT_EQ(psnr_of(path("vpipe.mkv"), path("ffmpeg.mkv")), 1000) << vf << ": bit-exact";
  }
}

TEST_F(EverydayTest, ThumbnailPng) {
  const std::string in = clip("in.mp4", 3);
  ffmpeg("-ss 1 -i " + in + " -frames:v 1 " + path("ffmpeg.png"));
  vpipe({"-ss", "1", "-i", in, "-frames:v", "1", path("vpipe.png")});
  const Probe got = probe(path("vpipe.png"));
  expect_same_streams(got, probe(path("ffmpeg.png")), 1);
  EXPECT_EQ(got.video().codec, "png");
  EXPECT_GE(psnr_of(path("vpipe.png"), path("ffmpeg.png")), 35);
  // Without -frames:v, a single image still takes the first frame.
  vpipe({"-i", in, path("first.png")});
  EXPECT_EQ(probe(path("first.png")).video().frames, 1);
}

}  // namespace
}  // namespace vpipe::test
