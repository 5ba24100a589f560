#include "affinity/cpu_plan.hpp"

#include <algorithm>
#include <map>

namespace vpipe::affinity {
namespace {

// Cores ordered so that the largest NUMA node comes first.
std::vector<Core> ordered_cores(const Topology& topo) {
  std::map<int, int> per_node;
  for (const Core& c : topo.cores) ++per_node[c.numa_node];
  std::vector<Core> cores = topo.cores;
  std::stable_sort(cores.begin(), cores.end(), [&](const Core& a, const Core& b) {
    if (per_node[a.numa_node] != per_node[b.numa_node]) return per_node[a.numa_node] > per_node[b.numa_node];
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

CpuPlan plan_cpus(const Topology& topo, int nb_workers, AffinityMode mode) {
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
    plan.stages.push_back({"decode", pus_of(cores, 0, 1)});
    for (int i = 0; i < nb_workers; ++i) plan.stages.push_back({names[1 + i], pus_of(cores, 1 + i, 1)});
    plan.stages.push_back({"encode", pus_of(cores, 1 + nb_workers, nb_cores - 1 - nb_workers)});
    plan.note = std::to_string(nb_procs) + " processes on " + std::to_string(nb_cores) +
                " cores: one core each, encode takes the rest";
    return plan;
  }
  plan.shared = true;
  const std::vector<int> all = pus_of(cores, 0, nb_cores);
  plan.stages.push_back({"decode", pus_of(cores, 0, 1)});
  for (int i = 0; i < nb_workers; ++i) plan.stages.push_back({names[1 + i], all});
  plan.stages.push_back({"encode", all});
  plan.note = std::to_string(nb_procs) + " processes on " + std::to_string(nb_cores) +
              " cores: stages share cores (decode on the first; workers and encode on all)";
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
    if (j > i) text += "-" + std::to_string(cpus[j]);
    i = j + 1;
  }
  return text;
}

}  // namespace vpipe::affinity
