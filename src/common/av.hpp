// RAII for FFmpeg objects and small libav helpers shared by decode and encode.
#pragma once

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/frame.h>
#include <libswscale/swscale.h>
}

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace vpipe::av {

struct FormatInputDeleter {
  void operator()(AVFormatContext* c) const { avformat_close_input(&c); }
};
struct CodecContextDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwsDeleter {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};
struct CodecParametersDeleter {
  void operator()(AVCodecParameters* p) const { avcodec_parameters_free(&p); }
};
struct DictDeleter {
  void operator()(AVDictionary* d) const { av_dict_free(&d); }
};

using InputContextPtr = std::unique_ptr<AVFormatContext, FormatInputDeleter>;
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using SwsPtr = std::unique_ptr<SwsContext, SwsDeleter>;
using CodecParametersPtr = std::unique_ptr<AVCodecParameters, CodecParametersDeleter>;

// "No such file or directory" for an AVERROR code.
std::string error_text(int averror);

// Routes libav's own log lines through spdlog: warnings and errors as warnings, or, with
// `quiet`, everything at debug level (the scheduler's probe, whose failures become one error
// line that includes last_error_message()).
// Logs the counts of repeated libav warnings not yet logged (see av.cpp's RepeatSummary).
void flush_repeated_logs();
// Error lines the decoders of this process have logged (any thread; counted even when not
// shown). Deterministic where a decoder's own per-frame error flags are not (frame threads).
std::uint64_t decoder_error_lines();
void route_logs_to_spdlog(bool quiet = false);

// While one lives, libav's lines from this thread go to debug only: for trials whose failure is
// an answer, not a problem (whether a container takes a stream). It starts last_error_message()
// afresh, so that what it returns after the trial is the trial's own.
class QuietLogs {
 public:
  QuietLogs();
  ~QuietLogs();
  QuietLogs(const QuietLogs&) = delete;
  QuietLogs& operator=(const QuietLogs&) = delete;
};

// While one lives, libav's warnings and errors from this thread are held, not logged: for a call
// whose failure becomes one error line with the call's own reason (an encoder's open). release()
// logs them as they would have been; otherwise they go to debug.
class HeldLogs {
 public:
  HeldLogs();
  ~HeldLogs();
  HeldLogs(const HeldLogs&) = delete;
  HeldLogs& operator=(const HeldLogs&) = delete;
  void release();
  // The last error held ("Error setting preset/tune bogus/(null)."), without libav's context
  // prefix; empty if none.
  [[nodiscard]] std::string last_error() const;
  // For the log callback: whether this thread holds its lines, and if so, holds this one.
  static bool held(int level, const std::string& text);

 private:
  struct Line {
    int level;
    std::string text;
  };
  std::vector<Line> lines_;
  HeldLogs* outer_;
};

// The last error libav logged in this thread ("moov atom not found"), empty if none.
std::string last_error_message();

// What an audio stream's packets need to be muxed or decoded elsewhere (AVCodecParameters and
// the stream's time base), for carrying a live input's audio through decode.
struct AudioParams {
  int codec_id = 0;  // AVCodecID; 0: none
  int format = -1;   // AVSampleFormat
  std::int64_t bit_rate = 0;
  int sample_rate = 0;
  int channels = 0;
  std::uint64_t channel_mask = 0;  // 0: an unspecified layout of `channels`
  int frame_size = 0;
  int block_align = 0;
  int initial_padding = 0;
  int profile = -99;      // FF_PROFILE_UNKNOWN
  std::string extradata;  // the codec's global header, as bytes
  AVRational time_base{1, 1};

  static AudioParams of(const AVStream* stream);
  // Fills `par` (an audio stream's codec parameters) from these.
  void fill(AVCodecParameters* par) const;
};

}  // namespace vpipe::av
