// IndexRing: a bounded multi-producer multi-consumer queue of 32-bit values in shared memory.
//
// | property  | value                                                                        |
// |-----------|------------------------------------------------------------------------------|
// | shm-safe  | yes: trivially laid out, no pointers, placed at an offset of the run segment |
// | bounded   | yes: capacity fixed at init (a power of two)                                 |
// | blocking  | producers wait for space, consumers for items; every wait is bounded         |
// | producers | any number, any process          | consumers | any number, any process    |
//
// The cells follow D. Vyukov's bounded MPMC queue (a sequence number per cell orders the
// handoff); two counting semaphores (free spaces / filled items) turn it into a blocking queue
// and give backpressure. A value that has been pushed is popped exactly once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>

#include "shm_ring/shm_semaphore.hpp"

namespace vpipe::shm {

inline constexpr std::size_t kCacheLine = 64;

struct RingCell {
  std::atomic<std::uint64_t> sequence;
  std::uint32_t value;
};

struct IndexRingShared {
  std::uint32_t capacity;
  std::uint32_t mask;
  alignas(kCacheLine) std::atomic<std::uint64_t> enqueue_pos;  // producers' counter
  alignas(kCacheLine) std::atomic<std::uint64_t> dequeue_pos;  // consumers' counter
  alignas(kCacheLine) ShmSemaphore items;
  alignas(kCacheLine) ShmSemaphore spaces;
  alignas(kCacheLine) std::atomic<std::uint32_t> high_water;  // most items ever queued at once
  alignas(kCacheLine) RingCell cells[1];                      // `capacity` cells follow
};
static_assert(std::is_standard_layout_v<IndexRingShared>);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(offsetof(IndexRingShared, dequeue_pos) - offsetof(IndexRingShared, enqueue_pos) >=
              kCacheLine);

// A non-owning view of a ring placed in a mapped segment. Cheap to copy.
class IndexRing {
 public:
  static std::size_t bytes_for(std::uint32_t capacity);
  // Lays out a ring in `memory` (bytes_for(capacity) bytes). `capacity` must be a power of two.
  static IndexRing create(void* memory, std::uint32_t capacity);
  static IndexRing attach(void* memory);

  // Producer side.
  [[nodiscard]] bool try_push(std::uint32_t value);
  [[nodiscard]] bool push_for(std::uint32_t value, std::chrono::nanoseconds timeout);

  // Consumer side.
  [[nodiscard]] std::optional<std::uint32_t> try_pop();
  [[nodiscard]] std::optional<std::uint32_t> pop_for(std::chrono::nanoseconds timeout);

  // Either side; approximate while others push and pop.
  [[nodiscard]] std::uint32_t size() const;
  [[nodiscard]] std::uint32_t capacity() const { return shared_->capacity; }
  [[nodiscard]] std::uint32_t high_water() const {
    return shared_->high_water.load(std::memory_order_relaxed);
  }

 private:
  explicit IndexRing(IndexRingShared* shared) : shared_(shared) {}
  void enqueue_reserved(std::uint32_t value);
  std::uint32_t dequeue_reserved();

  IndexRingShared* shared_;
};

}  // namespace vpipe::shm
