// Decoder: opens an input (file, URL, stdin, or the built-in test source) and yields decoded
// video frames. Used by the scheduler to probe the input before the run, and by the decode
// stage to produce frames.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/av.hpp"
#include "common/timestamp_repair.hpp"

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
  av::AudioParams audio;
  int width = 0;
  int height = 0;
  AVRational time_base{1, 25};
  AVRational frame_rate{25, 1};
  double duration_s = 0;       // 0 when unknown (live sources)
  std::int64_t nb_frames = 0;  // estimate, 0 when unknown
  // What a transcode must keep.
  double start_time_s = 0;      // the video stream's first timestamp (-ss counts from here)
  double timeline_start_s = 0;  // the first timestamp of any stream: the output's 0 when > 0
  bool seekable = false;        // a file that can be seeked (-ss seeks, else decodes up to it)
  int subtitle_streams = 0;     // not carried; the plan says so
  int bit_depth = 8;            // of the decoded picture's luma
  bool rgb = false;             // RGB or paletted: no YUV colour tags to keep
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

// Where the decoder's pictures go when not into its own memory (decode_stage.cpp decodes
// straight into pool slots). Called from the decoder's threads, so it must be thread-safe.
class FrameAllocator {
 public:
  virtual ~FrameAllocator() = default;
  // Allocates frame->buf[0] and the planes, as AVCodecContext::get_buffer2 does; a negative
  // value leaves the picture to libavcodec's own allocator.
  virtual int get_buffer(AVCodecContext* codec, AVFrame* frame) = 0;
};

// How libavcodec wants a decoder's picture laid out in one buffer: its planes' line sizes and
// offsets (each plane with the padding libavcodec's own pool gives it), and the bytes in all.
struct DecodedLayout {
  int linesize[4] = {0, 0, 0, 0};
  std::size_t offset[4] = {0, 0, 0, 0};
  std::size_t bytes = 0;
};
// For a picture of `width` x `height` (coded size) in `codec`'s pixel format; bytes is 0 when
// the format has no such layout.
DecodedLayout decoded_layout(AVCodecContext* codec, int width, int height);
// The bytes `codec_name`'s decoder needs for one yuv420p picture of `width` x `height` (as
// shown), with its coded size rounded up to 16; 0 when it cannot decode into given memory.
std::size_t decoded_picture_bytes(const std::string& codec_name, int width, int height);

class Decoder {
 public:
  // Throws vpipe::Error (kInput) naming the input and the cause.
  static Decoder open(const std::string& input, const OpenSettings& settings);

  // The next decoded frame, owned by the decoder until the next call; nullptr at the end.
  AVFrame* next_frame();
  // Moves to the keyframe at or before `seconds` (on the stream's timeline); false if the input
  // cannot seek (the caller then decodes up to it).
  bool seek(double seconds);
  // Seeks to the keyframe at or before `pts` of the video stream (exact, in its time base).
  bool seek_pts(std::int64_t pts);
  // Stops reading; next_frame() then ends at once: the pictures the decoder holds back to
  // reorder are dropped, so what was given is a clean prefix of the input in display order.
  void stop_reading() { reading_ = false; }
  // Before the first frame: opens the codec again with `threads` threads (0: libavcodec
  // decides), where it has a different number (the plan's, decided once the input is known);
  // later, a no-op. Throws as open().
  void set_threads(int threads);
  // Pictures decoded from now on are allocated by `allocator` where it accepts them (the
  // codec must support it; null: libavcodec's own memory again).
  void set_allocator(FrameAllocator* allocator) { hook_->allocator.store(allocator); }
  // Closes the codec, so that it lets go of every picture it still holds (its references);
  // the decoder decodes no more.
  void release_pictures();
  // The audio stream's packets (info().audio_stream_index) go to `sink` as they are read
  // (a live input's audio, carried by decode); without one they are dropped.
  void set_audio_sink(std::function<void(const AVPacket&)> sink) { audio_sink_ = std::move(sink); }

  [[nodiscard]] const InputInfo& info() const { return info_; }
  // Packets or frames the decoder rejected (damaged input); the run goes on.
  // Damaged packets or frames: the decoder's refusals and error lines (not its per-frame error
  // flags, which frame threads set late or not at all: the count varied between runs).
  [[nodiscard]] std::uint64_t errors() const {
    return std::max(errors_, av::decoder_error_lines() - error_lines_at_open_);
  }
  // Packets whose timestamps jumped and were put back on a continuous timeline.
  [[nodiscard]] std::uint64_t timestamp_repairs() const { return repair_.repairs(); }

 private:
  // Keyframe at or before `ts` (of `stream_index`; -1: AV_TIME_BASE units), decoder flushed.
  bool seek_to(int stream_index, std::int64_t ts);
  Decoder() = default;
  bool feed_packet();
  void open_codec(const AVStream* stream, const AVCodec* codec, int threads,
                  const std::string& input);
  // A failed send or receive: out of memory (throws), or damage, counted.
  void count_error(int averror, const char* what);
  static int get_buffer(AVCodecContext* codec, AVFrame* frame, int flags);

  // Where get_buffer finds the allocator: on the heap, because frame threads keep the codec's
  // opaque pointer and a Decoder moves.
  struct AllocatorHook {
    std::atomic<FrameAllocator*> allocator{nullptr};
  };
  std::unique_ptr<AllocatorHook> hook_ = std::make_unique<AllocatorHook>();
  std::function<void(const AVPacket&)> audio_sink_;

  InputInfo info_;
  av::InputContextPtr format_;
  av::CodecContextPtr codec_;
  av::PacketPtr packet_;
  av::FramePtr frame_;
  bool reading_ = true;
  bool live_network_ = false;  // a timeout is how such a stream ends
  double timeout_s_ = 0;
  bool flushed_ = false;
  int threads_ = 0;
  bool decoded_ = false;  // a packet went to the codec
  std::uint64_t errors_ = 0;
  std::uint64_t error_lines_at_open_ = 0;
  TimestampRepair repair_;
};

}  // namespace vpipe::decode
