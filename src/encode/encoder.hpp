// Encoder: libavcodec encode + libavformat mux into the container the output name implies.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/av.hpp"

namespace vpipe::encode {

struct EncoderSettings {
  std::string output;                       // path or URL; "null" is handled by the stage
  std::string format;                       // forced container, empty to guess from `output`
  std::string codec = "libx264";
  std::string preset;                       // codec "preset" option, when the codec has one
  std::optional<int> crf;
  std::optional<std::int64_t> bitrate;      // bits per second
  std::optional<int> gop;
  std::map<std::string, std::string> codec_options;
  bool overwrite = false;
  int threads = 0;                          // 0: the codec decides
};

struct StreamParams {
  int width = 0;
  int height = 0;
  AVRational time_base{1, 25};   // of the pts on incoming frames
  AVRational frame_rate{25, 1};
};

// Checks what can be checked before any process starts: codec, container, output path.
// Throws vpipe::Error (kUsage or kOutput).
void validate(const EncoderSettings& settings);

class Encoder {
 public:
  static std::unique_ptr<Encoder> open(const EncoderSettings& settings, const StreamParams& params);
  ~Encoder();

  // Encodes one YUV420P frame (pts in StreamParams::time_base). The encoder may keep a
  // reference to the frame's buffers until it has consumed them.
  void send(AVFrame* frame);
  // Flushes the encoder and writes the trailer. Must be called for a playable file.
  void finish();

  [[nodiscard]] std::uint64_t packets() const { return packets_; }
  [[nodiscard]] const std::string& codec_name() const { return codec_name_; }

 private:
  Encoder() = default;
  void drain();

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
  std::int64_t last_pts_ = AV_NOPTS_VALUE;
  std::uint64_t packets_ = 0;
  bool header_written_ = false;
  bool finished_ = false;
};

}  // namespace vpipe::encode
