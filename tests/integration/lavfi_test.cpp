// ffmpeg's filters in vpipe's workers, against the ffmpeg CLI running the same chain on the same
// input: the same frames, pixel for pixel, with the same timestamps. A per-frame chain runs on
// three workers that each see every third frame or so (batches of 1), so a filter wrongly
// listed as per-frame would show here as different pictures; a chain that must see frames in
// order runs on one worker. Also: the chain's errors, and --dry-run's account of the order.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <ostream>

#include "support/media.hpp"
#include "support/run_dir_test.hpp"
#include "support/vpipe_process.hpp"

namespace vpipe::test {
namespace {

using ::testing::HasSubstr;

struct LavfiCase {
  const char* vf;         // as given to vpipe
  const char* ffmpeg_vf;  // the same chain for the ffmpeg CLI (nullptr: vf)
  bool per_frame;         // runs on several workers
  double min_psnr = std::numeric_limits<double>::infinity();  // infinity: bit-exact
  friend void PrintTo(const LavfiCase& c, std::ostream* os) { *os << c.vf; }
};

class LavfiTest : public RunDirTest {
 protected:
  // 1 s of testsrc2 at 320x240, 30 fps, lossless: both tools decode the same pictures.
  std::string make_input() {
    const std::string in = path("in.mkv");
    EXPECT_EQ(shell("ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=30:duration=1 "
                    "-pix_fmt yuv420p -c:v ffv1 " +
                    in),
              0);
    return in;
  }
};

class LavfiAgainstFfmpegTest : public LavfiTest, public ::testing::WithParamInterface<LavfiCase> {};

TEST_P(LavfiAgainstFfmpegTest, WorkersGiveFfmpegsFramesAndTimestamps) {
  const LavfiCase& c = GetParam();
  const std::string in = make_input();
  const std::string ref = path("ffmpeg.mkv");
  const std::string out = path("vpipe.mkv");
  const std::string ffmpeg_vf = std::string(c.ffmpeg_vf ? c.ffmpeg_vf : c.vf) + ",format=yuv420p";
  ASSERT_EQ(shell("ffmpeg -v error -y -i " + in + " -vf \"" + ffmpeg_vf + "\" -c:v ffv1 " + ref),
            0);

  const RunResult r =
      run_vpipe({"run", "-q", "-y", "-i", in, "--vf", c.vf, "-c:v", "ffv1", "-o", out, "--workers",
                 "3", "--batch", "1", "--stats-json", path("stats.json")});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const DecodedVideo want = decode_video(ref, /*keep_pixels=*/true);
  const DecodedVideo got = decode_video(out, /*keep_pixels=*/true);
  ASSERT_EQ(got.nb_frames(), 30u);
  ASSERT_EQ(got.nb_frames(), want.nb_frames());
  EXPECT_EQ(got.width, want.width);
  EXPECT_EQ(got.height, want.height);
  EXPECT_EQ(got.pts, want.pts);
  for (std::size_t i = 0; i < got.nb_frames(); ++i) {
    if (std::isinf(c.min_psnr)) {
      EXPECT_EQ(got.checksums[i], want.checksums[i]) << "frame " << i;
    } else {
      EXPECT_GE(psnr(got.frames[i], want.frames[i]), c.min_psnr) << "frame " << i;
    }
  }

  // The parallel path was taken: several workers filtered frames; or one, in order.
  int workers = 0;
  int busy = 0;
  const nlohmann::json report = stats();
  for (const auto& stage : report.at("stages")) {
    if (stage.at("stage").get<std::string>().rfind("xform", 0) != 0) continue;
    ++workers;
    if (stage.at("frames_in").get<int>() > 0) ++busy;
  }
  if (c.per_frame) {
    EXPECT_EQ(workers, 3);
    EXPECT_GE(busy, 2);
  } else {
    EXPECT_EQ(workers, 1);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Chains, LavfiAgainstFfmpegTest,
    ::testing::Values(
        LavfiCase{"scale=-2:120", nullptr, true}, LavfiCase{"crop=200:100:10:20", nullptr, true},
        LavfiCase{"pad=360:280:20:20:color=blue", nullptr, true},
        LavfiCase{"transpose=1", nullptr, true}, LavfiCase{"hflip,vflip", nullptr, true},
        LavfiCase{"rotate=PI/6", nullptr, true},
        LavfiCase{"eq=contrast=1.3:brightness=0.05:saturation=1.2", nullptr, true},
        LavfiCase{"hue=h=90:s=1.5", nullptr, true}, LavfiCase{"gblur=sigma=3", nullptr, true},
        LavfiCase{"boxblur=2:1", nullptr, true}, LavfiCase{"unsharp=5:5:1.5", nullptr, true},
        LavfiCase{"drawtext=text='Hello, world':fontcolor=white:fontsize=20:x=w-tw-16:y=8", nullptr,
                  true},
        LavfiCase{"drawtext=text='%{pts\\:hms}':fontcolor=yellow:fontsize=24", nullptr, true},
        LavfiCase{"drawbox=x=10:y=10:w=50:h=40:color=red@0.5:t=fill", nullptr, true},
        LavfiCase{"negate", nullptr, true}, LavfiCase{"lutyuv=y=negval", nullptr, true},
        LavfiCase{"curves=preset=vintage", nullptr, true},
        LavfiCase{"colorchannelmixer=.3:.4:.3:0:.3:.4:.3:0:.3:.4:.3", nullptr, true},
        LavfiCase{"fade=t=in:st=0.2:d=0.5", nullptr, true}, LavfiCase{"format=gray", nullptr, true},
        LavfiCase{"[in]negate[x];[x]hflip[out]", "negate,hflip", true},
        // vpipe's own filter and ffmpeg's in one chain.
        LavfiCase{"cv.hflip,scale=160:120", "hflip,scale=160:120", true},
        // The per-frame head on every worker, the rest in order in the encode stage.
        LavfiCase{"gblur=sigma=2,unsharp=5:5:1.5,hqdn3d", nullptr, true},
        // In order, on one worker.
        LavfiCase{"hqdn3d", nullptr, false},
        LavfiCase{"drawtext=text='frame %{n}':fontcolor=white:fontsize=24", nullptr, false},
        LavfiCase{"fade=in:5:10", nullptr, false}));

TEST_F(LavfiTest, AnInOrderTailGivesWhatOneWorkerRunningTheWholeChainGives) {
  // vpipe's own temporal filter between two per-frame ones: on 3 workers the head is split
  // from the rest, which the encode stage runs in order; on 1 worker the whole chain runs there.
  const std::string in = make_input();
  const std::string vf = "scale=160:120,cv.tdenoise=8,negate";
  for (const char* workers : {"1", "3"}) {
    const RunResult r = run_vpipe({"run", "-q", "-y", "-i", in, "--vf", vf, "-c:v", "ffv1", "-o",
                                   path(std::string("w") + workers + ".mkv"), "--workers", workers,
                                   "--batch", "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const DecodedVideo one = decode_video(path("w1.mkv"));
  const DecodedVideo three = decode_video(path("w3.mkv"));
  ASSERT_EQ(one.nb_frames(), 30u);
  EXPECT_EQ(three.checksums, one.checksums);
  EXPECT_EQ(three.pts, one.pts);
}

TEST_F(LavfiTest, DryRunSaysWhichWorkersRunTheChainAndWhy) {
  const RunResult parallel =
      run_vpipe({"run", "--dry-run", "-i", "testsrc", "--vf", "scale=-2:360,gblur=sigma=2", "-o",
                 "null", "--workers", "3"});
  ASSERT_EQ(parallel.exit_code, 0) << parallel.err;
  EXPECT_THAT(parallel.out, HasSubstr("each frame alone: the 3 worker(s)"));

  const RunResult ordered = run_vpipe({"run", "--dry-run", "-i", "testsrc", "--vf",
                                       "hqdn3d,gblur=sigma=2", "-o", "null", "--workers", "3"});
  ASSERT_EQ(ordered.exit_code, 0) << ordered.err;
  EXPECT_THAT(ordered.out, HasSubstr("in order, on 1 worker: 'hqdn3d' keeps state"));
  EXPECT_THAT(ordered.err, HasSubstr("using 1 worker, not 3"));

  const RunResult split = run_vpipe({"run", "--dry-run", "-i", "testsrc", "--vf",
                                     "gblur=sigma=2,hqdn3d", "-o", "null", "--workers", "3"});
  ASSERT_EQ(split.exit_code, 0) << split.err;
  EXPECT_THAT(split.out, HasSubstr("each frame alone on the 3 workers: gblur=sigma=2"));
  EXPECT_THAT(split.out, HasSubstr("then in order, in the encode stage: hqdn3d"));

  const RunResult graph =
      run_vpipe({"run", "--dry-run", "-i", "testsrc", "--vf", "gblur=sigma=2,hqdn3d,yadif=1", "-o",
                 "null", "--workers", "3"});
  ASSERT_EQ(graph.exit_code, 0) << graph.err;
  EXPECT_THAT(graph.out, HasSubstr("then in order, in the encode stage: hqdn3d"));
  EXPECT_THAT(graph.out, HasSubstr("then in the encode stage, as one graph fed every frame in "
                                   "order: yadif=1 ('yadif' deinterlaces with the next frame)"));
}

// Filters that give frames of their own (deinterlacers, frame-rate and timestamp changes,
// frames dropped, added or reversed) run as one graph in the encode stage, fed every frame in
// order: the ffmpeg CLI's frames and timestamps, however many there are.
struct OwnFramesCase {
  const char* vf;
  std::size_t frames;  // what the ffmpeg CLI gives from the 30 frames in
  friend void PrintTo(const OwnFramesCase& c, std::ostream* os) { *os << c.vf; }
};

class LavfiOwnFramesTest : public LavfiTest, public ::testing::WithParamInterface<OwnFramesCase> {};

TEST_P(LavfiOwnFramesTest, TheEncodeStagesGraphGivesFfmpegsFramesAndTimestamps) {
  const OwnFramesCase& c = GetParam();
  const std::string in = make_input();
  ASSERT_EQ(shell("ffmpeg -v error -y -i " + in + " -vf \"" + c.vf +
                  ",format=yuv420p\" -c:v ffv1 " + path("ffmpeg.mkv")),
            0);
  const RunResult r =
      run_vpipe({"run", "-q", "-y", "-i", in, "--vf", c.vf, "-c:v", "ffv1", "-o", path("vpipe.mkv"),
                 "--workers", "3", "--batch", "1", "--stats-json", path("stats.json")});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const DecodedVideo want = decode_video(path("ffmpeg.mkv"));
  const DecodedVideo got = decode_video(path("vpipe.mkv"));
  ASSERT_EQ(want.nb_frames(), c.frames);
  ASSERT_EQ(got.nb_frames(), c.frames);
  EXPECT_EQ(got.width, want.width);
  EXPECT_EQ(got.height, want.height);
  EXPECT_EQ(got.checksums, want.checksums);
  // The filters' own timestamps, kept exactly (the encoder takes the graph's time base): the
  // ffmpeg CLI puts them on a grid of 1/rate, so a new one (yadif=1's second field, halfway
  // to the next frame; 2*PTS) may differ by the rounding, a millisecond here.
  ASSERT_EQ(got.pts.size(), want.pts.size());
  for (std::size_t i = 0; i < got.pts.size(); ++i)
    EXPECT_NEAR(got.pts[i], want.pts[i], 1) << "frame " << i;
  // Every frame in was copied once out of its slot into the graph, and counted. (The report is
  // kept: a loop over a temporary's member would read freed memory.)
  const nlohmann::json report = stats();
  int encodes = 0;
  for (const auto& stage : report.at("stages")) {
    if (stage.at("stage") == "encode") {
      ++encodes;
      EXPECT_EQ(stage.at("frames_in").get<std::size_t>(), 30u);
      EXPECT_EQ(stage.at("frames_out").get<std::size_t>(), c.frames);
      EXPECT_GE(stage.at("frames_copied").get<std::size_t>(), 30u);
    }
  }
  EXPECT_EQ(encodes, 1);
}

INSTANTIATE_TEST_SUITE_P(Chains, LavfiOwnFramesTest,
                         ::testing::Values(OwnFramesCase{"yadif", 30}, OwnFramesCase{"yadif=1", 60},
                                           OwnFramesCase{"bwdif", 60}, OwnFramesCase{"w3fdif", 60},
                                           OwnFramesCase{"fps=10", 10},
                                           OwnFramesCase{"framestep=3", 10},
                                           OwnFramesCase{"setpts=2*PTS", 30},
                                           OwnFramesCase{"reverse", 30},
                                           OwnFramesCase{"tpad=stop=5", 35},
                                           // A per-frame head on the workers, then the graph.
                                           OwnFramesCase{"scale=160:120,fps=15", 15},
                                           // An in-order part, then the graph.
                                           OwnFramesCase{"gblur=sigma=2,hqdn3d,yadif", 30}));

TEST_F(LavfiTest, FramesVCountsTheFramesTheGraphGives) {
  // 30 fps in, 10 out: -frames:v 4 is 4 frames out (the input stops after about 12), as the
  // ffmpeg CLI counts them.
  const std::string in = make_input();
  const RunResult r =
      run_vpipe({"run", "-q", "-y", "-i", in, "--vf", "fps=10", "-frames:v", "4", "-c:v", "ffv1",
                 "--stats-json", path("stats.json"), "-o", path("out.mkv")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const DecodedVideo got = decode_video(path("out.mkv"));
  EXPECT_EQ(got.nb_frames(), 4u);
  // At the graph's rate, 10 fps: 0.4 s.
  EXPECT_NEAR(stats().at("output_duration_s").get<double>(), 0.4, 1e-9);
}

TEST_F(LavfiTest, AFilterThatWaitsForTheEndIsRefusedOnALiveInput) {
  const RunResult r =
      run_vpipe({"run", "-i", "testsrc", "--live", "on", "--vf", "palettegen", "-o", "null"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("'palettegen' gives its palette when the input ends"));
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
}

struct BadChain {
  const char* vf;
  const char* says;
  friend void PrintTo(const BadChain& c, std::ostream* os) { *os << c.vf; }
};

class LavfiBadChainTest : public LavfiTest, public ::testing::WithParamInterface<BadChain> {};

TEST_P(LavfiBadChainTest, IsOneLineAndAUsageErrorBeforeAnyProcessStarts) {
  const RunResult r = run_vpipe({"run", "-i", "testsrc", "--vf", GetParam().vf, "-o", "null"});

  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr(GetParam().says));
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
}

INSTANTIATE_TEST_SUITE_P(Chains, LavfiBadChainTest,
                         ::testing::Values(BadChain{"scale=w=abc", "filter 'scale=w=abc'"},
                                           BadChain{"gblur=sigma=-3", "filter 'gblur=sigma=-3'"},
                                           BadChain{"nosuch=1", "unknown filter 'nosuch'"},
                                           BadChain{"cv.nosuch", "vpipe has no filter 'nosuch'"},
                                           BadChain{"yadif,cv.gray",
                                                    "'cv.gray' cannot come after 'yadif'"},
                                           BadChain{"drawtext=text='open", "unclosed quote"},
                                           BadChain{"crop=2000:300", "cannot run on 1280x720"},
                                           BadChain{"overlay", "one video input"}));

}  // namespace
}  // namespace vpipe::test
