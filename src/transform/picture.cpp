#include "transform/picture.hpp"

namespace vpipe::transform {
namespace {
std::uint64_t aligned_linesize(int width) {
  return (static_cast<std::uint64_t>(width) + kPlaneAlign - 1) / kPlaneAlign * kPlaneAlign;
}
}  // namespace

std::uint64_t picture_bytes(Geometry g) {
  const Geometry c = chroma_geometry(g);
  return aligned_linesize(g.width) * static_cast<std::uint64_t>(g.height) +
         2 * aligned_linesize(c.width) * static_cast<std::uint64_t>(c.height);
}

Picture layout_picture(std::uint8_t* base, Geometry g) {
  const Geometry c = chroma_geometry(g);
  Picture p;
  p.width = g.width;
  p.height = g.height;
  p.linesize[0] = static_cast<int>(aligned_linesize(g.width));
  p.linesize[1] = p.linesize[2] = static_cast<int>(aligned_linesize(c.width));
  p.data[0] = base;
  p.data[1] = p.data[0] + static_cast<std::uint64_t>(p.linesize[0]) * g.height;
  p.data[2] = p.data[1] + static_cast<std::uint64_t>(p.linesize[1]) * c.height;
  return p;
}

}  // namespace vpipe::transform
