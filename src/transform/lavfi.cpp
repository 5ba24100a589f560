#include "transform/lavfi.hpp"

extern "C" {
#include <libavfilter/avfilter.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
}

#include <algorithm>
#include <regex>
#include <set>

#include "common/av.hpp"
#include "common/error.hpp"
#include "common/filter_graph.hpp"

namespace vpipe::transform {
namespace {

int g_threads = 1;

// Filters that compute each output frame from that input frame alone (its pixels, size and
// timestamp), so that workers seeing every Nth frame give what one graph seeing all would. A
// filter missing here is not wrong: it runs in one worker, in order.
const std::set<std::string, std::less<>> kPerFrame = {"avgblur",
                                                      "bilateral",
                                                      "boxblur",
                                                      "cas",
                                                      "chromakey",
                                                      "chromashift",
                                                      "colorbalance",
                                                      "colorchannelmixer",
                                                      "colorcontrast",
                                                      "colorcorrect",
                                                      "colorhold",
                                                      "colorize",
                                                      "colorkey",
                                                      "colorlevels",
                                                      "colorspace",
                                                      "colortemperature",
                                                      "convolution",
                                                      "copy",
                                                      "crop",
                                                      "curves",
                                                      "dctdnoiz",
                                                      "deband",
                                                      "deflate",
                                                      "delogo",
                                                      "despill",
                                                      "dilation",
                                                      "drawbox",
                                                      "drawgrid",
                                                      "drawtext",
                                                      "edgedetect",
                                                      "eq",
                                                      "erosion",
                                                      "exposure",
                                                      "fade",
                                                      "fillborders",
                                                      "format",
                                                      "gblur",
                                                      "geq",
                                                      "hflip",
                                                      "histeq",
                                                      "hqx",
                                                      "hsvkey",
                                                      "hue",
                                                      "inflate",
                                                      "kirsch",
                                                      "lenscorrection",
                                                      "limiter",
                                                      "lumakey",
                                                      "lut",
                                                      "lut1d",
                                                      "lut3d",
                                                      "lutrgb",
                                                      "lutyuv",
                                                      "median",
                                                      "monochrome",
                                                      "negate",
                                                      "nlmeans",
                                                      "null",
                                                      "owdenoise",
                                                      "pad",
                                                      "perspective",
                                                      "prewitt",
                                                      "pseudocolor",
                                                      "removegrain",
                                                      "rgbashift",
                                                      "roberts",
                                                      "rotate",
                                                      "sab",
                                                      "scale",
                                                      "scharr",
                                                      "selectivecolor",
                                                      "setdar",
                                                      "setparams",
                                                      "setsar",
                                                      "shear",
                                                      "shuffleplanes",
                                                      "smartblur",
                                                      "sobel",
                                                      "super2xbr",
                                                      "swaprect",
                                                      "swapuv",
                                                      "tonemap",
                                                      "transpose",
                                                      "unsharp",
                                                      "vaguedenoiser",
                                                      "vflip",
                                                      "vibrance",
                                                      "vignette",
                                                      "xbr",
                                                      "zscale"};

// Filters known to keep state from frame to frame (named in the reason given).
const std::set<std::string, std::less<>> kTemporal = {
    "atadenoise", "deflicker", "dejudder",         "fftdnoiz", "hqdn3d", "noise",
    "normalize",  "pp",        "photosensitivity", "tmedian",  "tmix",   "vmafmotion"};

// Filters that give frames of their own: they hold frames back, drop, add or re-time them. They
// run, with everything after them, as one libavfilter graph in the encode stage, which feeds it
// every frame in order and takes what it gives (see RunPlan::vf_graph).
struct OwnFrames {
  const char* why;
  bool holds_to_end;  // gives nothing until the input ends: refused on a live input
};
const std::map<std::string, OwnFrames, std::less<>> kOwnFrames = {
    {"bwdif", {"deinterlaces with the next frame", false}},
    {"decimate", {"drops frames", false}},
    {"estdif", {"deinterlaces with the next frame", false}},
    {"fieldmatch", {"matches fields across frames", false}},
    {"fps", {"sets its own frame rate", false}},
    {"framerate", {"sets its own frame rate", false}},
    {"framestep", {"drops frames", false}},
    {"interlace", {"makes frames from fields", false}},
    {"loop", {"repeats frames", false}},
    {"minterpolate", {"sets its own frame rate", false}},
    {"mpdecimate", {"drops frames", false}},
    {"palettegen", {"gives its palette when the input ends", true}},
    {"paletteuse", {"takes a palette as its second input", false}},
    {"reverse", {"gives every frame when the input ends", true}},
    {"select", {"chooses frames", false}},
    {"separatefields", {"makes frames from fields", false}},
    {"setpts", {"sets timestamps", false}},
    {"settb", {"sets the time base", false}},
    {"split", {"gives several outputs", false}},
    {"telecine", {"makes frames from fields", false}},
    {"tinterlace", {"makes frames from fields", false}},
    {"tpad", {"adds frames", false}},
    {"trim", {"chooses frames", false}},
    {"w3fdif", {"deinterlaces with the next frame", false}},
    {"weave", {"makes frames from fields", false}},
    {"yadif", {"deinterlaces with the next frame", false}},
    {"zoompan", {"gives several frames for each", false}}};

std::string filter_name(std::string_view item) {
  std::string_view name = item.substr(0, item.find('='));
  // Labels ("[a]scale") and instance names ("scale@big").
  while (!name.empty() && name.front() == '[') {
    const auto close = name.find(']');
    if (close == std::string_view::npos) break;
    name.remove_prefix(close + 1);
  }
  name = name.substr(0, std::min(name.find('@'), name.find('[')));
  const auto b = name.find_first_not_of(" \t\n");
  const auto e = name.find_last_not_of(" \t\n");
  return b == std::string_view::npos ? std::string() : std::string(name.substr(b, e - b + 1));
}

// fade=in:0:30 and fade=s=..:n=.. count frames; fade=t=in:st=0:d=1 reads only the timestamp.
// Each worker sees its frames in order, and a fade by time depends only on whether a frame's
// time has passed its start, so a fade by time is per-frame.
bool fade_counts_frames(std::string_view args) {
  int positional = 0;
  std::size_t start = 0;
  while (start <= args.size()) {
    const auto end = std::min(args.find(':', start), args.size());
    const std::string_view part = args.substr(start, end - start);
    const auto eq = part.find('=');
    if (eq == std::string_view::npos) {
      if (!part.empty() && ++positional > 1) return true;
    } else {
      const std::string_view key = part.substr(0, eq);
      if (key == "s" || key == "start_frame" || key == "n" || key == "nb_frames") return true;
    }
    start = end + 1;
  }
  return false;
}

struct GraphDeleter {
  void operator()(AVFilterGraph* g) const { av::avfilter_api().avfilter_graph_free(&g); }
};

}  // namespace

bool lavfi_has_filter(const std::string& name) {
  const AVFilter* f = av::avfilter_api().avfilter_get_by_name(name.c_str());
  return f != nullptr && av::avfilter_api().avfilter_filter_pad_count(f, 1) > 0 &&
         av::avfilter_api().avfilter_pad_get_type(f->outputs, 0) == AVMEDIA_TYPE_VIDEO;
}

void set_lavfi_threads(int threads) {
  g_threads = std::max(1, threads);
}

std::string lavfi_own_frames_reason(std::string_view item) {
  const std::string name = filter_name(item);
  const auto it = kOwnFrames.find(name);
  return it == kOwnFrames.end() ? std::string() : "'" + name + "' " + it->second.why;
}

bool lavfi_holds_to_end(std::string_view item) {
  const auto it = kOwnFrames.find(filter_name(item));
  return it != kOwnFrames.end() && it->second.holds_to_end;
}

std::string lavfi_sequential_reason(std::string_view item) {
  const std::string name = filter_name(item);
  const auto eq = item.find('=');
  const std::string_view args = eq == std::string_view::npos ? "" : item.substr(eq + 1);
  if (std::string own = lavfi_own_frames_reason(item); !own.empty()) return own;
  if (kTemporal.count(name) != 0) return "'" + name + "' keeps state from frame to frame";
  if (kPerFrame.count(name) == 0) {
    return "'" + name + "' is not known to compute each frame alone";
  }
  if (name == "fade" && fade_counts_frames(args)) return "'fade' counts frames";
  // The frame number differs in a worker that sees every Nth frame; random() draws from a
  // state that advances with every frame.
  static const std::regex kFrameNumber(R"((^|[^A-Za-z0-9_.])(n|N|frame_num)([^A-Za-z0-9_(]|$))");
  if (std::regex_search(args.begin(), args.end(), kFrameNumber)) {
    return "'" + name + "' reads the frame number";
  }
  if (args.find("random(") != std::string_view::npos) {
    return "'" + name + "' draws random numbers";
  }
  return {};
}

std::vector<LavfiFilterInfo> lavfi_filters() {
  std::vector<LavfiFilterInfo> list;
  void* opaque = nullptr;
  while (const AVFilter* f = av::avfilter_api().av_filter_iterate(&opaque)) {
    if ((f->flags & (AVFILTER_FLAG_DYNAMIC_INPUTS | AVFILTER_FLAG_DYNAMIC_OUTPUTS)) != 0 ||
        av::avfilter_api().avfilter_filter_pad_count(f, 0) != 1 ||
        av::avfilter_api().avfilter_filter_pad_count(f, 1) != 1 ||
        av::avfilter_api().avfilter_pad_get_type(f->inputs, 0) != AVMEDIA_TYPE_VIDEO ||
        av::avfilter_api().avfilter_pad_get_type(f->outputs, 0) != AVMEDIA_TYPE_VIDEO) {
      continue;
    }
    LavfiFilterInfo info{f->name, f->description ? f->description : "", "per frame"};
    if (const std::string own = lavfi_own_frames_reason(f->name); !own.empty()) {
      info.order = "in the encode stage's graph: " + own;
    } else if (const std::string why = lavfi_sequential_reason(f->name); !why.empty()) {
      info.order = "in order: " + why;
    }
    list.push_back(std::move(info));
  }
  std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return list;
}

// One configured graph: buffer -> the user's filters -> buffersink (YUV 4:2:0).
struct LavfiGraph::Graph {
  Graph(const std::string& spec, Geometry g, AVRational tb)
      : graph(spec, g.width, g.height, AV_PIX_FMT_YUV420P, tb, {AV_PIX_FMT_YUV420P}, g_threads),
        in(g),
        time_base(tb) {}
  [[nodiscard]] Geometry out() const { return {graph.out_width(), graph.out_height()}; }

  av::FilterGraph graph;
  Geometry in;
  AVRational time_base;
};

LavfiGraph::LavfiGraph(std::string spec, std::string why_sequential)
    : spec_(std::move(spec)), why_sequential_(std::move(why_sequential)) {
  // Names and options are checked now; sizes and expressions when the input's size is known.
  av::QuietLogs quiet;
  std::unique_ptr<AVFilterGraph, GraphDeleter> graph(av::avfilter_api().avfilter_graph_alloc());
  AVFilterInOut* inputs = nullptr;
  AVFilterInOut* outputs = nullptr;
  const int err =
      av::avfilter_api().avfilter_graph_parse2(graph.get(), spec_.c_str(), &inputs, &outputs);
  const bool one_in_one_out = inputs != nullptr && inputs->next == nullptr && outputs != nullptr &&
                              outputs->next == nullptr;
  av::avfilter_api().avfilter_inout_free(&inputs);
  av::avfilter_api().avfilter_inout_free(&outputs);
  if (err < 0) av::filter_error(spec_, "does not parse", err);
  if (!one_in_one_out) {
    fail(ExitCode::kUsage,
         "filter '" + spec_ + "': --vf takes a graph with one video input and one output");
  }
}

LavfiGraph::~LavfiGraph() = default;

Geometry LavfiGraph::output_geometry(Geometry in) const {
  const auto key = std::make_pair(in.width, in.height);
  if (const auto it = geometry_.find(key); it != geometry_.end()) return it->second;
  const Geometry out = Graph(spec_, in, {1, 90000}).out();
  if (out.width < 1 || out.height < 1 || out.width > kMaxDimension || out.height > kMaxDimension) {
    fail(ExitCode::kUsage, "filter '" + spec_ + "': gives " + std::to_string(out.width) + "x" +
                               std::to_string(out.height) + " pictures");
  }
  geometry_.emplace(key, out);
  return out;
}

av::FramePtr copy_to_frame(const Picture& picture) {
  av::FramePtr f(av_frame_alloc());
  if (!f) fail(ExitCode::kRunFailed, "out of memory for a frame");
  f->format = AV_PIX_FMT_YUV420P;
  f->width = picture.width;
  f->height = picture.height;
  if (av_frame_get_buffer(f.get(), 0) < 0) fail(ExitCode::kRunFailed, "out of memory for a frame");
  const std::uint8_t* planes[4] = {picture.data[0], picture.data[1], picture.data[2], nullptr};
  const int lines[4] = {picture.linesize[0], picture.linesize[1], picture.linesize[2], 0};
  av_image_copy(f->data, f->linesize, planes, lines, AV_PIX_FMT_YUV420P, picture.width,
                picture.height);
  return f;
}

void LavfiGraph::apply(const Picture& in, Picture& out, const FrameContext& frame) const {
  const AVRational tb{frame.tb_num, frame.tb_den};
  if (!graph_ || graph_->in != in.geometry() || av_cmp_q(graph_->time_base, tb) != 0) {
    graph_ = std::make_unique<Graph>(spec_, in.geometry(), tb);
  }
  av::FramePtr f;
  if (sequential()) {
    // A sequential filter may keep earlier frames: those must be its own copies, as the
    // slots they came in are reused.
    f = copy_to_frame(in);
    ++copied_;
  } else {
    f.reset(av_frame_alloc());
    if (!f) fail(ExitCode::kRunFailed, "out of memory for a frame");
    f->format = AV_PIX_FMT_YUV420P;
    f->width = in.width;
    f->height = in.height;
    // Read-only: a filter that would write in place copies first, so the slot stays as decode
    // wrote it.
    for (int p = 0; p < 3; ++p) {
      f->data[p] = in.data[p];
      f->linesize[p] = in.linesize[p];
    }
    f->buf[0] = av_buffer_create(
        in.data[0], 1, [](void* held, std::uint8_t*) { --*static_cast<int*>(held); }, &held_,
        AV_BUFFER_FLAG_READONLY);
    if (f->buf[0] == nullptr) fail(ExitCode::kRunFailed, "out of memory for a frame");
    ++held_;
  }
  f->pts = frame.pts;
  f->sample_aspect_ratio = {1, 1};
  int err = graph_->graph.push(f.get());
  if (err < 0) av::filter_error(spec_, "refused a frame", err);
  av::FramePtr result(av_frame_alloc());
  err = graph_->graph.pull(result.get());
  if (err == AVERROR(EAGAIN)) {
    fail(ExitCode::kRunFailed,
         "filter '" + spec_ +
             "' held a frame back: --vf takes filters that give one frame for "
             "each frame");
  }
  if (err < 0) av::filter_error(spec_, "failed on a frame", err);
  const std::int64_t pts = av_rescale_q(result->pts, graph_->graph.out_time_base(), tb);
  if (pts != frame.pts) {
    fail(ExitCode::kRunFailed,
         "filter '" + spec_ + "' changed a frame's timestamp: vpipe keeps each frame's timing");
  }
  if (result->width != out.width || result->height != out.height) {
    fail(ExitCode::kRunFailed, "filter '" + spec_ + "' changed the picture's size mid-run");
  }
  std::uint8_t* to[4] = {out.data[0], out.data[1], out.data[2], nullptr};
  int to_lines[4] = {out.linesize[0], out.linesize[1], out.linesize[2], 0};
  av_image_copy(to, to_lines, const_cast<const std::uint8_t**>(result->data), result->linesize,
                AV_PIX_FMT_YUV420P, out.width, out.height);
  ++copied_;
  // A view filter (crop) hands the input itself on: released with the result.
  result.reset();
  if (held_ != 0) {
    // A filter listed as per-frame kept the input: the slot will be reused under it.
    fail(ExitCode::kRunFailed, "filter '" + spec_ + "' kept a frame it should not have");
  }
  av::FramePtr extra(av_frame_alloc());
  if (graph_->graph.pull(extra.get()) >= 0) {
    fail(ExitCode::kRunFailed, "filter '" + spec_ +
                                   "' gave two frames for one: --vf takes filters that give one "
                                   "frame for each frame");
  }
}

}  // namespace vpipe::transform
