#include "shm/latency_histogram.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace vpipe::shm {
namespace {

TEST(LatencyHistogramTest, PercentilesLandInTheRightBucket) {
  std::vector<std::uint64_t> buckets(kLatencyBuckets, 0);
  buckets[LatencyHistogram::bucket_of(1000)] = 50;
  buckets[LatencyHistogram::bucket_of(8000)] = 49;
  buckets[LatencyHistogram::bucket_of(500000)] = 1;
  EXPECT_NEAR(LatencyHistogram::percentile_us(buckets, 0.5), 1000, 1000 * 0.2);
  EXPECT_NEAR(LatencyHistogram::percentile_us(buckets, 0.9), 8000, 8000 * 0.2);
  EXPECT_NEAR(LatencyHistogram::percentile_us(buckets, 1.0), 500000, 500000 * 0.2);
  EXPECT_EQ(LatencyHistogram::percentile_us(std::vector<std::uint64_t>(kLatencyBuckets, 0), 0.5),
            0);
}

TEST(LatencyHistogramTest, BucketBoundsGrowByAQuarterOctave) {
  for (int b = 1; b < 99; ++b) {
    EXPECT_NEAR(LatencyHistogram::upper_bound_us(b + 1) / LatencyHistogram::upper_bound_us(b),
                1.189, 0.001);
    EXPECT_EQ(LatencyHistogram::bucket_of(LatencyHistogram::upper_bound_us(b) * 0.999), b);
  }
}

TEST(LatencyHistogramTest, APastTheRangeLatencyLandsInTheLastBucket) {
  EXPECT_EQ(LatencyHistogram::bucket_of(1e12), kLatencyBuckets - 1);
  EXPECT_EQ(LatencyHistogram::bucket_of(0.5), 0);
}

}  // namespace
}  // namespace vpipe::shm
