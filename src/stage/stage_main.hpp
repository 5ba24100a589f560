// A stage process's entry point: what `vpipe` runs when the supervisor starts it (a fork of the
// parent, or `vpipe --stage ...` from exec).
#pragma once

namespace vpipe::stage {

// Entry point of a stage process (argv as the supervisor built it). Returns its exit code.
int stage_main(int argc, char** argv);

}  // namespace vpipe::stage
