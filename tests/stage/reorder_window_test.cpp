#include "stage/reorder_window.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace vpipe::stage {
namespace {

using Window = ReorderWindow<std::string>;

std::vector<std::string> drain(Window& w) {
  std::vector<std::string> out;
  while (auto item = w.take_next()) out.push_back(*item);
  return out;
}

TEST(ReorderWindowTest, FramesComeOutInDecodeOrderWhateverOrderTheyArrive) {
  Window w(4);
  EXPECT_EQ(w.put(2, "c"), Window::Put::kQueued);
  EXPECT_EQ(w.put(1, "b"), Window::Put::kQueued);
  EXPECT_TRUE(drain(w).empty()) << "frame 0 has not arrived";
  EXPECT_EQ(w.put(0, "a"), Window::Put::kQueued);
  EXPECT_EQ(drain(w), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(w.next_seq(), 3);
  // The window has moved on: 3..6 fit, 7 does not.
  EXPECT_EQ(w.put(6, "g"), Window::Put::kQueued);
  EXPECT_EQ(w.put(7, "h"), Window::Put::kOverflow);
  EXPECT_EQ(w.put(3, "d"), Window::Put::kQueued);
  EXPECT_EQ(drain(w), (std::vector<std::string>{"d"}));
}

TEST(ReorderWindowTest, AFrameFinishedTwiceCountsOnce) {
  Window w(4);
  EXPECT_EQ(w.put(1, "b"), Window::Put::kQueued);
  EXPECT_EQ(w.put(1, "b again"), Window::Put::kDuplicate);  // still waiting
  EXPECT_EQ(w.put(0, "a"), Window::Put::kQueued);
  EXPECT_EQ(drain(w), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(w.put(0, "a again"), Window::Put::kDuplicate);  // already done
  EXPECT_TRUE(drain(w).empty());
}

}  // namespace
}  // namespace vpipe::stage
