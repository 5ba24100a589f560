#include "supervisor/policy.hpp"

#include <gtest/gtest.h>
#include <signal.h>

namespace vpipe::supervisor {
namespace {

// waitpid statuses, built as the kernel reports them.
constexpr int exited(int code) {
  return (code & 0xff) << 8;
}
constexpr int killed(int sig) {
  return sig & 0x7f;
}

TEST(StageIdTest, ALaterOutputsEncoderIsNamedAndCountedApart) {
  const StageId sut = StageId::output_encoder(3);
  EXPECT_EQ(sut.name(), "encode-3");
  EXPECT_EQ(StageId::parse("encode-3"), sut);
  EXPECT_EQ(StageId::parse("encode"), StageId::encode());
  EXPECT_FALSE(StageId::parse("encode-0")) << "output 0 is encode itself";
  EXPECT_FALSE(StageId::parse("encode-x"));
  EXPECT_TRUE(sut.output_encoder());
  EXPECT_FALSE(StageId::encode().output_encoder());
  // Its stats after the most workers there can be: never another stage's.
  EXPECT_EQ(StageId::output_encoder(1).stats_slot(),
            StageId::transform_worker(StageId::kMaxWorkers - 1).stats_slot() + 1);
}

TEST(PolicyTest, WhatAStagesEndLeadsTo) {
  struct Row {
    StageId stage;
    int status;
    bool aborting;
    OnExit expected;
  };
  constexpr StageId kWorker = StageId::transform_worker(3), kDecode = StageId::decode(),
                    kEncode = StageId::encode(), kOutput = StageId::output_encoder(2);
  const Row rows[] = {
      {kWorker, exited(0), false, OnExit::kNothing},
      {kDecode, exited(0), false, OnExit::kNothing},
      {kEncode, exited(0), false, OnExit::kNothing},
      {kWorker, killed(SIGKILL), false, OnExit::kRestart},
      {kWorker, killed(SIGSEGV), false, OnExit::kRestart},
      {kWorker, exited(1), false, OnExit::kAbort},  // it reported an error itself
      {kDecode, killed(SIGKILL), false, OnExit::kFinishForDecode},
      {kDecode, exited(3), false, OnExit::kAbort},
      {kEncode, killed(SIGKILL), false, OnExit::kAbort},
      {kEncode, exited(4), false, OnExit::kAbort},
      {kWorker, killed(SIGKILL), true, OnExit::kNothing},  // aborting: no restart
      {kDecode, killed(SIGKILL), true, OnExit::kNothing},
      // A later output's encoder, in a process of its own: the others are finished.
      {kOutput, exited(0), false, OnExit::kNothing},
      {kOutput, killed(SIGKILL), false, OnExit::kFinishOtherOutputs},
      {kOutput, exited(4), false, OnExit::kFinishOtherOutputs},  // e.g. its disk is full
      {kOutput, killed(SIGKILL), true, OnExit::kNothing},
  };
  for (const Row& r : rows) {
    EXPECT_EQ(on_stage_exit(r.stage, r.status, r.aborting), r.expected)
        << r.stage.name() << " status " << r.status << (r.aborting ? " while aborting" : "");
  }
}

TEST(PolicyTest, SilenceIsStuckOnlyPastTheLimitAndForDecodeAndEncodeOnlyWithoutCpu) {
  constexpr std::uint64_t s = 1'000'000'000;
  constexpr std::uint64_t limit = 5 * s;
  struct Row {
    StageRole role;
    std::uint64_t now, beat, cpu_moved;
    bool decode_waits;
    Silence expected;
  };
  const Row rows[] = {
      {StageRole::kWorker, 104 * s, 100 * s, 0, false, Silence::kAlive},
      {StageRole::kWorker, 105 * s, 100 * s, 104 * s, false, Silence::kStuckWorker},
      // Encode busy in one long call: silent, but its CPU clock moves.
      {StageRole::kEncode, 110 * s, 100 * s, 109 * s, false, Silence::kAlive},
      {StageRole::kEncode, 110 * s, 100 * s, 105 * s, false, Silence::kStuckStage},
      {StageRole::kDecode, 110 * s, 100 * s, 100 * s, false, Silence::kStuckStage},
      // --input-timeout 0: decode may wait for its input for ever.
      {StageRole::kDecode, 110 * s, 100 * s, 100 * s, true, Silence::kAlive},
      {StageRole::kDecode, 103 * s, 100 * s, 0, false, Silence::kAlive},
  };
  for (const Row& r : rows) {
    EXPECT_EQ(judge_silence(r.role, r.now, r.beat, r.cpu_moved, limit, r.decode_waits), r.expected)
        << role_name(r.role) << " now " << r.now / s << " beat " << r.beat / s << " cpu "
        << r.cpu_moved / s;
  }
}

TEST(PolicyTest, RestartsLastWhileTheBudgetDoes) {
  EXPECT_TRUE(may_restart(0, 1));
  EXPECT_FALSE(may_restart(1, 1));
  EXPECT_FALSE(may_restart(0, 0));
}

// The transform pool sizing itself between 1 and 8 workers, one window at a time.
TEST(PolicyTest, ThePoolGrowsWhileItsWorkersAreTheBottleneckAndShrinksWhenTheyIdle) {
  struct Row {
    PoolState before;
    double busy;
    std::uint32_t waiting;
    PoolState after;
    const char* why;
  };
  const Row rows[] = {
      {{2, 0, 0}, 0.95, 3, {2, 1, 0}, "one busy window is not enough"},
      {{2, 1, 0}, 0.95, 3, {3, 0, 0}, "two in a row: grows by half, at least one"},
      {{4, 1, 0}, 0.90, 1, {6, 0, 0}, "by half"},
      {{7, 1, 0}, 0.99, 9, {8, 0, 0}, "never past the most"},
      {{8, 1, 0}, 0.99, 9, {8, 2, 0}, "at the most it stays"},
      {{2, 1, 0}, 0.95, 0, {2, 0, 0}, "busy, but no frame waits: another worker would idle"},
      {{2, 1, 0}, 0.70, 3, {2, 0, 0}, "between busy and idle: the counts start again"},
      {{6, 0, 1}, 0.20, 0, {6, 0, 2}, "two idle windows are not enough"},
      {{6, 0, 2}, 0.20, 0, {2, 0, 0}, "three: the count busy 3/4 of the time (6 x 0.2 / 0.75)"},
      {{6, 0, 2}, 0.01, 0, {1, 0, 0}, "never below the fewest"},
      {{1, 0, 2}, 0.01, 0, {1, 0, 3}, "at the fewest it stays"},
      {{6, 2, 0}, 0.40, 0, {6, 0, 1}, "an idle window ends a busy streak"},
  };
  for (const Row& r : rows) {
    EXPECT_EQ(resize_workers(r.before, 1, 8, r.busy, r.waiting), r.after) << r.why;
  }
}

}  // namespace
}  // namespace vpipe::supervisor
