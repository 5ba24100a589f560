// FilterChain: the parsed `--vf` chain, its geometry plan, and its execution on one frame.
//
// Producer/consumer: none; a transform worker calls run() on frames it owns. A chain is built
// once per process from the same text, so every worker runs the same filters.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "transform/filter.hpp"

namespace vpipe::transform {

class FilterChain {
 public:
  // Throws vpipe::Error (kUsage) with a one-line message naming the filter and the argument.
  static FilterChain parse(std::string_view spec);

  // Geometry after each filter (front() is the input). Throws when a step is impossible.
  [[nodiscard]] std::vector<Geometry> plan(Geometry input) const;
  // Largest picture any step of the chain holds, to size the pool's slots.
  [[nodiscard]] std::uint64_t max_picture_bytes(Geometry input) const;
  // True when some filter cannot work in place: a worker then needs a spare slot.
  [[nodiscard]] bool needs_spare() const;
  // True when some filter must see every frame in order (one worker only).
  [[nodiscard]] bool sequential() const;
  [[nodiscard]] bool empty() const { return filters_.empty(); }
  [[nodiscard]] std::string describe() const;

  struct Result {
    Picture picture;
    bool in_spare;  // the result lies in the spare buffer rather than the input's
  };
  // Runs every filter. `input` lies in a buffer at `input_base`; `spare_base` may be null when
  // needs_spare() is false. Both buffers hold max_picture_bytes().
  Result run(const Picture& input, std::uint8_t* input_base, std::uint8_t* spare_base,
             const FrameContext& frame = {}) const;

 private:
  std::vector<std::unique_ptr<Filter>> filters_;
};

}  // namespace vpipe::transform
