// The start of a run, before the supervisor takes over: the stop signals blocked, decode
// started to open the input (the supervisor's side of the open handshake, stage/launch.hpp),
// and encode and the workers started meanwhile, each waiting for "go" until the segment is
// laid out.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <vector>

#include "common/stage_id.hpp"
#include "decode/decoder.hpp"
#include "plan/run_plan.hpp"

namespace vpipe::supervisor {

// A stage process already started, handed to the supervisor.
struct StartedStage {
  StageId id;
  pid_t pid = -1;
};

// Blocks the signals the supervisor takes synchronously; children get the original mask back.
class SignalBlock {
 public:
  SignalBlock();
  ~SignalBlock();
  SignalBlock(const SignalBlock&) = delete;
  SignalBlock& operator=(const SignalBlock&) = delete;
  [[nodiscard]] const sigset_t& original() const { return original_; }

 private:
  sigset_t original_;
};

// Decode, started before the run is planned: it opens the input (once: a stream, a camera or
// stdin cannot be opened twice), answers with what it found, and waits for "go". Destroyed
// before go(), it ends decode (planning failed).
class DecodeLauncher {
 public:
  // Decode's stderr is `stage_stderr` (a StderrRelay's child end).
  DecodeLauncher(const plan::RunPlan& stages, int segment_fd, const sigset_t& original_mask,
                 int stage_stderr);
  ~DecodeLauncher();
  DecodeLauncher(const DecodeLauncher&) = delete;
  DecodeLauncher& operator=(const DecodeLauncher&) = delete;

  // Decode's description of the input, or its one-line error as a vpipe::Error. A first
  // SIGINT/SIGTERM stops the wait (a live source may take long to start sending).
  decode::InputInfo wait_for_input();
  // The segment is laid out: decode attaches and starts. The supervisor owns it from here.
  pid_t go();

 private:
  pid_t pid_ = -1;
  int request_fd_ = -1;
  int reply_fd_ = -1;
};

// Encode and the workers, started while decode opens the input, so that their start-up (loading
// the binary and its libraries, about 0.15 s here) overlaps decode's instead of following it.
// Each waits for one byte on the start pipe before it attaches the segment; closing the pipe
// unsent (planning failed, or a signal) makes them exit quietly.
class Prestarted {
 public:
  // Their stderr is `stage_stderr` (a StderrRelay's child end).
  Prestarted(const plan::RunPlan& stages, int segment_fd, const sigset_t& original_mask,
             int stage_stderr);
  ~Prestarted();
  Prestarted(const Prestarted&) = delete;
  Prestarted& operator=(const Prestarted&) = delete;

  // The segment is laid out: one byte each, and the supervisor owns them from here.
  std::vector<StartedStage> go();

 private:
  int write_fd_ = -1;
  std::vector<StartedStage> started_;
};

}  // namespace vpipe::supervisor
