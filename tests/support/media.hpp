// Test support: reads a media file back with libav, the way a player would.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vpipe::test {

struct DecodedVideo {
  std::string codec;
  int width = 0;
  int height = 0;
  std::vector<std::int64_t> pts;                  // in the stream's time base, in output order
  std::vector<std::uint64_t> checksums;           // per frame, over the YUV420P planes
  std::vector<std::vector<std::uint8_t>> frames;  // YUV420P, tightly packed (only if keep_pixels)
  double duration_s = 0;
  [[nodiscard]] std::size_t nb_frames() const { return checksums.size(); }
};

// Decodes every video frame of `path`; fails the calling test (ADD_FAILURE) if it cannot.
DecodedVideo decode_video(const std::string& path, bool keep_pixels = false);

struct StreamInfo {
  std::string type;  // "video", "audio", ...
  std::string codec;
  double duration_s = 0;  // from the packets' timestamps
  std::size_t packets = 0;
  // When the first sample is presented, in seconds: the earliest pts, after the container's
  // edit list, plus the samples the first audio packet says to skip (an encoder's priming).
  double start_s = 0;
  double last_pts_s = 0;  // the latest pts
};

// Every stream of `path`, measured by reading all its packets.
std::vector<StreamInfo> probe_streams(const std::string& path);

// PSNR in dB of two packed YUV420P frames of equal size (infinity when identical).
double psnr(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b);

}  // namespace vpipe::test
