// IndexRing: a bounded multi-producer multi-consumer queue of 32-bit values in shared memory
// that survives the death of any process using it.
//
// | property  | value                                                                        |
// |-----------|------------------------------------------------------------------------------|
// | shm-safe  | yes: no pointers, placed at an offset of the run segment                     |
// | bounded   | yes: capacity fixed at init                                                  |
// | blocking  | producers wait for space, consumers for items; every wait has a timeout      |
// | producers | any number, any process          | consumers | any number, any process    |
// | crash     | a process SIGKILLed inside any operation leaves the ring consistent          |
//
// Why a lock and not a lock-free queue: a lock-free MPMC queue (one sequence number per cell)
// is left with a cell that no lap can ever pass if a process dies between claiming a cell and
// publishing it, and a semaphore token taken just before a death is lost for good. Here a
// robust process-shared mutex guards the ring: the next process to lock after a death gets
// EOWNERDEAD and carries on, because every operation changes exactly one counter (`tail` for a
// push, `head` for a pop) as its last step — the commit point — so a half-done operation simply
// did not happen. Handoffs run at most a few thousand per second per ring, where an uncontended
// lock costs tens of nanoseconds.
//
// Sleepers wait on futex words (`pushes`, `pops`: counters bumped by every push and pop), not on
// pthread condition variables: glibc's condition variables keep per-waiter state in shared
// memory, and a waiter killed while asleep can make a later signal block forever. A futex wait
// leaves nothing behind. Waits spin briefly before sleeping: waking a sleeper on another core
// costs tens of microseconds, and the peer is often just about to publish.
#pragma once

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>

namespace vpipe::shm {

inline constexpr std::size_t kCacheLine = 64;

struct IndexRingShared {
  pthread_mutex_t mutex;                          // robust, process-shared
  std::atomic<std::uint32_t> pushes;              // futex word: consumers sleep on it
  std::atomic<std::uint32_t> pops;                // futex word: producers sleep on it
  std::atomic<std::uint32_t> sleeping_consumers;  // skip the wake-up system call when 0
  std::atomic<std::uint32_t> sleeping_producers;
  std::uint32_t capacity;
  std::uint32_t high_water;  // most items ever queued at once
  std::uint64_t head;        // next to pop; only a pop changes it (its commit point)
  std::uint64_t tail;        // next to fill; only a push changes it (its commit point)
  alignas(kCacheLine) std::uint32_t cells[1];  // `capacity` cells follow
};
static_assert(std::is_standard_layout_v<IndexRingShared>);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free &&
                  sizeof(std::atomic<std::uint32_t>) == 4,
              "futex words must be plain 32-bit integers");

// Called with the ring locked, on the value being popped, before the pop commits: whatever it
// records (an owner pid) is in place before the value leaves the ring, so a reclaimer never
// sees a value that is in neither the ring nor a live owner's hands.
using ClaimFn = void (*)(void* context, std::uint32_t value);

// A non-owning view of a ring placed in a mapped segment. Cheap to copy.
class IndexRing {
 public:
  static std::size_t bytes_for(std::uint32_t capacity);
  // Lays out a ring in `memory` (bytes_for(capacity) bytes).
  static IndexRing create(void* memory, std::uint32_t capacity);
  static IndexRing attach(void* memory);

  // Producer side. `publish`, when given, runs with the ring locked just after the push
  // commits, so no consumer can see the value before what it records (the slot has no owner).
  [[nodiscard]] bool try_push(std::uint32_t value, ClaimFn publish = nullptr,
                              void* context = nullptr) {
    return push_for(value, std::chrono::nanoseconds::zero(), publish, context);
  }
  [[nodiscard]] bool push_for(std::uint32_t value, std::chrono::nanoseconds timeout,
                              ClaimFn publish = nullptr, void* context = nullptr);
  // Puts a value back at the head, to be popped next (a requeued frame goes before what is
  // already waiting; a freed slot is the next one taken). Fails only when the ring is full.
  // `publish` as for push_for.
  [[nodiscard]] bool push_front(std::uint32_t value, ClaimFn publish = nullptr,
                                void* context = nullptr);

  // Consumer side.
  [[nodiscard]] std::optional<std::uint32_t> try_pop(ClaimFn claim = nullptr,
                                                     void* context = nullptr) {
    return pop_for(std::chrono::nanoseconds::zero(), claim, context);
  }
  [[nodiscard]] std::optional<std::uint32_t> pop_for(std::chrono::nanoseconds timeout,
                                                     ClaimFn claim = nullptr,
                                                     void* context = nullptr);

  // Either side.
  [[nodiscard]] std::uint32_t size() const;
  [[nodiscard]] bool contains(std::uint32_t value) const { return count(value) > 0; }
  [[nodiscard]] std::uint32_t count(std::uint32_t value) const;
  [[nodiscard]] std::uint32_t capacity() const { return shared_->capacity; }
  [[nodiscard]] std::uint32_t high_water() const;

 private:
  explicit IndexRing(IndexRingShared* shared) : shared_(shared) {}

  IndexRingShared* shared_;
};

}  // namespace vpipe::shm
