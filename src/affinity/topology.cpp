// Reads the machine's cores from hwloc, limited to the CPUs this process may use: its CPU binding
// (taskset, Slurm's task affinity, a segment job's set) and its cgroup's CPU quota (docker --cpus,
// a Kubernetes CPU limit).
#include <hwloc.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "affinity/cpu_plan.hpp"

namespace vpipe::affinity {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The cgroup v2 path of this process ("0::/PATH" in /proc/self/cgroup), or "" under cgroup v1.
std::string own_cgroup_v2() {
  std::istringstream lines(read_file("/proc/self/cgroup"));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  }
  return "";
}

// This process's cgroup v1 path for `controller` ("4:memory:/PATH", "2:cpu,cpuacct:/PATH" in
// /proc/self/cgroup), or "" where it has none.
std::string own_cgroup_v1(const std::string& controller) {
  std::istringstream lines(read_file("/proc/self/cgroup"));
  for (std::string line; std::getline(lines, line);) {
    const auto first = line.find(':');
    const auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    std::istringstream names(line.substr(first + 1, second - first - 1));
    for (std::string name; std::getline(names, name, ',');) {
      if (name == controller) return line.substr(second + 1);
    }
  }
  return "";
}

template <class T>
void keep_lowest(std::optional<T>& lowest, std::optional<T> value) {
  if (value && (!lowest || *lowest > *value)) lowest = value;
}

// A cgroup v2 limit: the tightest of `file` (as `parse` reads it) in this process's cgroup and
// each of its parents up to the root.
template <class T>
std::optional<T> tightest_in_cgroup_v2(const std::string& file,
                                       std::optional<T> (*parse)(const std::string&)) {
  std::optional<T> lowest;
  std::string path = own_cgroup_v2();
  if (path.empty()) return lowest;
  for (;;) {
    keep_lowest(lowest, parse(read_file("/sys/fs/cgroup" + path + "/" + file)));
    if (path.empty() || path == "/") break;
    path = path.substr(0, path.find_last_of('/'));
  }
  return lowest;
}

// A cgroup v1 limit: the tightest that `read_at` finds in this process's cgroup of `controller`
// (mounted at /sys/fs/cgroup/CONTROLLER) and each of its parents up to the mount's root. A
// container's mount is its own cgroup: the paths below it do not exist there, and the root's
// file holds its limit.
template <class T>
std::optional<T> tightest_in_cgroup_v1(
    const std::string& controller,
    const std::function<std::optional<T>(const std::string&)>& read_at) {
  std::optional<T> lowest;
  const std::string mount = "/sys/fs/cgroup/" + controller;
  std::string path = own_cgroup_v1(controller);
  for (;;) {
    keep_lowest(lowest, read_at(mount + (path == "/" ? "" : path)));
    if (path.empty() || path == "/") break;
    path = path.substr(0, path.find_last_of('/'));
  }
  return lowest;
}

}  // namespace

std::optional<double> parse_cpu_max(const std::string& text) {
  std::istringstream in(text);
  std::string quota;
  double period = 0;
  if (!(in >> quota >> period) || quota == "max" || period <= 0) return std::nullopt;
  try {
    const double q = std::stod(quota);
    if (q <= 0) return std::nullopt;
    return q / period;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<double> cgroup_cpu_quota() {
  std::optional<double> lowest = tightest_in_cgroup_v2("cpu.max", parse_cpu_max);
  // cgroup v1: cpu.cfs_quota_us / cpu.cfs_period_us of the cpu controller.
  keep_lowest(lowest, tightest_in_cgroup_v1<double>("cpu", [](const std::string& dir) {
                const std::string quota = read_file(dir + "/cpu.cfs_quota_us");
                const std::string period = read_file(dir + "/cpu.cfs_period_us");
                if (quota.empty() || period.empty() || quota.rfind("-1", 0) == 0)
                  return std::optional<double>();
                return parse_cpu_max(quota + " " + period);
              }));
  return lowest;
}

std::optional<std::uint64_t> parse_memory_max(const std::string& text) {
  std::istringstream in(text);
  std::string value;
  if (!(in >> value) || value == "max") return std::nullopt;
  try {
    std::size_t used = 0;
    const unsigned long long bytes = std::stoull(value, &used);
    // cgroup v1 says "no limit" with a huge number (LONG_MAX rounded to pages).
    if (used != value.size() || bytes == 0 || bytes >= (1ULL << 62)) return std::nullopt;
    return bytes;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<std::uint64_t> cgroup_memory_limit() {
  std::optional<std::uint64_t> lowest = tightest_in_cgroup_v2("memory.max", parse_memory_max);
  keep_lowest(lowest, tightest_in_cgroup_v1<std::uint64_t>("memory", [](const std::string& dir) {
                return parse_memory_max(read_file(dir + "/memory.limit_in_bytes"));
              }));
  return lowest;
}

Topology limit_to_quota(Topology topo, std::optional<double> quota_cpus) {
  if (!quota_cpus) return topo;
  // Whole cores, rounded up (a 1.5-CPU quota plans on 2): the quota bounds CPU time, not which
  // CPUs, so the plan only needs as many processes' worth of cores as the time allows.
  const auto cores = static_cast<std::size_t>(std::max(1.0, std::ceil(*quota_cpus - 1e-9)));
  if (topo.cores.size() > cores) {
    char quota[32];
    std::snprintf(quota, sizeof quota, "%g", *quota_cpus);
    topo.limit_note = "the cgroup's CPU quota of " + std::string(quota) + " CPUs allows " +
                      std::to_string(cores) + " of " + std::to_string(topo.cores.size()) + " cores";
    topo.cores.resize(cores);
  }
  return topo;
}

Topology read_topology() {
  Topology topo;
  hwloc_topology_t raw = nullptr;
  if (hwloc_topology_init(&raw) != 0) return topo;
  std::unique_ptr<hwloc_topology, decltype(&hwloc_topology_destroy)> t(raw, hwloc_topology_destroy);
  // Only the PUs this process is bound to (the binding is read from this system).
  hwloc_topology_set_flags(
      t.get(), HWLOC_TOPOLOGY_FLAG_IS_THISSYSTEM | HWLOC_TOPOLOGY_FLAG_RESTRICT_TO_CPUBINDING);
  if (hwloc_topology_load(t.get()) != 0) return topo;
  const int nb_cores = hwloc_get_nbobjs_by_type(t.get(), HWLOC_OBJ_CORE);
  for (int i = 0; i < nb_cores; ++i) {
    hwloc_obj_t core = hwloc_get_obj_by_type(t.get(), HWLOC_OBJ_CORE, i);
    Core c;
    if (core->nodeset != nullptr) c.numa_node = std::max(0, hwloc_bitmap_first(core->nodeset));
    unsigned pu = 0;
    hwloc_bitmap_foreach_begin(pu, core->cpuset) {
      c.pus.push_back(static_cast<int>(pu));
    }
    hwloc_bitmap_foreach_end();
    if (!c.pus.empty()) topo.cores.push_back(std::move(c));
  }
  topo.memory_limit_bytes = cgroup_memory_limit().value_or(0);
  return limit_to_quota(std::move(topo), cgroup_cpu_quota());
}

}  // namespace vpipe::affinity
