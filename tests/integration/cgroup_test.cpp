// vpipe under a real cgroup memory limit: a child cgroup of this process's own (cgroup v2, or the
// v1 memory controller), with a limit, and vpipe started inside it. The plan reads the limit, a
// run that fits finishes whole under the kernel's enforcement (an estimate too low would be an
// out-of-memory kill, not a pass), and one that cannot fit is refused up front with one line.
// Where no memory cgroup can be made here (not root, no delegation), the test says so and skips.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/media.hpp"
#include "support/run_dir_test.hpp"
#include "support/vpipe_process.hpp"

namespace vpipe::test {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

// This process's cgroup folder where a limit of `controller` can be set: v1's controller's, or
// cgroup v2's; empty where neither is found.
struct OwnCgroup {
  fs::path folder;
  std::string limit_file;  // v1's or v2's
};

OwnCgroup own_cgroup(const std::string& controller, const std::string& v1_file,
                     const std::string& v2_file) {
  std::ifstream in("/proc/self/cgroup");
  OwnCgroup v2;
  for (std::string line; std::getline(in, line);) {
    const auto first = line.find(':');
    const auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    std::istringstream names(controllers);
    for (std::string name; std::getline(names, name, ',');) {
      const std::string folder = "/sys/fs/cgroup/" + controller + (path == "/" ? "" : path);
      if (name == controller && fs::exists(folder + "/" + v1_file)) return {folder, v1_file};
    }
    if (line.rfind("0::", 0) == 0 && fs::exists("/sys/fs/cgroup" + path + "/" + v2_file))
      v2 = {"/sys/fs/cgroup" + path, v2_file};
  }
  return v2;
}

class CgroupTest : public RunDirTest {
 protected:
  // A child of this process's cgroup of `controller`, to run vpipe in; false (the test skips)
  // where none can be made.
  bool make_child(const std::string& controller, const std::string& v1_file,
                  const std::string& v2_file) {
    const OwnCgroup own = own_cgroup(controller, v1_file, v2_file);
    if (own.folder.empty()) {
      skip_ = "no " + controller + " cgroup of this process's is visible";
      return false;
    }
    cgroup_ = own.folder / ("vpipe-test-" + std::to_string(getpid()));
    std::error_code ec;
    if (!fs::create_directory(cgroup_, ec) || ec) {
      cgroup_.clear();
      skip_ = "cannot make a child cgroup here (" + ec.message() + ")";
      return false;
    }
    limit_file_ = (cgroup_ / own.limit_file).string();
    return true;
  }
  void TearDown() override {
    if (!cgroup_.empty()) {
      std::error_code ec;
      fs::remove(cgroup_, ec);  // empty once vpipe's processes have gone
    }
  }

  // Runs vpipe inside the cgroup, its limit set to `limit`; stdout and stderr into files.
  int run_limited(const std::string& limit, const std::string& args) {
    std::ofstream(limit_file_) << limit << "\n";
    return shell("sh -c 'echo $$ > " + (cgroup_ / "cgroup.procs").string() + " && exec " +
                 vpipe_binary() + " " + args + "' >" + path("out.txt") + " 2>" + path("err.txt"));
  }

  fs::path cgroup_;
  std::string limit_file_;
  std::string skip_;
};

TEST_F(CgroupTest, ARunFitsItsCgroupsMemoryLimitOrIsRefusedUpFront) {
  if (!make_child("memory", "memory.limit_in_bytes", "memory.max")) GTEST_SKIP() << skip_;
  const std::string kLimit = std::to_string(300ULL << 20);
  // The plan sees the limit.
  ASSERT_EQ(run_limited(kLimit, "run --dry-run -y -i testsrc:size=640x360 -o " + path("a.mkv")), 0)
      << read_file(path("err.txt"));
  EXPECT_THAT(read_file(path("out.txt")), HasSubstr("of the cgroup's 300.0 MiB"));

  // A run that fits finishes whole, under the kernel's enforcement of the limit.
  ASSERT_EQ(run_limited(kLimit,
                        "run -q -y -i testsrc:size=640x360:rate=30:duration=3 --vf "
                        "gblur=sigma=2 -c:v libx264 -o " +
                            path("a.mkv")),
            0)
      << read_file(path("err.txt"));
  EXPECT_EQ(decode_video(path("a.mkv")).nb_frames(), 90u);

  // One that cannot fit is refused before it starts: one line, a usage error, no output.
  const int code =
      run_limited(kLimit, "run -y -i testsrc:size=3840x2160 -w 8 -c:v libx264 -o " + path("b.mkv"));
  EXPECT_EQ(code, 2) << read_file(path("err.txt"));
  EXPECT_THAT(read_file(path("err.txt")), HasSubstr("its cgroup allows"));
  EXPECT_EQ(count_lines(read_file(path("err.txt"))), 1) << read_file(path("err.txt"));
  EXPECT_FALSE(fs::exists(path("b.mkv")));
}

// Several outputs: each output's encoder holds frames of its own, and the estimate counts them
// (24 frames of YUV 4:2:0 at the output's size each), and each later output's own process (64
// MiB, as every stage's).
TEST_F(CgroupTest, EveryOutputsEncoderCountsInTheMemoryEstimate) {
  if (!make_child("memory", "memory.limit_in_bytes", "memory.max")) GTEST_SKIP() << skip_;
  const std::string kLimit = std::to_string(2048ULL << 20);
  const auto estimate_mib = [&](const std::string& outputs) {
    EXPECT_EQ(run_limited(kLimit, "run --dry-run -y -i testsrc:size=1280x720 -w 1 " + outputs), 0)
        << read_file(path("err.txt"));
    const std::string plan = read_file(path("out.txt"));
    const auto at = plan.find("memory:   about ");
    EXPECT_NE(at, std::string::npos) << plan;
    return at == std::string::npos ? 0.0 : std::stod(plan.substr(at + 16));
  };
  const double one = estimate_mib("-o " + path("a.mkv"));
  const double three =
      estimate_mib("-o " + path("a.mkv") + " -o " + path("b.mkv") + " -o " + path("c.mkv"));
  const double encoder_mib = 24.0 * 1280 * 720 * 3 / 2 / (1 << 20);  // 31.6 MiB
  const double process_mib = 64;
  EXPECT_NEAR(three - one, 2 * (encoder_mib + process_mib), 0.5)
      << one << " MiB, then " << three << " MiB";
}

// Half a CPU's quota: the default plan has one worker on one core, and says why.
TEST_F(CgroupTest, ACpuQuotaSizesThePlanAndTheDryRunSaysWhy) {
  if (!make_child("cpu", "cpu.cfs_quota_us", "cpu.max")) GTEST_SKIP() << skip_;
  const std::string half = limit_file_.ends_with("cpu.max") ? "50000 100000" : "50000";
  ASSERT_EQ(run_limited(half, "run --dry-run -i testsrc --vf gblur=sigma=2 -o null"), 0)
      << read_file(path("err.txt"));
  const std::string plan = read_file(path("out.txt"));
  EXPECT_THAT(plan, HasSubstr("the 1 worker(s)"));
  if (sysconf(_SC_NPROCESSORS_ONLN) > 1) {
    EXPECT_THAT(plan, HasSubstr("the cgroup's CPU quota of 0.5 CPUs allows 1 of"));
  }
}

}  // namespace
}  // namespace vpipe::test
