// `vpipe`, the command users run: a static program that blocks the stop signals (SIGINT, SIGTERM,
// SIGHUP) at its first instruction and execs the real program, vpipe-core, beside it. A blocked
// signal stays blocked, and pending, across exec, so one that comes while the dynamic loader maps
// vpipe-core's ~150 libraries (about 50 ms) waits for the command to decide what it means
// instead of killing `vpipe run` by its default action with no word (common/signals.hpp).
// Static and libc-only: nothing is loaded before the block. vpipe-core learns which of the stop
// signals were blocked before through VPIPE_STARTUP_BLOCKED, and gives children that mask back.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  (void)argc;
  const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP};  // vpipe::kStopSignals, without C++
  sigset_t stop, before;
  sigemptyset(&stop);
  for (const int sig : stop_signals) sigaddset(&stop, sig);
  sigprocmask(SIG_BLOCK, &stop, &before);

  char blocked[64] = "";
  for (const int sig : stop_signals) {
    if (sigismember(&before, sig) == 1) {
      char one[16];
      snprintf(one, sizeof one, "%s%d", blocked[0] != '\0' ? "," : "", sig);
      strncat(blocked, one, sizeof blocked - strlen(blocked) - 1);
    }
  }
  setenv("VPIPE_STARTUP_BLOCKED", blocked, 1);

  char path[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - sizeof "vpipe-core");
  if (n <= 0) {
    fprintf(stderr, "vpipe: error: cannot find its own program (/proc/self/exe): %s\n",
            strerror(errno));
    return 1;
  }
  path[n] = '\0';
  char* slash = strrchr(path, '/');
  strcpy(slash != nullptr ? slash + 1 : path, "vpipe-core");
  execv(path, argv);
  fprintf(stderr, "vpipe: error: cannot run %s: %s\n", path, strerror(errno));
  return 1;
}
