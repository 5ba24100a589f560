// FilterGraph: a configured libavfilter graph with one video input and one output, for the
// transform workers' ffmpeg filters, and for the encode stage's filters that give frames of their
// own (RunPlan::vf_graph).
//
// buffer (the input's size, pixel format and time base) -> `spec` -> buffersink (one of the
// given pixel formats; libavfilter converts where needed, bicubic, as the ffmpeg CLI does).
#pragma once

#include <cstdint>

#include "common/avfilter_api.hpp"

extern "C" {
#include <libavutil/frame.h>
}

#include <memory>
#include <string>
#include <vector>

namespace vpipe::av {

// Throws vpipe::Error (kUsage): "filter 'SPEC': WHAT: libav's last error (or `err`'s text)".
[[noreturn]] void filter_error(const std::string& spec, const std::string& what, int err);

class FilterGraph {
 public:
  // Throws vpipe::Error (kUsage) naming `spec` with libav's reason when the graph does not
  // parse or cannot run on this input. `threads`: for the filters' slices. `frame_rate`: the
  // input's, for filters that make their own (yadif=1 doubles it); 0/1 where unknown.
  FilterGraph(const std::string& spec, int width, int height, AVPixelFormat format,
              AVRational time_base, const std::vector<AVPixelFormat>& out_formats, int threads = 1,
              AVRational frame_rate = {0, 1});
  ~FilterGraph();
  FilterGraph(const FilterGraph&) = delete;
  FilterGraph& operator=(const FilterGraph&) = delete;

  // Hands a frame to the graph (its reference is taken); negative AVERROR on failure.
  int push(AVFrame* frame);
  // The input ends at `pts` (where its last frame ends, in the input's time base: fps and tpad
  // fill up to it); pull() then gives what the filters held.
  int end(std::int64_t pts);
  // The next output frame: 0, AVERROR(EAGAIN) when the graph needs more input, AVERROR_EOF after
  // the end, or an error.
  int pull(AVFrame* frame);

  [[nodiscard]] int out_width() const;
  [[nodiscard]] int out_height() const;
  [[nodiscard]] AVPixelFormat out_format() const;
  [[nodiscard]] AVRational out_time_base() const;
  // 0/1 where the graph does not know it (a variable rate: select, setpts).
  [[nodiscard]] AVRational out_frame_rate() const;

 private:
  struct GraphDeleter {
    void operator()(AVFilterGraph* g) const { av::avfilter_api().avfilter_graph_free(&g); }
  };
  std::unique_ptr<AVFilterGraph, GraphDeleter> graph_;
  AVFilterContext* src_ = nullptr;
  AVFilterContext* sink_ = nullptr;
};

}  // namespace vpipe::av
