// The master playlist of an HLS ladder (RFC 8216, 4.3.4): one variant per media playlist that
// vpipe wrote in the same run, each with the bitrate its segments measure, its resolution and
// its frame rate, so that a player picks among them.
#pragma once

#include <string>
#include <vector>

namespace vpipe::encode {

struct HlsVariant {
  std::string playlist;  // the media playlist (.m3u8), as written
  int width = 0;
  int height = 0;
  double frame_rate = 0;  // 0: not said
};

// Writes `path` listing `variants` (paths relative to its folder), highest bitrate first:
// BANDWIDTH is the highest bitrate of any one segment, AVERAGE-BANDWIDTH the whole playlist's.
// Throws vpipe::Error (kOutput) when a playlist cannot be read or has no segment, or `path`
// cannot be written.
void write_master_playlist(const std::string& path, const std::vector<HlsVariant>& variants);

}  // namespace vpipe::encode
