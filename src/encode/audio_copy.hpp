// AudioCopy: carries the input's audio into the output unchanged (stream copy, like ffmpeg's
// `-c:a copy`).
//
// The encode stage opens the input a second time and reads only its audio packets, so audio
// never passes through the frame rings and costs no decode. That needs an input that can be
// opened twice (a file); the plan turns audio off, with a notice, for stdin, test sources and
// network streams.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/av.hpp"

namespace vpipe::encode {

class AudioCopy {
 public:
  // Throws vpipe::Error (kInput) if the input cannot be opened again. With `origin_s` > 0 (-ss),
  // audio starts there and its timestamps move back by as much, like the video's.
  static std::unique_ptr<AudioCopy> open(const std::string& url, int stream_index,
                                         double origin_s = 0);

  // Adds the audio stream to `mux`; call before the header is written.
  void add_output_stream(AVFormatContext* mux);
  // Writes the audio packets that start before `until_s` (seconds on the output's timeline).
  void copy_until(double until_s);
  // Writes every audio packet left.
  void copy_rest();

  [[nodiscard]] std::uint64_t packets() const { return packets_; }

 private:
  AudioCopy() = default;
  bool read_next();

  av::InputContextPtr input_;
  av::PacketPtr pending_;  // read but not yet written (it starts after the last `until`)
  bool has_pending_ = false;
  bool at_end_ = false;
  int stream_index_ = -1;
  AVFormatContext* mux_ = nullptr;
  AVStream* out_stream_ = nullptr;
  std::int64_t last_dts_ = AV_NOPTS_VALUE;
  double origin_s_ = 0;
  std::int64_t origin_ts_ = 0;  // origin_s_ in the input stream's time base
  std::uint64_t packets_ = 0;
};

}  // namespace vpipe::encode
