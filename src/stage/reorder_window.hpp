// Encode's reorder window: workers finish frames in any order, and encode takes them back in
// decode order. Frames in flight never exceed the window (the credits, shm/credits.hpp), so
// seq % window names a frame's place uniquely. A template over the item, so that the policy is
// table-tested with plain values (tests/stage/reorder_window_test.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace vpipe::stage {

template <typename Item>
class ReorderWindow {
 public:
  explicit ReorderWindow(std::uint32_t window) : places_(window) {}

  enum class Put {
    kQueued,     // waits for the frames before it
    kDuplicate,  // this frame came before (or is done): the first copy counts
    kOverflow,   // past the window: more in flight than the credits allow
  };
  Put put(std::int64_t seq, Item item) {
    const auto window = static_cast<std::int64_t>(places_.size());
    if (seq >= next_ + window) return Put::kOverflow;
    if (seq < next_ || places_[place(seq)]) return Put::kDuplicate;
    places_[place(seq)] = std::move(item);
    return Put::kQueued;
  }

  // The next frame in decode order once it is there; taking it moves the window on.
  std::optional<Item> take_next() {
    std::optional<Item>& slot = places_[place(next_)];
    if (!slot) return std::nullopt;
    std::optional<Item> item = std::exchange(slot, std::nullopt);
    ++next_;
    return item;
  }

  // Frames taken so far: the sequence number of the next one.
  [[nodiscard]] std::int64_t next_seq() const { return next_; }

 private:
  std::size_t place(std::int64_t seq) const {
    return static_cast<std::size_t>(seq % static_cast<std::int64_t>(places_.size()));
  }

  std::vector<std::optional<Item>> places_;
  std::int64_t next_ = 0;
};

}  // namespace vpipe::stage
