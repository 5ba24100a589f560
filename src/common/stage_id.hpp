// Which stage a process is: decode, one of the transform workers, or encode. Its name
// ("decode", "xform-3", "encode") is what ps, the logs, the CPU plan, progress and the stats JSON
// show; its stats slot is where it counts in the run's control block (shm::ControlBlock::stages).
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vpipe {

enum class StageRole : std::uint8_t { kDecode, kWorker, kEncode };

// "decode", "xform" or "encode": the role as the stage launch arguments and the bench report
// spell it.
constexpr std::string_view role_name(StageRole role) {
  switch (role) {
    case StageRole::kDecode:
      return "decode";
    case StageRole::kWorker:
      return "xform";
    case StageRole::kEncode:
      return "encode";
  }
  return "?";
}

constexpr std::optional<StageRole> role_from_name(std::string_view name) {
  if (name == "decode") return StageRole::kDecode;
  if (name == "xform") return StageRole::kWorker;
  if (name == "encode") return StageRole::kEncode;
  return std::nullopt;
}

struct StageId {
  StageRole role = StageRole::kDecode;
  int worker = 0;  // a transform worker's number, from 0; 0 for decode and encode

  static constexpr StageId decode() { return {StageRole::kDecode, 0}; }
  static constexpr StageId encode() { return {StageRole::kEncode, 0}; }
  static constexpr StageId transform_worker(int index) { return {StageRole::kWorker, index}; }

  // Its slot in the control block's stage stats: decode 0, encode 1, worker i at 2 + i.
  static constexpr int kFirstWorkerSlot = 2;
  [[nodiscard]] constexpr int stats_slot() const {
    switch (role) {
      case StageRole::kDecode:
        return 0;
      case StageRole::kEncode:
        return 1;
      case StageRole::kWorker:
        return kFirstWorkerSlot + worker;
    }
    return 0;
  }

  [[nodiscard]] std::string name() const {
    if (role == StageRole::kWorker) return "xform-" + std::to_string(worker);
    return std::string(role_name(role));
  }
  // The inverse of name(); nullopt for anything else.
  static std::optional<StageId> parse(std::string_view name) {
    if (const auto role = role_from_name(name); role && *role != StageRole::kWorker)
      return StageId{*role, 0};
    constexpr std::string_view kWorkerPrefix = "xform-";
    if (!name.starts_with(kWorkerPrefix)) return std::nullopt;
    const std::string_view digits = name.substr(kWorkerPrefix.size());
    int index = -1;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (ec != std::errc() || end != digits.data() + digits.size() || index < 0 || digits.empty())
      return std::nullopt;
    return transform_worker(index);
  }

  friend constexpr bool operator==(StageId, StageId) = default;
};

}  // namespace vpipe
