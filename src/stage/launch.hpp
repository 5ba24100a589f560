// The stage launch protocol: how the supervisor starts a stage process, and what the stage reads
// from it. Both ends are written here, so they cannot disagree.
//
// Arguments (a fork of the supervisor runs stage_main with them; a restart execs
// /proc/self/exe with them):
//
//   vpipe:NAME __stage ROLE INDEX SEGMENT_FD PARENT_PID [START_FD | REQUEST_FD REPLY_FD]
//
//   NAME        the stage's name (StageId::name): what ps and top show
//   ROLE INDEX  the StageId ("decode 0", "xform 3", "encode 0"; "encode 2": the third output's
//               encoder)
//   SEGMENT_FD  the run segment's memfd, inherited; laid out only once the stage is told "go"
//   PARENT_PID  the supervisor: a stage that finds another parent exits (it died meanwhile)
//   START_FD    encode and the workers started while decode opens the input: one byte means
//               "go"; end of file means the run was not planned, and the stage exits 0
//   REQUEST_FD REPLY_FD   decode's open handshake (below)
//   neither     a restarted worker: the segment is laid out already
//
// Decode's open handshake, one line each way on two pipes: decode opens the input before the
// run's sizes exist (they depend on it) and keeps it open, since a stream, a camera or stdin
// cannot be opened twice.
//
//   supervisor -> decode   OpenRequest::to_line(): what to open, threads, CPUs, logging
//   decode -> supervisor   open_reply_line(info) or open_error_line(error)
//   supervisor -> decode   kGo once the segment is laid out; end of file: the run was not
//                          planned, and decode exits 0
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/stage_id.hpp"
#include "decode/decoder.hpp"

namespace vpipe::stage {

inline constexpr std::string_view kStageCommand = "__stage";  // argv[1] of a stage process
inline constexpr std::string_view kGo = "go";

struct LaunchArgs {
  StageId id;
  int segment_fd = -1;
  pid_t parent = 0;
  int start_fd = -1;    // >= 0: wait for one byte first
  int request_fd = -1;  // >= 0 (with reply_fd): decode's open handshake
  int reply_fd = -1;

  // The argument list, argv[0] ("vpipe:NAME") included.
  [[nodiscard]] std::vector<std::string> to_argv() const;
  // The inverse of to_argv; nullopt when `argv` is not a stage launch.
  static std::optional<LaunchArgs> parse(int argc, const char* const* argv);
};

// True when a process was started as a stage (argv[1] is kStageCommand).
bool is_stage_launch(int argc, const char* const* argv);

struct OpenRequest {
  std::string input;
  decode::OpenSettings open;
  std::vector<int> cpus;
  std::string log_level;
  std::string log_file;

  [[nodiscard]] std::string to_line() const;
  static OpenRequest from_line(const std::string& line);  // throws on a malformed line
};

std::string open_reply_line(const decode::InputInfo& info);
std::string open_error_line(const Error& error);
// Decode's answer: the input's description, or its error thrown again as a vpipe::Error.
decode::InputInfo parse_open_reply(const std::string& line);

}  // namespace vpipe::stage
