#include "common/memory.hpp"

#include <sys/mman.h>
#include <sys/resource.h>

extern "C" {
#include <libavutil/error.h>
}

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.hpp"

namespace vpipe {

bool memory_is_short() noexcept {
  constexpr std::size_t kProbe = std::size_t{64} << 20;
  void* probe = mmap(nullptr, kProbe, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (probe == MAP_FAILED) return true;
  munmap(probe, kProbe);
  return false;
}

bool out_of_memory(int averror) noexcept {
  return averror == AVERROR(ENOMEM) || memory_is_short();
}

std::size_t out_of_memory_text(std::string_view what, char* buffer, std::size_t size) noexcept {
  rlimit limit{};
  int n = 0;
  if (getrlimit(RLIMIT_AS, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    n = std::snprintf(buffer, size,
                      "out of memory in %.*s (the address-space limit, ulimit -v, is %llu MiB)",
                      static_cast<int>(what.size()), what.data(),
                      static_cast<unsigned long long>(limit.rlim_cur >> 20));
  } else {
    n = std::snprintf(buffer, size, "out of memory in %.*s", static_cast<int>(what.size()),
                      what.data());
  }
  return n < 0 ? 0 : std::min(static_cast<std::size_t>(n), size - 1);
}

std::string out_of_memory_text(std::string_view what) {
  char text[256];
  return {text, out_of_memory_text(what, text, sizeof text)};
}

std::string errno_text(int err) {
  std::string text = std::strerror(err);
  rlimit limit{};
  const int resource = err == EMFILE ? RLIMIT_NOFILE : err == EAGAIN ? RLIMIT_NPROC : -1;
  if (resource >= 0 && getrlimit(resource, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    text += std::string(" (ulimit ") + (err == EMFILE ? "-n" : "-u") + " is " +
            std::to_string(limit.rlim_cur) + ")";
  }
  return text;
}

void fail_out_of_memory(std::string_view what) {
  fail(ExitCode::kRunFailed, out_of_memory_text(what));
}

void fail_if_out_of_memory(int averror, std::string_view what) {
  if (out_of_memory(averror)) fail_out_of_memory(what);
}

}  // namespace vpipe
