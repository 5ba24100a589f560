// RunPlan: everything decided before any stage starts, checked in full first (a bad input,
// filter, codec or output fails here, in the parent, before a process or segment exists).
// The scheduler serialises it as JSON into the run segment; every stage reads it from there.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "affinity/cpu_plan.hpp"
#include "decode/decoder.hpp"
#include "encode/encoder.hpp"
#include "scheduler/options.hpp"
#include "transform/picture.hpp"

namespace vpipe::scheduler {

struct RunPlan {
  std::string input;  // as the user gave it
  decode::InputInfo input_info;
  std::string vf;                          // canonical chain text
  std::vector<transform::Geometry> steps;  // input, then after each filter
  bool needs_spare = false;
  bool null_output = false;
  bool copy_audio = false;
  std::string audio_note;  // what happens to the input's audio, for the plan and the log
  encode::EncoderSettings encoder;
  int nb_workers = 1;
  std::uint32_t window = 0;
  std::uint32_t batch = 1;
  int max_restarts = 5;  // frames a worker claims per wake-up
  std::uint32_t nb_slots = 0;
  std::uint64_t slot_bytes = 0;
  std::uint64_t segment_bytes = 0;
  affinity::CpuPlan cpus;
  bool quiet = false;
  std::string log_level = "info";
  std::string log_file;

  [[nodiscard]] transform::Geometry output_geometry() const { return steps.back(); }
  [[nodiscard]] const std::vector<int>& cpus_of(const std::string& stage) const;
};

// Probes the input, parses the chain, checks the encoder and output, plans CPUs and memory.
// Throws vpipe::Error with the one-line reason.
RunPlan make_plan(const RunOptions& options, const affinity::Topology& topology);

std::string to_json(const RunPlan& plan);
RunPlan plan_from_json(std::string_view json);

// The human-readable plan printed by --dry-run.
std::string describe(const RunPlan& plan);

}  // namespace vpipe::scheduler
