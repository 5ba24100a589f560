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

// This process's cgroup folder where a memory limit can be set: cgroup v2's, or v1's memory
// controller's; empty where neither is found.
struct MemoryCgroup {
  fs::path folder;
  std::string limit_file;  // memory.max or memory.limit_in_bytes
};

MemoryCgroup own_memory_cgroup() {
  std::ifstream in("/proc/self/cgroup");
  MemoryCgroup v2;
  for (std::string line; std::getline(in, line);) {
    const auto first = line.find(':');
    const auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    std::istringstream names(controllers);
    for (std::string name; std::getline(names, name, ',');) {
      if (name == "memory" && fs::exists("/sys/fs/cgroup/memory" + path))
        return {"/sys/fs/cgroup/memory" + path, "memory.limit_in_bytes"};
    }
    if (line.rfind("0::", 0) == 0 && fs::exists("/sys/fs/cgroup" + path + "/memory.max"))
      v2 = {"/sys/fs/cgroup" + path, "memory.max"};
  }
  return v2;
}

class CgroupTest : public RunDirTest {
 protected:
  void SetUp() override {
    RunDirTest::SetUp();
    const MemoryCgroup own = own_memory_cgroup();
    if (own.folder.empty()) GTEST_SKIP() << "no memory cgroup of this process's is visible";
    cgroup_ = own.folder / ("vpipe-test-" + std::to_string(getpid()));
    std::error_code ec;
    if (!fs::create_directory(cgroup_, ec) || ec) {
      cgroup_.clear();
      GTEST_SKIP() << "cannot make a child cgroup here (" << ec.message() << ")";
    }
    limit_file_ = (cgroup_ / own.limit_file).string();
  }
  void TearDown() override {
    if (!cgroup_.empty()) {
      std::error_code ec;
      fs::remove(cgroup_, ec);  // empty once vpipe's processes have gone
    }
  }

  // Runs vpipe inside the cgroup, limited to `bytes`; stdout and stderr into files.
  int run_limited(std::uint64_t bytes, const std::string& args) {
    std::ofstream(limit_file_) << bytes << "\n";
    return shell("sh -c 'echo $$ > " + (cgroup_ / "cgroup.procs").string() + " && exec " +
                 vpipe_binary() + " " + args + "' >" + path("out.txt") + " 2>" + path("err.txt"));
  }

  fs::path cgroup_;
  std::string limit_file_;
};

TEST_F(CgroupTest, ARunFitsItsCgroupsMemoryLimitOrIsRefusedUpFront) {
  constexpr std::uint64_t kLimit = 300ULL << 20;
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

}  // namespace
}  // namespace vpipe::test
