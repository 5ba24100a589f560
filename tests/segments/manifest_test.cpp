// The segment planner as a decision table over hand-made frame lists, and the manifest's form.
#include "segments/manifest.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/error.hpp"

namespace vpipe::segments {
namespace {

using ::testing::ElementsAre;

// `n` frames at pts 0, step, 2 step, ...; a keyframe every `gop` frames.
FrameIndex frames(int n, int gop, std::int64_t step = 512) {
  FrameIndex index;
  index.time_base = {1, 15360};
  for (int i = 0; i < n; ++i) {
    index.pts.push_back(i * step);
    if (i % gop == 0) index.keyframes.push_back(i * step);
  }
  return index;
}

SplitRequest request(Split split, int segments, int gop = 0) {
  SplitRequest r;
  r.split = split;
  r.segments = segments;
  r.gop = gop;
  return r;
}

// Every frame in exactly one segment, in order, the ranges contiguous.
void expect_cover(const FrameIndex& index, const std::vector<Segment>& segs) {
  ASSERT_FALSE(segs.empty());
  std::int64_t next_frame = 0;
  for (std::size_t k = 0; k < segs.size(); ++k) {
    EXPECT_EQ(segs[k].index, static_cast<int>(k));
    EXPECT_EQ(segs[k].first_frame, next_frame);
    EXPECT_GT(segs[k].frames, 0);
    EXPECT_EQ(segs[k].begin_pts, index.pts[static_cast<std::size_t>(next_frame)]);
    EXPECT_LE(segs[k].seek_pts, segs[k].begin_pts);
    EXPECT_TRUE(
        std::binary_search(index.keyframes.begin(), index.keyframes.end(), segs[k].seek_pts))
        << "segment " << k << " seeks to a frame that is not a keyframe";
    if (k + 1 < segs.size()) {
      EXPECT_EQ(segs[k].end_pts, segs[k + 1].begin_pts);
    }
    next_frame += segs[k].frames;
  }
  EXPECT_EQ(next_frame, static_cast<std::int64_t>(index.pts.size()));
  EXPECT_EQ(segs.back().end_pts, kToTheEnd);
}

TEST(SplitFramesTest, ExactSplitsEvenlyAnywhereAndSeeksToTheKeyframeBefore) {
  const FrameIndex index = frames(120, 50);

  const auto segs = split_frames(index, INT64_MIN, kToTheEnd, request(Split::kExact, 4));

  expect_cover(index, segs);
  ASSERT_EQ(segs.size(), 4U);
  EXPECT_EQ(segs[1].first_frame, 30);
  // A keyframe before the one at or before the start: an approximate seek still lands early.
  EXPECT_EQ(segs[1].seek_pts, 0);  // frame 30: keyframe 0 before it, none before that
  EXPECT_EQ(segs[2].seek_pts, 0);  // frame 60: keyframe 50, and 0 before it
  EXPECT_EQ(segs[3].seek_pts, 0);  // frame 90: keyframe 50 (100 is after it), and 0
}

TEST(SplitFramesTest, KeyframeSplitPutsEveryBoundaryOnAKeyframe) {
  const FrameIndex index = frames(300, 30);

  const auto segs = split_frames(index, INT64_MIN, kToTheEnd, request(Split::kKeyframes, 4));

  expect_cover(index, segs);
  ASSERT_EQ(segs.size(), 4U);
  for (const Segment& s : segs) {
    EXPECT_TRUE(std::binary_search(index.keyframes.begin(), index.keyframes.end(), s.begin_pts))
        << "segment " << s.index << " does not start on a keyframe";
    if (s.index > 1) {
      EXPECT_LT(s.seek_pts, s.begin_pts) << "a keyframe of margin";
    }
  }
  EXPECT_THAT(
      std::vector<std::int64_t>({segs[1].first_frame, segs[2].first_frame, segs[3].first_frame}),
      ElementsAre(60, 150, 210));  // nearest keyframes to 75, 150, 225 (ties: earlier)
}

TEST(SplitFramesTest, GopSplitUsesMultiplesOfTheGop) {
  const FrameIndex index = frames(100, 100);  // one keyframe: the split does not need them

  const auto segs = split_frames(index, INT64_MIN, kToTheEnd, request(Split::kGop, 3, 25));

  expect_cover(index, segs);
  for (const Segment& s : segs) EXPECT_EQ(s.first_frame % 25, 0);
}

TEST(SplitFramesTest, FewerKeyframesThanSegmentsGiveFewerSegments) {
  const FrameIndex index = frames(100, 60);  // keyframes at 0 and 60

  const auto segs = split_frames(index, INT64_MIN, kToTheEnd, request(Split::kKeyframes, 8));

  expect_cover(index, segs);
  EXPECT_EQ(segs.size(), 2U);
}

TEST(SplitFramesTest, MoreSegmentsThanFramesGiveOneFrameEach) {
  const FrameIndex index = frames(3, 1);

  const auto segs = split_frames(index, INT64_MIN, kToTheEnd, request(Split::kExact, 10));

  expect_cover(index, segs);
  EXPECT_EQ(segs.size(), 3U);
}

TEST(SplitFramesTest, ARangeSplitsOnlyItsFramesAndEndsWhereTheRangeEnds) {
  const FrameIndex index = frames(120, 30);

  const auto segs = split_frames(index, 15 * 512, 75 * 512, request(Split::kExact, 2));

  ASSERT_EQ(segs.size(), 2U);
  EXPECT_EQ(segs[0].begin_pts, 15 * 512);
  EXPECT_EQ(segs[0].seek_pts, 0);
  EXPECT_EQ(segs[0].frames + segs[1].frames, 60);
  EXPECT_EQ(segs[1].end_pts, 75 * 512);
}

TEST(SplitFramesTest, PreRollStartsFramesEarlierButNeverBeforeTheJob) {
  const FrameIndex index = frames(120, 30);
  SplitRequest r = request(Split::kExact, 4);
  r.preroll_frames = 40;

  const auto segs = split_frames(index, 10 * 512, kToTheEnd, r);  // the job starts at frame 10

  ASSERT_EQ(segs.size(), 4U);
  EXPECT_EQ(segs[0].preroll_frames, 0);
  EXPECT_EQ(segs[0].preroll_pts, segs[0].begin_pts);
  EXPECT_EQ(segs[1].begin_pts, 38 * 512);
  EXPECT_EQ(segs[1].preroll_frames, 28);  // all 28 frames of the job before it
  EXPECT_EQ(segs[1].preroll_pts, 10 * 512);
  EXPECT_EQ(segs[3].preroll_frames, 40);
  EXPECT_EQ(segs[3].preroll_pts, segs[3].begin_pts - 40 * 512);
  for (const Segment& s : segs) EXPECT_LE(s.seek_pts, s.preroll_pts);
}

TEST(SplitFramesTest, FramesThatShareATimestampStayInOneSegment) {
  FrameIndex index = frames(10, 1);
  index.pts = {0, 512, 1024, 1024, 1024, 2048, 2560, 3072, 3584, 4096};  // 3 frames at 1024

  const auto segs = split_frames(index, INT64_MIN, kToTheEnd, request(Split::kExact, 3));

  std::int64_t total = 0;
  for (const Segment& s : segs) {
    total += s.frames;
    EXPECT_NE(s.first_frame, 3);
    EXPECT_NE(s.first_frame, 4);
  }
  EXPECT_EQ(total, 10);
}

TEST(SplitFramesTest, SegmentLengthPicksTheCount) {
  const FrameIndex index = frames(300, 30);  // 10 s at 30 fps
  SplitRequest r = request(Split::kExact, 0);
  r.segment_length_s = 2.5;

  const auto segs = split_frames(index, INT64_MIN, kToTheEnd, r);

  EXPECT_EQ(segs.size(), 4U);
}

TEST(SplitFramesTest, NothingToSplitOrNoCountIsAUsageError) {
  const FrameIndex index = frames(30, 30);
  try {
    split_frames(index, 100000, kToTheEnd, request(Split::kExact, 2));
    ADD_FAILURE() << "no error for an empty range";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
  }
  EXPECT_THROW(split_frames(index, INT64_MIN, kToTheEnd, request(Split::kExact, 0)), Error);
  EXPECT_THROW(split_frames(index, INT64_MIN, kToTheEnd, request(Split::kGop, 2, 0)), Error);
}

TEST(FormatIndicesTest, WritesASlurmArraySpec) {
  EXPECT_EQ(format_indices({1, 3, 7, 8, 9}), "1,3,7-9");
  EXPECT_EQ(format_indices({0}), "0");
  EXPECT_EQ(format_indices({}), "");
}

TEST(ManifestTest, RoundTripsThroughJson) {
  Manifest m;
  m.vpipe_version = "1.2.3";
  m.created = "2026-11-30T00:00:00Z";
  m.input = {"/in.mp4", 123, 456, "abc"};
  m.output = "/out.mp4";
  m.run_args = {"-i", "in.mp4", "--crf", "20"};
  m.options_hash = options_hash(m.run_args);
  m.time_base = {1, 15360};
  m.frame_rate = {30000, 1001};
  m.origin_pts = 7;
  m.frames = 60;
  m.split = Split::kExact;
  m.segments = split_frames(frames(60, 30), INT64_MIN, kToTheEnd, request(Split::kExact, 2));

  const Manifest back = manifest_from_json(to_json(m));

  EXPECT_EQ(to_json(back), to_json(m));
  EXPECT_EQ(back.segments.back().end_pts, kToTheEnd);
  EXPECT_EQ(back.input, m.input);
}

TEST(ManifestTest, OptionsHashFollowsEveryArgument) {
  EXPECT_EQ(options_hash({"--crf", "20"}), options_hash({"--crf", "20"}));
  EXPECT_NE(options_hash({"--crf", "20"}), options_hash({"--crf", "21"}));
  EXPECT_NE(options_hash({"--crf20"}), options_hash({"--crf", "20"}));
}

TEST(ManifestTest, AnotherVersionOrGarbageIsAUsageError) {
  for (const char* text : {"{\"vpipe_manifest\": 99}", "not json", "{}"}) {
    try {
      manifest_from_json(text);
      ADD_FAILURE() << "accepted " << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::kUsage) << text;
    }
  }
}

}  // namespace
}  // namespace vpipe::segments
