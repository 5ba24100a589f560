// RunDirTest: the fixture of the end-to-end tests. Each test gets a fresh folder for its files;
// afterwards the folder is removed and the test checks that no run segment outlived its run.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "support/vpipe_process.hpp"

namespace vpipe::test {

class RunDirTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = make_temp_dir(); }
  void TearDown() override {
    EXPECT_EQ(processes_holding_run_segments(), 0) << "a run segment outlived its run";
    std::filesystem::remove_all(dir_);
  }
  [[nodiscard]] std::string path(const std::string& name) const { return dir_ + "/" + name; }
  // A --stats-json report written into the folder.
  [[nodiscard]] nlohmann::json stats(const std::string& name = "stats.json") const {
    return nlohmann::json::parse(read_file(path(name)));
  }
  std::string dir_;
};

}  // namespace vpipe::test
