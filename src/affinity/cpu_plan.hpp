// CPU plan: which CPUs each stage process runs on.
//
// plan_cpus() is a pure function of a Topology (read from hwloc by read_topology(), or built by
// hand in tests), so the policy is unit-tested as a decision table.
//
// Policy (--affinity auto):
//  - Cores are taken from the NUMA node with the most cores first, so a run stays on one node
//    when it fits. Each core brings all its PUs, so SMT siblings stay with their core.
//  - With at least one core per process: decode gets one core, each transform worker one, and
//    encode the rest (the encoder is the usual bottleneck once filters are spread out).
//  - With fewer cores than processes: decode takes the first core; workers and encode share
//    all cores (the kernel balances them better than a fixed split of too few cores); the plan
//    says that stages share.
// --affinity none leaves every stage free to run anywhere.
#pragma once

#include <string>
#include <vector>

namespace vpipe::affinity {

struct Core {
  int numa_node = 0;
  std::vector<int> pus;  // OS CPU numbers of this core's hardware threads
};

struct Topology {
  std::vector<Core> cores;
  [[nodiscard]] int nb_pus() const;
};

enum class AffinityMode { kNone, kAuto };

struct StageCpus {
  std::string stage;      // "decode", "xform-0", ..., "encode"
  std::vector<int> cpus;  // empty: not pinned
};

struct CpuPlan {
  std::vector<StageCpus> stages;  // decode, xform-0..N-1, encode
  bool shared = false;            // more processes than cores
  std::string note;               // one line for --dry-run and the log
};

Topology read_topology();

// Workers used when the user does not say: every core not needed by decode and encode.
int default_workers(const Topology& topo);

CpuPlan plan_cpus(const Topology& topo, int nb_workers, AffinityMode mode);

// "0-3,8" style text for a CPU list.
std::string format_cpus(const std::vector<int>& cpus);

}  // namespace vpipe::affinity
