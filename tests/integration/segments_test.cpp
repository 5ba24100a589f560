// Segment mode end to end: plan, segment jobs, the local engine and the join, each output decoded
// back and compared with one `vpipe run` of the same options; a killed job, a missing segment, a
// changed input and inputs that cannot be split; every local job and stage in its CPU set.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "support/media.hpp"
#include "support/run_dir_test.hpp"
#include "support/vpipe_process.hpp"

namespace vpipe::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

class SegmentsTest : public RunDirTest {
 protected:
  // 4 s of 320x240 H.264 with B-frames (3) and a keyframe every `gop` frames, and AAC audio.
  std::string make_input(int gop = 60, const std::string& name = "in.mp4") {
    const std::string in = path(name);
    EXPECT_EQ(shell("ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=30:duration=4 "
                    "-f lavfi -i sine=frequency=660:sample_rate=48000:duration=4 -c:v libx264 "
                    "-preset veryfast -bf 3 -g " +
                    std::to_string(gop) + " -pix_fmt yuv420p -c:a aac -shortest " + in),
              0);
    return in;
  }
  // One run of `args` into `out`; fails the test unless it exits 0.
  void single_run(const std::vector<std::string>& args, const std::string& out) {
    std::vector<std::string> all{"run", "-q", "-y", "-o", out};
    all.insert(all.end(), args.begin(), args.end());
    const RunResult r = run_vpipe(all, 120);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  RunResult segments(const std::vector<std::string>& args, int timeout_s = 120) {
    std::vector<std::string> all{"segments"};
    all.insert(all.end(), args.begin(), args.end());
    return run_vpipe(all, timeout_s);
  }
  void plan(const std::vector<std::string>& args, const std::string& workdir) {
    std::vector<std::string> all{"plan", "-q", "--workdir", workdir};
    all.insert(all.end(), args.begin(), args.end());
    const RunResult r = segments(all);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // The two files hold the same video frames (checksums and pts) and the same audio packets.
  static void expect_same_output(const std::string& joined, const std::string& single) {
    const DecodedVideo a = decode_video(joined), b = decode_video(single);
    ASSERT_GT(b.nb_frames(), 0U);
    EXPECT_EQ(a.nb_frames(), b.nb_frames());
    EXPECT_EQ(a.pts, b.pts);
    EXPECT_EQ(a.checksums, b.checksums);
    const auto sa = probe_streams(joined), sb = probe_streams(single);
    ASSERT_EQ(sa.size(), sb.size());
    for (std::size_t i = 0; i < sa.size(); ++i) {
      EXPECT_EQ(sa[i].type, sb[i].type);
      EXPECT_EQ(sa[i].codec, sb[i].codec);
      EXPECT_EQ(sa[i].packets, sb[i].packets) << sa[i].type;
      EXPECT_NEAR(sa[i].duration_s, sb[i].duration_s, 1e-6) << sa[i].type;
    }
  }
};

TEST_F(SegmentsTest, LosslessExactSplitOfABFrameInputIsBitIdenticalToOneRun) {
  const std::string in = make_input();
  const std::vector<std::string> opts{"-i", in, "-c:v", "ffv1"};
  single_run(opts, path("single.mkv"));
  std::vector<std::string> plan_args = opts;
  plan_args.insert(plan_args.end(),
                   {"-o", path("joined.mkv"), "--segments", "4", "--split", "exact"});
  plan(plan_args, path("job"));

  const RunResult r = segments({"submit", "-q", "--workdir", path("job"), "--jobs", "2"});

  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same_output(path("joined.mkv"), path("single.mkv"));
  EXPECT_EQ(decode_video(path("joined.mkv")).nb_frames(), 120U);
}

// A rotated phone clip: the segments (NUT, which cannot carry the rotation) turn the pixels
// exactly when one run into the final output would, and the join writes the rotation as it
// would: MP4 keeps the side data, Matroska gets upright pixels. Never both.
TEST_F(SegmentsTest, ARotatedInputIsJoinedAsOneRunWouldWriteIt) {
  const std::string plain = make_input(/*gop=*/30, "plain.mp4");
  const std::string in = path("rotated.mp4");
  ASSERT_EQ(shell("ffmpeg -v error -y -i " + plain + " -c copy -metadata:s:v:0 rotate=90 " + in),
            0);
  for (const std::string out : {"mkv", "mp4"}) {
    SCOPED_TRACE(out);
    // Lossless x264 (MP4 cannot hold FFV1): the pictures compare exactly.
    single_run({"-i", in, "--crf", "0", "-an"}, path("single." + out));
    plan({"-i", in, "--crf", "0", "-an", "-o", path("joined." + out), "--segments", "2"},
         path("job-" + out));
    const RunResult r = segments({"submit", "-q", "--workdir", path("job-" + out)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const DecodedVideo joined = decode_video(path("joined." + out));
    const DecodedVideo single = decode_video(path("single." + out));
    EXPECT_EQ(joined.width, single.width);
    EXPECT_EQ(joined.height, single.height);
    EXPECT_EQ(joined.checksums, single.checksums);
    EXPECT_EQ(joined.width, out == "mkv" ? 240 : 320) << "turned upright only where needed";
  }
}

TEST_F(SegmentsTest, DefaultKeyframeSplitKeepsTheFramesTimestampsAndAudioOfOneRun) {
  const std::string in = make_input(/*gop=*/30);
  single_run({"-i", in}, path("single.mp4"));
  plan({"-i", in, "-o", path("joined.mp4"), "--segments", "3"}, path("job"));
  const auto manifest = nlohmann::json::parse(read_file(path("job/manifest.json")));
  ASSERT_EQ(manifest.at("segments").size(), 3U);
  for (const auto& s : manifest.at("segments")) {
    EXPECT_EQ(s.at("first_frame").get<int>() % 30, 0) << "a boundary is not on a keyframe";
    EXPECT_LE(s.at("seek_pts"), s.at("begin_pts"));
  }

  const RunResult r = segments({"submit", "-q", "--workdir", path("job")});

  ASSERT_EQ(r.exit_code, 0) << r.err;
  const DecodedVideo joined = decode_video(path("joined.mp4"), /*keep_pixels=*/true);
  const DecodedVideo single = decode_video(path("single.mp4"), /*keep_pixels=*/true);
  EXPECT_EQ(joined.nb_frames(), 120U);
  EXPECT_EQ(joined.pts, single.pts);
  for (std::size_t i = 0; i < joined.frames.size() && i < single.frames.size(); ++i)
    EXPECT_GT(psnr(joined.frames[i], single.frames[i]), 30.0) << "frame " << i;
  const auto sa = probe_streams(path("joined.mp4")), sb = probe_streams(path("single.mp4"));
  ASSERT_EQ(sa.size(), 2U);
  ASSERT_EQ(sb.size(), 2U);
  EXPECT_EQ(sa[1].packets, sb[1].packets);  // the audio, copied once over the whole range
  EXPECT_NEAR(sa[1].duration_s, sb[1].duration_s, 1e-6);
}

TEST_F(SegmentsTest, AVariableFrameRateInputKeepsEveryTimestamp) {
  // Intervals of 33, 46, 54 and 67 ms: every fifth frame 13 ms later, every seventh 21 ms.
  const std::string in = path("vfr.mkv");
  ASSERT_EQ(
      shell("ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=30:duration=4 -f lavfi "
            "-i sine=duration=4 -vf \"setpts='(N/30+floor(N/5)*0.013+"
            "floor(N/7)*0.021)/TB'\" -fps_mode passthrough -c:v libx264 -preset "
            "veryfast -bf 3 -c:a aac -shortest " +
            in),
      0);
  single_run({"-i", in, "-c:v", "ffv1"}, path("single.mkv"));
  plan({"-i", in, "-o", path("joined.mkv"), "-c:v", "ffv1", "--segments", "3", "--split", "exact"},
       path("job"));

  ASSERT_EQ(segments({"submit", "-q", "--workdir", path("job")}).exit_code, 0);

  expect_same_output(path("joined.mkv"), path("single.mkv"));
  const DecodedVideo v = decode_video(path("joined.mkv"));
  std::set<std::int64_t> intervals;
  for (std::size_t i = 1; i < v.pts.size(); ++i) intervals.insert(v.pts[i] - v.pts[i - 1]);
  EXPECT_GT(intervals.size(), 2U) << "the input was not VFR";
}

TEST_F(SegmentsTest, AnOpenGopHevcInputSplitAtItsKeyframesIsBitIdenticalToOneRun) {
  const std::string in = path("open-gop.mkv");
  ASSERT_EQ(shell("ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=30:duration=4 -c:v "
                  "libx265 -preset ultrafast -x265-params "
                  "log-level=error:open-gop=1:keyint=30:min-keyint=30:bframes=3:scenecut=0 " +
                  in),
            0);
  single_run({"-i", in, "-c:v", "ffv1"}, path("single.mkv"));
  plan({"-i", in, "-o", path("joined.mkv"), "-c:v", "ffv1", "--segments", "4"}, path("job"));

  ASSERT_EQ(segments({"submit", "-q", "--workdir", path("job")}).exit_code, 0);

  expect_same_output(path("joined.mkv"), path("single.mkv"));
  EXPECT_EQ(decode_video(path("joined.mkv")).nb_frames(), 120U);
}

TEST_F(SegmentsTest, StatefulFiltersGetPreRollAndFrameNumbersAreAbsolute) {
  const std::string in = make_input();
  // Noise for tdenoise to average away, then the frame number drawn on each frame.
  const std::vector<std::string> opts{
      "-i",   in,     "-c:v",
      "ffv1", "--vf", "tdenoise=12,cv.drawtext=text=frame %{n} at %{pts}s:x=8:y=8:size=24"};
  single_run(opts, path("single.mkv"));
  std::vector<std::string> plan_args = opts;
  plan_args.insert(plan_args.end(),
                   {"-o", path("joined.mkv"), "--segments", "4", "--split", "exact"});
  plan(plan_args, path("job"));
  const auto manifest = nlohmann::json::parse(read_file(path("job/manifest.json")));
  EXPECT_EQ(manifest.at("segments").at(0).at("preroll_frames"), 0);
  EXPECT_EQ(manifest.at("segments").at(2).at("preroll_frames"), 60);

  ASSERT_EQ(segments({"submit", "-q", "--workdir", path("job"), "--jobs", "2"}).exit_code, 0);

  const DecodedVideo a = decode_video(path("joined.mkv"), true);
  const DecodedVideo b = decode_video(path("single.mkv"), true);
  ASSERT_EQ(a.nb_frames(), 120U);
  ASSERT_EQ(b.nb_frames(), 120U);
  EXPECT_EQ(a.pts, b.pts);
  for (std::size_t i = 0; i < a.frames.size(); ++i)
    EXPECT_GT(psnr(a.frames[i], b.frames[i]), 60.0) << "frame " << i;
}

TEST_F(SegmentsTest, SsAndTApplyToTheWholeJob) {
  const std::string in = make_input();
  const std::vector<std::string> opts{"-i", in, "-c:v", "ffv1", "--ss", "0.5", "-t", "2.5"};
  single_run(opts, path("single.mkv"));
  std::vector<std::string> plan_args = opts;
  plan_args.insert(plan_args.end(),
                   {"-o", path("joined.mkv"), "--segments", "3", "--split", "exact"});
  plan(plan_args, path("job"));

  const RunResult r = segments({"submit", "-q", "--workdir", path("job")});

  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same_output(path("joined.mkv"), path("single.mkv"));
  EXPECT_EQ(decode_video(path("joined.mkv")).nb_frames(), 75U);
}

TEST_F(SegmentsTest, OneShotRunWithSegmentsGivesTheSameFramesAndRemovesItsWorkFolder) {
  const std::string in = make_input();
  single_run({"-i", in, "-c:v", "ffv1"}, path("single.mkv"));

  const RunResult r = run_vpipe({"run", "-q", "-i", in, "-c:v", "ffv1", "-o", path("joined.mkv"),
                                 "--segments", "3", "--split", "exact", "--jobs", "2"});

  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same_output(path("joined.mkv"), path("single.mkv"));
  for (const auto& e : fs::directory_iterator(dir_))
    EXPECT_EQ(e.path().filename().string().find(".vpipe-segments"), std::string::npos);
}

TEST_F(SegmentsTest, AKilledSegmentJobPublishesNothingAndRunningItAgainGivesTheSameOutput) {
  const std::string in = make_input();
  const std::vector<std::string> opts{"-i", in, "-c:v", "ffv1", "--vf", "stress=30"};
  std::vector<std::string> plan_args = opts;
  plan_args.insert(plan_args.end(),
                   {"-o", path("joined.mkv"), "--segments", "2", "--split", "exact"});
  plan(plan_args, path("job"));
  ASSERT_EQ(segments({"run", "-q", "--workdir", path("job"), "--index", "0"}).exit_code, 0);

  const pid_t job =
      start_vpipe({"segments", "run", "--workdir", path("job"), "--index", "1"}, path("killed"));
  bool writing = false;
  for (int i = 0; i < 400 && !writing; ++i) {
    std::this_thread::sleep_for(25ms);
    for (const auto& e : fs::directory_iterator(path("job/segments")))
      writing = writing || e.path().filename().string().rfind("00001.nut.", 0) == 0;
  }
  ASSERT_TRUE(writing) << "the job never started writing";
  kill(job, SIGKILL);
  wait_vpipe(job, 10);
  std::this_thread::sleep_for(300ms);  // its stages see their parent gone and exit

  EXPECT_FALSE(fs::exists(path("job/segments/00001.nut")));
  const RunResult status = segments({"status", "--workdir", path("job"), "--missing"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_EQ(status.out, "1\n");
  const RunResult refused = segments({"join", "--workdir", path("job")});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("segments 1 missing"));
  EXPECT_FALSE(fs::exists(path("joined.mkv")));

  ASSERT_EQ(segments({"run", "-q", "--workdir", path("job"), "--index", "1"}).exit_code, 0);
  const RunResult again = segments({"run", "--workdir", path("job"), "--index", "1"});
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_THAT(again.out, HasSubstr("segment 1 already done"));
  ASSERT_EQ(segments({"join", "-q", "--workdir", path("job")}).exit_code, 0);
  single_run(opts, path("single.mkv"));
  expect_same_output(path("joined.mkv"), path("single.mkv"));
  for (const auto& e : fs::directory_iterator(path("job/segments")))
    EXPECT_EQ(e.path().string().find(".part"), std::string::npos) << e.path();
}

TEST_F(SegmentsTest, InputsThatCannotBeSplitAreAUsageError) {
  const std::string in = make_input();
  const std::vector<std::vector<std::string>> refused = {
      {"segments", "plan", "--workdir", path("a"), "--segments", "2", "-i", "testsrc", "-o",
       path("o.mp4")},
      {"segments", "plan", "--workdir", path("b"), "--segments", "2", "-i", in, "--realtime", "-o",
       path("o.mp4")},
      {"segments", "plan", "--workdir", path("c"), "--segments", "2", "-i", in, "-r", "25", "-o",
       path("o.mp4")},
      // Filters that give frames of their own (yadif: each frame waits for the next).
      {"segments", "plan", "--workdir", path("e"), "--segments", "2", "-i", in, "--vf", "yadif",
       "-o", path("o.mp4")},
      {"run", "-i", "testsrc:duration=1", "-o", path("o.mp4"), "--segments", "2"},
      {"segments", "plan", "--workdir", path("d"), "--segments", "2", "-i", path("in.avi"), "-o",
       path("o.mp4")},
  };
  // AVI: packets without timestamps; the decoder's guesses are not exact enough to cut by.
  ASSERT_EQ(shell("ffmpeg -v error -y -i " + in + " -c:v mpeg4 -bf 2 -an " + path("in.avi")), 0);
  for (const auto& args : refused) {
    const RunResult r = run_vpipe(args);
    EXPECT_EQ(r.exit_code, 2) << args[args.size() > 6 ? 6 : 1] << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr("segment mode"));
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
  }
  EXPECT_FALSE(fs::exists(path("o.mp4")));
}

TEST_F(SegmentsTest, AManifestWhoseInputOrOptionsChangedIsRefused) {
  const std::string in = make_input();
  plan({"-i", in, "-o", path("o.mkv"), "-c:v", "ffv1", "--segments", "2", "--split", "exact"},
       path("job"));
  std::string manifest = read_file(path("job/manifest.json"));
  const auto at = manifest.find("\"ffv1\"");
  ASSERT_NE(at, std::string::npos);
  std::ofstream(path("job/manifest.json")) << manifest.replace(at, 6, "\"mpeg4\"");

  RunResult r = segments({"run", "--workdir", path("job"), "--index", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("options changed"));

  plan({"-i", in, "-o", path("o.mkv"), "-c:v", "ffv1", "--segments", "2", "--split", "exact"},
       path("job2"));
  std::ofstream(in, std::ios::app) << "x";
  r = segments({"run", "--workdir", path("job2"), "--index", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("changed since it was planned"));
  EXPECT_FALSE(fs::exists(path("job2/segments/00000.nut")));
}

// The Kubernetes jobs for a plan, checked against golden files (the temp folder as /JOB) and
// read back as YAML: an Indexed Job with one completion per segment, retries per index, the
// shared claim mounted where input, job and output are, and `--index env`.
TEST_F(SegmentsTest, KubernetesJobsMatchTheirGoldenFiles) {
  const std::string in = make_input();
  plan({"-i", in, "-o", path("out.mp4"), "--segments", "4", "--split", "exact"}, path("job"));

  const RunResult r = segments({"submit", "--workdir", path("job"), "--engine", "k8s", "--image",
                                "registry.example/vpipe:1.0", "--jobs", "3", "--max-tries", "2",
                                "--cpus-per-task", "4"});

  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("kubectl apply -f " + path("job/k8s/segments-job.yaml")));
  const std::string golden = std::string(VPIPE_SOURCE_DIR) + "/tests/data/k8s/";
  for (const std::string name : {"segments-job.yaml", "join-job.yaml"}) {
    std::string text = read_file(path("job/k8s/" + name));
    for (auto at = text.find(dir_); at != std::string::npos; at = text.find(dir_))
      text.replace(at, dir_.size(), "/JOB");
    // The job's name ends with its options' hash, which holds the folder's path.
    const std::string hash = nlohmann::json::parse(read_file(path("job/manifest.json")))
                                 .at("options_hash")
                                 .get<std::string>();
    const std::string id = hash.substr(hash.size() - 8);
    for (auto at = text.find(id); at != std::string::npos; at = text.find(id))
      text.replace(at, id.size(), "HASH");
    EXPECT_EQ(text, read_file(golden + name)) << name << " differs from " << golden << name;
  }
  const YAML::Node seg = YAML::LoadFile(path("job/k8s/segments-job.yaml"));
  EXPECT_EQ(seg["kind"].as<std::string>(), "Job");
  EXPECT_EQ(seg["spec"]["completionMode"].as<std::string>(), "Indexed");
  EXPECT_EQ(seg["spec"]["completions"].as<int>(), 4);
  EXPECT_EQ(seg["spec"]["parallelism"].as<int>(), 3);
  EXPECT_EQ(seg["spec"]["backoffLimitPerIndex"].as<int>(), 1);
  const YAML::Node pod = seg["spec"]["template"]["spec"];
  const YAML::Node command = pod["containers"][0]["command"];
  EXPECT_EQ(command[command.size() - 1].as<std::string>(), "env");
  EXPECT_EQ(pod["containers"][0]["volumeMounts"][0]["mountPath"].as<std::string>(), dir_);
  EXPECT_EQ(pod["volumes"][0]["persistentVolumeClaim"]["claimName"].as<std::string>(),
            "vpipe-work");
  const YAML::Node join = YAML::LoadFile(path("job/k8s/join-job.yaml"));
  EXPECT_EQ(join["spec"]["template"]["spec"]["containers"][0]["command"][2].as<std::string>(),
            "join");
}

// The CPUs of `pid` and of every process below it.
void collect_cpus(pid_t pid, std::vector<std::pair<pid_t, std::string>>& into) {
  into.emplace_back(pid, cpus_allowed(pid));
  for (pid_t kid : children_of(pid)) collect_cpus(kid, into);
}

TEST_F(SegmentsTest, EachLocalJobAndItsStagesStayInTheirOwnCpuSet) {
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "needs 2 CPUs";
  const std::string in = make_input();
  plan({"-i", in, "-o", path("o.mkv"), "-c:v", "ffv1", "--vf", "stress=40", "--segments", "2",
        "--split", "exact"},
       path("job"));
  const pid_t submit = start_vpipe(
      {"segments", "submit", "-q", "--workdir", path("job"), "--jobs", "2"}, path("submit"));
  std::set<std::string> job_sets;
  bool stages_seen = false;
  for (int i = 0; i < 400 && is_alive(submit); ++i) {
    std::this_thread::sleep_for(20ms);
    for (pid_t job : children_of(submit)) {
      // Segment jobs only (a sanitizer's leak checker forks a copy of submit at exit).
      const std::string cmdline = read_file("/proc/" + std::to_string(job) + "/cmdline");
      if (cmdline.find(std::string("segments\0run", 12)) == std::string::npos) continue;
      std::vector<std::pair<pid_t, std::string>> tree;
      collect_cpus(job, tree);
      const std::string job_cpus = tree.front().second;
      if (job_cpus.empty()) continue;
      job_sets.insert(job_cpus);
      for (const auto& [pid, cpus] : tree) {
        if (cpus.empty()) continue;  // exited meanwhile
        EXPECT_EQ(cpus, job_cpus) << "process " << pid << " escaped its job's CPUs";
        stages_seen = stages_seen || pid != job;
      }
    }
  }
  EXPECT_EQ(wait_vpipe(submit, 60), 0) << read_file(path("submit.err"));
  EXPECT_TRUE(stages_seen);
  EXPECT_EQ(job_sets, (std::set<std::string>{"0", "1"}));
}

TEST_F(SegmentsTest, APlainRunStaysInsideTheCpusItWasGiven) {
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "needs 2 CPUs";
  cpu_set_t old_set, one;
  ASSERT_EQ(sched_getaffinity(0, sizeof old_set, &old_set), 0);
  CPU_ZERO(&one);
  CPU_SET(1, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);  // as `taskset -c 1 vpipe run` does
  const pid_t run = start_vpipe({"run", "-q", "-i", "testsrc:size=320x240:duration=3", "--vf",
                                 "stress=20", "-o", path("o.mkv")},
                                path("run"));
  sched_setaffinity(0, sizeof old_set, &old_set);
  std::size_t seen = 0;
  for (int i = 0; i < 200 && is_alive(run); ++i) {
    std::this_thread::sleep_for(20ms);
    for (pid_t stage : children_of(run)) {
      const std::string cpus = cpus_allowed(stage);
      if (cpus.empty()) continue;
      EXPECT_EQ(cpus, "1") << comm_of(stage);
      ++seen;
    }
  }
  EXPECT_EQ(wait_vpipe(run, 60), 0) << read_file(path("run.err"));
  EXPECT_GT(seen, 0U);
}

}  // namespace
}  // namespace vpipe::test
