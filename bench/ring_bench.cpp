// ring_bench: what moving a frame between stages costs, measured on the real src/shm_ring code.
//
// Only transport is measured: slots are pre-faulted (populate_slots) and no pixel is written,
// so the numbers are the floor under any pipeline, whatever its codecs and filters do.
//
// | benchmark                 | processes | what one iteration is |
// |---------------------------|-----------|--------------------------------------------------------|
// | IndexRing_PushPop/batch   | 1         | `batch` pushes then `batch` pops of a bare IndexRing |
// | FrameRing_SlotCycle       | 1         | acquire, push, pop, release of one Slot | |
// CrossProcess_PingPong     | 2         | a slot to a child on one ring and back on the other    |
// | CrossProcess_1080p        | 2         | one 1080p frame: producer (this process) -> consumer |
// | CrossProcess_1080pChain   | 3         | one 1080p frame: decode (this) -> transform -> encode |
//
// Stage processes are forked and attach the segment from a dup of its memfd, as real stages do.
// Each waits with a bound and dies with this process (PR_SET_PDEATHSIG), and every run ends by
// sending the in-band end-of-stream marker and reaping them, so nothing outlives a benchmark.
#include <benchmark/benchmark.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <thread>
#include <vector>

#include "shm/run_segment.hpp"

namespace vpipe::shm {
namespace {

using namespace std::chrono_literals;

// A wait this long means a peer is stuck: the benchmark fails instead of hanging.
constexpr auto kPeerTimeout = 5s;
// I420 1080p, rounded up to whole pages.
constexpr std::uint64_t k1080pSlotBytes = (1920 * 1080 * 3 / 2 + 4095) / 4096 * 4096;
// The default pool of a one-worker run: a window of 8 frames in flight.
constexpr std::uint32_t kPoolSlots = 8;
// Stage statistics rows the benchmark's children use; `pid` doubles as their "attached" flag.
constexpr int kFirstChildStage = 1;

SegmentSpec spec_for(std::uint64_t slot_bytes) {
  return {kPoolSlots, slot_bytes, kPoolSlots, 1, "{}"};
}

// What a forked stage does: moves every frame from `in` to `out` (a relay), or releases it when
// there is no `out` (a sink). The end-of-stream marker is forwarded, then the stage exits.
enum class StageKind { kRelay, kSink };

int run_stage(RunSegment& mine, StageKind kind, bool in_is_decoded, StageStats& stats) {
  FrameRing in = in_is_decoded ? mine.decoded_ring(&stats) : mine.filtered_ring(&stats);
  FrameRing out = mine.filtered_ring();
  for (;;) {
    auto item = in.pop_for(kPeerTimeout);
    if (!item) return 3;
    if (item->end_of_stream()) {
      if (kind == StageKind::kRelay && !out.push_end_of_stream_for(kPeerTimeout)) return 4;
      return 0;
    }
    if (kind == StageKind::kRelay && !out.push_for(item->slot, kPeerTimeout)) return 5;
  }
}

// The forked stage processes of one benchmark run. Destroying it without join() kills them.
class Stages {
 public:
  explicit Stages(RunSegment& seg) : seg_(seg) {}
  Stages(const Stages&) = delete;
  Stages& operator=(const Stages&) = delete;
  ~Stages() {
    for (const pid_t pid : pids_) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }

  // False when the fork failed.
  bool spawn(StageKind kind, bool in_is_decoded) {
    const int stage = kFirstChildStage + static_cast<int>(pids_.size());
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
      // Never return into the benchmark library: every path out of the child is _exit.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(2);
      try {
        RunSegment mine = RunSegment::attach(dup(seg_.fd()));
        StageStats& stats = mine.control().stages[stage];
        stats.pid.store(getpid(), std::memory_order_release);
        _exit(run_stage(mine, kind, in_is_decoded, stats));
      } catch (...) {
        _exit(6);
      }
    }
    pids_.push_back(pid);
    return true;
  }

  // Waits until every stage has mapped the segment, so start-up stays out of the timing.
  bool wait_attached() {
    const auto deadline = std::chrono::steady_clock::now() + kPeerTimeout;
    for (std::size_t i = 0; i < pids_.size(); ++i) {
      auto& pid = seg_.control().stages[kFirstChildStage + static_cast<int>(i)].pid;
      while (pid.load(std::memory_order_acquire) == 0) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(100us);
      }
    }
    return true;
  }

  // Reaps every stage (after the end-of-stream marker went out); true when all exited with 0.
  // A stage still running after the timeout is killed by the destructor.
  bool join() {
    bool all_ok = true;
    const auto deadline = std::chrono::steady_clock::now() + kPeerTimeout;
    while (!pids_.empty()) {
      int status = 0;
      const pid_t done = waitpid(pids_.back(), &status, WNOHANG);
      if (done == 0) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(100us);
        continue;
      }
      all_ok &= done == pids_.back() && WIFEXITED(status) && WEXITSTATUS(status) == 0;
      pids_.pop_back();
    }
    return all_ok;
  }

 private:
  RunSegment& seg_;
  std::vector<pid_t> pids_;
};

// Confines this process, and the stages it forks meanwhile, to its first `nb_cpus` allowed CPUs;
// 0 leaves the affinity alone. The previous mask comes back on destruction.
class CpuLimit {
 public:
  explicit CpuLimit(int nb_cpus) {
    if (nb_cpus <= 0 || sched_getaffinity(0, sizeof(saved_), &saved_) != 0) return;
    cpu_set_t limited;
    CPU_ZERO(&limited);
    for (int cpu = 0, taken = 0; cpu < CPU_SETSIZE && taken < nb_cpus; ++cpu) {
      if (CPU_ISSET(cpu, &saved_)) {
        CPU_SET(cpu, &limited);
        ++taken;
      }
    }
    active_ = sched_setaffinity(0, sizeof(limited), &limited) == 0;
  }
  CpuLimit(const CpuLimit&) = delete;
  CpuLimit& operator=(const CpuLimit&) = delete;
  ~CpuLimit() {
    if (active_) sched_setaffinity(0, sizeof(saved_), &saved_);
  }

 private:
  cpu_set_t saved_{};
  bool active_ = false;
};

void BM_IndexRing_PushPop(benchmark::State& state) {
  const auto batch = static_cast<std::uint32_t>(state.range(0));
  const std::size_t bytes = IndexRing::bytes_for(batch);
  std::unique_ptr<void, void (*)(void*)> memory(
      ::operator new (bytes, std::align_val_t{kCacheLine}),
      [](void* p) { ::operator delete (p, std::align_val_t{kCacheLine}); });
  IndexRing ring = IndexRing::create(memory.get(), batch);
  for (auto _ : state) {
    for (std::uint32_t i = 0; i < batch; ++i) {
      if (!ring.try_push(i)) state.SkipWithError("push failed on a ring with room");
    }
    for (std::uint32_t i = 0; i < batch; ++i) {
      benchmark::DoNotOptimize(ring.try_pop());
    }
  }
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_IndexRing_PushPop)->ArgName("batch")->Arg(1)->Arg(8);

void BM_FrameRing_SlotCycle(benchmark::State& state) {
  RunSegment seg = RunSegment::create(spec_for(4096));
  seg.populate_slots();
  FrameRing ring = seg.decoded_ring(&seg.control().stages[0]);
  for (auto _ : state) {
    auto slot = seg.pool().acquire_for(0ns);  // free ring pop + owner recorded
    if (!slot || !ring.push_for(*slot, 0ns)) {
      state.SkipWithError("a slot was missing from the pool");
      break;
    }
    auto item = ring.try_pop();  // owner recorded again
    benchmark::DoNotOptimize(item);
  }  // the item's Slot goes back to the free ring here
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FrameRing_SlotCycle);

void BM_CrossProcess_PingPong(benchmark::State& state) {
  RunSegment seg = RunSegment::create(spec_for(4096));
  seg.populate_slots();
  Stages stages(seg);
  if (!stages.spawn(StageKind::kRelay, /*in_is_decoded=*/true) || !stages.wait_attached()) {
    state.SkipWithError("the echo process did not start");
    return;
  }
  FrameRing there = seg.decoded_ring();
  FrameRing back = seg.filtered_ring();
  auto slot = seg.pool().acquire_for(0ns);
  for (auto _ : state) {
    if (!slot || !there.push_for(*slot, kPeerTimeout)) {
      state.SkipWithError("the echo process stopped taking slots");
      break;
    }
    auto item = back.pop_for(kPeerTimeout);
    if (!item || item->end_of_stream()) {
      state.SkipWithError("the echo process sent nothing back");
      break;
    }
    slot = std::move(item->slot);
  }
  if (!there.push_end_of_stream_for(kPeerTimeout) || !stages.join()) {
    if (!state.error_occurred()) state.SkipWithError("the echo process did not exit cleanly");
  }
  // Real time per iteration is one round trip; a handoff is half of one.
  state.counters["handoff"] =
      benchmark::Counter(2.0 * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_CrossProcess_PingPong)->UseRealTime()->Unit(benchmark::kMicrosecond);

// Pushes one pre-faulted 1080p frame per iteration into the decode ring, for `nb_stages` forked
// stages to carry on: 1 = a consumer that releases it, 2 = transform relay then encode consumer.
void run_1080p_transport(benchmark::State& state, int nb_stages) {
  const CpuLimit cpu_limit(static_cast<int>(state.range(0)));
  RunSegment seg = RunSegment::create(spec_for(k1080pSlotBytes));
  seg.populate_slots();
  Stages stages(seg);
  bool started = true;
  for (int i = 0; i < nb_stages; ++i) {
    const bool last = i == nb_stages - 1;
    started &= stages.spawn(last ? StageKind::kSink : StageKind::kRelay, /*in_is_decoded=*/i == 0);
  }
  if (!started || !stages.wait_attached()) {
    state.SkipWithError("a stage process did not start");
    return;
  }
  FrameRing out = seg.decoded_ring();
  std::int64_t seq = 0;
  for (auto _ : state) {
    auto slot = seg.pool().acquire_for(kPeerTimeout);
    if (!slot) {
      state.SkipWithError("no slot came back from the consumer");
      break;
    }
    slot->desc().seq = seq++;
    if (!out.push_for(*slot, kPeerTimeout)) {
      state.SkipWithError("the decode ring stayed full");
      break;
    }
  }
  if (!out.push_end_of_stream_for(kPeerTimeout) || !stages.join()) {
    if (!state.error_occurred()) state.SkipWithError("a stage process did not exit cleanly");
  }
  const auto frames = static_cast<double>(state.iterations());
  state.counters["frames"] = benchmark::Counter(frames, benchmark::Counter::kIsRate);
  state.counters["ring_handoffs"] =
      benchmark::Counter(frames * nb_stages, benchmark::Counter::kIsRate);
}

void BM_CrossProcess_1080p(benchmark::State& state) {
  run_1080p_transport(state, 1);
}
BENCHMARK(BM_CrossProcess_1080p)
    ->ArgName("cpus")
    ->Arg(0)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_CrossProcess_1080pChain(benchmark::State& state) {
  run_1080p_transport(state, 2);
}
BENCHMARK(BM_CrossProcess_1080pChain)
    ->ArgName("cpus")
    ->Arg(0)
    ->Arg(2)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace vpipe::shm

BENCHMARK_MAIN();
