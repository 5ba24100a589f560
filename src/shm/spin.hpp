// Spinning before sleeping, shared by the rings and the semaphore.
#pragma once

namespace vpipe::shm {

// About a microsecond of polling: enough to catch a peer on another core that is mid-handoff;
// longer spins steal the core from the stage that would publish (measured on 2 cores: 2000
// iterations cost decode -> null a third of its rate).
inline constexpr int kSpinIterations = 100;

// Tells the CPU this is a spin-wait (less power, and the sibling hardware thread runs).
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace vpipe::shm
