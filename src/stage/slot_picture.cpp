#include "stage/slot_picture.hpp"

#include <cstdlib>

extern "C" {
#include <libavutil/pixfmt.h>
}

namespace vpipe::transform {

namespace {
Picture picture_of(const shm::Slot& slot, const shm::PlaneLayout& l) {
  Picture p;
  p.width = l.width;
  p.height = l.height;
  for (int i = 0; i < 3; ++i) {
    p.data[i] = slot.data() + l.offset[i];
    p.linesize[i] = l.linesize[i];
  }
  return p;
}
}  // namespace

FrameContext frame_context(const shm::FrameDesc& desc, const plan::RunPlan& plan) {
  const AVRational tb = plan.input_info.time_base;
  return {desc.seq + (plan.pts_range ? plan.pts_range->seq_base : 0), desc.pts,
          static_cast<double>(desc.pts) * av_q2d(tb), tb.num, tb.den};
}

Picture source_picture(const shm::Slot& slot) {
  return picture_of(slot, slot.desc().source);
}
Picture current_picture(const shm::Slot& slot) {
  return picture_of(slot, slot.desc().picture);
}

void set_picture(shm::Slot& slot, const Picture& picture, bool as_source) {
  shm::PlaneLayout l{};
  l.width = picture.width;
  l.height = picture.height;
  l.pix_fmt = AV_PIX_FMT_YUV420P;
  l.nb_planes = 3;
  for (int i = 0; i < 3; ++i) {
    if (picture.data[i] < slot.data() || picture.data[i] >= slot.data() + slot.capacity())
      std::abort();
    l.offset[i] = static_cast<std::uint64_t>(picture.data[i] - slot.data());
    l.linesize[i] = picture.linesize[i];
  }
  slot.desc().picture = l;
  if (as_source) slot.desc().source = l;
}

}  // namespace vpipe::transform
