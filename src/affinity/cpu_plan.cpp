#include "affinity/cpu_plan.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <string>

#include "common/error.hpp"

namespace vpipe::affinity {
namespace {

// Cores ordered so that the largest NUMA node comes first.
std::vector<Core> ordered_cores(const Topology& topo) {
  std::map<int, int> per_node;
  for (const Core& c : topo.cores) ++per_node[c.numa_node];
  std::vector<Core> cores = topo.cores;
  std::stable_sort(cores.begin(), cores.end(), [&](const Core& a, const Core& b) {
    if (per_node[a.numa_node] != per_node[b.numa_node])
      return per_node[a.numa_node] > per_node[b.numa_node];
    return a.numa_node < b.numa_node;
  });
  return cores;
}

std::vector<int> pus_of(const std::vector<Core>& cores, std::size_t first, std::size_t count) {
  std::vector<int> pus;
  for (std::size_t i = first; i < first + count && i < cores.size(); ++i) {
    pus.insert(pus.end(), cores[i].pus.begin(), cores[i].pus.end());
  }
  std::sort(pus.begin(), pus.end());
  return pus;
}

}  // namespace

int Topology::nb_pus() const {
  int n = 0;
  for (const Core& c : cores) n += static_cast<int>(c.pus.size());
  return n;
}

int default_workers(const Topology& topo) {
  return std::max(1, static_cast<int>(topo.cores.size()) - 2);
}

int default_workers(const Topology& topo, bool has_filters) {
  return has_filters ? default_workers(topo) : 1;
}

namespace {

// decode, the workers and encode.
CpuPlan plan_stage_cpus(const Topology& topo, int nb_workers, AffinityMode mode) {
  CpuPlan plan;
  std::vector<std::string> names{"decode"};
  for (int i = 0; i < nb_workers; ++i) names.push_back("xform-" + std::to_string(i));
  names.push_back("encode");
  const std::size_t nb_cores = topo.cores.size();
  const std::size_t nb_procs = names.size();

  if (mode == AffinityMode::kNone || nb_cores == 0) {
    for (const auto& n : names) plan.stages.push_back({n, {}});
    plan.note = "affinity none: stages run on any CPU";
    return plan;
  }
  const std::vector<Core> cores = ordered_cores(topo);
  if (nb_cores >= nb_procs) {
    // Each worker on a core of its own; decode and encode on every core, with a thread per core.
    // Their load moves with the job (no filter: all decode and encode; a heavy chain: mostly
    // workers), and backpressure balances them: a fixed split leaves cores idle. Measured on 16
    // cores, scale -> x264: a single core for decode and the rest after 14 workers for encode
    // ran at 0.30x the ffmpeg CLI.
    const std::vector<int> all = pus_of(cores, 0, nb_cores);
    plan.stages.push_back({"decode", all});
    for (int i = 0; i < nb_workers; ++i) plan.stages.push_back({names[1 + i], pus_of(cores, i, 1)});
    plan.stages.push_back({"encode", all});
    plan.note = std::to_string(nb_workers) + (nb_workers == 1 ? " worker" : " workers") +
                " on a core each; decode and encode threads on all " + std::to_string(nb_cores) +
                " cores";
    return plan;
  }
  plan.shared = true;
  const std::vector<int> all = pus_of(cores, 0, nb_cores);
  for (const auto& n : names) plan.stages.push_back({n, all});
  plan.note = std::to_string(nb_procs) + " processes on " + std::to_string(nb_cores) +
              " cores: stages share all cores";
  return plan;
}

}  // namespace

CpuPlan plan_cpus(const Topology& topo, int nb_workers, AffinityMode mode, int nb_outputs) {
  CpuPlan plan = plan_stage_cpus(topo, nb_workers, mode);
  // A later output's encoder is encode's like: on encode's CPUs, its threads as many.
  const std::vector<int> encode = plan.stages.back().cpus;
  for (int k = 1; k < nb_outputs; ++k)
    plan.stages.push_back({"encode-" + std::to_string(k), encode});
  if (plan.shared && nb_outputs > 1) {
    plan.note = std::to_string(plan.stages.size()) + " processes on " +
                std::to_string(topo.cores.size()) + " cores: stages share all cores";
  }
  return plan;
}

std::vector<int> parse_cpus(const std::string& text) {
  std::vector<int> cpus;
  std::size_t pos = 0;
  auto bad = [&] { fail(ExitCode::kUsage, "CPU list '" + text + "' must look like 0-3,8"); };
  auto number = [&](std::size_t& p) {
    int v = 0;
    const auto [end, ec] = std::from_chars(text.data() + p, text.data() + text.size(), v);
    if (ec != std::errc() || end == text.data() + p || v < 0 || v > 4095) bad();
    p = static_cast<std::size_t>(end - text.data());
    return v;
  };
  while (pos < text.size()) {
    const int first = number(pos);
    int last = first;
    if (pos < text.size() && text[pos] == '-') {
      ++pos;
      last = number(pos);
      if (last < first) bad();
    }
    for (int c = first; c <= last; ++c) cpus.push_back(c);
    if (pos < text.size()) {
      if (text[pos] != ',') bad();
      ++pos;
      if (pos == text.size()) bad();
    }
  }
  if (cpus.empty()) bad();
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  return cpus;
}

CpuPlan plan_explicit(const Topology& topo, int nb_workers, const std::string& spec,
                      int nb_outputs) {
  CpuPlan plan = plan_cpus(topo, nb_workers, AffinityMode::kNone, nb_outputs);
  std::vector<int> usable;
  for (const Core& c : topo.cores) usable.insert(usable.end(), c.pus.begin(), c.pus.end());
  std::size_t start = 0;
  while (start <= spec.size()) {
    const auto end = std::min(spec.find(';', start), spec.size());
    const std::string item = spec.substr(start, end - start);
    start = end + 1;
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string::npos)
      fail(ExitCode::kUsage, "--affinity entry '" + item + "' must be stage=cpus");
    const std::string stage = item.substr(0, eq);
    const std::vector<int> cpus = parse_cpus(item.substr(eq + 1));
    for (int cpu : cpus) {
      if (std::find(usable.begin(), usable.end(), cpu) == usable.end()) {
        fail(ExitCode::kUsage, "--affinity: CPU " + std::to_string(cpu) + " for " + stage +
                                   " is not available here (usable: " + format_cpus(usable) + ")");
      }
    }
    bool matched = false;
    for (auto& s : plan.stages) {
      // "xform" names every worker; "encode" encode and every later output's encoder.
      if (s.stage == stage ||
          ((stage == "xform" || stage == "encode") && s.stage.rfind(stage + "-", 0) == 0)) {
        s.cpus = cpus;
        matched = true;
      }
    }
    if (!matched)
      fail(ExitCode::kUsage, "--affinity: no stage '" + stage +
                                 "' (decode, xform, xform-N, encode" +
                                 (nb_outputs > 1 ? ", encode-N" : "") + ")");
  }
  plan.note = "explicit CPU plan: " + spec;
  return plan;
}

std::string format_cpus(const std::vector<int>& cpus) {
  if (cpus.empty()) return "any";
  std::string text;
  std::size_t i = 0;
  while (i < cpus.size()) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!text.empty()) text += ",";
    text += std::to_string(cpus[i]);
    if (j > i) {
      // Appended in two steps: `"-" + std::to_string(...)` trips GCC 12's -Wrestrict at -O3.
      text += '-';
      text += std::to_string(cpus[j]);
    }
    i = j + 1;
  }
  return text;
}

}  // namespace vpipe::affinity
