// Audio beside the video: the encode stage opens the input a second time and reads only its
// audio packets, so audio never passes through the frame rings. That needs an input that can be
// opened twice (a file); the plan turns audio off, with a notice, for stdin, test sources and
// network streams.
//
// AudioCopy carries the packets unchanged (stream copy, ffmpeg's `-c:a copy`); AudioTranscode
// decodes, resamples and encodes them (`-c:a aac`), for a container that cannot hold the
// input's codec or when asked.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/av.hpp"

struct SwrContext;
struct AVAudioFifo;

namespace vpipe::encode {

class AudioTrack {
 public:
  virtual ~AudioTrack() = default;
  // Adds the audio stream to `mux`; call before the header is written.
  virtual void add_output_stream(AVFormatContext* mux) = 0;
  // Writes the audio that starts before `until_s` (seconds on the output's timeline).
  virtual void copy_until(double until_s) = 0;
  // Writes all the audio left.
  virtual void copy_rest() = 0;
  // The run stopped early (a signal, -t): writes the audio up to `until_s` and ends it there.
  virtual void end_at(double until_s) { copy_until(until_s); }
  [[nodiscard]] std::uint64_t packets() const { return packets_; }

 protected:
  // Opens `url` for its audio stream `stream_index` only; with `origin_s` > 0 (-ss), seeks there.
  void open_input(const std::string& url, int stream_index, double origin_s);
  // The next audio packet into `packet`; false at the end (a read error ends the audio only).
  bool read_packet(AVPacket* packet);
  // Moves a packet onto the output's timeline (-ss: back by origin); false for a packet before it.
  bool shift(AVPacket* packet) const;
  [[nodiscard]] AVStream* in_stream() const { return input_->streams[stream_index_]; }
  // Seconds on the output's timeline of a timestamp in the input stream's time base.
  [[nodiscard]] double output_seconds(std::int64_t ts) const;

  av::InputContextPtr input_;
  int stream_index_ = -1;
  bool at_end_ = false;
  double origin_s_ = 0;
  std::int64_t origin_ts_ = 0;  // origin_s_ in the input stream's time base
  AVFormatContext* mux_ = nullptr;
  AVStream* out_stream_ = nullptr;
  std::uint64_t packets_ = 0;
};

class AudioCopy : public AudioTrack {
 public:
  // Throws vpipe::Error (kInput) if the input cannot be opened again.
  static std::unique_ptr<AudioCopy> open(const std::string& url, int stream_index,
                                         double origin_s = 0);
  void add_output_stream(AVFormatContext* mux) override;
  void copy_until(double until_s) override;
  void copy_rest() override;

 private:
  AudioCopy() = default;
  av::PacketPtr pending_;  // read but not yet written (it starts after the last `until`)
  bool has_pending_ = false;
  std::int64_t last_dts_ = AV_NOPTS_VALUE;
};

class AudioTranscode : public AudioTrack {
 public:
  // Throws vpipe::Error: kInput if the input cannot be opened again or its audio not decoded,
  // kUsage for an unknown encoder.
  static std::unique_ptr<AudioTranscode> open(const std::string& url, int stream_index,
                                              double origin_s, const std::string& codec,
                                              std::int64_t bitrate);
  ~AudioTranscode() override;
  void add_output_stream(AVFormatContext* mux) override;
  void copy_until(double until_s) override;
  void copy_rest() override;
  void end_at(double until_s) override;

 private:
  AudioTranscode() = default;
  void decode(const AVPacket* packet);  // nullptr flushes
  void encode_frames(bool flush);       // full frames from the FIFO; all of it to flush
  void write_packets();

  std::string codec_name_;
  std::int64_t bitrate_ = 0;
  av::CodecContextPtr decoder_;
  av::CodecContextPtr encoder_;
  ::SwrContext* swr_ = nullptr;
  ::AVAudioFifo* fifo_ = nullptr;
  av::PacketPtr packet_;
  av::FramePtr decoded_;
  av::FramePtr chunk_;
  std::int64_t next_pts_ = AV_NOPTS_VALUE;  // of the FIFO's first sample, in 1/sample_rate
  bool flushed_ = false;
};

}  // namespace vpipe::encode
