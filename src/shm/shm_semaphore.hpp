// ShmSemaphore: a counting semaphore that lives in shared memory and works across processes.
//
// Contract: any process that maps the segment may post or wait. Waits are always bounded
// (invariant 7): wait_for() spins briefly, then blocks in the kernel until the deadline, so a
// caller can re-check its stop flag. Spinning first matters: waking a sleeper on another core
// costs tens of microseconds, while a short spin catches the common case of a peer that is
// about to post.
#pragma once

#include <semaphore.h>

#include <chrono>
#include <cstdint>

namespace vpipe::shm {

class ShmSemaphore {
 public:
  // Only the process that lays out the segment calls init(), once, before any other process maps
  // it.
  void init(unsigned initial);
  void destroy();

  void post();
  [[nodiscard]] bool try_wait();
  // Spins for a few microseconds, then sleeps until `timeout` has passed. False on timeout.
  [[nodiscard]] bool wait_for(std::chrono::nanoseconds timeout);
  [[nodiscard]] int value();

 private:
  sem_t sem_;
};

}  // namespace vpipe::shm
