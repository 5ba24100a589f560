#include "shm_ring/index_ring.hpp"

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <new>

namespace vpipe::shm {
namespace {

// About 5-10 us of polling before sleeping.
constexpr int kSpinIterations = 2000;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

timespec deadline_after(std::chrono::nanoseconds timeout) {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const auto total = std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec) + timeout;
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(total);
  return timespec{static_cast<time_t>(secs.count()), static_cast<long>((total - secs).count())};
}

// Locks the ring's mutex; after a holder died, the state is consistent by construction (see the
// header), so the lock is simply marked consistent and used.
class Lock {
 public:
  explicit Lock(pthread_mutex_t* m) : m_(m) { recover(pthread_mutex_lock(m_)); }
  ~Lock() { pthread_mutex_unlock(m_); }
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  // Waits on `cond` until `deadline`. False on timeout.
  bool wait(pthread_cond_t* cond, const timespec& deadline) {
    const int rc = pthread_cond_clockwait(cond, m_, CLOCK_MONOTONIC, &deadline);
    if (rc == ETIMEDOUT) return false;
    recover(rc);
    return true;
  }

 private:
  void recover(int rc) {
    if (rc == EOWNERDEAD) {
      pthread_mutex_consistent(m_);
    } else if (rc != 0) {
      std::abort();
    }
  }
  pthread_mutex_t* m_;
};

std::uint32_t queued(const IndexRingShared* s) { return static_cast<std::uint32_t>(s->tail - s->head); }

// Relaxed reads of head/tail outside the lock, only to decide whether spinning is worth it.
std::uint64_t peek(const std::uint64_t& v) { return __atomic_load_n(&v, __ATOMIC_RELAXED); }

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
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->not_empty, &ca);
  pthread_cond_init(&s->not_full, &ca);
  pthread_condattr_destroy(&ca);
  s->capacity = capacity;
  s->high_water = 0;
  // Counters start far from zero so push_front can step head back without wrapping; the
  // start is a multiple of the capacity so that cell indices stay aligned.
  s->head = s->tail = static_cast<std::uint64_t>(capacity) << 32;
  return IndexRing(s);
}

IndexRing IndexRing::attach(void* memory) { return IndexRing(static_cast<IndexRingShared*>(memory)); }

bool IndexRing::push_for(std::uint32_t value, std::chrono::nanoseconds timeout) {
  IndexRingShared* s = shared_;
  for (int i = 0; i < kSpinIterations && timeout > timeout.zero(); ++i) {
    if (peek(s->tail) - peek(s->head) < s->capacity) break;
    cpu_relax();
  }
  Lock lock(&s->mutex);
  if (queued(s) == s->capacity) {
    if (timeout <= timeout.zero()) return false;
    const timespec deadline = deadline_after(timeout);
    while (queued(s) == s->capacity) {
      if (!lock.wait(&s->not_full, deadline)) return false;
    }
  }
  s->cells[s->tail % s->capacity] = value;
  __atomic_store_n(&s->tail, s->tail + 1, __ATOMIC_RELEASE);  // commit
  if (queued(s) > s->high_water) s->high_water = queued(s);
  pthread_cond_signal(&s->not_empty);
  return true;
}

bool IndexRing::push_front(std::uint32_t value) {
  IndexRingShared* s = shared_;
  Lock lock(&s->mutex);
  if (queued(s) == s->capacity) return false;
  s->cells[(s->head - 1) % s->capacity] = value;
  __atomic_store_n(&s->head, s->head - 1, __ATOMIC_RELEASE);  // commit
  pthread_cond_signal(&s->not_empty);
  return true;
}

std::optional<std::uint32_t> IndexRing::pop_for(std::chrono::nanoseconds timeout, ClaimFn claim, void* context) {
  IndexRingShared* s = shared_;
  for (int i = 0; i < kSpinIterations && timeout > timeout.zero(); ++i) {
    if (peek(s->tail) != peek(s->head)) break;
    cpu_relax();
  }
  Lock lock(&s->mutex);
  if (queued(s) == 0) {
    if (timeout <= timeout.zero()) return std::nullopt;
    const timespec deadline = deadline_after(timeout);
    while (queued(s) == 0) {
      if (!lock.wait(&s->not_empty, deadline)) return std::nullopt;
    }
  }
  const std::uint32_t value = s->cells[s->head % s->capacity];
  if (claim != nullptr) claim(context, value);
  __atomic_store_n(&s->head, s->head + 1, __ATOMIC_RELEASE);  // commit
  pthread_cond_signal(&s->not_full);
  return value;
}

std::uint32_t IndexRing::size() const {
  Lock lock(&shared_->mutex);
  return queued(shared_);
}

bool IndexRing::contains(std::uint32_t value) const {
  Lock lock(&shared_->mutex);
  for (std::uint64_t i = shared_->head; i != shared_->tail; ++i) {
    if (shared_->cells[i % shared_->capacity] == value) return true;
  }
  return false;
}

std::uint32_t IndexRing::high_water() const {
  Lock lock(&shared_->mutex);
  return shared_->high_water;
}

}  // namespace vpipe::shm
