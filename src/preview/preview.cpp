// The preview window (OpenCV highgui): the processed frames as they leave the pipeline, with an
// overlay of fps, latency and drops. Built as libvpipe_preview.so and loaded on demand.
#include <cstdio>
#include <opencv2/highgui.hpp>
#include <opencv2/imgproc.hpp>
#include <string>

#include "preview/preview_api.h"

namespace {
std::string g_title;
cv::Mat g_bgr;
}  // namespace

extern "C" int vpipe_preview_open(const char* title, char* error, int error_size) {
  try {
    g_title = title;
    // The picture only: no toolbar or status bar (Qt's highgui adds them otherwise).
    cv::namedWindow(g_title, cv::WINDOW_AUTOSIZE | cv::WINDOW_GUI_NORMAL);
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(error, static_cast<std::size_t>(error_size), "%s", e.what());
    return -1;
  }
}

extern "C" int vpipe_preview_show(const vpipe_preview_frame* f) {
  // Planes into one contiguous I420 picture, then BGR for display.
  cv::Mat i420(f->height * 3 / 2, f->width, CV_8UC1);
  for (int y = 0; y < f->height; ++y)
    std::copy_n(f->planes[0] + static_cast<std::ptrdiff_t>(y) * f->linesize[0], f->width,
                i420.ptr(y));
  const int cw = f->width / 2, ch = f->height / 2;
  std::uint8_t* u = i420.ptr(f->height);
  std::uint8_t* v = u + static_cast<std::ptrdiff_t>(cw) * ch;
  for (int y = 0; y < ch; ++y) {
    std::copy_n(f->planes[1] + static_cast<std::ptrdiff_t>(y) * f->linesize[1], cw,
                u + static_cast<std::ptrdiff_t>(y) * cw);
    std::copy_n(f->planes[2] + static_cast<std::ptrdiff_t>(y) * f->linesize[2], cw,
                v + static_cast<std::ptrdiff_t>(y) * cw);
  }
  cv::cvtColor(i420, g_bgr, cv::COLOR_YUV2BGR_I420);
  char text[160];
  std::snprintf(text, sizeof(text), "%.1f fps  latency %.0f ms  frames %llu  drops %llu", f->fps,
                f->latency_ms, static_cast<unsigned long long>(f->frames),
                static_cast<unsigned long long>(f->drops));
  const double scale = std::max(0.4, f->width / 1280.0);
  cv::putText(g_bgr, text, {10, static_cast<int>(30 * scale)}, cv::FONT_HERSHEY_SIMPLEX, scale,
              {0, 0, 0}, static_cast<int>(4 * scale) + 1);
  cv::putText(g_bgr, text, {10, static_cast<int>(30 * scale)}, cv::FONT_HERSHEY_SIMPLEX, scale,
              {255, 255, 255}, static_cast<int>(scale) + 1);
  cv::imshow(g_title, g_bgr);
  const int key = cv::waitKey(1);
  if (key == 'q' || key == 27) return 0;
  return cv::getWindowProperty(g_title, cv::WND_PROP_VISIBLE) >= 1 ? 1 : 0;
}

extern "C" void vpipe_preview_close() {
  cv::destroyAllWindows();
}
