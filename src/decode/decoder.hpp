// Decoder: opens an input (file, URL, stdin, or the built-in test source) and yields decoded
// video frames. Used by the scheduler to probe the input before the run, and by the decode
// stage to produce frames.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/av.hpp"

namespace vpipe::decode {

struct InputInfo {
  std::string url;        // what libavformat opens
  std::string format;     // forced demuxer ("lavfi" for the test source), empty to probe
  std::string container;  // the demuxer's name
  std::string codec;
  std::string pix_fmt;  // what the decoder produces, e.g. "yuv420p", "rgb24"
  int stream_index = -1;
  int audio_stream_index = -1;  // the best audio stream, -1 if none
  std::string audio_codec;
  int width = 0;
  int height = 0;
  AVRational time_base{1, 25};
  AVRational frame_rate{25, 1};
  double duration_s = 0;       // 0 when unknown (live sources)
  std::int64_t nb_frames = 0;  // estimate, 0 when unknown
  // What a transcode must keep.
  double start_time_s = 0;   // the video stream's first timestamp (-ss counts from here)
  bool seekable = false;     // a file that can be seeked (-ss seeks, else decodes up to it)
  int subtitle_streams = 0;  // not carried; the plan says so
  int bit_depth = 8;         // of the decoded picture's luma
  bool rgb = false;          // RGB or paletted: no YUV colour tags to keep
  AVRational sample_aspect_ratio{0, 1};                                     // 0/1: unknown (square)
  int color_range = 0, color_primaries = 2, color_trc = 2, colorspace = 2;  // AVCOL_* values
  std::vector<std::int32_t> display_matrix;     // rotation side data (9 values), empty if none
  std::map<std::string, std::string> metadata;  // the container's (title, creation_time, ...)
};

// True for the name of a built-in test source ("testsrc", "testsrc2", ...), with or without
// options.
bool is_test_source(const std::string& input);

// "testsrc:size=1920x1080:rate=30:duration=5" -> a lavfi graph; "-" -> stdin; "/dev/videoN" ->
// the v4l2 camera; else unchanged. The test source defaults to 1280x720, 30 fps, 5 seconds.
// `format` forces a demuxer or device (ffmpeg's -f before -i).
InputInfo resolve_input(const std::string& input, const std::string& format = "");

// True for inputs that run at their own pace and cannot be paused or read again: cameras and
// other capture devices, and network streams (udp, rtp, rtsp, srt, rtmp).
bool is_live_source(const InputInfo& info);

struct OpenSettings {
  int threads = 0;                // decoder threads, 0: libavcodec decides
  std::string format;             // forced demuxer or device, empty to probe
  double timeout_s = 10;          // network inputs: give up after this long without data; 0: wait
  std::vector<std::string> maps;  // -map specifiers ("0:v:1", "0:a:0", "2"): which streams
  std::map<std::string, std::string> options;  // demuxer/device options (video_size=640x480)
};

class Decoder {
 public:
  // Throws vpipe::Error (kInput) naming the input and the cause.
  static Decoder open(const std::string& input, const OpenSettings& settings);

  // The next decoded frame, owned by the decoder until the next call; nullptr at the end.
  AVFrame* next_frame();
  // Moves to the keyframe at or before `seconds` (on the stream's timeline); false if the input
  // cannot seek (the caller then decodes up to it).
  bool seek(double seconds);
  // Stops reading; next_frame() then drains what the decoder already holds.
  void stop_reading() { reading_ = false; }

  [[nodiscard]] const InputInfo& info() const { return info_; }
  // Packets or frames the decoder rejected (damaged input); the run goes on.
  [[nodiscard]] std::uint64_t errors() const { return errors_; }

 private:
  Decoder() = default;
  bool feed_packet();

  InputInfo info_;
  av::InputContextPtr format_;
  av::CodecContextPtr codec_;
  av::PacketPtr packet_;
  av::FramePtr frame_;
  bool reading_ = true;
  bool live_network_ = false;  // a timeout is how such a stream ends
  double timeout_s_ = 0;
  bool flushed_ = false;
  std::uint64_t errors_ = 0;
};

}  // namespace vpipe::decode
