// The layering rule (README, Architecture): a file includes only its own folder and folders of
// a lower layer, and each CMake library links only libraries of a lower layer. Read from the
// sources themselves, so a new edge that points up or sideways fails here, not in review.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace vpipe::test {
namespace {

namespace fs = std::filesystem;

// Folders under src/ by layer. Folders of one layer never include each other: the media
// libraries (decode, transform, encode) are independent, and so are stage and report.
const std::map<std::string, int> kLayer = {
    {"common", 0},     {"preview", 0},  {"shm", 1},  {"affinity", 1}, {"decode", 2},
    {"transform", 2},  {"encode", 2},   {"plan", 3}, {"stage", 4},    {"report", 4},
    {"supervisor", 5}, {"segments", 6}, {"cli", 7}};

struct Edge {
  std::string from;  // "plan/options.cpp:12" or "vpipe_plan"
  std::string from_folder;
  std::string to_folder;
};

std::vector<std::string> violations(const std::vector<Edge>& edges) {
  std::vector<std::string> bad;
  for (const Edge& e : edges) {
    const auto from = kLayer.find(e.from_folder);
    const auto to = kLayer.find(e.to_folder);
    if (from == kLayer.end() || to == kLayer.end()) {
      bad.push_back(e.from + " -> " + e.to_folder + ": a folder with no layer (add it to kLayer)");
    } else if (e.from_folder != e.to_folder && to->second >= from->second) {
      bad.push_back(e.from + " -> " + e.to_folder +
                    (to->second == from->second ? ": sideways" : ": up"));
    }
  }
  return bad;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

std::vector<Edge> include_edges(const fs::path& src) {
  const std::regex include(R"re(^\s*#\s*include\s+"([a-z_]+)/[^"]+")re");
  std::vector<Edge> edges;
  for (const auto& entry : fs::recursive_directory_iterator(src)) {
    if (!entry.is_regular_file()) continue;
    const fs::path rel = fs::relative(entry.path(), src);
    const std::string folder = rel.begin()->string();
    std::ifstream in(entry.path());
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      std::smatch m;
      if (std::regex_search(line, m, include))
        edges.push_back({rel.string() + ":" + std::to_string(number), folder, m[1]});
    }
  }
  return edges;
}

// target_link_libraries(vpipe_X ... vpipe_Y ...) of the top-level CMakeLists.txt, for the
// libraries named after a folder.
std::vector<Edge> link_edges(const fs::path& cmake_lists) {
  std::ifstream in(cmake_lists);
  std::stringstream text;
  text << in.rdbuf();
  const std::string all = text.str();
  const std::regex call(R"re(target_link_libraries\(\s*vpipe_([a-z_]+)([^)]*)\))re");
  const std::regex dependency(R"re(\bvpipe_([a-z_]+))re");
  std::vector<Edge> edges;
  for (auto it = std::sregex_iterator(all.begin(), all.end(), call); it != std::sregex_iterator();
       ++it) {
    const std::string from = (*it)[1];
    if (!kLayer.contains(from)) continue;  // the executable, the test aggregate
    const std::string args = (*it)[2];
    for (auto d = std::sregex_iterator(args.begin(), args.end(), dependency);
         d != std::sregex_iterator(); ++d)
      edges.push_back({"vpipe_" + from, from, (*d)[1]});
  }
  return edges;
}

TEST(LayersTest, EveryIncludePointsDownOrStaysInItsFolder) {
  const auto edges = include_edges(fs::path(VPIPE_SOURCE_DIR) / "src");
  ASSERT_GT(edges.size(), 100U) << "the include lines were not found";
  const auto bad = violations(edges);
  EXPECT_TRUE(bad.empty()) << joined(bad);
}

TEST(LayersTest, EveryLibraryLinksOnlyLowerLayers) {
  const auto edges = link_edges(fs::path(VPIPE_SOURCE_DIR) / "CMakeLists.txt");
  ASSERT_GT(edges.size(), 8U) << "the link lines were not found";
  const auto bad = violations(edges);
  EXPECT_TRUE(bad.empty()) << joined(bad);
}

// The rule itself: an upward edge, a sideways edge between media folders, and an unknown
// folder are each caught.
TEST(LayersTest, TheRuleCatchesUpSidewaysAndUnknownEdges) {
  const std::vector<Edge> edges = {
      {"decode/x.cpp:1", "decode", "plan"}, {"encode/y.hpp:2", "encode", "decode"},
      {"stage/z.cpp:3", "stage", "report"}, {"scheduler/w.cpp:4", "scheduler", "common"},
      {"plan/ok.cpp:5", "plan", "decode"},  {"stage/ok.cpp:6", "stage", "stage"}};
  const auto bad = violations(edges);
  ASSERT_EQ(bad.size(), 4U) << joined(bad);
  EXPECT_THAT(bad[0], ::testing::HasSubstr("decode/x.cpp:1 -> plan: up"));
  EXPECT_THAT(bad[1], ::testing::HasSubstr("encode/y.hpp:2 -> decode: sideways"));
  EXPECT_THAT(bad[2], ::testing::HasSubstr("stage/z.cpp:3 -> report: sideways"));
  EXPECT_THAT(bad[3], ::testing::HasSubstr("scheduler/w.cpp:4 -> common: a folder"));
}

}  // namespace
}  // namespace vpipe::test
