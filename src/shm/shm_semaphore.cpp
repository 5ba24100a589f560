#include "shm/shm_semaphore.hpp"

#include <cerrno>
#include <cstdlib>
#include <ctime>

#include "shm/spin.hpp"

namespace vpipe::shm {
namespace {

timespec monotonic_deadline(std::chrono::nanoseconds timeout) {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const auto total =
      std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec) + timeout;
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(total);
  return timespec{static_cast<time_t>(secs.count()), static_cast<long>((total - secs).count())};
}
}  // namespace

void ShmSemaphore::init(unsigned initial) {
  if (sem_init(&sem_, /*pshared=*/1, initial) != 0) std::abort();
}

void ShmSemaphore::destroy() {
  sem_destroy(&sem_);
}

void ShmSemaphore::post() {
  if (sem_post(&sem_) != 0) std::abort();  // only EOVERFLOW is possible: a broken contract
}

bool ShmSemaphore::try_wait() {
  while (sem_trywait(&sem_) != 0) {
    if (errno != EINTR) return false;
  }
  return true;
}

bool ShmSemaphore::wait_for(std::chrono::nanoseconds timeout) {
  for (int i = 0; i < kSpinIterations; ++i) {
    if (try_wait()) return true;
    cpu_relax();
  }
  if (timeout <= std::chrono::nanoseconds::zero()) return false;
  const timespec deadline = monotonic_deadline(timeout);
  while (sem_clockwait(&sem_, CLOCK_MONOTONIC, &deadline) != 0) {
    if (errno == ETIMEDOUT) return false;
    if (errno != EINTR) std::abort();
  }
  return true;
}

int ShmSemaphore::value() {
  int v = 0;
  sem_getvalue(&sem_, &v);
  return v;
}

}  // namespace vpipe::shm
