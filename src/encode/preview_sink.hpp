// PreviewSink: the encode stage's side of the preview window. Loads libvpipe_preview.so (next to
// the vpipe binary) only when a run asks for a preview, and shows at most 60 frames a second.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "preview/preview_api.h"

namespace vpipe::encode {

class PreviewSink {
 public:
  // Where the preview library is expected: beside the running binary.
  static std::string library_path();
  // Whether a preview can open here: the library exists and a display is set. Empty when it
  // can, else the one-line reason.
  static std::string unavailable_reason();
  // Throws vpipe::Error (kUsage) with the reason when it cannot open.
  static std::unique_ptr<PreviewSink> open(const std::string& title);
  ~PreviewSink();

  // Whether a frame should be shown now: the window is open and the last frame shown is older
  // than a 60th of a second. Asked first, so that frames not shown cost nothing.
  [[nodiscard]] bool due(std::uint64_t now_ns) const;
  // Shows the frame. False once the user closed the window (the run then finishes as after
  // Ctrl-C).
  bool show(const vpipe_preview_frame& frame, std::uint64_t now_ns);

 private:
  PreviewSink() = default;
  void* library_ = nullptr;
  vpipe_preview_show_fn show_ = nullptr;
  vpipe_preview_close_fn close_ = nullptr;
  std::uint64_t last_shown_ns_ = 0;
  bool open_ = true;
};

}  // namespace vpipe::encode
