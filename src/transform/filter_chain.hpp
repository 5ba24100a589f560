// FilterChain: the parsed `--vf` chain, its geometry plan, and its execution on one frame.
//
// Producer/consumer: none; a transform worker calls run() on frames it owns. A chain is built
// once per process from the same text, so every worker runs the same filters.
//
// The input picture is never written: a frame whose worker dies mid-chain is requeued and
// must be processed again from exactly what decode produced. Filters write into a spare pool
// slot and a worker-local scratch buffer, alternating so that the result lands in the spare
// (the first writer's destination is chosen by the parity of the out-of-place steps after it).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "transform/filter.hpp"

namespace vpipe::transform {

// Whether ffmpeg has a filter called `name`, so that the name means ffmpeg's. vpipe's own names
// are known without loading libavfilter (a chain of vpipe's filters alone never loads it).
bool is_ffmpeg_name(const std::string& name);

class FilterChain {
 public:
  // `spec` is ffmpeg's filter syntax. A name libavfilter has runs ffmpeg's filter (consecutive
  // ones share one graph); vpipe's own filters are reached by their names, or cv.NAME where
  // ffmpeg has the same name. A filtergraph with labels or ';' is ffmpeg's alone.
  // Throws vpipe::Error (kUsage) with a one-line message naming the filter and the argument.
  // With `ffmpeg_filters` false, a name that would be ffmpeg's is a usage error and libavfilter
  // is never called (the chain fuzzer, which covers vpipe's own code).
  static FilterChain parse(std::string_view spec, bool ffmpeg_filters = true);

  // `spec` cut before its first filter that must see frames in order: the part any number of
  // workers may run, and the rest, for one stage that sees every frame in order; that rest cut
  // again before its first filter that gives frames of its own (yadif, fps, palettegen: see
  // lavfi_own_frames_reason), which runs with all after it as one libavfilter graph. Any part
  // may be empty; a filtergraph with labels is not cut. Throws as parse(), and when one of
  // vpipe's own filters comes after a filter that gives frames of its own.
  struct Split {
    std::string per_frame;
    std::string in_order;
    std::string own_frames;
    // Why `own_frames` gives nothing before the input ends (palettegen's reason), or empty.
    std::string waits_for_end;
  };
  static Split split_at_order(std::string_view spec);

  // The chain's filters as written ("name=args"), a filtergraph's too.
  static std::vector<std::string> entries(std::string_view spec);

  // The leading filters every one of `specs` starts with, as long as each computes a frame
  // alone: the part several outputs' chains share, which the workers run once for all. Empty
  // where one is a filtergraph with labels.
  static std::string shared_prefix(const std::vector<std::string>& specs);
  // `spec` without its leading filters `prefix` (which it must start with, entry for entry).
  static std::string after_prefix(std::string_view spec, std::string_view prefix);

  // Geometry after each filter (front() is the input). Throws when a step is impossible.
  [[nodiscard]] std::vector<Geometry> plan(Geometry input) const;
  // Largest picture any step of the chain holds, to size the pool's slots.
  [[nodiscard]] std::uint64_t max_picture_bytes(Geometry input) const;
  // True when some filter writes pixels: a worker then needs a spare slot for the result.
  [[nodiscard]] bool needs_spare() const { return first_writer_ < filters_.size(); }
  // True when the chain also needs the worker's scratch buffer.
  [[nodiscard]] bool needs_scratch() const { return needs_scratch_; }
  // True when some filter must see every frame in order (one worker only).
  [[nodiscard]] bool sequential() const;
  // Why the chain must run on one worker, in order; empty when any number of workers may run it.
  [[nodiscard]] std::string why_sequential() const;
  // Pictures copied so far that no filter wrote (see Filter::frames_copied).
  [[nodiscard]] std::uint64_t frames_copied() const;
  [[nodiscard]] bool empty() const { return filters_.empty(); }
  [[nodiscard]] std::string describe() const;

  struct Result {
    Picture picture;
    bool in_spare;  // the result lies in `spare`; otherwise it is a view of the input
  };
  // Runs every filter on `input` (read only). `spare` and `scratch` each hold
  // max_picture_bytes(); they may be null when needs_spare() / needs_scratch() are false.
  Result run(const Picture& input, std::uint8_t* spare, std::uint8_t* scratch,
             const FrameContext& frame = {}) const;

 private:
  void plan_buffers();

  std::vector<std::unique_ptr<Filter>> filters_;
  std::size_t first_writer_ = 0;       // index of the first filter that writes pixels
  bool first_writes_to_spare_ = true;  // else to scratch, so the last write lands in spare
  bool needs_scratch_ = false;
};

}  // namespace vpipe::transform
