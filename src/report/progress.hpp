// Progress and run statistics: a snapshot of the shared stats block, and the ways it is shown
// (a redrawn line on a terminal, plain periodic lines otherwise, JSON objects for programs, the
// final --stats-json report; the metrics are in report/metrics.hpp). Pure functions of the
// snapshot, so the formats are unit-tested without a run.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace vpipe::report {

struct StageSample {
  std::string name;  // "decode", "xform-0", ..., "encode"
  int pid = 0;
  std::vector<int> cpus;
  std::uint64_t frames_in = 0;
  std::uint64_t frames_out = 0;
  double busy_s = 0;
  double wait_s = 0;
  std::uint64_t frames_copied = 0;  // pictures the stage copied (shm::StageStats::frames_copied)
  std::uint64_t errors = 0;
  std::uint64_t restarts = 0;
  std::uint64_t drops_late = 0;  // live: frames this stage dropped past their deadline
  std::uint64_t drops_full = 0;  // live: frames dropped because the pipeline was full
  long peak_rss_kib = 0;         // 0 while running; from the exit status's resource usage after
  double cpu_s = 0;              // user + system CPU time, every process of this stage together
  long rss_kib = 0;              // resident memory now; 0 once it has ended
};

// The time one stage role worked on each frame it handed on (see shm::StageFrameTimes).
struct StageFrameTimes {
  std::string stage;                   // "decode", "transform", "encode"
  std::vector<std::uint64_t> buckets;  // see shm::LatencyHistogram
  double sum_s = 0;
};

struct ProgressSample {
  double elapsed_s = 0;
  std::uint64_t frames_done = 0;  // left encode
  std::int64_t frames_total = 0;  // estimate; 0 when unknown (live, streams)
  double input_fps = 0;           // the source's frame rate
  double output_fps = 0;          // the output's (-r, else the source's): frames to media time
  std::uint32_t in_flight = 0;
  std::uint32_t window = 0;
  std::uint32_t decoded_queue = 0;   // frames waiting in decode -> transform
  std::uint32_t filtered_queue = 0;  // frames waiting in transform -> encode
  std::uint32_t decoded_high_water = 0;
  std::uint32_t filtered_high_water = 0;
  std::uint64_t drops = 0;
  std::uint64_t restarts = 0;
  std::uint32_t workers_active = 0;  // transform workers taking frames (the pool sizes itself)
  std::vector<std::uint64_t> latency_buckets;  // capture -> packet, see shm::LatencyHistogram
  double latency_max_us = 0;                   // exact; 0 when unknown
  double latency_sum_s = 0;                    // every frame's latency, added up
  std::vector<StageFrameTimes> frame_times;    // decode, transform, encode
  double fps_now = 0;                          // over the last few seconds (RecentRate)
  std::int64_t output_bytes = -1;              // the output file's size; -1: none or unknown
  std::vector<StageSample> stages;
  // Every output, -o's first first: the frames its encoder took and its file's bytes (-1: none).
  struct Output {
    std::string name;
    std::uint64_t frames = 0;
    std::int64_t bytes = -1;
    std::uint64_t drops = 0;  // live: frames late for this output alone
    double busy_s = 0;        // the encode stage's time on this output
  };
  std::vector<Output> outputs;
  // What the run is, for the metrics' labels.
  std::string input, output, mode;  // mode: "batch" or "live"
  // Set once the run has ended: "complete", "interrupted" or "failed", and the exit code.
  std::string result;
  int exit_code = 0;

  [[nodiscard]] double fps() const {
    return elapsed_s > 0 ? static_cast<double>(frames_done) / elapsed_s : 0;
  }
  // The latency below which `fraction` of frames lie, in ms: the histogram's estimate, never
  // above the exact maximum.
  [[nodiscard]] double latency_ms(double fraction) const;
  // Seconds of output media done (frames at the output's rate).
  [[nodiscard]] double media_time_s() const {
    const double rate = output_fps > 0 ? output_fps : input_fps;
    return rate > 0 ? static_cast<double>(frames_done) / rate : 0;
  }
  // Media time per wall-clock second, as ffmpeg's speed.
  [[nodiscard]] double speed() const { return elapsed_s > 0 ? media_time_s() / elapsed_s : 0; }
  // Seconds to go, or a negative number when the total is unknown.
  [[nodiscard]] double eta_s() const;
};

// Frames per second over a sliding span of time (the last `span_s` seconds): what "now" means
// for a gauge, where an average since the start would hide a stall for minutes.
class RecentRate {
 public:
  explicit RecentRate(double span_s = 5) : span_s_(span_s) {}
  void add(double elapsed_s, std::uint64_t frames);
  [[nodiscard]] double per_second() const;

 private:
  double span_s_;
  std::vector<std::pair<double, std::uint64_t>> points_;  // oldest first, within the span
};

// "frame 120/300  fps 61.2  speed 2.04x  eta 0:03  time 00:00:04.00  elapsed 0:02  size 256KiB
//  bitrate 524.3kbit/s  drops 0  queues 3/1  busy d 40% x0 95% e 60%", shortened to fewer than
// `width` characters (0: no limit) by leaving out the least useful parts first.
std::string progress_line(const ProgressSample& s, int width = 0);
// One JSON object on one line, with the same fields ("event": "progress"); the version of the
// format is in every record.
inline constexpr int kProgressJsonVersion = 1;
std::string progress_json(const ProgressSample& s);
// The last record: "event": "end", the result and exit code, the final counts.
std::string progress_end_json(const ProgressSample& s);

}  // namespace vpipe::report
