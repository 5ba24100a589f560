// `vpipe bench`: the quick suite's reports hold every case with sane numbers. Nothing is timed:
// the machines are shared, so only the shape and the invariants are checked.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "support/vpipe_process.hpp"

namespace vpipe::test {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

class BenchTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = make_temp_dir(); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  [[nodiscard]] std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string dir_;
};

TEST_F(BenchTest, QuickSuiteReportsEveryCaseWithSaneNumbers) {
  const RunResult r = run_vpipe(
      {"bench", "--quick", "--json", path("bench.json"), "--csv", path("bench.csv")}, 120);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const auto report = nlohmann::json::parse(read_file(path("bench.json")));
  const int max_workers = std::min(2, usable_cpus());
  const std::set<std::string> chains = {"transport", "light"};
  std::set<std::string> expected;
  for (const auto& chain : chains) {
    for (int n = 1; n <= max_workers; ++n) {
      expected.insert("320x240 " + chain + " w" + std::to_string(n));
    }
  }
  std::set<std::string> seen;
  for (const auto& c : report.at("cases")) {
    const std::string name = c.at("name").get<std::string>();
    SCOPED_TRACE(name);
    seen.insert(name);
    EXPECT_EQ(c.at("frames").get<double>(), 30);
    EXPECT_GT(c.at("fps").get<double>(), 0);
    if (c.at("workers").get<int>() == 1) {
      EXPECT_DOUBLE_EQ(c.at("efficiency").get<double>(), 1.0);
    }
    EXPECT_GT(c.at("efficiency").get<double>(), 0);
    // The test source's pictures are copied once, into their slots; never between stages.
    EXPECT_EQ(c.at("copies_per_frame").get<double>(), 1);
    EXPECT_GT(c.at("peak_rss_kib").at("max").get<double>(), 0);
    EXPECT_GE(c.at("peak_rss_kib").at("sum").get<double>(),
              c.at("peak_rss_kib").at("max").get<double>());
    EXPECT_GE(c.at("latency_ms").at("p99").get<double>(),
              c.at("latency_ms").at("p50").get<double>());
    // decode, one xform per worker, encode
    EXPECT_EQ(c.at("stages").size(), static_cast<std::size_t>(c.at("workers").get<int>() + 2));
  }
  EXPECT_EQ(seen, expected);

  const std::string csv = read_file(path("bench.csv"));
  EXPECT_THAT(csv, StartsWith("case,size,chain,vf,workers,frames,"));
  EXPECT_EQ(count_lines(csv), 1 + static_cast<int>(expected.size()));
  for (const auto& name : expected) EXPECT_THAT(csv, HasSubstr("\n" + name + ","));

  EXPECT_THAT(r.out, HasSubstr("320x240"));
}

TEST_F(BenchTest, UnknownOptionIsOneErrorLineAndExitTwo) {
  const RunResult r = run_vpipe({"bench", "--no-such-option"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("vpipe: error: "));
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
}

TEST_F(BenchTest, ZeroRepeatIsOneErrorLineAndExitTwo) {
  const RunResult r = run_vpipe({"bench", "--quick", "--repeat", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("vpipe: error: "));
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
}

// The user's own job: timed as often as asked, beside the ffmpeg CLI's same job (its command
// given), with the frames and per-stage figures; the job's own output file is left alone.
TEST_F(BenchTest, AJobOfTheUsersIsTimedBesideTheFfmpegClisSameJob) {
  const std::string in = path("in.mkv");
  ASSERT_EQ(shell("ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=30:duration=1 "
                  "-pix_fmt yuv420p -c:v ffv1 " +
                  in),
            0);
  const RunResult r =
      run_vpipe({"bench", "-threads", "1", "-i", in, "-vf", "scale=160:120", "-c:v", "ffv1",
                 path("out.mkv"), "--repeat", "2", "--vs-ffmpeg", "--json", path("job.json")},
                120);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("vpipe/ffmpeg"));
  EXPECT_THAT(r.out, HasSubstr("ffmpeg's command: ffmpeg"));
  EXPECT_FALSE(std::filesystem::exists(path("out.mkv"))) << "bench writes a temporary file";
  std::ifstream in_json(path("job.json"));
  const auto j = nlohmann::json::parse(in_json);
  EXPECT_EQ(j.at("frames").get<int>(), 30);
  EXPECT_EQ(j.at("vpipe").at("runs").size(), 2u);
  EXPECT_EQ(j.at("ffmpeg").at("runs").size(), 2u);
  EXPECT_GT(j.at("vpipe").at("fps").get<double>(), 0);
  EXPECT_GT(j.at("ffmpeg").at("cpu_ms_per_frame").get<double>(), 0);
  const auto command = j.at("ffmpeg").at("command").get<std::vector<std::string>>();
  EXPECT_NE(std::find(command.begin(), command.end(), "scale=160:120"), command.end());
  EXPECT_NE(std::find(command.begin(), command.end(), "ffv1"), command.end());
  // The decoder's threads, as the user gave them, before the input as ffmpeg takes them.
  const auto threads = std::find(command.begin(), command.end(), "-threads");
  ASSERT_NE(threads, command.end());
  EXPECT_EQ(*(threads + 1), "1");
  EXPECT_LT(threads, std::find(command.begin(), command.end(), "-i"));
  EXPECT_TRUE(j.at("stage_busy_percent").contains("decode"));
}

TEST_F(BenchTest, AJobFfmpegCannotRunOrThatFailsIsOneErrorLine) {
  const RunResult own = run_vpipe(
      {"bench", "-i", "testsrc:duration=0.2", "-vf", "cv.gray", "-o", "null", "--vs-ffmpeg"});
  EXPECT_EQ(own.exit_code, 2);
  EXPECT_THAT(own.err, HasSubstr("vpipe's own filter 'cv.gray'"));
  EXPECT_EQ(count_lines(own.err), 1) << own.err;

  const RunResult missing = run_vpipe({"bench", "-i", path("nosuch.mkv"), "-o", "null"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.err, HasSubstr("nosuch.mkv"));
  EXPECT_EQ(count_lines(missing.err), 1) << missing.err;
}

}  // namespace
}  // namespace vpipe::test
