// Picture: a non-owning view of one planar YUV 4:2:0 picture, the pipeline's working format.
//
// Working in the decoder's own planes avoids a YUV->BGR->YUV round trip around every filter,
// which would cost more than most filters themselves.
#pragma once

#include <cstdint>
#include <opencv2/core.hpp>
#include <vector>

namespace vpipe::transform {

inline constexpr int kMaxDimension = 16384;
inline constexpr int kPlaneAlign = 64;  // SIMD-friendly line starts for OpenCV and the encoders

struct Geometry {
  int width = 0;
  int height = 0;
  friend bool operator==(const Geometry&, const Geometry&) = default;
};

inline Geometry chroma_geometry(Geometry g) {
  return {(g.width + 1) / 2, (g.height + 1) / 2};
}

struct Picture {
  std::uint8_t* data[3] = {nullptr, nullptr, nullptr};
  int linesize[3] = {0, 0, 0};
  int width = 0;
  int height = 0;

  [[nodiscard]] Geometry geometry() const { return {width, height}; }
  [[nodiscard]] Geometry plane_geometry(int i) const {
    return i == 0 ? geometry() : chroma_geometry(geometry());
  }
  // An OpenCV header over plane i: no copy, writes go to the picture.
  [[nodiscard]] cv::Mat plane(int i) const {
    const Geometry g = plane_geometry(i);
    return {g.height, g.width, CV_8UC1, data[i], static_cast<std::size_t>(linesize[i])};
  }
};

// Bytes a picture of `g` needs when laid out by layout_picture().
std::uint64_t picture_bytes(Geometry g);
// The first kPlaneAlign-aligned byte of `buffer`, which holds kPlaneAlign bytes of slack.
inline std::uint8_t* aligned_start(std::vector<std::uint8_t>& buffer) {
  const auto at = reinterpret_cast<std::uintptr_t>(buffer.data());
  return buffer.data() + (kPlaneAlign - at % kPlaneAlign) % kPlaneAlign;
}
// Lays out a picture of `g` at `base` (aligned planes, one after the other).
Picture layout_picture(std::uint8_t* base, Geometry g);

}  // namespace vpipe::transform
