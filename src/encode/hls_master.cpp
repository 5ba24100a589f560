#include "encode/hls_master.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.hpp"

namespace vpipe::encode {
namespace {

namespace fs = std::filesystem;

struct Measured {
  HlsVariant variant;
  double peak_bps = 0;
  double average_bps = 0;
};

// Reads a media playlist's segments (#EXTINF durations and the files after them).
Measured measure(const HlsVariant& v) {
  std::ifstream in(v.playlist);
  if (!in) fail(ExitCode::kOutput, "HLS playlist '" + v.playlist + "' cannot be read");
  const fs::path folder = fs::path(v.playlist).parent_path();
  Measured m{v};
  double duration = -1, total_s = 0, total_bits = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("#EXTINF:", 0) == 0) {
      duration = std::atof(line.c_str() + 8);
      continue;
    }
    if (line.empty() || line[0] == '#' || duration < 0) continue;
    std::error_code ec;
    const auto bytes = fs::file_size(folder / line, ec);
    if (ec) fail(ExitCode::kOutput, "HLS segment '" + (folder / line).string() + "' is missing");
    const double bits = 8.0 * static_cast<double>(bytes);
    if (duration > 0) m.peak_bps = std::max(m.peak_bps, bits / duration);
    total_bits += bits;
    total_s += duration;
    duration = -1;
  }
  if (total_s <= 0) fail(ExitCode::kOutput, "HLS playlist '" + v.playlist + "' has no segment");
  m.average_bps = total_bits / total_s;
  return m;
}

}  // namespace

void write_master_playlist(const std::string& path, const std::vector<HlsVariant>& variants) {
  std::vector<Measured> measured;
  for (const HlsVariant& v : variants) measured.push_back(measure(v));
  std::sort(measured.begin(), measured.end(),
            [](const Measured& a, const Measured& b) { return a.peak_bps > b.peak_bps; });
  const fs::path folder = fs::absolute(path).parent_path();
  std::ostringstream text;
  text << "#EXTM3U\n#EXT-X-VERSION:3\n";
  for (const Measured& m : measured) {
    text << "#EXT-X-STREAM-INF:BANDWIDTH=" << std::llround(m.peak_bps)
         << ",AVERAGE-BANDWIDTH=" << std::llround(m.average_bps)
         << ",RESOLUTION=" << m.variant.width << "x" << m.variant.height;
    if (m.variant.frame_rate > 0) {
      char rate[32];
      std::snprintf(rate, sizeof rate, "%.3f", m.variant.frame_rate);
      text << ",FRAME-RATE=" << rate;
    }
    text << "\n"
         << fs::absolute(m.variant.playlist).lexically_relative(folder).generic_string() << "\n";
  }
  std::ofstream out(path, std::ios::trunc);
  out << text.str();
  out.close();
  if (!out) fail(ExitCode::kOutput, "master playlist '" + path + "' cannot be written");
}

}  // namespace vpipe::encode
