#include "shm/index_ring.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <new>

#include "shm/spin.hpp"

namespace vpipe::shm {
namespace {

using Clock = std::chrono::steady_clock;

// Locks the ring's mutex; after a holder died, the state is consistent by construction (see the
// header), so the lock is simply marked consistent and used.
class Lock {
 public:
  explicit Lock(pthread_mutex_t* m) : m_(m) {
    const int rc = pthread_mutex_lock(m_);
    if (rc == EOWNERDEAD) {
      pthread_mutex_consistent(m_);
    } else if (rc != 0) {
      std::abort();
    }
  }
  ~Lock() { pthread_mutex_unlock(m_); }
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

 private:
  pthread_mutex_t* m_;
};

// Sleeps while `word` still holds `seen`, at most until `deadline`. Spurious returns are fine:
// callers re-check under the lock.
void futex_sleep(std::atomic<std::uint32_t>& word, std::uint32_t seen, Clock::time_point deadline) {
  const auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return;
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(left);
  const timespec rel{
      static_cast<time_t>(secs.count()),
      static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(left - secs).count())};
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT, seen, &rel, nullptr, 0);
}

void futex_wake_one(std::atomic<std::uint32_t>& word) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE, 1, nullptr, nullptr, 0);
}

std::uint32_t queued(const IndexRingShared* s) {
  return static_cast<std::uint32_t>(s->tail - s->head);
}

// Relaxed reads of head/tail outside the lock, only to decide whether spinning is worth it.
std::uint64_t peek(const std::uint64_t& v) {
  return std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(v))
      .load(std::memory_order_relaxed);
}

// The commit point of an operation: the one counter it changes, published last.
void commit(std::uint64_t& counter, std::uint64_t value) {
  std::atomic_ref<std::uint64_t>(counter).store(value, std::memory_order_release);
}

}  // namespace

std::size_t IndexRing::bytes_for(std::uint32_t capacity) {
  return offsetof(IndexRingShared, cells) + sizeof(std::uint32_t) * capacity;
}

IndexRing IndexRing::create(void* memory, std::uint32_t capacity) {
  if (capacity == 0) std::abort();
  auto* s = new (memory) IndexRingShared;
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&s->mutex, &ma);
  pthread_mutexattr_destroy(&ma);
  s->pushes.store(0);
  s->pops.store(0);
  s->sleeping_consumers.store(0);
  s->sleeping_producers.store(0);
  s->capacity = capacity;
  s->high_water = 0;
  // Counters start far from zero so push_front can step head back without wrapping; the
  // start is a multiple of the capacity so that cell indices stay aligned.
  s->head = s->tail = static_cast<std::uint64_t>(capacity) << 32;
  return IndexRing(s);
}

IndexRing IndexRing::attach(void* memory) {
  return IndexRing(static_cast<IndexRingShared*>(memory));
}

bool IndexRing::push_for(std::uint32_t value, std::chrono::nanoseconds timeout, ClaimFn publish,
                         void* context) {
  IndexRingShared* s = shared_;
  for (int i = 0; i < kSpinIterations && timeout > timeout.zero(); ++i) {
    if (peek(s->tail) - peek(s->head) < s->capacity) break;
    cpu_relax();
  }
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    std::uint32_t seen = 0;
    {
      Lock lock(&s->mutex);
      if (queued(s) < s->capacity) {
        s->cells[s->tail % s->capacity] = value;
        commit(s->tail, s->tail + 1);
        // After the commit, still locked: no consumer can claim the value first, and a death in
        // between leaves it queued (reclaim checks the rings before it trusts an owner field).
        if (publish != nullptr) publish(context, value);
        if (queued(s) > s->high_water) s->high_water = queued(s);
        s->pushes.fetch_add(1, std::memory_order_release);
        break;
      }
      seen = s->pops.load(std::memory_order_acquire);
    }
    if (Clock::now() >= deadline) return false;
    s->sleeping_producers.fetch_add(1);
    futex_sleep(s->pops, seen, deadline);
    s->sleeping_producers.fetch_sub(1);
  }
  if (s->sleeping_consumers.load() > 0) futex_wake_one(s->pushes);
  return true;
}

bool IndexRing::push_front(std::uint32_t value, ClaimFn publish, void* context) {
  IndexRingShared* s = shared_;
  {
    Lock lock(&s->mutex);
    if (queued(s) == s->capacity) return false;
    s->cells[(s->head - 1) % s->capacity] = value;
    commit(s->head, s->head - 1);
    if (publish != nullptr) publish(context, value);
    s->pushes.fetch_add(1, std::memory_order_release);
  }
  if (s->sleeping_consumers.load() > 0) futex_wake_one(s->pushes);
  return true;
}

std::optional<std::uint32_t> IndexRing::pop_for(std::chrono::nanoseconds timeout, ClaimFn claim,
                                                void* context) {
  IndexRingShared* s = shared_;
  for (int i = 0; i < kSpinIterations && timeout > timeout.zero(); ++i) {
    if (peek(s->tail) != peek(s->head)) break;
    cpu_relax();
  }
  const auto deadline = Clock::now() + timeout;
  std::uint32_t value = 0;
  for (;;) {
    std::uint32_t seen = 0;
    {
      Lock lock(&s->mutex);
      if (queued(s) > 0) {
        value = s->cells[s->head % s->capacity];
        if (claim != nullptr) claim(context, value);
        commit(s->head, s->head + 1);
        s->pops.fetch_add(1, std::memory_order_release);
        break;
      }
      seen = s->pushes.load(std::memory_order_acquire);
    }
    if (Clock::now() >= deadline) return std::nullopt;
    s->sleeping_consumers.fetch_add(1);
    futex_sleep(s->pushes, seen, deadline);
    s->sleeping_consumers.fetch_sub(1);
  }
  if (s->sleeping_producers.load() > 0) futex_wake_one(s->pops);
  return value;
}

std::uint32_t IndexRing::size() const {
  Lock lock(&shared_->mutex);
  return queued(shared_);
}

std::uint32_t IndexRing::count(std::uint32_t value) const {
  Lock lock(&shared_->mutex);
  std::uint32_t n = 0;
  for (std::uint64_t i = shared_->head; i != shared_->tail; ++i) {
    n += shared_->cells[i % shared_->capacity] == value;
  }
  return n;
}

std::uint32_t IndexRing::high_water() const {
  Lock lock(&shared_->mutex);
  return shared_->high_water;
}

}  // namespace vpipe::shm
