// Fuzzes the `--vf` chain: parse, plan, and (when small enough) run on a picture. vpipe's own
// code only: ffmpeg's filters are refused (libavfilter is fuzzed upstream, and its font and
// graph caches would read as leaks here); vpipe's filters that share a name are cv.NAME.
//
// Input: the first line is the chain text; each further line `WxH` is an input size to plan for
// (at most three; without any, 64x36 and the odd 17x9). Only vpipe::Error may come out of
// parse() and plan(); run() must stay inside the buffers the plan sized (exact-size heap blocks,
// so ASan sees one byte too far), never write the input, and land its result where it says.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <opencv2/core.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "transform/filter_chain.hpp"
#include "transform/picture.hpp"

namespace {

using vpipe::transform::FilterChain;
using vpipe::transform::Geometry;
using vpipe::transform::Picture;

constexpr std::uint64_t kMaxRunBytes = 4u << 20;
// Rough pixel operations allowed per run: a valid but slow chain (stress=10000, gblur=1024 on
// a large picture) is skipped, not reported as a timeout.
constexpr double kMaxRunCost = 4e7;

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "fuzz_filter_chain: %s\n", what);
  std::abort();
}

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  for (;;) {
    const auto end = text.find('\n');
    lines.push_back(text.substr(0, end));
    if (end == std::string_view::npos) return lines;
    text.remove_prefix(end + 1);
  }
}

bool parse_int(std::string_view text, int& value) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

// `WxH` within what a decoder can hand the chain; anything else is ignored.
bool parse_size(std::string_view line, Geometry& g) {
  const auto x = line.find('x');
  if (x == std::string_view::npos) return false;
  if (!parse_int(line.substr(0, x), g.width) || !parse_int(line.substr(x + 1), g.height))
    return false;
  return g.width >= 1 && g.height >= 1 && g.width <= vpipe::transform::kMaxDimension &&
         g.height <= vpipe::transform::kMaxDimension;
}

double number_after(const std::string& text, const std::string& key) {
  const auto at = text.find(key);
  return at == std::string::npos ? 0 : std::strtod(text.c_str() + at + key.size(), nullptr);
}

// Per-pixel cost of each filter from its describe() text, times the pixels it sees.
double run_cost(const FilterChain& chain, const std::vector<Geometry>& steps) {
  const std::string text = chain.describe();
  double cost = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i + 1 < steps.size(); ++i) {
    const auto end = text.find(',', start);
    std::string item = text.substr(start, end == std::string::npos ? end : end - start);
    if (item.rfind("cv.", 0) == 0) item = item.substr(3);
    start = end == std::string::npos ? text.size() : end + 1;
    double per_pixel = 30;
    if (item.rfind("stress=", 0) == 0) {
      per_pixel += number_after(item, "stress=") + number_after(item, "vary=");
    } else if (item.rfind("gblur=", 0) == 0) {
      per_pixel += 12 * number_after(item, "sigma=");
    }
    const double pixels =
        1.5 * std::max(static_cast<double>(steps[i].width) * steps[i].height,
                       static_cast<double>(steps[i + 1].width) * steps[i + 1].height);
    cost += per_pixel * pixels;
  }
  return cost;
}

// Every row of every plane lies within [base, base + bytes).
bool inside(const Picture& p, const std::uint8_t* base, std::uint64_t bytes) {
  const auto start = reinterpret_cast<std::uintptr_t>(base);
  for (int i = 0; i < 3; ++i) {
    const Geometry g = p.plane_geometry(i);
    const auto first = reinterpret_cast<std::uintptr_t>(p.data[i]);
    if (g.width <= 0 || g.height <= 0 || p.linesize[i] < g.width || first < start) return false;
    const std::uint64_t end = (first - start) +
                              static_cast<std::uint64_t>(p.linesize[i]) * (g.height - 1) +
                              static_cast<std::uint64_t>(g.width);
    if (end > bytes) return false;
  }
  return true;
}

std::uint64_t checksum(const std::vector<std::uint8_t>& bytes) {
  std::uint64_t h = 1469598103934665603ULL;
  for (const std::uint8_t b : bytes) h = (h ^ b) * 1099511628211ULL;
  return h;
}

void run_on(const FilterChain& chain, Geometry size, const std::vector<Geometry>& steps,
            std::string_view seed) {
  const std::uint64_t max_bytes = chain.max_picture_bytes(size);
  if (max_bytes > kMaxRunBytes || run_cost(chain, steps) > kMaxRunCost) return;
  // Exact sizes, as the pool's slots and the worker's scratch are: no slack for an overrun.
  std::vector<std::uint8_t> input(vpipe::transform::picture_bytes(size));
  for (std::size_t i = 0; i < input.size(); ++i) {
    input[i] = static_cast<std::uint8_t>(seed.empty() ? i * 37 : seed[i % seed.size()] + i / 7);
  }
  std::vector<std::uint8_t> spare(chain.needs_spare() ? max_bytes : 0);
  std::vector<std::uint8_t> scratch(chain.needs_scratch() ? max_bytes : 0);
  const Picture in = vpipe::transform::layout_picture(input.data(), size);
  const std::uint64_t before = checksum(input);
  // Twice: a temporal filter takes the first frame as its reference and filters the second.
  for (std::int64_t seq = 0; seq < 2; ++seq) {
    const auto result = chain.run(in, spare.empty() ? nullptr : spare.data(),
                                  scratch.empty() ? nullptr : scratch.data(),
                                  {seq, seq * 3000, static_cast<double>(seq) / 30});
    if (result.picture.geometry() != steps.back()) violated("result geometry differs from plan()");
    if (result.in_spare ? !inside(result.picture, spare.data(), spare.size())
                        : !inside(result.picture, input.data(), input.size())) {
      violated("result planes lie outside the buffer run() names");
    }
    if (checksum(input) != before) violated("run() wrote into its read-only input");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  cv::setNumThreads(0);  // one thread: reproducible, and no pool to outlive an input
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string_view> lines = lines_of(text);
  std::vector<Geometry> sizes;
  for (std::size_t i = 1; i < lines.size() && sizes.size() < 3; ++i) {
    Geometry g;
    if (parse_size(lines[i], g)) sizes.push_back(g);
  }
  if (sizes.empty()) sizes = {{64, 36}, {17, 9}};

  try {
    const FilterChain chain = FilterChain::parse(lines.front(), /*ffmpeg_filters=*/false);
    (void)chain.describe();
    (void)chain.sequential();
    for (const Geometry g : sizes) {
      try {
        const std::vector<Geometry> steps = chain.plan(g);
        if (steps.empty() || steps.front() != g) violated("plan() does not start at its input");
        run_on(chain, g, steps, lines.front());
      } catch (const vpipe::Error&) {
        // This size cannot go through the chain; another might.
      }
    }
  } catch (const vpipe::Error&) {
    // Rejected with a message, as a bad chain should be.
  }
  return 0;
}
