#include "common/avfilter_api.hpp"

#include <dlfcn.h>

#include <string>

#include "common/error.hpp"

namespace vpipe::av {

const AvfilterApi& avfilter_api() {
  static const AvfilterApi api = [] {
    const char* soname = "libavfilter.so." AV_STRINGIFY(LIBAVFILTER_VERSION_MAJOR);
    void* lib = dlopen(soname, RTLD_NOW | RTLD_GLOBAL);
    if (lib == nullptr) {
      const char* why = dlerror();
      fail(ExitCode::kRunFailed,
           std::string("ffmpeg's filters need ") + soname + ": " + (why ? why : "not found"));
    }
    AvfilterApi loaded;
#define VPIPE_AVFILTER_LOAD(name)                                       \
  loaded.name = reinterpret_cast<decltype(&::name)>(dlsym(lib, #name)); \
  if (loaded.name == nullptr) fail(ExitCode::kRunFailed, std::string(soname) + " has no " #name);
    VPIPE_AVFILTER_FUNCTIONS(VPIPE_AVFILTER_LOAD)
#undef VPIPE_AVFILTER_LOAD
    return loaded;
  }();
  return api;
}

}  // namespace vpipe::av
