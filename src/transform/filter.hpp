// Filter: one step of a transform chain, and the registry that builds filters from `--vf` text.
//
// Every filter declares, before the run starts, the geometry it produces from a given input and
// whether it works in place. The chain uses that to size the frame pool up front and to decide
// whether a worker needs a second slot. Most filters hold no state between frames, so any number
// of workers can run the same chain on different frames; a filter that does (temporal denoise)
// declares itself sequential, and the plan then runs the chain with one worker, which sees
// every frame in order.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "transform/picture.hpp"

namespace vpipe::transform {

// What a filter may know about the frame beyond its pixels (overlays print it; the stress
// filter varies its cost with it).
struct FrameContext {
  std::int64_t seq = 0;  // decode order, from 0
  std::int64_t pts = 0;  // in the input's time base
  double time_s = 0;     // pts in seconds
  int tb_num = 1;        // the input's time base
  int tb_den = 90000;
};

class Filter {
 public:
  virtual ~Filter() = default;
  [[nodiscard]] virtual std::string describe() const = 0;
  // Throws vpipe::Error (kUsage) naming the filter when `in` cannot be processed.
  [[nodiscard]] virtual Geometry output_geometry(Geometry in) const = 0;
  // In-place filters may be called with `out` == `in`. Others write into `out`, laid out for
  // output_geometry().
  [[nodiscard]] virtual bool in_place() const = 0;
  // An in-place filter that can also read `in` and write a different `out` at no extra cost
  // (most OpenCV functions can). Otherwise the chain copies the input first when it must not be
  // written.
  [[nodiscard]] virtual bool can_write_elsewhere() const { return !in_place(); }
  // A view filter writes no pixel: it only moves the picture's plane pointers (crop).
  [[nodiscard]] virtual bool is_view() const { return false; }
  // True when the filter keeps state from one frame to the next and must see frames in order.
  [[nodiscard]] virtual bool sequential() const { return false; }
  // Why the filter is sequential, for --dry-run and the log; empty when it is not.
  [[nodiscard]] virtual std::string why_sequential() const {
    return sequential() ? "'" + describe() + "' keeps state from frame to frame" : "";
  }
  // Pictures copied so far that the filter itself did not write (a libavfilter graph's result
  // copied into the slot): counted in the stage's frames_copied.
  [[nodiscard]] virtual std::uint64_t frames_copied() const { return 0; }
  virtual void apply(const Picture& in, Picture& out, const FrameContext& frame) const = 0;
};

// The text after `name=`: `a:b:key=value`, positional values first, as in ffmpeg's filters.
struct FilterArgs {
  std::string filter;
  std::vector<std::string> positional;
  std::map<std::string, std::string> named;
};

struct FilterInfo {
  std::string name;
  std::string usage;    // argument synopsis
  std::string summary;  // one line
  std::string example;
  std::unique_ptr<Filter> (*make)(const FilterArgs&);
  bool sequential = false;  // shown by `vpipe filters`; must match Filter::sequential()
};

const std::vector<FilterInfo>& filter_registry();

}  // namespace vpipe::transform
