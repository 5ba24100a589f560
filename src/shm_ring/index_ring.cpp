#include "shm_ring/index_ring.hpp"

#include <bit>
#include <cstdlib>
#include <new>

namespace vpipe::shm {

std::size_t IndexRing::bytes_for(std::uint32_t capacity) {
  return offsetof(IndexRingShared, cells) + sizeof(RingCell) * capacity;
}

IndexRing IndexRing::create(void* memory, std::uint32_t capacity) {
  if (capacity == 0 || !std::has_single_bit(capacity)) std::abort();
  auto* shared = new (memory) IndexRingShared;
  shared->capacity = capacity;
  shared->mask = capacity - 1;
  shared->enqueue_pos.store(0, std::memory_order_relaxed);
  shared->dequeue_pos.store(0, std::memory_order_relaxed);
  shared->high_water.store(0, std::memory_order_relaxed);
  shared->items.init(0);
  shared->spaces.init(capacity);
  for (std::uint32_t i = 0; i < capacity; ++i) {
    new (&shared->cells[i]) RingCell;
    shared->cells[i].sequence.store(i, std::memory_order_relaxed);
    shared->cells[i].value = 0;
  }
  return IndexRing(shared);
}

IndexRing IndexRing::attach(void* memory) { return IndexRing(static_cast<IndexRingShared*>(memory)); }

// Called after taking a `spaces` token, so a cell is free or about to be freed by a consumer
// that has claimed it; the loop only waits out that short window.
void IndexRing::enqueue_reserved(std::uint32_t value) {
  std::uint64_t pos = shared_->enqueue_pos.load(std::memory_order_relaxed);
  for (;;) {
    RingCell& cell = shared_->cells[pos & shared_->mask];
    // acquire: pairs with the consumer's release of this cell, so its read of `value` is done.
    const std::uint64_t seq = cell.sequence.load(std::memory_order_acquire);
    const auto dif = static_cast<std::int64_t>(seq - pos);
    if (dif == 0) {
      if (shared_->enqueue_pos.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
        cell.value = value;
        // release: publishes `value` to the consumer that acquires this sequence.
        cell.sequence.store(pos + 1, std::memory_order_release);
        break;
      }
    } else {
      pos = shared_->enqueue_pos.load(std::memory_order_relaxed);
    }
  }
  const std::uint32_t depth = size();
  std::uint32_t seen = shared_->high_water.load(std::memory_order_relaxed);
  while (depth > seen &&
         !shared_->high_water.compare_exchange_weak(seen, depth, std::memory_order_relaxed)) {
  }
  shared_->items.post();
}

std::uint32_t IndexRing::dequeue_reserved() {
  std::uint64_t pos = shared_->dequeue_pos.load(std::memory_order_relaxed);
  std::uint32_t value = 0;
  for (;;) {
    RingCell& cell = shared_->cells[pos & shared_->mask];
    // acquire: pairs with the producer's release, so `value` is visible.
    const std::uint64_t seq = cell.sequence.load(std::memory_order_acquire);
    const auto dif = static_cast<std::int64_t>(seq - (pos + 1));
    if (dif == 0) {
      if (shared_->dequeue_pos.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
        value = cell.value;
        // release: hands the cell back to the producer one lap later.
        cell.sequence.store(pos + shared_->mask + 1, std::memory_order_release);
        break;
      }
    } else {
      pos = shared_->dequeue_pos.load(std::memory_order_relaxed);
    }
  }
  shared_->spaces.post();
  return value;
}

bool IndexRing::try_push(std::uint32_t value) {
  if (!shared_->spaces.try_wait()) return false;
  enqueue_reserved(value);
  return true;
}

bool IndexRing::push_for(std::uint32_t value, std::chrono::nanoseconds timeout) {
  if (!shared_->spaces.wait_for(timeout)) return false;
  enqueue_reserved(value);
  return true;
}

std::optional<std::uint32_t> IndexRing::try_pop() {
  if (!shared_->items.try_wait()) return std::nullopt;
  return dequeue_reserved();
}

std::optional<std::uint32_t> IndexRing::pop_for(std::chrono::nanoseconds timeout) {
  if (!shared_->items.wait_for(timeout)) return std::nullopt;
  return dequeue_reserved();
}

std::uint32_t IndexRing::size() const {
  const std::uint64_t head = shared_->dequeue_pos.load(std::memory_order_relaxed);
  const std::uint64_t tail = shared_->enqueue_pos.load(std::memory_order_relaxed);
  return tail > head ? static_cast<std::uint32_t>(tail - head) : 0;
}

}  // namespace vpipe::shm
