// The bash completion script `vpipe completion bash` prints (and the build installs), run in a
// real bash: subcommands, flags (CLI11's and the ffmpeg spellings), a flag's choices, files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/vpipe_process.hpp"

namespace vpipe::test {
namespace {

using Words = std::vector<std::string>;

Words sorted(Words words) {
  std::sort(words.begin(), words.end());
  return words;
}
bool has(const Words& words, const std::string& word) {
  return std::find(words.begin(), words.end(), word) != words.end();
}

class CompletionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir();
    const RunResult r = run_vpipe({"completion", "bash"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::ofstream(dir_ + "/vpipe.bash") << r.out;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // What bash offers for the last of `words` (the word being completed, maybe empty).
  std::vector<std::string> complete(const std::vector<std::string>& words) {
    std::string array;
    for (const auto& w : words) array += " '" + w + "'";
    const std::string script = dir_ + "/complete.sh";
    std::ofstream(script) << "cd '" << dir_ << "' && source ./vpipe.bash\n"
                          << "COMP_WORDS=(vpipe" << array << ")\n"
                          << "COMP_CWORD=" << words.size() << "\n"
                          << "_vpipe\nprintf '%s\\n' \"${COMPREPLY[@]}\" > '" << dir_
                          << "/reply'\n";
    EXPECT_EQ(shell("bash " + script), 0);
    std::vector<std::string> reply;
    std::istringstream lines(read_file(dir_ + "/reply"));
    for (std::string line; std::getline(lines, line);)
      if (!line.empty()) reply.push_back(line);
    return reply;
  }
  std::string dir_;
};

TEST_F(CompletionTest, CompletesCommandsFlagsChoicesAndFiles) {
  const Words commands = complete({""});
  for (const char* command : {"run", "filters", "bench", "segments", "completion"})
    EXPECT_TRUE(has(commands, command)) << command;
  EXPECT_EQ(complete({"r"}), Words({"run"}));
  EXPECT_EQ(sorted(complete({"run", "--prog"})), Words({"--progress", "--progress-file"}));
  // ffmpeg's spellings, which vpipe run translates.
  const Words ffmpeg = complete({"run", "-c:"});
  EXPECT_TRUE(has(ffmpeg, "-c:v") && has(ffmpeg, "-c:a")) << ::testing::PrintToString(ffmpeg);
  EXPECT_EQ(sorted(complete({"run", "--progress", ""})), Words({"auto", "json", "none"}));
  // A flag's value that is a file, and a nested command's own flags.
  std::ofstream(dir_ + "/clip.mp4") << "x";
  EXPECT_EQ(complete({"run", "-i", "cl"}), Words({"clip.mp4"}));
  const Words submit = complete({"segments", "submit", "--"});
  EXPECT_TRUE(has(submit, "--engine")) << ::testing::PrintToString(submit);
  EXPECT_FALSE(has(submit, "--progress-file"));
}

}  // namespace
}  // namespace vpipe::test
