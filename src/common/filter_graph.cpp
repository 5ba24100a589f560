#include "common/filter_graph.hpp"

extern "C" {
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/opt.h>
}

#include "common/av.hpp"
#include "common/error.hpp"

namespace vpipe::av {
namespace {

struct InOutDeleter {
  void operator()(AVFilterInOut* io) const { av::avfilter_api().avfilter_inout_free(&io); }
};

}  // namespace

void filter_error(const std::string& spec, const std::string& what, int err) {
  std::string detail = last_error_message();
  if (detail.empty()) detail = error_text(err);
  fail(ExitCode::kUsage, "filter '" + spec + "': " + what + ": " + detail);
}

FilterGraph::FilterGraph(const std::string& spec, int width, int height, AVPixelFormat format,
                         AVRational time_base, const std::vector<AVPixelFormat>& out_formats,
                         int threads, AVRational frame_rate) {
  const QuietLogs quiet;
  graph_.reset(av::avfilter_api().avfilter_graph_alloc());
  if (!graph_) fail(ExitCode::kRunFailed, "out of memory for a filter graph");
  graph_->nb_threads = threads;
  // As the ffmpeg CLI: its scalers (the user's and any format conversion) are bicubic.
  graph_->scale_sws_opts = av_strdup("flags=bicubic");
  const std::string args =
      "video_size=" + std::to_string(width) + "x" + std::to_string(height) +
      ":pix_fmt=" + std::to_string(format) + ":time_base=" + std::to_string(time_base.num) + "/" +
      std::to_string(time_base.den) + ":pixel_aspect=1/1" +
      (frame_rate.num > 0 && frame_rate.den > 0
           ? ":frame_rate=" + std::to_string(frame_rate.num) + "/" + std::to_string(frame_rate.den)
           : "");
  int err = av::avfilter_api().avfilter_graph_create_filter(
      &src_, av::avfilter_api().avfilter_get_by_name("buffer"), "in", args.c_str(), nullptr,
      graph_.get());
  if (err < 0) filter_error(spec, "cannot feed it", err);
  sink_ = av::avfilter_api().avfilter_graph_alloc_filter(
      graph_.get(), av::avfilter_api().avfilter_get_by_name("buffersink"), "out");
  std::vector<AVPixelFormat> formats = out_formats;
  formats.push_back(AV_PIX_FMT_NONE);
  err = sink_ == nullptr ? AVERROR(ENOMEM)
                         : av_opt_set_int_list(sink_, "pix_fmts", formats.data(), AV_PIX_FMT_NONE,
                                               AV_OPT_SEARCH_CHILDREN);
  if (err >= 0) err = av::avfilter_api().avfilter_init_str(sink_, nullptr);
  if (err < 0) filter_error(spec, "cannot read from it", err);

  std::unique_ptr<AVFilterInOut, InOutDeleter> outputs(av::avfilter_api().avfilter_inout_alloc());
  std::unique_ptr<AVFilterInOut, InOutDeleter> inputs(av::avfilter_api().avfilter_inout_alloc());
  outputs->name = av_strdup("in");
  outputs->filter_ctx = src_;
  inputs->name = av_strdup("out");
  inputs->filter_ctx = sink_;
  AVFilterInOut* in_list = inputs.release();
  AVFilterInOut* out_list = outputs.release();
  err = av::avfilter_api().avfilter_graph_parse_ptr(graph_.get(), spec.c_str(), &in_list, &out_list,
                                                    nullptr);
  av::avfilter_api().avfilter_inout_free(&in_list);
  av::avfilter_api().avfilter_inout_free(&out_list);
  if (err < 0) filter_error(spec, "does not parse", err);
  err = av::avfilter_api().avfilter_graph_config(graph_.get(), nullptr);
  if (err < 0) {
    filter_error(spec,
                 "cannot run on " + std::to_string(width) + "x" + std::to_string(height) + " video",
                 err);
  }
}

FilterGraph::~FilterGraph() = default;

int FilterGraph::push(AVFrame* frame) {
  return av::avfilter_api().av_buffersrc_add_frame_flags(src_, frame, 0);
}

int FilterGraph::end(std::int64_t pts) {
  return av::avfilter_api().av_buffersrc_close(src_, pts, AV_BUFFERSRC_FLAG_PUSH);
}

int FilterGraph::pull(AVFrame* frame) {
  return av::avfilter_api().av_buffersink_get_frame(sink_, frame);
}

int FilterGraph::out_width() const {
  return av::avfilter_api().av_buffersink_get_w(sink_);
}

int FilterGraph::out_height() const {
  return av::avfilter_api().av_buffersink_get_h(sink_);
}

AVRational FilterGraph::out_time_base() const {
  return av::avfilter_api().av_buffersink_get_time_base(sink_);
}

AVPixelFormat FilterGraph::out_format() const {
  return static_cast<AVPixelFormat>(av::avfilter_api().av_buffersink_get_format(sink_));
}

AVRational FilterGraph::out_frame_rate() const {
  return av::avfilter_api().av_buffersink_get_frame_rate(sink_);
}

}  // namespace vpipe::av
