#include "plan/thread_budget.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

namespace vpipe::plan {
namespace {

struct Cost {
  std::string_view name;
  double ms;
};

double look_up(std::string_view name, std::initializer_list<Cost> table, double otherwise) {
  const auto* it =
      std::find_if(table.begin(), table.end(), [&](const Cost& c) { return c.name == name; });
  return it == table.end() ? otherwise : it->ms;
}

// x264's presets, from ultrafast to placebo (veryfast 7, medium 16, slow 25 measured).
double x264_ms(std::string_view preset) {
  return look_up(preset.empty() ? "medium" : preset,
                 {{"ultrafast", 2.2},
                  {"superfast", 3.5},
                  {"veryfast", 7},
                  {"faster", 10},
                  {"fast", 12},
                  {"medium", 16},
                  {"slow", 25},
                  {"slower", 50},
                  {"veryslow", 100},
                  {"placebo", 300}},
                 16);
}

}  // namespace

double decode_ms_per_megapixel(std::string_view codec) {
  return look_up(codec,
                 {{"h264", 1.6},
                  {"hevc", 2.5},
                  {"vp9", 1.8},
                  {"vp8", 1.5},
                  {"av1", 2.5},
                  {"mpeg4", 0.5},
                  {"mpeg2video", 0.5},
                  {"mpeg1video", 0.5},
                  {"mjpeg", 1.3},
                  {"prores", 3.5},
                  {"rawvideo", 0.05}},
                 1.5);
}

double encode_ms_per_megapixel(std::string_view encoder, std::string_view preset) {
  if (encoder == "libx264" || encoder == "libx264rgb") return x264_ms(preset);
  if (encoder == "libx265") return 2 * x264_ms(preset);
  return look_up(encoder,
                 {{"null", 0},
                  {"copy", 0},
                  {"rawvideo", 0.05},
                  {"mpeg4", 1.5},
                  {"mpeg2video", 1.5},
                  {"mpeg1video", 1.5},
                  {"mjpeg", 3.5},
                  {"ffv1", 8},
                  {"prores_ks", 10},
                  {"png", 20},
                  {"libvpx", 15},
                  {"libvpx-vp9", 40},
                  {"libsvtav1", 40},
                  {"librav1e", 100},
                  {"libaom-av1", 150}},
                 10);
}

double filter_ms_per_megapixel(std::string_view filter) {
  const std::string_view name = filter.substr(0, filter.find('='));
  if (name == "stress") {
    // vpipe's fixed load: N rounds over every pixel.
    const std::string args(filter.substr(std::min(filter.size(), name.size() + 1)));
    return 0.1 * std::atof(args.c_str());
  }
  return look_up(name,
                 {{"crop", 0.1},
                  {"hflip", 0.5},
                  {"vflip", 0.1},
                  {"setsar", 0},
                  {"setdar", 0},
                  {"setpts", 0},
                  {"format", 0.5},
                  {"fps", 0},
                  {"null", 0},
                  {"scale", 1},
                  {"resize", 1},
                  {"pad", 0.5},
                  {"transpose", 1},
                  {"gblur", 3},
                  {"unsharp", 4},
                  {"hqdn3d", 3},
                  {"nlmeans", 100},
                  {"bm3d", 300},
                  {"minterpolate", 100}},
                 2);
}

int decoder_threads(double decode_ms, double rest_ms, int cpus) {
  if (cpus <= 0) return 0;
  const double total = decode_ms + rest_ms;
  if (total <= 0) return cpus;
  const int share = static_cast<int>(std::lround(cpus * decode_ms / total));
  return std::clamp(share, 1, cpus);
}

int worker_threads(double filter_ms, double total_ms, int nb_workers, int cpus) {
  if (cpus <= 0 || total_ms <= 0) return 1;
  // Rounded up: slice threads cost little of their own, and the workers are often the stage
  // that bounds the job (the decoder's frame threads cost more: its share is rounded).
  const int share =
      static_cast<int>(std::ceil(cpus * filter_ms / total_ms / std::max(1, nb_workers) - 1e-9));
  return std::clamp(share, 1, cpus);
}

}  // namespace vpipe::plan
