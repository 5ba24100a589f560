// Test support: runs the vpipe binary and captures what a user would see.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace vpipe::test {

struct RunResult {
  int exit_code = -1;  // -signal if killed
  std::string err;     // stderr
  std::string out;     // stdout
};

// The vpipe under test: build/vpipe, or $VPIPE_TEST_BINARY when set (the sanitizer run points the
// main build's end-to-end tests at its instrumented vpipe, so only vpipe is built twice).
std::string vpipe_binary();

// Runs build/vpipe with `args`, waits at most `timeout_s` (then SIGKILLs it and fails the test).
RunResult run_vpipe(const std::vector<std::string>& args, int timeout_s = 60);

// Starts build/vpipe in the background; stdout/stderr go to files under `log_prefix`.
pid_t start_vpipe(const std::vector<std::string>& args, const std::string& log_prefix);
// Waits for a started process; returns its exit code (-signal if killed), or -1000 on timeout.
int wait_vpipe(pid_t pid, int timeout_s);

// Pids of live processes whose parent is `parent`.
std::vector<pid_t> children_of(pid_t parent);
// True while `pid` exists and is not a zombie.
bool is_alive(pid_t pid);
// /proc/PID/comm without the newline.
std::string comm_of(pid_t pid);
// The "Cpus_allowed_list" of a process.
std::string cpus_allowed(pid_t pid);
// vpipe processes that map a run segment (memfd:vpipe-run) and did not already when this test
// program started: a run segment that outlived its run.
int processes_holding_run_segments();
// Entries in /dev/shm whose name contains "vpipe".
int dev_shm_vpipe_entries();

// A fresh temporary folder for one test, removed by the caller if it wants.
std::string make_temp_dir();
std::string read_file(const std::string& path);
int count_lines(const std::string& text);

// Runs a shell command (for ffmpeg-made inputs); returns its exit status.
int shell(const std::string& command);

// A UDP or TCP port on 127.0.0.1 that nobody uses right now.
int free_udp_port();
int free_tcp_port();

// Another program (a server a test needs: Prometheus, a Pushgateway), started as start_vpipe
// starts vpipe (its own process group; LOG_PREFIX.out and .err), and stopped by its PID: SIGTERM,
// then SIGKILL after 20 s; returns its exit code as wait_vpipe does.
pid_t start_program(const std::string& program, const std::vector<std::string>& args,
                    const std::string& log_prefix);
int stop_program(pid_t pid);

}  // namespace vpipe::test
