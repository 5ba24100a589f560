#include "supervisor/stderr_relay.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

namespace vpipe::supervisor {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(StderrRelayTest, ParsesTheEncoderLibrariesOwnLinesOnly) {
  const auto x264 = parse_library_line("x264 [error]: malloc of size 8294400 failed");
  ASSERT_TRUE(x264.has_value());
  EXPECT_EQ(x264->library, "libx264");
  EXPECT_EQ(x264->level, "error");
  EXPECT_EQ(x264->text, "malloc of size 8294400 failed");
  const auto x265 = parse_library_line("x265 [warning]: VBV is incompatible with constant QP\r");
  ASSERT_TRUE(x265.has_value());
  EXPECT_EQ(x265->level, "warning");
  EXPECT_EQ(x265->text, "VBV is incompatible with constant QP");
  const auto glibc =
      parse_library_line("Fatal glibc error: failed to register TLS destructor: out of memory");
  ASSERT_TRUE(glibc.has_value());
  EXPECT_EQ(glibc->library, "glibc");
  EXPECT_EQ(glibc->level, "error");
  EXPECT_EQ(glibc->text, "failed to register TLS destructor: out of memory");
  for (const char* other :
       {"[00:25:10.421] [encode:3718] [warning] libav: x264 [error]: quoted", "x264 [fatal]: no",
        "==1234==ERROR: AddressSanitizer: heap-buffer-overflow", ""})
    EXPECT_FALSE(parse_library_line(other).has_value()) << other;
}

// A stage that prints a library's error and then other lines (a sanitizer's report, its own log)
// and dies: the error is held for the run's line, the rest reaches stderr whole and in order.
TEST(StderrRelayTest, HoldsLibraryErrorsAndPassesEverythingElseEvenFromADeadStage) {
  testing::internal::CaptureStderr();
  std::vector<std::string> held;
  {
    StderrRelay relay;
    const pid_t pid = fork();
    if (pid == 0) {
      dup2(relay.child_end(), STDERR_FILENO);
      const char* text =
          "first line\nx264 [error]: invalid preset 'bogus'\nx264 [info]: using cpu "
          "capabilities\n==1==ERROR: AddressSanitizer: SEGV\nno newline at the end";
      (void)!write(STDERR_FILENO, text, std::strlen(text));
      _exit(1);
    }
    relay.start();
    waitpid(pid, nullptr, 0);
    held = relay.finish();
  }
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_THAT(held, ElementsAre("libx264: invalid preset 'bogus'"));
  EXPECT_EQ(out, "first line\n==1==ERROR: AddressSanitizer: SEGV\nno newline at the end\n");
  EXPECT_THAT(out, Not(HasSubstr("x264 [")));
}

// Nothing was ever started on it: finishing does not wait for a writer.
TEST(StderrRelayTest, FinishesWhenNoStageWasStarted) {
  StderrRelay relay;
  EXPECT_TRUE(relay.finish().empty());
}

}  // namespace
}  // namespace vpipe::supervisor
