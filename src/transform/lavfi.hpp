// LavfiGraph: a run of libavfilter (ffmpeg) filters as one step of a transform chain.
//
// The text is ffmpeg's own filtergraph syntax, parsed by libavfilter, so quoting, escaping and
// expressions mean exactly what they mean to the ffmpeg CLI. Each worker process builds its own
// graph. The input picture is handed to the graph without a copy, as a read-only frame: a filter
// that writes in place makes its own copy (libavfilter's copy-on-write), so the input slot is
// never written. The result is copied from the graph's buffer into the destination picture,
// counted in frames_copied().
//
// Order: the filters known to compute each frame from that frame alone (and its timestamp) may
// run in any number of workers, each seeing every Nth frame. Any other filter, or an expression
// that reads the frame number or draws random numbers, makes the graph sequential: one worker,
// every frame in order. A graph that does not give exactly one frame, with the same timestamp,
// for each frame it is given is refused with one line. Filters that give frames of their own
// (lavfi_own_frames_reason) never run here: the encode stage runs them as one graph.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/av.hpp"
#include "transform/filter.hpp"

namespace vpipe::transform {

// Whether libavfilter has a video filter called `name` (for the chain's parser).
bool lavfi_has_filter(const std::string& name);

// A YUV 4:2:0 frame of its own holding a copy of `picture` (for a graph that may keep it past
// its slot's reuse); its timing is the caller's to set. Throws vpipe::Error out of memory.
av::FramePtr copy_to_frame(const Picture& picture);

// Threads each graph may use for a filter's slices (a worker sets its CPU count). Default 1.
void set_lavfi_threads(int threads);

// Why an ffmpeg filter must see every frame in order; empty when it need not. `item` is the
// chain's entry as written (name=args).
std::string lavfi_sequential_reason(std::string_view item);
// Why an ffmpeg filter gives frames of its own (holds frames back, drops, adds or re-times them:
// yadif, fps, select, setpts, palettegen, ...); empty when it gives one frame for each, with its
// timestamp. Such a filter, and all after it, runs as one graph in the encode stage.
std::string lavfi_own_frames_reason(std::string_view item);
// Whether it gives nothing until the input ends (palettegen, reverse).
bool lavfi_holds_to_end(std::string_view item);

// One of libavfilter's video filters with one video input and one output, for `vpipe filters`.
struct LavfiFilterInfo {
  std::string name;
  std::string description;
  std::string order;  // "per frame", "in order: <why>" or "in the encode stage's graph: <why>"
};
std::vector<LavfiFilterInfo> lavfi_filters();

class LavfiGraph final : public Filter {
 public:
  // Checks every name and option now (libavfilter parses them); throws vpipe::Error (kUsage)
  // with one line naming the graph.
  LavfiGraph(std::string spec, std::string why_sequential);
  ~LavfiGraph() override;
  LavfiGraph(const LavfiGraph&) = delete;
  LavfiGraph& operator=(const LavfiGraph&) = delete;

  [[nodiscard]] std::string describe() const override { return spec_; }
  [[nodiscard]] Geometry output_geometry(Geometry in) const override;
  [[nodiscard]] bool in_place() const override { return false; }
  [[nodiscard]] bool can_write_elsewhere() const override { return true; }
  [[nodiscard]] bool sequential() const override { return !why_sequential_.empty(); }
  [[nodiscard]] std::string why_sequential() const override { return why_sequential_; }
  [[nodiscard]] std::uint64_t frames_copied() const override { return copied_; }
  void apply(const Picture& in, Picture& out, const FrameContext& frame) const override;

 private:
  struct Graph;

  std::string spec_;
  std::string why_sequential_;
  mutable std::map<std::pair<int, int>, Geometry> geometry_;  // output per input size
  mutable std::unique_ptr<Graph> graph_;                      // built on the first frame
  mutable std::uint64_t copied_ = 0;
  mutable int held_ = 0;  // input frames handed to the graph without a copy, not yet released
};

}  // namespace vpipe::transform
