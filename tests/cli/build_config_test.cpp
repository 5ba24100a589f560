// How the build is configured for each build type a user may pick: warnings are errors in the
// developer builds (what scripts/setup.sh and CI use), never in a build type a user chooses,
// where a newer or older compiler's new warning must not fail the build.
#include <gtest/gtest.h>

#include <string>

#include "support/run_dir_test.hpp"
#include "support/vpipe_process.hpp"

namespace vpipe::test {
namespace {

class BuildConfigTest : public RunDirTest {
 protected:
  // Configures the source tree for `build_type` into the test's folder; the cached VPIPE_WERROR.
  std::string werror_for(const std::string& build_type) {
    const std::string dir = path(build_type);
    EXPECT_EQ(
        shell("cmake -S " + std::string(VPIPE_SOURCE_DIR) + " -B " + dir +
              " -DCMAKE_BUILD_TYPE=" + build_type + " -DBUILD_TESTING=OFF >" + dir + ".log 2>&1"),
        0)
        << read_file(dir + ".log");
    const std::string cache = read_file(dir + "/CMakeCache.txt");
    const std::size_t at = cache.find("VPIPE_WERROR:BOOL=");
    if (at == std::string::npos) return "missing";
    return cache.substr(at + 18, cache.find('\n', at) - at - 18);
  }
};

TEST_F(BuildConfigTest, WarningsAreErrorsInDeveloperBuildsOnly) {
  EXPECT_EQ(werror_for("RelWithDebInfo"), "ON");
  EXPECT_EQ(werror_for("Release"), "OFF");
  EXPECT_EQ(werror_for("MinSizeRel"), "OFF");
}

// `vpipe --version` says what a bug report needs: the release, the commit, and the libraries it
// runs with; the man page is built from the real help, every command's options included.
TEST_F(BuildConfigTest, VersionNamesTheCommitAndTheLibrariesAndTheManPageHasEveryOption) {
  const RunResult r = run_vpipe({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* part : {"vpipe 0.", "(commit ", "FFmpeg ", "libavcodec 59.", "libavformat 59.",
                           "OpenCV 4.", "hwloc 2."}) {
    EXPECT_NE(r.out.find(part), std::string::npos) << part << " in:\n" << r.out;
  }
  const std::string binary = VPIPE_BINARY;
  const std::string man = read_file(binary.substr(0, binary.rfind('/')) + "/vpipe.1");
  EXPECT_NE(man.find(".TH VPIPE \"1\""), std::string::npos) << man.substr(0, 300);
  for (const char* option :
       {"metrics\\-linger", "progress\\-file", "drain\\-timeout", "latency\\-budget"}) {
    EXPECT_NE(man.find(option), std::string::npos) << option;
  }
}

}  // namespace
}  // namespace vpipe::test
