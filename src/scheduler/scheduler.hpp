// The scheduler: the parent process of a run.
//
// It starts decode, which opens the input, and encode and the workers while it does (forks of
// this process while it has one thread, else fork+exec of this binary); checks the whole run
// (make_plan) before any of them touches shared memory; lays out the shared segment; and
// supervises them: it reaps them as they exit, turns the first failure into one error line,
// and handles signals (first SIGINT/SIGTERM/SIGHUP: stop reading and drain, so the output is
// finished and playable; second: abort at once). Stages talk only through the segment; the
// scheduler is the only one that knows the graph.
#pragma once

#include <csignal>

#include "scheduler/options.hpp"

namespace vpipe::scheduler {

// The signals that stop a run: Ctrl-C, kill/timeout/systemd/docker stop, a closed terminal.
// The first drains the run, a second aborts it. Stages ignore them: the scheduler acts for them.
inline constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};

// Runs (or, with dry_run, only plans) a pipeline. Returns the process exit code.
int run(const RunOptions& options);

// Entry point of a stage process (argv as built by the scheduler).
int stage_main(int argc, char** argv);

}  // namespace vpipe::scheduler
