// The supervisor (the scheduler of the design notes): the parent process of a run, `vpipe run`.
//
// Start-up: it plans workers and CPUs (plan::plan_stages), then starts decode, which opens the
// input once (a stream, a camera or stdin cannot be opened twice) and answers with the input's
// description or its one-line error (stage/launch.hpp). Encode and the workers start meanwhile
// and wait for "go". The supervisor finishes the plan from decode's answer (plan::make_plan:
// every step's geometry, the encoder, container and output path, audio, memory), so a bad
// input, filter or flag fails before any shared memory is laid out; then it lays out the run
// segment (an empty memfd the stages already inherited) and says "go".
//
// Processes: while the supervisor has one thread, a stage is a plain fork that runs its stage
// at once (loading the binary and its 150 libraries again cost each stage about 30 ms of CPU
// before its first frame); the child closes what exec would have and inherits no thread and so
// no held lock. A worker restarted later, when the metrics server's thread may run, is a fresh
// fork+exec of /proc/self/exe instead. Stages die with the supervisor (PR_SET_PDEATHSIG), name
// themselves vpipe:decode, vpipe:xform-N, vpipe:encode, and pin themselves to their CPU set.
//
// Supervision: it waits on SIGCHLD and the stop signals (SIGINT, SIGTERM, SIGHUP; the stages
// ignore those) with sigtimedwait.
//  - A worker killed by a signal: RunSegment::reclaim gives back what it held (frames it had
//    taken go back to the head of the decoded ring, untouched; spares return to the pool; an
//    end-of-stream marker it took goes back) and a new worker starts on the same CPUs. A frame
//    whose result already reached encode is not redone.
//  - Decode killed: the supervisor ends the stream on its behalf (shm/end_of_stream.hpp), so
//    the frames already decoded make a finished output.
//  - Any other failure: the failing stage records its one-line reason in the control block;
//    the supervisor raises the abort flag, gives the others 2 s, SIGKILLs them, and prints it.
//  - A stage silent past --hang-timeout is killed (decode and encode only when their CPU time
//    stands still too).
//  - The first stop signal sets stop_input: decode stops reading and the pipeline drains to a
//    playable file (exit 255); a second aborts at once (exit 130).
// Stages talk only through the segment; only the supervisor knows the whole graph.
#pragma once

#include "plan/options.hpp"

namespace vpipe::supervisor {

// Runs (or, with dry_run, only plans) a pipeline. Returns the process exit code.
int run(const plan::RunOptions& options);

}  // namespace vpipe::supervisor
