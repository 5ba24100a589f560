// Encoder: libavcodec encode + libavformat mux into the container the output name implies.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/av.hpp"

namespace vpipe::encode {

struct EncoderSettings {
  std::string output;  // path or URL; "null" is handled by the stage
  std::string format;  // forced container, empty to guess from `output`
  std::string codec = "libx264";
  std::string preset;  // codec "preset" option, when the codec has one
  std::optional<int> crf;
  std::optional<std::int64_t> bitrate;  // bits per second
  std::optional<int> gop;
  std::map<std::string, std::string> codec_options;
  std::map<std::string, std::string> muxer_options;  // the user's, over vpipe's own
  std::map<std::string, std::string> tags;           // -metadata: over the input's tags
  bool overwrite = false;
  bool faststart = false;  // classic MP4 with the index first, not fragmented
  int threads = 0;         // 0: the codec decides
  std::string pix_fmt;     // the encoder's pixel format (-pix_fmt); empty: the codec's best
};

struct StreamParams {
  int width = 0;
  int height = 0;
  AVRational time_base{1, 25};  // of the pts on incoming frames
  AVRational frame_rate{25, 1};
  // Of the incoming frames: yuv420p, or one of frame_formats() from the chain's graph.
  int pix_fmt = AV_PIX_FMT_YUV420P;
  // Carried from the input (see RunPlan::stream_params).
  AVRational sample_aspect_ratio{1, 1};
  bool aspect_given = false;  // -aspect chose it: a stream copy takes it too
  int color_range = 0, color_primaries = 2, color_trc = 2, colorspace = 2;  // 0/2: unspecified
  std::vector<std::int32_t> display_matrix;     // rotation side data, empty for none
  std::map<std::string, std::string> metadata;  // container tags
};

// Checks what can be checked before any process starts: codec, container, output path.
// Throws vpipe::Error (kUsage or kOutput).
void validate(const EncoderSettings& settings);

// Whether the output's container can hold `stream` as it is (stream copy); if not, and libav
// said why, the reason into `why`.
bool container_accepts(const EncoderSettings& settings, const AVCodecParameters* stream,
                       std::string* why = nullptr);
// Whether it can hold what audio encoder `encoder` (e.g. "aac", "libopus") produces.
bool container_accepts_encoder(const EncoderSettings& settings, const std::string& encoder);
// The audio encoder the container prefers (mp4: aac, webm: libopus, ...), empty if none here.
std::string default_audio_encoder(const EncoderSettings& settings);
// The video encoder when none is named: libx264 where the container holds H.264 (as the ffmpeg
// CLI), else the container's own (.gif: gif, .webm: libvpx-vp9, .ogv: libtheora).
std::string default_video_encoder(const EncoderSettings& settings);
// True when the output is one picture file (x.png, x.jpg: the image muxer without a %d pattern).
bool is_single_image(const EncoderSettings& settings);
bool audio_encoder_exists(const std::string& name);
// The pixel formats the encoder takes as they are, for a filter graph's output: the one it
// would convert yuv420p frames to, and pal8 where it takes that (a GIF with paletteuse's
// palettes). Throws as validate() for an unknown codec.
std::vector<AVPixelFormat> frame_formats(const EncoderSettings& settings, int width, int height);
// Whether the output's container stores a rotation (display matrix) for players (MP4, MOV; not
// FFmpeg 5.1's Matroska).
bool keeps_rotation(const EncoderSettings& settings);

class AudioTrack;

class Encoder {
 public:
  // `audio`, when given, is muxed beside the video, interleaved by time.
  static std::unique_ptr<Encoder> open(const EncoderSettings& settings, const StreamParams& params,
                                       std::unique_ptr<AudioTrack> audio = nullptr);
  // Muxes packets already encoded (`video`: their stream, `time_base`: their timestamps') with
  // the same container, options, stream properties and audio as open() would: the segment join.
  static std::unique_ptr<Encoder> open_remux(const EncoderSettings& settings,
                                             const StreamParams& params,
                                             const AVCodecParameters* video, AVRational time_base,
                                             std::unique_ptr<AudioTrack> audio = nullptr);
  ~Encoder();

  // Writes one encoded packet (timestamps in `time_base`), with the audio up to it.
  void write_packet(AVPacket* packet, AVRational time_base);

  // Encodes one YUV420P frame (pts in StreamParams::time_base). The encoder may keep a
  // reference to the frame's buffers until it has consumed them.
  void send(AVFrame* frame);
  // Flushes the encoder, writes the rest of the audio (only up to the video's end when the run
  // was stopped early) and the trailer. Must be called for a playable file.
  void finish(bool stopped_early = false);

  [[nodiscard]] std::uint64_t packets() const { return packets_; }
  [[nodiscard]] const std::string& codec_name() const { return codec_name_; }

 private:
  Encoder() = default;
  void drain();
  // A failed send or receive: out of memory, or the encoder's own error. Throws.
  [[noreturn]] void encoder_failed(int averror) const;
  // Adds the video stream (and the audio), opens the file and writes the header.
  void start_muxing(const StreamParams& params, const AVCodecParameters* video,
                    AVRational time_base);
  // The files a muxer opens itself (HLS and DASH segments and playlists, the segment muxer's
  // parts): closed through this, which keeps the first write error (avio_close does not return
  // it), so that a full disk fails the run instead of leaving empty files behind a run that
  // ended well. Throws that error (an output error) once it is known.
  static int close_muxer_file(AVFormatContext* mux, AVIOContext* pb);
  void check_muxer_files() const;

  EncoderSettings settings_;
  std::string codec_name_;
  AVFormatContext* mux_ = nullptr;
  AVStream* stream_ = nullptr;
  av::CodecContextPtr codec_;
  av::PacketPtr packet_;
  AVRational input_time_base_{1, 25};
  // Set when the codec cannot take YUV420P: frames are converted into this one first.
  av::FramePtr converted_;
  av::SwsPtr sws_;
  std::unique_ptr<AudioTrack> audio_;
  double video_end_s_ = 0;  // end of the last video frame sent, on the input's timeline
  std::int64_t last_pts_ = AV_NOPTS_VALUE;
  // How long each frame sent and not yet out as a packet is shown, by pts (encoder time base):
  // until the next frame's pts, the last one its decoded duration. Encoders do not say, and
  // fragmented MP4 needs every packet's duration.
  std::map<std::int64_t, std::int64_t> durations_;
  std::uint64_t packets_ = 0;
  bool header_written_ = false;
  bool finished_ = false;
  int (*default_close_)(AVFormatContext*, AVIOContext*) = nullptr;
  int muxer_file_error_ = 0;
};

}  // namespace vpipe::encode
