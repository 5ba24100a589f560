// libavfilter, loaded on first use: it pulls in about 30 more libraries, which would add some
// 30 ms to the start of every process (decode and encode never filter; a worker running only
// vpipe's own filters never needs it). Call through avfilter_api().
#pragma once

#include <cstdint>

extern "C" {
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
}

namespace vpipe::av {

#define VPIPE_AVFILTER_FUNCTIONS(X) \
  X(av_filter_iterate)              \
  X(avfilter_get_by_name)           \
  X(avfilter_filter_pad_count)      \
  X(avfilter_pad_get_type)          \
  X(avfilter_graph_alloc)           \
  X(avfilter_graph_free)            \
  X(avfilter_graph_create_filter)   \
  X(avfilter_graph_alloc_filter)    \
  X(avfilter_init_str)              \
  X(avfilter_inout_alloc)           \
  X(avfilter_inout_free)            \
  X(avfilter_graph_parse2)          \
  X(avfilter_graph_parse_ptr)       \
  X(avfilter_graph_config)          \
  X(av_buffersrc_add_frame_flags)   \
  X(av_buffersrc_close)             \
  X(av_buffersink_get_frame)        \
  X(av_buffersink_get_w)            \
  X(av_buffersink_get_h)            \
  X(av_buffersink_get_time_base)    \
  X(av_buffersink_get_format)       \
  X(av_buffersink_get_frame_rate)

struct AvfilterApi {
#define VPIPE_AVFILTER_MEMBER(name) decltype(&::name) name = nullptr;
  VPIPE_AVFILTER_FUNCTIONS(VPIPE_AVFILTER_MEMBER)
#undef VPIPE_AVFILTER_MEMBER
};

// Loads libavfilter the first time. Throws vpipe::Error (kRunFailed) when it cannot.
const AvfilterApi& avfilter_api();

}  // namespace vpipe::av
