// The preview window, on a virtual X server (Xvfb): a screenshot taken while a realtime run
// shows the test source must hold the source's colour bars; --tee preview writes the file too;
// without a display the run fails at planning with one line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "support/media.hpp"
#include "support/vpipe_process.hpp"

namespace vpipe::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

struct Rgb {
  int r, g, b;
};

// Reads an X window dump (xwd, TrueColor, 24 or 32 bits per pixel) into RGB pixels.
std::vector<Rgb> read_xwd(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
  auto field = [&](int i) {  // header fields are big-endian 32-bit words
    const std::uint8_t* p = bytes.data() + 4 * i;
    return static_cast<std::uint32_t>(p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]);
  };
  std::vector<Rgb> pixels;
  if (bytes.size() < 100) return pixels;
  const std::uint32_t header = field(0), height = field(5), byte_order = field(7), bpp = field(11),
                      line = field(12), rmask = field(14), gmask = field(15), bmask = field(16),
                      ncolors = field(19), width = field(4);
  const std::size_t data = header + 12ULL * ncolors;
  if (bpp != 32 && bpp != 24) return pixels;
  auto channel = [](std::uint32_t v, std::uint32_t mask) {
    int shift = 0;
    while (mask != 0 && (mask & 1) == 0) {
      mask >>= 1;
      ++shift;
    }
    return static_cast<int>((v >> shift) & mask);
  };
  for (std::uint32_t y = 0; y < height; ++y) {
    for (std::uint32_t x = 0; x < width; ++x) {
      const std::size_t at = data + static_cast<std::size_t>(y) * line + x * (bpp / 8);
      if (at + bpp / 8 > bytes.size()) return pixels;
      std::uint32_t v = 0;
      for (std::uint32_t k = 0; k < bpp / 8; ++k) {
        const std::uint32_t b = bytes[at + k];
        v |= byte_order == 0 ? b << (8 * k) : b << (8 * (bpp / 8 - 1 - k));  // 0: LSB first
      }
      pixels.push_back({channel(v, rmask), channel(v, gmask), channel(v, bmask)});
    }
  }
  return pixels;
}

class PreviewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir();
    // -displayfd: Xvfb picks a free display and writes its number.
    ASSERT_EQ(shell("Xvfb -displayfd 1 -screen 0 800x600x24 -nolisten tcp > " + path("display") +
                    " 2>/dev/null & echo $! > " + path("xvfb.pid")),
              0)
        << "Xvfb is needed (scripts/setup.sh installs it)";
    for (int i = 0; i < 100 && read_file(path("display")).empty(); ++i)
      std::this_thread::sleep_for(50ms);
    display_ = ":" + read_file(path("display"));
    while (!display_.empty() && (display_.back() == '\n' || display_.back() == ' '))
      display_.pop_back();
    ASSERT_GT(display_.size(), 1u) << "Xvfb did not start";
  }
  void TearDown() override {
    const std::string pid = read_file(path("xvfb.pid"));
    if (!pid.empty()) kill(std::stoi(pid), SIGTERM);
    EXPECT_EQ(processes_holding_run_segments(), 0);
    std::filesystem::remove_all(dir_);
  }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string dir_;
  std::string display_;
};

// Pixels close to a colour.
int count_near(const std::vector<Rgb>& pixels, Rgb want) {
  int n = 0;
  for (const Rgb& p : pixels) {
    n += std::abs(p.r - want.r) < 40 && std::abs(p.g - want.g) < 40 && std::abs(p.b - want.b) < 40;
  }
  return n;
}

TEST_F(PreviewTest, AScreenshotDuringARunShowsTheSourcesColourBarsAndTheFileIsWhole) {
  setenv("DISPLAY", display_.c_str(), 1);
  const pid_t run =
      start_vpipe({"run", "-i", "testsrc:size=320x240:rate=30:duration=3", "--realtime", "-o",
                   path("out.mkv"), "--tee", "preview", "--progress", "none"},
                  path("vpipe"));
  unsetenv("DISPLAY");
  std::this_thread::sleep_for(1500ms);
  ASSERT_EQ(shell("xwd -root -silent -display " + display_ + " > " + path("shot.xwd")), 0);
  ASSERT_EQ(wait_vpipe(run, 30), 0) << read_file(path("vpipe.err"));
  const std::vector<Rgb> shot = read_xwd(path("shot.xwd"));
  ASSERT_EQ(shot.size(), 800u * 600u) << "a whole 800x600 screenshot";
  // The test source's bars: each covers about 40x170 pixels of the 320x240 picture.
  for (const Rgb bar : {Rgb{0, 255, 255}, Rgb{255, 0, 255}, Rgb{255, 255, 0}, Rgb{0, 0, 255}}) {
    EXPECT_GT(count_near(shot, bar), 2000) << "bar " << bar.r << "," << bar.g << "," << bar.b;
  }
  EXPECT_EQ(decode_video(path("out.mkv")).nb_frames(), 90u) << "the file beside the preview";
  EXPECT_EQ(count_lines(read_file(path("vpipe.err"))), 2) << "the summary and the live line only";
}

TEST_F(PreviewTest, WithoutADisplayThePreviewIsAUsageErrorBeforeAnythingRuns) {
  unsetenv("DISPLAY");
  unsetenv("WAYLAND_DISPLAY");
  const RunResult r = run_vpipe({"run", "-i", "testsrc", "-o", "preview"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("DISPLAY is not set"));
  const RunResult tee = run_vpipe({"run", "-i", "testsrc", "-o", "null", "--tee", "x.mkv"});
  EXPECT_EQ(tee.exit_code, 2);
  EXPECT_THAT(tee.err, HasSubstr("can only be 'preview'"));
}

}  // namespace
}  // namespace vpipe::test
