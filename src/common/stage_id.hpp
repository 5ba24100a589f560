// Which stage a process is: decode, one of the transform workers, encode, or the encoder of a
// later output in a process of its own. Its name ("decode", "xform-3", "encode", "encode-1") is
// what ps, the logs, the CPU plan, progress and the stats JSON
// show; its stats slot is where it counts in the run's control block (shm::ControlBlock::stages).
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

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
  // A transform worker's number, from 0; for encode, the output it encodes (0: -o's first, in
  // the encode stage; 1..: a later output's encoder in a process of its own); 0 for decode.
  int worker = 0;

  static constexpr StageId decode() { return {StageRole::kDecode, 0}; }
  static constexpr StageId encode() { return {StageRole::kEncode, 0}; }
  static constexpr StageId transform_worker(int index) { return {StageRole::kWorker, index}; }
  static constexpr StageId output_encoder(int output) { return {StageRole::kEncode, output}; }

  // Its slot in the control block's stage stats: decode 0, encode 1, worker i at 2 + i, a later
  // output's encoder after the most workers there can be.
  static constexpr int kFirstWorkerSlot = 2;
  static constexpr int kMaxWorkers = 64;
  [[nodiscard]] constexpr int stats_slot() const {
    switch (role) {
      case StageRole::kDecode:
        return 0;
      case StageRole::kEncode:
        return worker == 0 ? 1 : kFirstWorkerSlot + kMaxWorkers + worker - 1;
      case StageRole::kWorker:
        return kFirstWorkerSlot + worker;
    }
    return 0;
  }
  // A later output's encoder, in a process of its own.
  [[nodiscard]] constexpr bool output_encoder() const {
    return role == StageRole::kEncode && worker > 0;
  }

  [[nodiscard]] std::string name() const {
    if (role == StageRole::kWorker) return "xform-" + std::to_string(worker);
    if (output_encoder()) return "encode-" + std::to_string(worker);
    return std::string(role_name(role));
  }
  // The inverse of name(); nullopt for anything else.
  static std::optional<StageId> parse(std::string_view name) {
    if (const auto role = role_from_name(name); role && *role != StageRole::kWorker)
      return StageId{*role, 0};
    for (const auto& [prefix, role, first] :
         {std::tuple{std::string_view("xform-"), StageRole::kWorker, 0},
          std::tuple{std::string_view("encode-"), StageRole::kEncode, 1}}) {
      if (!name.starts_with(prefix)) continue;
      const std::string_view digits = name.substr(prefix.size());
      int index = -1;
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
      if (ec != std::errc() || end != digits.data() + digits.size() || index < first ||
          digits.empty())
        return std::nullopt;
      return StageId{role, index};
    }
    return std::nullopt;
  }

  friend constexpr bool operator==(StageId, StageId) = default;
};

}  // namespace vpipe
