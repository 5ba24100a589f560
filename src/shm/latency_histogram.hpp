// The capture -> packet latency histogram that encode fills in the control block and the
// supervisor reads: log-scale, 4 buckets per doubling of microseconds (about 19% wide), so
// percentiles cost a fixed kLatencyBuckets counters however long the run.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace vpipe::shm {

inline constexpr int kLatencyBuckets = 100;  // 4 per doubling: 1 us .. 2^25 us

struct LatencyHistogram {
  // The bucket a latency falls in: 0 for up to 1 us, the last for anything past the range.
  static int bucket_of(double us) {
    if (us <= 1) return 0;
    return std::min(kLatencyBuckets - 1, static_cast<int>(std::floor(4 * std::log2(us))) + 1);
  }
  static double upper_bound_us(int bucket) { return std::exp2(bucket / 4.0); }
  // The value below which `fraction` of the counts lie, interpolated by rank within its bucket
  // (at most the bucket's upper bound); 0 with no counts.
  static double percentile_us(const std::vector<std::uint64_t>& buckets, double fraction) {
    std::uint64_t total = 0;
    for (auto b : buckets) total += b;
    if (total == 0) return 0;
    const auto target =
        static_cast<std::uint64_t>(std::ceil(fraction * static_cast<double>(total)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets.size(); ++i) {
      if (seen + buckets[i] >= target) {
        // Within the bucket, by rank (as Prometheus' histogram_quantile does): a bucket is 19%
        // wide, and its upper bound alone would overstate a tight distribution by that much.
        const double lower = i == 0 ? 0 : upper_bound_us(static_cast<int>(i) - 1);
        const double upper = upper_bound_us(static_cast<int>(i));
        return lower + (upper - lower) * static_cast<double>(target - seen) /
                           static_cast<double>(buckets[i]);
      }
      seen += buckets[i];
    }
    return upper_bound_us(static_cast<int>(buckets.size()) - 1);
  }
};

}  // namespace vpipe::shm
