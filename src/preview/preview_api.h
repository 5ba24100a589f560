/* The preview window's C interface: libvpipe_preview.so (OpenCV highgui) is loaded by the encode
 * stage only when a run asks for a preview, so vpipe itself never loads a GUI toolkit. */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One picture in YUV 4:2:0 planes, with the numbers the overlay shows. */
struct vpipe_preview_frame {
  const uint8_t* planes[3];
  int linesize[3];
  int width, height;
  double fps;        /* frames per second leaving the pipeline */
  double latency_ms; /* this frame's, capture to display */
  uint64_t frames;   /* shown or encoded so far */
  uint64_t drops;    /* dropped so far (live mode) */
};

/* Opens the window; returns 0, or -1 with a one-line reason in `error`. */
typedef int (*vpipe_preview_open_fn)(const char* title, char* error, int error_size);
/* Shows a frame; returns 1 to go on, 0 once the user closed the window or pressed q/Esc. */
typedef int (*vpipe_preview_show_fn)(const struct vpipe_preview_frame* frame);
typedef void (*vpipe_preview_close_fn)(void);

int vpipe_preview_open(const char* title, char* error, int error_size);
int vpipe_preview_show(const struct vpipe_preview_frame* frame);
void vpipe_preview_close(void);

#ifdef __cplusplus
}
#endif
