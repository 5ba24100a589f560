// Input timestamps that jump: a transport stream spliced or restarted (timestamps leap forward
// or back by hours), or a damaged file with a wild value. Muxers refuse them ("Application
// provided duration ... is invalid", "pts/dts pair unsupported") and encoders take them as a
// gap. Each stream's packets are put back on a continuous timeline as the ffmpeg CLI does when
// it reads (fftools' ts_discontinuity_detect):
//  - formats that may jump (AVFMT_TS_DISCONT: MPEG-TS, MPEG-PS, ...): a packet more than 10 s
//    from where the stream should be, or 0.1 s behind where it was, moves the stream's timeline
//    by the jump: the output continues without the gap;
//  - other formats: a timestamp more than 30 hours off is dropped (the decoder then counts it
//    on from the frames before).
// Decode repairs the video and the audio it passes on; encode's own audio reader does the same.
#pragma once

#include <cstdint>
#include <map>
#include <string>

extern "C" {
#include <libavformat/avformat.h>
}

namespace vpipe {

class TimestampRepair {
 public:
  TimestampRepair() = default;
  // `say`: log the first repair (encode's own audio reader leaves that to decode).
  explicit TimestampRepair(const AVFormatContext* input, bool say = true);
  // Moves `packet` (of `stream`) onto the repaired timeline; true when it had to be repaired.
  bool fix(AVPacket* packet, const AVStream* stream);
  // After a seek: the next packets start a new baseline.
  void reset() { streams_.clear(); }
  // Packets repaired so far (the first one is logged as a warning).
  [[nodiscard]] std::uint64_t repairs() const { return repairs_; }

 private:
  struct Stream {
    std::int64_t next_dts = AV_NOPTS_VALUE;  // microseconds, on the repaired timeline
    std::int64_t last_dts = AV_NOPTS_VALUE;
    std::int64_t offset = 0;  // microseconds added to the input's timestamps
  };
  // Counts a repair; the first one is logged: "WHAT at T s (stream N): THEN".
  void count(const std::string& what, std::int64_t at_us, int stream, const char* then);
  bool may_jump_ = false;
  bool say_ = true;
  std::map<int, Stream> streams_;
  std::uint64_t repairs_ = 0;
};

}  // namespace vpipe
