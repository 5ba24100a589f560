#include "transform/slot_picture.hpp"

#include <cstdlib>

extern "C" {
#include <libavutil/pixfmt.h>
}

namespace vpipe::transform {

Picture picture_in(const shm::Slot& slot) {
  const shm::FrameDesc& d = slot.desc();
  Picture p;
  p.width = d.width;
  p.height = d.height;
  for (int i = 0; i < 3; ++i) {
    p.data[i] = slot.plane(i);
    p.linesize[i] = d.linesize[i];
  }
  return p;
}

void set_picture(shm::Slot& slot, const Picture& picture) {
  shm::FrameDesc& d = slot.desc();
  d.width = picture.width;
  d.height = picture.height;
  d.pix_fmt = AV_PIX_FMT_YUV420P;
  d.nb_planes = 3;
  for (int i = 0; i < 3; ++i) {
    if (picture.data[i] < slot.data() || picture.data[i] >= slot.data() + slot.capacity()) std::abort();
    d.offset[i] = static_cast<std::uint64_t>(picture.data[i] - slot.data());
    d.linesize[i] = picture.linesize[i];
  }
  d.linesize[3] = 0;
  d.offset[3] = 0;
}

}  // namespace vpipe::transform
