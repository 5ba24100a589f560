#include "stage/launch.hpp"

#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "plan/run_plan.hpp"

namespace vpipe::stage {
namespace {

std::optional<int> number(const char* text) {
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < 0 || value > 1 << 30) return std::nullopt;
  return static_cast<int>(value);
}

}  // namespace

std::vector<std::string> LaunchArgs::to_argv() const {
  std::vector<std::string> argv{
      "vpipe:" + id.name(),      std::string(kStageCommand), std::string(role_name(id.role)),
      std::to_string(id.worker), std::to_string(segment_fd), std::to_string(parent)};
  if (request_fd >= 0) {
    argv.push_back(std::to_string(request_fd));
    argv.push_back(std::to_string(reply_fd));
  } else if (start_fd >= 0) {
    argv.push_back(std::to_string(start_fd));
  }
  return argv;
}

bool is_stage_launch(int argc, const char* const* argv) {
  return argc > 1 && argv[1] == kStageCommand;
}

std::optional<LaunchArgs> LaunchArgs::parse(int argc, const char* const* argv) {
  if (!is_stage_launch(argc, argv) || argc < 6 || argc > 8) return std::nullopt;
  const auto role = role_from_name(argv[2]);
  const auto index = number(argv[3]);
  const auto segment_fd = number(argv[4]);
  const auto parent = number(argv[5]);
  if (!role || !index || !segment_fd || !parent) return std::nullopt;
  LaunchArgs args;
  args.id = StageId{*role, *role == StageRole::kDecode ? 0 : *index};
  args.segment_fd = *segment_fd;
  args.parent = static_cast<pid_t>(*parent);
  if (argc == 7) {
    const auto start = number(argv[6]);
    if (!start || *role == StageRole::kDecode) return std::nullopt;
    args.start_fd = *start;
  } else if (argc == 8) {
    const auto request = number(argv[6]);
    const auto reply = number(argv[7]);
    if (!request || !reply || *role != StageRole::kDecode) return std::nullopt;
    args.request_fd = *request;
    args.reply_fd = *reply;
  } else if (*role == StageRole::kDecode) {
    return std::nullopt;  // decode always opens the input through the handshake
  }
  return args;
}

std::string OpenRequest::to_line() const {
  return nlohmann::json{{"input", input},
                        {"threads", open.threads},
                        {"input_format", open.format},
                        {"input_timeout_s", open.timeout_s},
                        {"maps", open.maps},
                        {"input_options", open.options},
                        {"cpus", cpus},
                        {"log_level", log_level},
                        {"log_file", log_file}}
      .dump();
}

OpenRequest OpenRequest::from_line(const std::string& line) {
  const nlohmann::json req = nlohmann::json::parse(line);
  OpenRequest r;
  r.input = req.at("input");
  r.open =
      decode::OpenSettings{req.at("threads"), req.at("input_format"), req.at("input_timeout_s"),
                           req.at("maps").get<std::vector<std::string>>(),
                           req.at("input_options").get<std::map<std::string, std::string>>()};
  r.cpus = req.at("cpus").get<std::vector<int>>();
  r.log_level = req.at("log_level");
  r.log_file = req.at("log_file");
  return r;
}

std::string open_reply_line(const decode::InputInfo& info) {
  return nlohmann::json{{"ok", true},
                        {"info", nlohmann::json::parse(plan::input_info_to_json(info))}}
      .dump();
}

std::string open_error_line(const Error& error) {
  return nlohmann::json{
      {"ok", false}, {"code", static_cast<int>(error.code())}, {"error", error.what()}}
      .dump();
}

decode::InputInfo parse_open_reply(const std::string& line) {
  const nlohmann::json answer = nlohmann::json::parse(line);
  if (!answer.at("ok").get<bool>()) {
    fail(static_cast<ExitCode>(answer.at("code").get<int>()),
         answer.at("error").get<std::string>());
  }
  return plan::input_info_from_json(answer.at("info").dump());
}

}  // namespace vpipe::stage
