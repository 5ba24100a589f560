// Reads the machine's cores from hwloc, limited to the CPUs this process may use.
#include <hwloc.h>

#include <algorithm>
#include <memory>

#include "affinity/cpu_plan.hpp"

namespace vpipe::affinity {

Topology read_topology() {
  Topology topo;
  hwloc_topology_t raw = nullptr;
  if (hwloc_topology_init(&raw) != 0) return topo;
  std::unique_ptr<hwloc_topology, decltype(&hwloc_topology_destroy)> t(raw, hwloc_topology_destroy);
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
  return topo;
}

}  // namespace vpipe::affinity
