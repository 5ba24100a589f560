// `vpipe segments submit --engine slurm` on a real single-node Slurm cluster that the test starts
// on 127.0.0.1 (free ports, every file in the test's folder) and stops by PID: one running task
// requeued, one segment that fails and is resubmitted with --resume, and an output equal to the
// local engine's.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "support/media.hpp"
#include "support/run_dir_test.hpp"
#include "support/vpipe_process.hpp"

namespace vpipe::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

// A shell command's standard output.
std::string output_of(const std::string& command) {
  std::string text;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return text;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) text += buffer;
  pclose(pipe);
  return text;
}

class SlurmTest : public RunDirTest {
 protected:
  void SetUp() override {
    RunDirTest::SetUp();
    cluster_ = path("cluster");
    // munged wants every folder above its socket searchable by all.
    fs::permissions(dir_, fs::perms::others_exec | fs::perms::group_exec, fs::perm_options::add);
    const std::string script = std::string(VPIPE_SOURCE_DIR) + "/scripts/slurm-cluster.sh";
    ASSERT_EQ(shell(script + " start " + cluster_ + " " + std::to_string(free_tcp_port()) + " " +
                    std::to_string(free_tcp_port()) + " >/dev/null"),
              0)
        << read_file(cluster_ + "/log/slurmctld.log") << read_file(cluster_ + "/log/slurmd.log");
    setenv("SLURM_CONF", (cluster_ + "/slurm.conf").c_str(), 1);
    for (const char* d : {"slurmctld", "slurmd", "munged"})
      daemons_.push_back(std::stoi(read_file(cluster_ + "/run/" + d + ".pid")));
  }
  void TearDown() override {
    shell(std::string(VPIPE_SOURCE_DIR) + "/scripts/slurm-cluster.sh stop " + cluster_);
    for (pid_t pid : daemons_)
      EXPECT_FALSE(is_alive(pid)) << "daemon " << pid << " outlived the test";
    unsetenv("SLURM_CONF");
    RunDirTest::TearDown();
  }
  std::string cluster_;
  std::vector<pid_t> daemons_;
};

TEST_F(SlurmTest, ArrayJobSurvivesARequeueAndAFailedSegmentResumesToTheLocalEnginesOutput) {
  const std::string in = path("in.mp4");
  ASSERT_EQ(shell("ffmpeg -v error -y -f lavfi -i testsrc2=size=640x360:rate=30:duration=8 -f "
                  "lavfi -i sine=frequency=660:sample_rate=48000:duration=8 -c:v libx264 -preset "
                  "veryfast -bf 3 -g 60 -pix_fmt yuv420p -c:a aac -shortest " +
                  in),
            0);
  const std::vector<std::string> opts{"-q",         "-i",         in,  "-c:v",    "ffv1", "--vf",
                                      "stress=150", "--segments", "4", "--split", "exact"};
  std::vector<std::string> plan_local{"segments",    "plan", "--workdir",
                                      path("local"), "-o",   path("local.mkv")};
  plan_local.insert(plan_local.end(), opts.begin(), opts.end());
  ASSERT_EQ(run_vpipe(plan_local).exit_code, 0);
  ASSERT_EQ(run_vpipe({"segments", "submit", "-q", "--workdir", path("local")}, 120).exit_code, 0);
  std::vector<std::string> plan_slurm{"segments",  "plan", "--workdir",
                                      path("job"), "-o",   path("slurm.mkv")};
  plan_slurm.insert(plan_slurm.end(), opts.begin(), opts.end());
  ASSERT_EQ(run_vpipe(plan_slurm).exit_code, 0);
  // Segment 3 cannot be published while a folder sits where its file goes.
  fs::create_directories(path("job/segments/00003.nut"));

  const pid_t submit = start_vpipe({"segments", "submit", "--workdir", path("job"), "--engine",
                                    "slurm", "--cpus-per-task", "1", "--max-tries", "1"},
                                   path("submit"));
  std::string task;  // a running array task, requeued once
  for (int i = 0; i < 600 && task.empty() && is_alive(submit); ++i) {
    std::this_thread::sleep_for(50ms);
    const std::string running = output_of("squeue -h -t R -r -n vpipe-segments -o %i");
    if (running.find('_') != std::string::npos) task = running.substr(0, running.find('\n'));
  }
  ASSERT_FALSE(task.empty()) << "no segment task ran: " << read_file(path("submit.err"));
  ASSERT_EQ(shell("scontrol requeue " + task), 0);
  shell("scontrol update JobId=" + task + " StartTime=now >/dev/null 2>&1");
  for (int i = 0; i < 100; ++i) {  // a requeued task waits in the queue: start it now
    std::this_thread::sleep_for(100ms);
    shell("scontrol update JobId=" + task + " StartTime=now >/dev/null 2>&1");
    if (output_of("squeue -h -t PD -r -j " + task.substr(0, task.find('_')) + " -o %i")
            .find(task) == std::string::npos)
      break;
  }
  const int code = wait_vpipe(submit, 180);
  const std::string err = read_file(path("submit.err"));
  EXPECT_EQ(code, 1) << err;
  EXPECT_THAT(err, HasSubstr("segments 3 failed"));
  EXPECT_FALSE(fs::exists(path("slurm.mkv")));
  const int requeued = std::stoi(task.substr(task.find('_') + 1));
  const auto sidecar = nlohmann::json::parse(
      read_file(path("job/segments/0000" + std::to_string(requeued) + ".json")));
  EXPECT_EQ(sidecar.at("restart_count"), 1) << "task " << task << " did not run again";

  fs::remove(path("job/segments/00003.nut"));
  const RunResult resumed = run_vpipe(
      {"segments", "submit", "--workdir", path("job"), "--engine", "slurm", "--resume"}, 180);

  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_THAT(resumed.out, HasSubstr("submitted segments 3 as array job"));
  const DecodedVideo a = decode_video(path("slurm.mkv")), b = decode_video(path("local.mkv"));
  EXPECT_EQ(a.nb_frames(), 240U);
  EXPECT_EQ(a.pts, b.pts);
  EXPECT_EQ(a.checksums, b.checksums);
  const auto sa = probe_streams(path("slurm.mkv")), sb = probe_streams(path("local.mkv"));
  ASSERT_EQ(sa.size(), 2U);
  ASSERT_EQ(sb.size(), 2U);
  EXPECT_EQ(sa[1].packets, sb[1].packets);
  EXPECT_NEAR(sa[1].duration_s, sb[1].duration_s, 1e-6);
}

}  // namespace
}  // namespace vpipe::test
