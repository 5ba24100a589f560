// CPU plan: which CPUs each stage process runs on.
//
// plan_cpus() is a pure function of a Topology (read from hwloc by read_topology(), or built by
// hand in tests), so the policy is unit-tested as a decision table.
//
// Policy (--affinity auto):
//  - Cores are taken from the NUMA node with the most cores first, so a run stays on one node
//    when it fits. Each core brings all its PUs, so SMT siblings stay with their core.
//  - With at least one core per process: each transform worker gets a core of its own, and
//    decode and encode may use every core (their share of the work changes with the job;
//    backpressure balances them, where a fixed split left cores idle). The encoder runs a
//    thread per CPU; the decoder its share of the job's work (plan/thread_budget.hpp).
//  - With fewer cores than processes: every stage may use every core. A fixed split of too
//    few cores starves whichever stage is busiest (measured on 2 cores: decode alone on one
//    core reached 0.7x of the shared plan's decode rate); the kernel balances them better. The
//    plan says that stages share, and thread budgets follow the CPU sets.
// --affinity none leaves every stage unpinned; an explicit plan ("decode=0;xform=1-3;encode=4")
// pins each named stage to the CPUs given (xform applies to every worker, xform-N to one).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vpipe::affinity {

struct Core {
  int numa_node = 0;
  std::vector<int> pus;  // OS CPU numbers of this core's hardware threads
};

struct Topology {
  std::vector<Core> cores;
  // The cgroup's memory limit (memory.max, the tightest up the hierarchy; v1's
  // memory.limit_in_bytes), 0 when there is none: the run's pool and processes must fit in it.
  std::uint64_t memory_limit_bytes = 0;
  // Why there are fewer cores than the binding gives ("the cgroup's CPU quota of 0.5 CPUs allows
  // 1 of 2 cores"), for the plan's note; empty when nothing was cut.
  std::string limit_note;
  [[nodiscard]] int nb_pus() const;
};

enum class AffinityMode { kNone, kAuto, kExplicit };

struct StageCpus {
  std::string stage;      // "decode", "xform-0", ..., "encode", "encode-1", ...
  std::vector<int> cpus;  // empty: not pinned
};

struct CpuPlan {
  std::vector<StageCpus> stages;  // decode, xform-0..N-1, encode, encode-1..
  bool shared = false;            // more processes than cores
  std::string note;               // one line for --dry-run and the log
};

// The cores of this machine that this process may use: those of its CPU binding (taskset, Slurm's
// task affinity), no more of them than its cgroup's CPU quota allows (docker --cpus, a Kubernetes
// limit: a quota of Q CPUs keeps the first ceil(Q) cores).
Topology read_topology();

// cgroup "cpu.max" text ("200000 100000" -> 2.0 CPUs; "max 100000" -> none).
std::optional<double> parse_cpu_max(const std::string& text);
// This process's CPU quota in CPUs (the tightest of its cgroup and its parents), if any.
std::optional<double> cgroup_cpu_quota();
// cgroup "memory.max" text ("536870912" -> bytes; "max" -> none).
std::optional<std::uint64_t> parse_memory_max(const std::string& text);
// This process's memory limit in bytes (the tightest of its cgroup and its parents), if any.
std::optional<std::uint64_t> cgroup_memory_limit();
// `topo` keeping at most ceil(quota) cores (at least one); all of it without a quota.
Topology limit_to_quota(Topology topo, std::optional<double> quota_cpus);

// Workers used when the user does not say: every core not needed by decode and encode.
int default_workers(const Topology& topo);
// The same for a chain: one worker when there is no filter (it only hands frames on).
int default_workers(const Topology& topo, bool has_filters);

// `nb_outputs`: with several, each later output's encoder ("encode-1", ...) has encode's CPUs.
CpuPlan plan_cpus(const Topology& topo, int nb_workers, AffinityMode mode, int nb_outputs = 1);

// An explicit plan from "stage=cpus;..." text. Throws vpipe::Error (kUsage) for unknown stages,
// malformed lists, or CPUs this process may not use. Stages not named run anywhere.
// "encode" pins encode and every later output's encoder; "encode-N" one of those.
CpuPlan plan_explicit(const Topology& topo, int nb_workers, const std::string& spec,
                      int nb_outputs = 1);

// "0-3,8" -> {0,1,2,3,8}. Throws vpipe::Error (kUsage).
std::vector<int> parse_cpus(const std::string& text);

// "0-3,8" style text for a CPU list.
std::string format_cpus(const std::vector<int>& cpus);

}  // namespace vpipe::affinity
