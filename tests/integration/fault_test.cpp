// Fault injection: transform workers SIGKILLed at random times. Offline, the output must still
// hold every frame, in order, byte-identical to a fault-free run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "support/media.hpp"
#include "support/vpipe_process.hpp"

namespace vpipe::test {
namespace {

using namespace std::chrono_literals;

// About a second of work here (stages start in a few hundredths of a second), so that a kill
// lands mid-run.
const std::vector<std::string> kJob = {"-i",        "testsrc2:size=640x360:rate=30:duration=20",
                                       "--vf",      "cv.gblur=6,cv.hflip,resize=320x180",
                                       "-c:v",      "ffv1",
                                       "--workers", "3"};

class FaultTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = make_temp_dir(); }
  void TearDown() override {
    EXPECT_EQ(processes_holding_run_segments(), 0);
    std::filesystem::remove_all(dir_);
  }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  pid_t start(const std::string& out, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"run", "-q", "-o", out, "--stats-json", out + ".json", "-y"};
    args.insert(args.end(), kJob.begin(), kJob.end());
    args.insert(args.end(), extra.begin(), extra.end());
    return start_vpipe(args, out);
  }

  // SIGKILLs one live transform worker of `parent`, chosen by `rng`; false if none was running.
  static bool kill_a_worker(pid_t parent, std::mt19937& rng) {
    std::vector<pid_t> workers;
    for (pid_t kid : children_of(parent)) {
      if (comm_of(kid).rfind("vpipe:xform-", 0) == 0) workers.push_back(kid);
    }
    if (workers.empty()) return false;
    return kill(workers[rng() % workers.size()], SIGKILL) == 0;
  }

  std::string dir_;
};

TEST_F(FaultTest, WorkersKilledAtRandomTimesCostNoFrame) {
  const pid_t ref = start(path("ref.mkv"));
  ASSERT_EQ(wait_vpipe(ref, 60), 0) << read_file(path("ref.mkv.err"));
  const DecodedVideo reference = decode_video(path("ref.mkv"));
  ASSERT_EQ(reference.nb_frames(), 600u);

  std::mt19937 rng(20261123);
  int kills = 0;
  int restarts = 0;
  for (int trial = 0; trial < 12; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    const std::string out = path("t" + std::to_string(trial) + ".mkv");
    const pid_t parent = start(out);
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 600));
    bool killed = false;
    for (int i = 0; i < 100 && !killed && is_alive(parent); ++i) {
      killed = kill_a_worker(parent, rng);
      if (!killed) std::this_thread::sleep_for(5ms);
    }
    kills += killed;
    ASSERT_EQ(wait_vpipe(parent, 60), 0) << read_file(out + ".err");
    const DecodedVideo got = decode_video(out);
    EXPECT_EQ(got.checksums, reference.checksums) << "frames lost, reordered or altered";
    EXPECT_EQ(got.pts, reference.pts);
    const auto stats = nlohmann::json::parse(read_file(out + ".json"));
    restarts += stats.at("restarts").get<int>();
    std::filesystem::remove(out);
  }
  EXPECT_GE(kills, 6) << "most trials must really kill a worker mid-run";
  EXPECT_GE(restarts, kills / 2) << "killed workers were restarted, not just finished";
}

// Live, frames are numbered as workers claim them and dropped ones travel on as tombstones; a
// worker killed at any moment must neither lose a frame from the count nor stall the order.
// Twice: from the test source (decode copies each picture into a slot) and from an H.264 clip
// (the decoder decodes into slots and keeps some as references while frames are dropped,
// evicted from the queue and requeued around it).
TEST_F(FaultTest, LiveWorkersKilledAtRandomTimesKeepOrderAndAccountForEveryFrame) {
  const std::string clip = path("clip.mp4");
  ASSERT_EQ(shell("ffmpeg -v error -y -f lavfi -i testsrc2=size=640x360:rate=30:duration=2 "
                  "-c:v libx264 -preset veryfast -g 30 " +
                  clip),
            0);
  std::mt19937 rng(4);
  int kills = 0;
  for (int trial = 0; trial < 8; ++trial) {
    const bool from_clip = trial % 2 == 1;
    SCOPED_TRACE("trial " + std::to_string(trial) + (from_clip ? " (H.264 clip)" : ""));
    const std::string out = path("live" + std::to_string(trial) + ".ts");
    // Heavy enough that frames queue and some are dropped; a small budget makes drops likely.
    const pid_t parent =
        start_vpipe({"run", "-q", "-o", out, "--stats-json", out + ".json", "-i",
                     from_clip ? clip : "testsrc2:size=640x360:rate=30:duration=2", "--realtime",
                     "--vf", "stress=1000,cv.hflip", "--workers", "3", "--latency-budget", "150"},
                    out);
    std::this_thread::sleep_for(std::chrono::milliseconds(200 + rng() % 1500));
    kills += kill_a_worker(parent, rng);
    ASSERT_EQ(wait_vpipe(parent, 30), 0) << read_file(out + ".err");
    const auto stats = nlohmann::json::parse(read_file(out + ".json"));
    const auto frames = stats.at("frames").get<std::size_t>();
    EXPECT_EQ(frames + stats.at("drops").at("total").get<std::size_t>(), 60u)
        << "every frame is out or counted as a drop";
    if (from_clip) {
      EXPECT_EQ(stats.at("stages").at(0).at("frames_copied").get<std::size_t>(), 0u)
          << "decoded straight into slots";
    }
    if (frames == 0) continue;  // all late (e.g. under a sanitizer): an empty output
    const DecodedVideo got = decode_video(out);
    EXPECT_EQ(got.nb_frames(), frames);
    for (std::size_t i = 1; i < got.pts.size(); ++i)
      ASSERT_GT(got.pts[i], got.pts[i - 1]) << "order kept";
  }
  EXPECT_GE(kills, 6);
}

// The stages start as forks of the scheduler while it has one thread. A worker restarted while
// the metrics server's thread runs must be a fresh process (fork+exec of the binary: a fork
// could inherit a lock that thread held), and the run must not notice the difference.
TEST_F(FaultTest, AWorkerRestartedBesideTheMetricsThreadIsAFreshProcess) {
  const pid_t ref = start(path("ref.mkv"));
  ASSERT_EQ(wait_vpipe(ref, 60), 0) << read_file(path("ref.mkv.err"));
  const DecodedVideo reference = decode_video(path("ref.mkv"));
  const auto cmdline_of = [](pid_t pid) {
    std::string text = read_file("/proc/" + std::to_string(pid) + "/cmdline");
    std::replace(text.begin(), text.end(), '\0', ' ');
    return text;
  };
  const auto workers_of = [&](pid_t parent) {
    std::vector<pid_t> workers;
    for (pid_t kid : children_of(parent)) {
      if (comm_of(kid).rfind("vpipe:xform-", 0) == 0) workers.push_back(kid);
    }
    return workers;
  };
  const std::string out = path("metrics.mkv");
  const pid_t parent = start(out, {"--metrics", "0"});
  std::vector<pid_t> first;
  for (int i = 0; i < 200 && first.size() < 3 && is_alive(parent); ++i) {
    std::this_thread::sleep_for(5ms);
    first = workers_of(parent);
  }
  ASSERT_EQ(first.size(), 3u);
  EXPECT_THAT(cmdline_of(first[0]), ::testing::Not(::testing::HasSubstr("__stage")))
      << "started as a fork of the scheduler";
  EXPECT_THAT(cmdline_of(first[0]), ::testing::StartsWith("vpipe:xform-"))
      << "titled with its name, not the scheduler's command line";
  ASSERT_EQ(kill(first[0], SIGKILL), 0);
  pid_t restarted = 0;
  for (int i = 0; i < 400 && restarted == 0 && is_alive(parent); ++i) {
    std::this_thread::sleep_for(5ms);
    for (pid_t kid : workers_of(parent)) {
      if (std::find(first.begin(), first.end(), kid) == first.end()) restarted = kid;
    }
  }
  ASSERT_NE(restarted, 0) << "the killed worker was restarted";
  EXPECT_THAT(cmdline_of(restarted), ::testing::HasSubstr("__stage xform"))
      << "restarted by fork+exec";
  ASSERT_EQ(wait_vpipe(parent, 60), 0) << read_file(out + ".err");
  EXPECT_EQ(decode_video(out).checksums, reference.checksums);
  EXPECT_EQ(nlohmann::json::parse(read_file(out + ".json")).at("restarts"), 1);
}

TEST_F(FaultTest, AStuckWorkerIsKilledAndItsFramesRedone) {
  const pid_t ref = start(path("ref.mkv"));
  ASSERT_EQ(wait_vpipe(ref, 60), 0) << read_file(path("ref.mkv.err"));
  const DecodedVideo reference = decode_video(path("ref.mkv"));
  const std::string out = path("stuck.mkv");
  const pid_t parent = start(out, {"--hang-timeout", "1"});
  std::this_thread::sleep_for(100ms);
  // SIGSTOP: the worker stays alive but does nothing, as a deadlocked one would.
  bool stopped = false;
  for (int i = 0; i < 200 && !stopped && is_alive(parent); ++i) {
    for (pid_t kid : children_of(parent)) {
      if (comm_of(kid).rfind("vpipe:xform-", 0) == 0) stopped = kill(kid, SIGSTOP) == 0;
      if (stopped) break;
    }
    if (!stopped) std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(stopped);
  ASSERT_EQ(wait_vpipe(parent, 30), 0) << read_file(out + ".err");
  EXPECT_THAT(read_file(out + ".err"), ::testing::HasSubstr("silent for"));
  EXPECT_EQ(nlohmann::json::parse(read_file(out + ".json")).at("restarts"), 1);
  EXPECT_EQ(decode_video(out).checksums, reference.checksums);
}

TEST_F(FaultTest, RestartBudgetStopsTheRunWithOneLine) {
  const std::string out = path("o.mkv");
  // A slower job, so the worker is surely still running when it is killed.
  const pid_t parent =
      start_vpipe({"run", "-q", "-o", out, "-i", "testsrc:size=640x360:duration=30", "--vf",
                   "cv.gblur=8", "-c:v", "ffv1", "--max-restarts", "0"},
                  out);
  std::mt19937 rng(1);
  bool killed = false;
  for (int i = 0; i < 200 && !killed; ++i) {
    std::this_thread::sleep_for(20ms);
    killed = kill_a_worker(parent, rng);
  }
  ASSERT_TRUE(killed);
  EXPECT_EQ(wait_vpipe(parent, 20), 1);
  const std::string err = read_file(out + ".err");
  EXPECT_EQ(count_lines(err), 1) << err;
  EXPECT_THAT(err, ::testing::HasSubstr("restart budget"));
  EXPECT_THAT(err, ::testing::HasSubstr("signal KILL"));
}

}  // namespace
}  // namespace vpipe::test
