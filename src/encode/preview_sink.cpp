#include "encode/preview_sink.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "common/error.hpp"

namespace vpipe::encode {

std::string PreviewSink::library_path() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  // Beside the binary in a build folder; in lib/vpipe/ once installed (cmake --install).
  const auto installed = exe.parent_path() / "../lib/vpipe/libvpipe_preview.so";
  if (std::filesystem::exists(installed, ec)) return installed.lexically_normal().string();
  return (exe.parent_path() / "libvpipe_preview.so").string();
}

std::string PreviewSink::unavailable_reason() {
  std::error_code ec;
  if (!std::filesystem::exists(library_path(), ec))
    return "this vpipe was built without the preview window (install libopencv-highgui-dev and "
           "rebuild)";
  const char* display = std::getenv("DISPLAY");
  const char* wayland = std::getenv("WAYLAND_DISPLAY");
  if ((display == nullptr || *display == '\0') && (wayland == nullptr || *wayland == '\0'))
    return "the preview needs a display, and DISPLAY is not set";
  return "";
}

std::unique_ptr<PreviewSink> PreviewSink::open(const std::string& title) {
  if (const std::string why = unavailable_reason(); !why.empty()) fail(ExitCode::kUsage, why);
  std::unique_ptr<PreviewSink> p(new PreviewSink());
  // Qt's own warnings (e.g. about XDG_RUNTIME_DIR) would break vpipe's one-line output.
  setenv("QT_LOGGING_RULES", "*.warning=false", /*overwrite=*/0);
  p->library_ = dlopen(library_path().c_str(), RTLD_NOW | RTLD_LOCAL);
  if (p->library_ == nullptr)
    fail(ExitCode::kUsage, std::string("cannot load the preview window: ") + dlerror());
  auto open_fn = reinterpret_cast<vpipe_preview_open_fn>(dlsym(p->library_, "vpipe_preview_open"));
  p->show_ = reinterpret_cast<vpipe_preview_show_fn>(dlsym(p->library_, "vpipe_preview_show"));
  p->close_ = reinterpret_cast<vpipe_preview_close_fn>(dlsym(p->library_, "vpipe_preview_close"));
  if (open_fn == nullptr || p->show_ == nullptr || p->close_ == nullptr)
    fail(ExitCode::kUsage, "the preview library " + library_path() + " is not vpipe's");
  char error[256] = {0};
  if (open_fn(title.c_str(), error, sizeof(error)) != 0)
    fail(ExitCode::kUsage, std::string("cannot open the preview window: ") + error);
  return p;
}

PreviewSink::~PreviewSink() {
  if (close_ != nullptr && open_) close_();
  // The library stays loaded: GUI toolkits do not unload cleanly.
}

bool PreviewSink::due(std::uint64_t now_ns) const {
  return open_ && (last_shown_ns_ == 0 || now_ns - last_shown_ns_ >= 1'000'000'000 / 60);
}

bool PreviewSink::show(const vpipe_preview_frame& frame, std::uint64_t now_ns) {
  if (!open_) return false;
  last_shown_ns_ = now_ns;
  if (show_(&frame) == 0) {
    close_();
    open_ = false;
  }
  return open_;
}

}  // namespace vpipe::encode
