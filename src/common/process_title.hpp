// The title ps, top and htop show for a process (/proc/PID/cmdline). A stage that runs as a fork
// of the scheduler would show the scheduler's command line; it writes its name over it instead,
// within the room those arguments take (as daemons' setproctitle does).
#pragma once

#include <string>

namespace vpipe {

// main(): where the arguments lie.
void remember_args(int argc, char** argv);
// Replaces the arguments with `title` (cut to the room there is).
void set_process_title(const std::string& title);

}  // namespace vpipe
