// Fuzzes config files: the bytes are written to a file of this process's own and read with
// apply_config_file(), then checked with validate(), as `vpipe run --config` does. Only
// vpipe::Error may come out: anything else (a YAML exception, std::out_of_range) would reach
// the user as a crash instead of one line naming the file and the cause.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/error.hpp"
#include "plan/options.hpp"

namespace {

const std::string& config_path() {
  static const std::string path = "/tmp/vpipe-fuzz-config-" + std::to_string(getpid()) + ".yaml";
  return path;
}

void remove_config() {
  std::remove(config_path().c_str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::atexit(remove_config);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::FILE* file = std::fopen(config_path().c_str(), "wb");
  if (file == nullptr || std::fwrite(data, 1, size, file) != size || std::fclose(file) != 0) {
    std::perror(config_path().c_str());
    std::abort();
  }
  vpipe::plan::RunOptions options;
  try {
    vpipe::plan::apply_config_file(config_path(), options);
    vpipe::plan::validate(options);
  } catch (const vpipe::Error&) {
    // Rejected with a message, as a bad config should be.
  }
  return 0;
}
