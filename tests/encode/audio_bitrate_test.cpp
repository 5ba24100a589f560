// The audio bit rate a re-encode gets when -b:a does not say.
#include <gtest/gtest.h>

#include "encode/audio_copy.hpp"

namespace vpipe::encode {
namespace {

TEST(DefaultAudioBitrateTest, IsSixtyFourKilobitsAChannel) {
  EXPECT_EQ(default_bitrate(AV_CODEC_ID_AAC, 48000, 2), 128000);
  EXPECT_EQ(default_bitrate(AV_CODEC_ID_AAC, 44100, 1), 64000);
  EXPECT_EQ(default_bitrate(AV_CODEC_ID_OPUS, 48000, 6), 384000);
  EXPECT_EQ(default_bitrate(AV_CODEC_ID_OPUS, 8000, 1), 64000);
}

TEST(DefaultAudioBitrateTest, StaysWithinWhatAacCanHoldAtLowSampleRates) {
  // 6144 bits a channel per 1024-sample frame.
  EXPECT_EQ(default_bitrate(AV_CODEC_ID_AAC, 8000, 1), 48000);
  EXPECT_EQ(default_bitrate(AV_CODEC_ID_AAC, 8000, 2), 96000);
  EXPECT_EQ(default_bitrate(AV_CODEC_ID_AAC, 16000, 2), 128000);
}

}  // namespace
}  // namespace vpipe::encode
