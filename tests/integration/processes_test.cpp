// The stages are separate, pinned processes; signals drain or abort; nothing outlives a run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "support/media.hpp"
#include "support/vpipe_process.hpp"

namespace vpipe::test {
namespace {

using namespace std::chrono_literals;

// Long enough to observe and signal: 30 s of 640x360 with a heavy blur.
const std::vector<std::string> kSlowRun = {
    "-i", "testsrc:size=640x360:rate=30:duration=30", "--vf", "cv.gblur=8", "-c:v", "ffv1"};

// "vpipe:decode    cpus 0" lines of --dry-run -> stage -> cpu list text.
std::map<std::string, std::string> planned_cpus(const std::string& dry_run) {
  std::map<std::string, std::string> plan;
  std::istringstream lines(dry_run);
  std::string line;
  const std::regex re(R"(vpipe:(\S+)\s+cpus (\S+))");
  std::smatch m;
  while (std::getline(lines, line)) {
    if (std::regex_search(line, m, re)) plan[m[1]] = m[2];
  }
  return plan;
}

class ProcessesTest : public ::testing::Test {
 public:
  void SetUp() override { dir_ = make_temp_dir(); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  // Kills a started run however the test ends, so a failed assertion leaks no process.
  struct RunGuard {
    pid_t pid;
    ~RunGuard() {
      if (is_alive(pid)) {
        kill(pid, SIGKILL);
        wait_vpipe(pid, 10);
      }
    }
  };

  pid_t start_slow(const std::vector<std::string>& run = kSlowRun) {
    std::vector<std::string> args{"run",           "-q",           "-o",
                                  path("out.mkv"), "--stats-json", path("stats.json")};
    args.insert(args.end(), run.begin(), run.end());
    return start_vpipe(args, path("vpipe"));
  }

  // Waits until the run's stages are up and the first frames are through; name -> pid.
  std::map<std::string, pid_t> wait_for_stages(pid_t parent, std::size_t expected) {
    std::map<std::string, pid_t> stages;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      stages.clear();
      // A child is "exe" until it has named itself.
      for (pid_t kid : children_of(parent)) {
        if (comm_of(kid).rfind("vpipe:", 0) == 0) stages[comm_of(kid)] = kid;
      }
      if (stages.size() == expected) break;
      std::this_thread::sleep_for(20ms);
    }
    std::this_thread::sleep_for(500ms);  // let frames flow
    return stages;
  }

  std::string dir_;
};

// Checks that each stage process runs where the --dry-run plan says, for `affinity`.
void expect_stages_pinned_as_planned(ProcessesTest& t, const std::string& affinity) {
  std::vector<std::string> run = kSlowRun;
  run.insert(run.end(), {"--affinity", affinity});
  std::vector<std::string> dry{"run", "-o", t.path("out.mkv"), "--dry-run"};
  dry.insert(dry.end(), run.begin(), run.end());
  const RunResult plan = run_vpipe(dry);
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  const auto cpus = planned_cpus(plan.out);
  ASSERT_EQ(cpus.size(), 3u) << plan.out;

  const pid_t parent = t.start_slow(run);
  const ProcessesTest::RunGuard guard{parent};
  const auto stages = t.wait_for_stages(parent, 3);
  ASSERT_EQ(stages.size(), 3u);
  std::set<pid_t> pids{parent};
  for (const auto& [name, pid] : stages) {
    ASSERT_THAT(name, ::testing::StartsWith("vpipe:"));
    pids.insert(pid);
    const std::string stage = name.substr(6);
    ASSERT_TRUE(cpus.count(stage)) << stage;
    EXPECT_NE(cpus.at(stage), "any") << "auto and explicit plans pin every stage";
    EXPECT_EQ(cpus_allowed(pid), cpus.at(stage)) << stage;
  }
  EXPECT_EQ(pids.size(), 4u) << "decode, transform, encode and the scheduler are four processes";
  kill(parent, SIGKILL);
  wait_vpipe(parent, 10);
}

TEST_F(ProcessesTest, StagesRunAsSeparateProcessesPinnedByTheAutoPlan) {
  expect_stages_pinned_as_planned(*this, "auto");
}

TEST_F(ProcessesTest, StagesRunOnTheCpusOfAnExplicitPlan) {
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "needs two CPUs";
  expect_stages_pinned_as_planned(*this, "decode=0;xform=1;encode=0-1");
  // And the plan really is that one, not just whatever --dry-run said.
  const RunResult plan = run_vpipe(
      {"run", "-o", "null", "-i", "testsrc", "--dry-run", "--affinity", "decode=0;xform=1"});
  EXPECT_EQ(planned_cpus(plan.out).at("decode"), "0");
  EXPECT_EQ(planned_cpus(plan.out).at("xform-0"), "1");
}

TEST_F(ProcessesTest, InterruptDrainsAndFinishesAPlayableFile) {
  const pid_t parent = start_slow();
  const RunGuard guard{parent};
  ASSERT_EQ(wait_for_stages(parent, 3).size(), 3u);
  kill(parent, SIGINT);
  ASSERT_EQ(wait_vpipe(parent, 20), 255) << read_file(path("vpipe.err"));
  EXPECT_THAT(read_file(path("vpipe.err")), ::testing::HasSubstr("stopped by a signal"));
  const auto stats = nlohmann::json::parse(read_file(path("stats.json")));
  EXPECT_EQ(stats.at("result"), "interrupted");
  EXPECT_EQ(stats.at("exit_code"), 255);
  EXPECT_EQ(stats.at("output_bytes"), std::filesystem::file_size(path("out.mkv")));
  const DecodedVideo out = decode_video(path("out.mkv"));
  EXPECT_GT(out.nb_frames(), 0u);
  EXPECT_LT(out.nb_frames(), 900u) << "stopped early";
  EXPECT_EQ(out.nb_frames(), stats.at("frames").get<std::size_t>())
      << "the file has what the summary says";
  EXPECT_EQ(processes_holding_run_segments(), 0);
}

// Several outputs: a stop finishes every one of them playable, with the same frames.
TEST_F(ProcessesTest, InterruptFinishesEveryOutputPlayable) {
  std::vector<std::string> args{"run", "-q", "--stats-json", path("stats.json")};
  args.insert(args.end(), kSlowRun.begin(), kSlowRun.end());
  args.insert(args.end(), {"-o", path("out.mkv"), "--vf", "cv.gblur=8,scale=320:180", "-c:v",
                           "ffv1", "-o", path("small.mkv")});
  const pid_t parent = start_vpipe(args, path("vpipe"));
  const RunGuard guard{parent};
  // decode, a worker, encode, and the second output's own encoder
  ASSERT_EQ(wait_for_stages(parent, 4).count("vpipe:encode-1"), 1u);
  kill(parent, SIGINT);
  ASSERT_EQ(wait_vpipe(parent, 20), 255) << read_file(path("vpipe.err"));
  const auto stats = nlohmann::json::parse(read_file(path("stats.json")));
  EXPECT_EQ(stats.at("result"), "interrupted");
  const DecodedVideo out = decode_video(path("out.mkv"));
  const DecodedVideo small = decode_video(path("small.mkv"));
  EXPECT_GT(out.nb_frames(), 0u);
  EXPECT_LT(out.nb_frames(), 900u) << "stopped early";
  EXPECT_EQ(small.nb_frames(), out.nb_frames());
  EXPECT_EQ(small.width, 320);
  ASSERT_EQ(stats.at("outputs").size(), 2u);
  EXPECT_EQ(stats.at("outputs")[0].at("frames").get<std::size_t>(), out.nb_frames());
  EXPECT_EQ(stats.at("outputs")[1].at("frames").get<std::size_t>(), small.nb_frames());
  EXPECT_EQ(processes_holding_run_segments(), 0);
}

// Three outputs: -o's first is encoded in encode, each later one in a process of its own
// (vpipe:encode-1, vpipe:encode-2), pinned as the --dry-run plan says.
std::vector<std::string> three_outputs(ProcessesTest& t) {
  std::vector<std::string> args = kSlowRun;
  args.insert(args.end(), {"-o", t.path("a.mkv"), "--vf", "cv.gblur=8,scale=320:180", "-c:v",
                           "ffv1", "-o", t.path("b.mkv"), "--vf", "cv.gblur=8,scale=160:90", "-c:v",
                           "libx264", "-o", t.path("c.mkv")});
  return args;
}

TEST_F(ProcessesTest, EachLaterOutputIsEncodedInAPinnedProcessOfItsOwn) {
  std::vector<std::string> dry{"run", "--dry-run", "--affinity",
                               "decode=0-1;xform=1;encode=0;encode-2=1"};
  const std::vector<std::string> outputs = three_outputs(*this);
  dry.insert(dry.end(), outputs.begin(), outputs.end());
  const RunResult plan = run_vpipe(dry);
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  const auto cpus = planned_cpus(plan.out);
  ASSERT_EQ(cpus.size(), 5u) << plan.out;
  EXPECT_EQ(cpus.at("encode-1"), "0") << "encode names every output's encoder";
  EXPECT_EQ(cpus.at("encode-2"), "1") << "encode-N one of them";

  std::vector<std::string> args{"run", "-q", "--affinity",
                                "decode=0-1;xform=1;encode=0;encode-2=1"};
  args.insert(args.end(), outputs.begin(), outputs.end());
  const pid_t parent = start_vpipe(args, path("vpipe"));
  const RunGuard guard{parent};
  const auto stages = wait_for_stages(parent, 5);
  ASSERT_EQ(stages.size(), 5u);
  std::set<pid_t> pids;
  for (const auto& [name, pid] : stages) {
    pids.insert(pid);
    const std::string stage = name.substr(6);
    ASSERT_TRUE(cpus.count(stage)) << stage;
    EXPECT_EQ(cpus_allowed(pid), cpus.at(stage)) << stage;
  }
  EXPECT_EQ(pids.size(), 5u);
  kill(parent, SIGKILL);
  wait_vpipe(parent, 10);
}

// A later output's encoder that dies takes its output with it, not the others: they are
// finished playable with the frames in flight, and the run fails with one line naming it.
TEST_F(ProcessesTest, AKilledOutputEncoderFailsTheRunAndTheOtherOutputsAreFinished) {
  std::vector<std::string> args{"run", "-q", "--stats-json", path("stats.json")};
  const std::vector<std::string> outputs = three_outputs(*this);
  args.insert(args.end(), outputs.begin(), outputs.end());
  const pid_t parent = start_vpipe(args, path("vpipe"));
  const RunGuard guard{parent};
  const auto stages = wait_for_stages(parent, 5);
  ASSERT_TRUE(stages.count("vpipe:encode-2"));
  std::this_thread::sleep_for(500ms);
  kill(stages.at("vpipe:encode-2"), SIGKILL);
  EXPECT_EQ(wait_vpipe(parent, 20), 1);
  const std::string err = read_file(path("vpipe.err"));
  EXPECT_EQ(count_lines(err), 1) << err;
  EXPECT_THAT(
      err, ::testing::HasSubstr("encode-2 killed by signal KILL while writing " + path("c.mkv")));
  const DecodedVideo a = decode_video(path("a.mkv"));
  const DecodedVideo b = decode_video(path("b.mkv"));
  EXPECT_GT(a.nb_frames(), 0u);
  EXPECT_LT(a.nb_frames(), 900u) << "stopped early";
  EXPECT_EQ(b.nb_frames(), a.nb_frames()) << "the others took the same frames";
  EXPECT_GT(a.duration_s, 0) << "the trailer was written";
  const auto stats = nlohmann::json::parse(read_file(path("stats.json")));
  EXPECT_EQ(stats.at("outputs")[1].at("frames").get<std::size_t>(), b.nb_frames());
  EXPECT_EQ(processes_holding_run_segments(), 0);
}

// --workers MIN-MAX: the transform pool sizes itself as the job changes. The input arrives at
// its real rate through a pipe (offline all the same: nothing is dropped) and the chain costs
// nothing for its first 4 s, then about twice what one worker can do in real time (stress from
// frame 120): the pool shrinks from 3 to 1 while the workers idle, then grows again. Parking and
// waking workers between their frames loses and reorders nothing: the output is frame for frame
// what a fixed pool gives.
std::vector<std::pair<double, int>> workers_over_time(const nlohmann::json& stats) {
  std::vector<std::pair<double, int>> changes;
  for (const auto& c : stats.at("workers_over_time"))
    changes.emplace_back(c.at("t_s").get<double>(), c.at("workers").get<int>());
  return changes;
}

// Whether the pool shrank to one worker and then grew again.
bool shrank_then_grew(const std::vector<std::pair<double, int>>& changes) {
  bool shrank = false;
  for (const auto& [t, workers] : changes) {
    if (workers == 1) shrank = true;
    if (shrank && workers > 1) return true;
  }
  return false;
}

TEST_F(ProcessesTest, AWorkerPoolSizesItselfWithTheJobAndLosesNoFrame) {
  const std::string in = path("in.nut");
  ASSERT_EQ(shell("ffmpeg -v error -y -f lavfi -i testsrc=size=320x240:rate=30:duration=8 -c:v "
                  "ffv1 " +
                  in),
            0);
  const std::string chain = "stress=2500:from=120";
  ASSERT_EQ(shell("ffmpeg -v error -re -i " + in + " -c copy -f nut - | " + vpipe_binary() +
                  " run -q -y -i - --live off -w 1-3 --vf " + chain + " -c:v ffv1 -o " +
                  path("pool.mkv") + " --stats-json " + path("stats.json") +
                  " --metrics-textfile " + path("vpipe.prom") + " 2>" + path("err.txt")),
            0)
      << read_file(path("err.txt"));
  const RunResult fixed_pool = run_vpipe({"run", "-q", "-y", "-i", in, "-w", "2", "--vf", chain,
                                          "-c:v", "ffv1", "-o", path("fixed.mkv")});
  ASSERT_EQ(fixed_pool.exit_code, 0) << fixed_pool.err;

  const auto stats = nlohmann::json::parse(read_file(path("stats.json")));
  const auto changes = workers_over_time(stats);
  ASSERT_FALSE(changes.empty());
  EXPECT_EQ(changes.front().second, 3) << "it starts with every worker";
  EXPECT_TRUE(shrank_then_grew(changes)) << stats.at("workers_over_time").dump();
  EXPECT_THAT(read_file(path("vpipe.prom")), ::testing::HasSubstr("\nvpipe_workers_active "));
  const DecodedVideo pool = decode_video(path("pool.mkv"));
  const DecodedVideo fixed = decode_video(path("fixed.mkv"));
  ASSERT_EQ(pool.nb_frames(), 240u);
  EXPECT_EQ(pool.checksums, fixed.checksums);
  EXPECT_EQ(pool.pts, fixed.pts);
}

// Live, the same: the pool shrinks while the workers idle and grows when they fall behind; what
// it could not take while it grew is dropped at the source and counted, and every frame is
// accounted for.
TEST_F(ProcessesTest, ALiveWorkerPoolSizesItselfAndAccountsForEveryFrame) {
  const RunResult r =
      run_vpipe({"run", "-q", "-y", "-i", "testsrc:size=320x240:rate=30:duration=8", "--realtime",
                 "-w", "1-3", "--vf", "stress=2500:from=120", "-c:v", "ffv1", "-o",
                 path("live.mkv"), "--stats-json", path("stats.json")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto stats = nlohmann::json::parse(read_file(path("stats.json")));
  EXPECT_TRUE(shrank_then_grew(workers_over_time(stats))) << stats.at("workers_over_time").dump();
  const DecodedVideo out = decode_video(path("live.mkv"));
  EXPECT_EQ(out.nb_frames(), stats.at("frames").get<std::size_t>());
  EXPECT_EQ(out.nb_frames() + stats.at("drops").at("total").get<std::size_t>(),
            stats.at("frames_decoded").get<std::size_t>());
  EXPECT_TRUE(std::is_sorted(out.pts.begin(), out.pts.end())) << "in order";
}

// --dry-run says how the pool sizes itself.
TEST_F(ProcessesTest, DryRunSaysThePoolSizesItself) {
  const RunResult r = run_vpipe(
      {"run", "--dry-run", "-i", "testsrc", "-w", "2-5", "--vf", "gblur=2", "-o", path("x.mkv")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::HasSubstr("the pool sizes itself between 2 and 5"));
  const RunResult fixed = run_vpipe(
      {"run", "--dry-run", "-i", "testsrc", "-w", "3", "--vf", "gblur=2", "-o", path("x.mkv")});
  EXPECT_THAT(fixed.out, ::testing::Not(::testing::HasSubstr("sizes itself")));
}

// The decoder runs the threads the plan gives it: its share of the job (one here, where
// blurring and encoding do most of the work), or --decoder-threads' (each frame thread of
// libavcodec's is a thread of the decode process), and decodes the same frames with either.
TEST_F(ProcessesTest, TheDecoderRunsThePlannedThreadsAndDecodesTheSameFrames) {
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "needs two CPUs";
  const std::string in = path("in.mp4");
  ASSERT_EQ(shell("ffmpeg -v error -y -f lavfi -i testsrc2=size=640x360:rate=30:duration=3 "
                  "-c:v libx264 -preset ultrafast -bf 2 " +
                  in),
            0);
  const std::vector<std::string> job{
      "-i", in, "--vf", "gblur=4", "-c:v", "ffv1", "--affinity", "decode=0-1;xform=0-1;encode=0-1"};
  std::vector<std::string> dry{"run", "--dry-run", "-o", path("dry.mkv")};
  dry.insert(dry.end(), job.begin(), job.end());
  const RunResult plan = run_vpipe(dry);
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_THAT(plan.out, ::testing::HasSubstr("decode:   h264 decoder, 1 thread: its share"));
  EXPECT_THAT(plan.out,
              ::testing::HasSubstr("each worker's filters (OpenCV's, libavfilter's): 1 thread"));

  std::map<std::string, std::size_t> decode_threads;
  std::map<std::string, DecodedVideo> outputs;
  for (const std::string threads : {"auto", "3"}) {
    SCOPED_TRACE(threads);
    const std::string out = path("out" + threads + ".mkv");
    std::vector<std::string> args{"run",   "-q", "--realtime", "--decoder-threads",
                                  threads, "-o", out};
    args.insert(args.end(), job.begin(), job.end());
    const pid_t parent = start_vpipe(args, out);
    const RunGuard guard{parent};
    const auto stages = wait_for_stages(parent, 3);
    ASSERT_EQ(stages.count("vpipe:decode"), 1u);
    decode_threads[threads] =
        std::distance(std::filesystem::directory_iterator(
                          "/proc/" + std::to_string(stages.at("vpipe:decode")) + "/task"),
                      std::filesystem::directory_iterator());
    ASSERT_EQ(wait_vpipe(parent, 30), 0);
    outputs[threads] = decode_video(out);
  }
  EXPECT_EQ(decode_threads["3"], decode_threads["auto"] + 3);
  EXPECT_EQ(outputs["auto"].nb_frames(), 90u);
  EXPECT_EQ(outputs["auto"].checksums, outputs["3"].checksums);
}

// A drained stop on an input with B-frames: the file is a clean prefix of the whole run. The
// decoder holds an anchor picture back until the B-frames shown before it are decoded; at a
// stop those were never read, so the held pictures are dropped rather than leave a gap.
TEST_F(ProcessesTest, ADrainedStopOnBFramesIsACleanPrefixOfTheWholeRun) {
  const std::string in = path("bframes.mkv");
  ASSERT_EQ(shell("ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=30:duration=10 "
                  "-c:v libx264 -preset ultrafast -bf 3 -b_strategy 0 -g 60 " +
                  in),
            0);
  const DecodedVideo whole = decode_video(in);
  ASSERT_EQ(whole.nb_frames(), 300u);
  for (const int after_ms : {900, 1300, 1700}) {
    SCOPED_TRACE(std::to_string(after_ms) + " ms");
    const std::string out = path("cut" + std::to_string(after_ms) + ".mkv");
    const pid_t parent =
        start_vpipe({"run", "-q", "-i", in, "--realtime", "-c:v", "ffv1", "-o", out}, out);
    const RunGuard guard{parent};
    std::this_thread::sleep_for(std::chrono::milliseconds(after_ms));
    kill(parent, SIGINT);
    ASSERT_EQ(wait_vpipe(parent, 20), 255) << read_file(out + ".err");
    const DecodedVideo got = decode_video(out);
    ASSERT_GT(got.nb_frames(), 0u);
    ASSERT_LT(got.nb_frames(), whole.nb_frames());
    const std::vector<std::uint64_t> prefix(whole.checksums.begin(),
                                            whole.checksums.begin() + got.nb_frames());
    EXPECT_EQ(got.checksums, prefix) << "frames missing before the last one";
  }
}

// `timeout`, systemd, `kill -- -PGID` and a closed terminal signal the whole process group, and
// `timeout` signals vpipe itself first: still one request to finish, which the scheduler carries
// out for its stages (they ignore the signal).
TEST_F(ProcessesTest, StopSignalsToTheWholeGroupDrainAndFinishAPlayableFile) {
  for (const int sig : {SIGTERM, SIGHUP}) {
    SCOPED_TRACE(sigabbrev_np(sig));
    std::filesystem::remove(path("out.mkv"));
    const pid_t parent = start_slow();
    const RunGuard guard{parent};
    const auto stages = wait_for_stages(parent, 3);
    ASSERT_EQ(stages.size(), 3u);
    kill(parent, sig);
    kill(-parent, sig);
    ASSERT_EQ(wait_vpipe(parent, 20), 255) << read_file(path("vpipe.err"));
    const auto stats = nlohmann::json::parse(read_file(path("stats.json")));
    EXPECT_EQ(stats.at("restarts"), 0) << "no stage died of the signal";
    const DecodedVideo out = decode_video(path("out.mkv"));
    EXPECT_GT(out.nb_frames(), 0u);
    EXPECT_LT(out.nb_frames(), 900u) << "stopped early";
    EXPECT_EQ(out.nb_frames(), stats.at("frames").get<std::size_t>())
        << "the file has what the summary says";
    for (const auto& [name, pid] : stages) EXPECT_FALSE(is_alive(pid)) << name << " still alive";
    EXPECT_EQ(processes_holding_run_segments(), 0);
  }
}

// A stage stopped with SIGSTOP (or wedged) cannot drain: the stop ends at --drain-timeout with
// one line naming what was still running, exit 1, and nothing left behind.
TEST_F(ProcessesTest, AStopThatCannotDrainIsAbortedAtTheDrainTimeout) {
  std::vector<std::string> run = kSlowRun;
  run.insert(run.end(), {"--drain-timeout", "2"});
  const pid_t parent = start_slow(run);
  const RunGuard guard{parent};
  const auto stages = wait_for_stages(parent, 3);
  ASSERT_EQ(stages.size(), 3u);
  kill(stages.at("vpipe:encode"), SIGSTOP);
  const auto start = std::chrono::steady_clock::now();
  kill(parent, SIGTERM);
  EXPECT_EQ(wait_vpipe(parent, 20), 1);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GT(took, 1900ms);
  EXPECT_LT(took, 6s);
  const std::string err = read_file(path("vpipe.err"));
  EXPECT_THAT(err, ::testing::HasSubstr("--drain-timeout; still running: "));
  EXPECT_THAT(err, ::testing::HasSubstr("encode"));
  for (const auto& [name, pid] : stages) EXPECT_FALSE(is_alive(pid)) << name << " still alive";
  EXPECT_EQ(processes_holding_run_segments(), 0);
}

TEST_F(ProcessesTest, SecondInterruptAbortsQuicklyAndLeavesNothing) {
  // A filter slow on big frames (about 60 ms a frame here, for the window's 8 or more frames in
  // flight), so that draining after the first signal takes far longer than the gap: a fast blur
  // drained within 100 ms on a quiet machine.
  const pid_t parent = start_slow(
      {"-i", "testsrc:size=1920x1080:rate=30:duration=30", "--vf", "stress=100", "-c:v", "ffv1"});
  const RunGuard guard{parent};
  const auto stages = wait_for_stages(parent, 3);
  ASSERT_EQ(stages.size(), 3u);
  kill(parent, SIGINT);
  std::this_thread::sleep_for(100ms);  // two signals sent at once would merge into one
  kill(parent, SIGINT);
  EXPECT_EQ(wait_vpipe(parent, 5), 130);
  std::this_thread::sleep_for(200ms);
  for (const auto& [name, pid] : stages) EXPECT_FALSE(is_alive(pid)) << name << " still alive";
  EXPECT_EQ(processes_holding_run_segments(), 0);
}

TEST_F(ProcessesTest, KillingTheSchedulerTakesEveryStageAndSegmentWithIt) {
  const pid_t parent = start_slow();
  const RunGuard guard{parent};
  const auto stages = wait_for_stages(parent, 3);
  ASSERT_EQ(stages.size(), 3u);
  kill(parent, SIGKILL);
  wait_vpipe(parent, 5);
  const auto deadline = std::chrono::steady_clock::now() + 1s;
  bool any_alive = true;
  while (any_alive && std::chrono::steady_clock::now() < deadline) {
    any_alive = false;
    for (const auto& [name, pid] : stages) any_alive |= is_alive(pid) && comm_of(pid) == name;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_FALSE(any_alive) << "a stage outlived the scheduler by more than a second";
  EXPECT_EQ(processes_holding_run_segments(), 0);
  EXPECT_EQ(dev_shm_vpipe_entries(), 0);
}

// Kills the stage named `stage` of a slow run writing `out`; returns the run's exit code.
int kill_stage_mid_run(ProcessesTest& t, const std::string& stage, const std::string& out) {
  std::vector<std::string> args{"run",  "-q",        "-o",
                                out,    "-i",        "testsrc:size=640x360:rate=30:duration=30",
                                "--vf", "cv.gblur=8"};
  const pid_t parent = start_vpipe(args, out);
  const ProcessesTest::RunGuard guard{parent};
  const auto stages = t.wait_for_stages(parent, 3);
  if (!stages.count("vpipe:" + stage)) return -2000;
  std::this_thread::sleep_for(1s);  // past the first one-second fragment
  kill(stages.at("vpipe:" + stage), SIGKILL);
  return wait_vpipe(parent, 20);
}

TEST_F(ProcessesTest, DecodeDeathStillFinishesThePlayableOutput) {
  const std::string out = path("out.mkv");
  EXPECT_EQ(kill_stage_mid_run(*this, "decode", out), 1);
  const std::string err = read_file(out + ".err");
  EXPECT_EQ(count_lines(err), 1) << err;
  EXPECT_THAT(err, ::testing::HasSubstr("decode killed by signal KILL"));
  const DecodedVideo video = decode_video(out);
  EXPECT_GT(video.nb_frames(), 0u);
  EXPECT_GT(video.duration_s, 0) << "the trailer (duration) was written";
  EXPECT_EQ(processes_holding_run_segments(), 0);
}

TEST_F(ProcessesTest, DecodeDeathEndsTheAudioWithTheVideo) {
  const std::string in = path("in.mp4"), out = path("out.mkv");
  ASSERT_EQ(shell("ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=30:duration=10 -f "
                  "lavfi -i sine=frequency=660:sample_rate=48000:duration=10 -c:v libx264 -preset "
                  "ultrafast -c:a aac -shortest " +
                  in),
            0);
  const pid_t parent = start_vpipe({"run", "-q", "-o", out, "-i", in, "--vf", "stress=300"}, out);
  const RunGuard guard{parent};
  const auto stages = wait_for_stages(parent, 3);
  ASSERT_TRUE(stages.count("vpipe:decode"));
  std::this_thread::sleep_for(1s);
  kill(stages.at("vpipe:decode"), SIGKILL);
  EXPECT_EQ(wait_vpipe(parent, 30), 1) << read_file(out + ".err");
  const auto streams = probe_streams(out);
  ASSERT_EQ(streams.size(), 2u);
  ASSERT_EQ(streams[0].type, "video");
  ASSERT_EQ(streams[1].type, "audio");
  EXPECT_LT(streams[0].duration_s, 9.0) << "decode was killed early";
  EXPECT_NEAR(streams[1].duration_s, streams[0].duration_s, 0.1)
      << "the audio ends with the video, not at the end of the input";
}

TEST_F(ProcessesTest, EncodeDeathLeavesAPlayableFragmentedMp4) {
  const std::string out = path("out.mp4");
  EXPECT_EQ(kill_stage_mid_run(*this, "encode", out), 1);
  const std::string err = read_file(out + ".err");
  EXPECT_EQ(count_lines(err), 1) << err;
  EXPECT_THAT(err, ::testing::HasSubstr("encode killed by signal KILL"));
  EXPECT_GT(decode_video(out).nb_frames(), 0u) << "what was written before the kill plays";
  EXPECT_EQ(processes_holding_run_segments(), 0);
}

// A decode or encode stopped with SIGSTOP (or stuck for good) without any stop signal would hold
// the run forever: at --hang-timeout of silence with no CPU spent it is killed, the run ends
// with that reason first, and what was written plays.
TEST_F(ProcessesTest, AStoppedDecodeOrEncodeIsKilledAtTheHangTimeoutAndTheRunEnds) {
  for (const std::string stage : {"decode", "encode"}) {
    SCOPED_TRACE(stage);
    const std::string out = path(stage + ".mkv");
    const pid_t parent =
        start_vpipe({"run", "-q", "-o", out, "-i", "testsrc:size=320x240:rate=30:duration=30",
                     "--realtime", "--hang-timeout", "1"},
                    out);
    const RunGuard guard{parent};
    const auto stages = wait_for_stages(parent, 3);
    ASSERT_TRUE(stages.count("vpipe:" + stage));
    std::this_thread::sleep_for(1s);
    kill(stages.at("vpipe:" + stage), SIGSTOP);
    const auto stopped = std::chrono::steady_clock::now();
    EXPECT_EQ(wait_vpipe(parent, 20), 1) << read_file(out + ".err");
    EXPECT_LT(std::chrono::steady_clock::now() - stopped, 10s) << "not held until the input ends";
    const std::string err = read_file(out + ".err");
    EXPECT_THAT(err, ::testing::HasSubstr(stage + " made no progress for"));
    EXPECT_EQ(count_lines(err), 1) << err;
    EXPECT_GT(decode_video(out).nb_frames(), 0u) << "what was written before plays";
    EXPECT_EQ(processes_holding_run_segments(), 0);
  }
}

}  // namespace
}  // namespace vpipe::test
