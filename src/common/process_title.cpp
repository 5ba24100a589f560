#include "common/process_title.hpp"

#include <algorithm>
#include <cstring>

namespace vpipe {
namespace {
char* g_begin = nullptr;  // argv[0]
char* g_end = nullptr;    // one past the last byte of the last contiguous argument
}  // namespace

void remember_args(int argc, char** argv) {
  if (argc < 1 || argv[0] == nullptr) return;
  g_begin = argv[0];
  g_end = argv[0] + std::strlen(argv[0]) + 1;
  for (int i = 1; i < argc && argv[i] == g_end; ++i) g_end = argv[i] + std::strlen(argv[i]) + 1;
}

void set_process_title(const std::string& title) {
  if (g_begin == nullptr) return;
  const auto room = static_cast<std::size_t>(g_end - g_begin) - 1;
  const std::size_t n = std::min(room, title.size());
  std::memcpy(g_begin, title.data(), n);
  std::memset(g_begin + n, 0, static_cast<std::size_t>(g_end - g_begin) - n);
}

}  // namespace vpipe
