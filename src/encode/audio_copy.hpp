// Audio beside the video, never through the frame rings. From a file, the encode stage opens
// the input a second time and reads only its audio packets. From an input that can be read only
// once (a stream, a camera, stdin), decode reads the audio with the video and hands its packets
// on through the segment's audio ring (shm/packet_ring.hpp), which encode takes them from.
//
// AudioCopy carries the packets unchanged (stream copy, ffmpeg's `-c:a copy`); AudioTranscode
// decodes, resamples and encodes them (`-c:a aac`), for a container that cannot hold the
// input's codec or when asked.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/av.hpp"
#include "common/timestamp_repair.hpp"
#include "shm/packet_ring.hpp"

struct SwrContext;
struct AVAudioFifo;
struct AVBSFContext;

namespace vpipe::encode {

// Decode's audio ring read once for every output that takes the audio (several outputs from a
// stream input): each reader gets every packet, in order. A packet that some reader has not taken
// yet waits in that reader's queue; the outputs' encoders take the audio up to the same video
// frame, so the queues stay short.
class SharedAudioRing {
 public:
  SharedAudioRing(shm::PacketRing ring, int readers);
  // The next packet for `reader` (0 .. readers - 1); false when none has come yet, or the
  // reader has left.
  bool pop(int reader, shm::PacketHeader& header, std::vector<std::uint8_t>& data);
  // `reader`'s output is finished (its -frames:v, early): what waits for it goes, and nothing
  // more is kept for it, so a long run's audio does not pile up for an output done long ago.
  void leave(int reader);
  [[nodiscard]] std::size_t waiting(int reader) const {
    return waiting_[static_cast<std::size_t>(reader)].size();
  }

 private:
  struct Packet {
    shm::PacketHeader header;
    std::vector<std::uint8_t> data;
  };
  shm::PacketRing ring_;
  std::vector<std::deque<Packet>> waiting_;  // per reader
  std::vector<bool> left_;                   // per reader
};

// One reader's place in a SharedAudioRing.
struct AudioRingReader {
  std::shared_ptr<SharedAudioRing> ring;
  int reader = 0;
};

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
  // The track is finished: decode's audio ring (if it reads one) keeps nothing more for it.
  void stop_reading() {
    if (ring_) ring_->ring->leave(ring_->reader);
  }
  [[nodiscard]] std::uint64_t packets() const { return packets_; }

 protected:
  // Opens `url` for its audio stream `stream_index` only; with `origin_s` > 0 (-ss), seeks there.
  void open_input(const std::string& url, int stream_index, double origin_s);
  // -ss: the output starts at `origin_s` on the input's timeline (0: at its start).
  void set_origin(double origin_s);
  // Takes the packets decode hands on through `ring`, of a stream described by `params`.
  void attach_ring(AudioRingReader ring, const av::AudioParams& params, double origin_s);
  // The next audio packet into `packet`; false at the end (a read error ends the audio only),
  // or, from the ring, when none has come yet (the audio ends with the video: by then decode
  // has handed on all it read).
  bool read_packet(AVPacket* packet);
  // Gives a packet without timestamps the ones that follow the last packet's, as the ffmpeg CLI
  // does: a piped input's demuxer cannot read ahead to learn the frame duration, so it stamps
  // only the first of the packets that share a PES (MPEG-TS on stdin, a named pipe).
  void fill_timestamps(AVPacket* packet);
  // Moves a packet onto the output's timeline (-ss: back by origin); false for a packet before it.
  bool shift(AVPacket* packet) const;
  [[nodiscard]] const AVCodecParameters* in_par() const { return in_par_; }
  [[nodiscard]] AVRational in_time_base() const { return in_time_base_; }
  // Seconds on the output's timeline of a timestamp in the input stream's time base.
  [[nodiscard]] double output_seconds(std::int64_t ts) const;

  av::InputContextPtr input_;
  TimestampRepair repair_;  // the input's jumps, as decode repairs them
  std::optional<AudioRingReader> ring_;
  std::vector<std::uint8_t> ring_data_;
  av::CodecParametersPtr ring_par_;
  const AVCodecParameters* in_par_ = nullptr;
  AVRational in_time_base_{1, 1};
  int stream_index_ = -1;
  bool at_end_ = false;
  double origin_s_ = 0;
  std::int64_t origin_ts_ = 0;              // origin_s_ in the input stream's time base
  std::int64_t next_dts_ = AV_NOPTS_VALUE;  // where the last packet read ends
  AVFormatContext* mux_ = nullptr;
  // A failed write, as an output error naming the file. Throws.
  [[noreturn]] void write_failed(int averror) const;
  AVStream* out_stream_ = nullptr;
  std::uint64_t packets_ = 0;
};

class AudioCopy : public AudioTrack {
 public:
  // Throws vpipe::Error (kInput) if the input cannot be opened again.
  static std::unique_ptr<AudioCopy> open(const std::string& url, int stream_index,
                                         double origin_s = 0);
  static std::unique_ptr<AudioCopy> from_ring(AudioRingReader ring, const av::AudioParams& params,
                                              double origin_s);
  void add_output_stream(AVFormatContext* mux) override;
  void copy_until(double until_s) override;
  void copy_rest() override;

 private:
  AudioCopy() = default;
  // Writes one packet (through the bitstream filter, if any) on the output's timeline.
  void write(AVPacket* packet);

  av::PacketPtr pending_;  // read but not yet written (it starts after the last `until`)
  bool has_pending_ = false;
  std::int64_t last_dts_ = AV_NOPTS_VALUE;
  // AAC as MPEG-TS carries it (ADTS headers, no global header) into a container that wants the
  // global header (MP4, Matroska, FLV): aac_adtstoasc, as `ffmpeg -bsf:a aac_adtstoasc`.
  struct BsfDeleter {
    void operator()(AVBSFContext* bsf) const;
  };
  std::unique_ptr<AVBSFContext, BsfDeleter> bsf_;
  av::PacketPtr filtered_;
};

// The bit rate an audio encoder gets when -b:a does not say: 64 kb/s a channel, within what the
// codec can use at this sample rate.
std::int64_t default_bitrate(AVCodecID codec, int sample_rate, int channels);

class AudioTranscode : public AudioTrack {
 public:
  // Throws vpipe::Error: kInput if the input cannot be opened again or its audio not decoded,
  // kUsage for an unknown encoder.
  static std::unique_ptr<AudioTranscode> open(const std::string& url, int stream_index,
                                              double origin_s, const std::string& codec,
                                              std::int64_t bitrate);
  static std::unique_ptr<AudioTranscode> from_ring(AudioRingReader ring,
                                                   const av::AudioParams& params, double origin_s,
                                                   const std::string& codec, std::int64_t bitrate);
  ~AudioTranscode() override;
  void add_output_stream(AVFormatContext* mux) override;
  void copy_until(double until_s) override;
  void copy_rest() override;
  void end_at(double until_s) override;

 private:
  AudioTranscode() = default;
  // Opens the decoder of the input's audio (`what`: the input, for the error line).
  void open_decoder(const std::string& what, const std::string& codec, std::int64_t bitrate);
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
