#include "shm/run_segment.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "common/error.hpp"
#include "common/memory.hpp"
#include "shm/credits.hpp"

namespace vpipe::shm {
namespace {
constexpr std::uint64_t kMagic = 0x7670697065534547ULL;  // "vpipeSEG"
constexpr std::uint64_t kPage = 4096;
// Slots start on 2 MiB boundaries when they are large, so transparent huge pages can back them.
constexpr std::uint64_t kHugePage = 2u << 20;

constexpr std::uint64_t align_up(std::uint64_t v, std::uint64_t a) {
  return (v + a - 1) / a * a;
}

std::uint32_t ring_capacity_for(const SegmentSpec& spec) {
  // Room for every slot plus one end-of-stream marker per worker: a push never waits on
  // capacity; the credits semaphore is what bounds the pipeline.
  // Twice the markers: when decode dies, the scheduler ends the stream on its behalf, and the
  // markers decode already pushed may still be queued.
  return spec.nb_slots + 2 * spec.nb_workers + 1;
}

struct Layout {
  std::uint64_t plan, decoded, filtered, free_ring, audio, desc, data, stride, total;
  std::uint64_t outputs[kMaxOutputs];  // 0: no ring
};

Layout layout_for(const SegmentSpec& spec) {
  const std::uint32_t cap = ring_capacity_for(spec);
  const std::uint64_t ring_bytes = align_up(IndexRing::bytes_for(cap), kCacheLine);
  Layout l{};
  l.plan = align_up(sizeof(ControlBlock), kCacheLine);
  l.decoded = align_up(l.plan + spec.plan_json.size() + 1, kCacheLine);
  l.filtered = l.decoded + ring_bytes;
  l.free_ring = l.filtered + ring_bytes;
  l.audio = spec.audio_ring_bytes > 0 ? l.free_ring + ring_bytes : 0;
  std::uint64_t at = l.free_ring + ring_bytes +
                     (spec.audio_ring_bytes > 0
                          ? align_up(PacketRing::bytes_for(spec.audio_ring_bytes), kCacheLine)
                          : 0);
  for (int k = 1; k < kMaxOutputs; ++k) {
    if ((spec.output_rings & (1u << k)) == 0) continue;
    l.outputs[k] = at;
    at += ring_bytes;
  }
  l.desc = at;
  const std::uint64_t slot_align = spec.slot_bytes >= kHugePage ? kHugePage : kPage;
  l.data = align_up(l.desc + sizeof(FrameDesc) * spec.nb_slots, slot_align);
  l.stride = align_up(spec.slot_bytes, slot_align);
  l.total = l.data + l.stride * spec.nb_slots;
  return l;
}

void* map_segment(int fd, std::uint64_t bytes) {
  // Not MAP_POPULATE: a page is allocated when a stage first writes it, and slots are reused
  // last in first out (FramePool::push_free), so the pages of the slots a run never needs at
  // once are never allocated.
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  return base == MAP_FAILED ? nullptr : base;
}

// Allocates the pages of [begin, end) now, as a write would, without changing what they hold.
void populate(std::uint8_t* begin, std::uint64_t bytes) {
  if (madvise(begin, bytes, MADV_POPULATE_WRITE) != 0) {
    // Kernels before 5.14: a write fault per page does the same (the bytes keep their value).
    for (std::uint64_t at = 0; at < bytes; at += kPage) {
      auto* p = reinterpret_cast<volatile std::atomic<std::uint8_t>*>(begin + at);
      p->fetch_add(0, std::memory_order_relaxed);
    }
  }
}
// getpid() is a system call (glibc stopped caching it) and ring claims run per frame; the
// cache is cleared in a forked child.
pid_t current_pid() {
  static std::atomic<pid_t> cached{0};
  static const bool registered = [] {
    pthread_atfork(nullptr, nullptr, [] { cached.store(0, std::memory_order_relaxed); });
    return true;
  }();
  (void)registered;
  pid_t pid = cached.load(std::memory_order_relaxed);
  if (pid == 0) {
    pid = getpid();
    cached.store(pid, std::memory_order_relaxed);
  }
  return pid;
}

}  // namespace

void record_first_error(ControlBlock& control, int exit_code, std::string_view text) noexcept {
  std::uint32_t expected = 0;
  if (!control.error_claimed.compare_exchange_strong(expected, 1)) return;
  control.error_code = exit_code;
  std::snprintf(control.error_text, sizeof(control.error_text), "%.*s",
                static_cast<int>(text.size()), text.data());
}

Slot& Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    reset();
    pool_ = other.pool_;
    index_ = other.index_;
    hold_ = other.hold_;
    other.pool_ = nullptr;
  }
  return *this;
}

FrameDesc& Slot::desc() const {
  return pool_->desc(index_);
}
std::uint8_t* Slot::data() const {
  return pool_->data(index_);
}
std::uint64_t Slot::capacity() const {
  return pool_->control_->slot_bytes;
}

void Slot::reset() {
  (void)release_frame();
}

bool Slot::release_frame() {
  if (pool_ == nullptr) return false;
  FramePool* pool = pool_;
  return pool->release(release_index(), hold_);
}

std::uint32_t Slot::release_index() {
  pool_ = nullptr;
  return index_;
}

FramePool::FramePool(ControlBlock* control, std::uint8_t* base)
    : control_(control),
      base_(base),
      free_ring_(IndexRing::attach(base + control->free_ring_offset)) {}

void FramePool::claim_spare(void* self, std::uint32_t index) {
  auto* pool = static_cast<FramePool*>(self);
  if (index >= pool->control_->nb_slots) std::abort();
  pool->desc(index).role.store(static_cast<std::uint32_t>(SlotRole::kSpare),
                               std::memory_order_relaxed);
  pool->desc(index).owner_pid.store(current_pid(), std::memory_order_relaxed);
  // A spare names no frame until its result is written: reclaim must not mistake a stale seq
  // for a finished frame.
  pool->desc(index).seq = -1;
  pool->desc(index).holds.store(kHoldPipeline, std::memory_order_relaxed);
}

void FramePool::publish_free(void* self, std::uint32_t index) {
  FrameDesc& d = static_cast<FramePool*>(self)->desc(index);
  d.owner_pid.store(0, std::memory_order_relaxed);
  d.role.store(static_cast<std::uint32_t>(SlotRole::kFree), std::memory_order_relaxed);
}

std::optional<Slot> FramePool::acquire_for(std::chrono::nanoseconds timeout) {
  const auto index = free_ring_.pop_for(timeout, &FramePool::claim_spare, this);
  if (!index) return std::nullopt;
  return Slot(this, *index);
}

bool FramePool::release(std::uint32_t index, std::uint32_t hold) {
  if (index >= control_->nb_slots) std::abort();
  // One step, and nothing written after it but the push to the free ring by the last holder
  // (the slot may be free and someone else's by then): killed before it, the slot is still this
  // process's to reclaim; after it, it still names this process, but reclaim leaves a slot only
  // the decoder holds alone. Its stale seq names a frame that is done.
  const std::uint32_t before = desc(index).holds.fetch_and(~hold, std::memory_order_acq_rel);
  const std::uint32_t left = before & ~hold;
  if (left == 0) push_free(index);
  return (left & kFrameHolds) == 0;
}

void FramePool::push_free(std::uint32_t index) {
  // The owner is cleared under the ring's lock as the push commits: a slot is never in no place.
  // The free ring has room for every slot, so this cannot wait; a failure is a double release.
  // At the head, last in first out: the slot freed last is the next one taken, so the few slots
  // a run needs at once stay warm in the caches, and the pages of the others are never
  // allocated (measured on 2 cores: total PSS 1.22x -> 1.02x the ffmpeg CLI's on scale -> x264,
  // and 6% less CPU per frame on decode -> null, than a FIFO pool populated up front).
  if (!free_ring_.push_front(index, &FramePool::publish_free, this)) std::abort();
}

std::optional<std::uint32_t> FramePool::take_for_decoder() {
  const auto index = free_ring_.try_pop(&FramePool::claim_spare, this);
  if (!index) return std::nullopt;
  FrameDesc& d = desc(*index);
  d.owner_pid.store(kOwnerDecoder, std::memory_order_relaxed);
  d.holds.store(kHoldDecoder, std::memory_order_release);
  return index;
}

void FramePool::release_from_decoder(std::uint32_t index) {
  if (index >= control_->nb_slots) std::abort();
  // Only the last holder frees: if the pipeline still has the frame, its release will.
  if (desc(index).holds.fetch_and(~std::uint32_t{kHoldDecoder}, std::memory_order_acq_rel) ==
      kHoldDecoder)
    push_free(index);
}

std::optional<Slot> FramePool::adopt_decoded(std::uint32_t index) {
  if (index >= control_->nb_slots) std::abort();
  FrameDesc& d = desc(index);
  std::uint32_t holds = d.holds.load(std::memory_order_acquire);
  do {
    // Still in the pipeline as an earlier frame (its descriptor still read).
    if ((holds & kFrameHolds) != 0) return std::nullopt;
  } while (!d.holds.compare_exchange_weak(holds, holds | kHoldPipeline, std::memory_order_acq_rel));
  d.role.store(static_cast<std::uint32_t>(SlotRole::kSpare), std::memory_order_relaxed);
  d.owner_pid.store(current_pid(), std::memory_order_relaxed);
  return Slot(this, index);
}

std::optional<std::uint32_t> FramePool::slot_of(const std::uint8_t* data) const {
  const std::uint8_t* first = base_ + control_->data_offset;
  if (data < first) return std::nullopt;
  const std::uint64_t index = static_cast<std::uint64_t>(data - first) / control_->slot_stride;
  if (index >= control_->nb_slots) return std::nullopt;
  return static_cast<std::uint32_t>(index);
}

FrameDesc& FramePool::desc(std::uint32_t index) const {
  return reinterpret_cast<FrameDesc*>(base_ + control_->desc_offset)[index];
}

std::uint8_t* FramePool::data(std::uint32_t index) const {
  return base_ + control_->data_offset + control_->slot_stride * index;
}

void FrameRing::publish(void* self, std::uint32_t value) {
  auto* ring = static_cast<FrameRing*>(self);
  if (value == kEndOfStream) {
    if (ring->forwarder_ != nullptr) {
      ring->forwarder_->eos_state.store(static_cast<std::uint32_t>(EosState::kForwarded),
                                        std::memory_order_relaxed);
    }
    return;
  }
  // Queued slots have no owner; cleared under the lock so that a consumer's claim comes after.
  ring->pool_->desc(value).owner_pid.store(0, std::memory_order_relaxed);
}

bool FrameRing::push_for(Slot& slot, std::chrono::nanoseconds timeout) {
  if (!ring_.push_for(slot.index_, timeout, &FrameRing::publish, this)) return false;
  slot.release_index();
  return true;
}

void FrameRing::claim(void* self, std::uint32_t value) {
  auto* ring = static_cast<FrameRing*>(self);
  if (value == kEndOfStream) {
    if (ring->claimant_ != nullptr) {
      ring->claimant_->eos_state.store(static_cast<std::uint32_t>(EosState::kTaken),
                                       std::memory_order_relaxed);
    }
    return;
  }
  if (value >= ring->pool_->nb_slots()) std::abort();
  FrameDesc& d = ring->pool_->desc(value);
  if (ring->seq_counter_ != nullptr) {
    // Idempotent, so a claimer that dies here (before the pop commits) leaves no gap and no
    // duplicate: the next claimer of the same frame keeps its number.
    std::atomic<std::int64_t>& next = *ring->seq_counter_;
    if (d.seq < 0) d.seq = next.load(std::memory_order_relaxed);
    if (next.load(std::memory_order_relaxed) <= d.seq)
      next.store(d.seq + 1, std::memory_order_relaxed);
  }
  d.role.store(static_cast<std::uint32_t>(SlotRole::kFrame), std::memory_order_relaxed);
  d.owner_pid.store(current_pid(), std::memory_order_relaxed);
}

bool FrameRing::push_end_of_stream_for(std::chrono::nanoseconds timeout, StageStats* forwarder) {
  forwarder_ = forwarder;
  const bool pushed = ring_.push_for(kEndOfStream, timeout, &FrameRing::publish, this);
  forwarder_ = nullptr;
  return pushed;
}

std::optional<RingItem> FrameRing::try_pop() {
  return take(ring_.try_pop(&FrameRing::claim, this));
}

std::optional<RingItem> FrameRing::pop_for(std::chrono::nanoseconds timeout) {
  return take(ring_.pop_for(timeout, &FrameRing::claim, this));
}

std::optional<RingItem> FrameRing::take(std::optional<std::uint32_t> index) {
  if (!index) return std::nullopt;
  if (*index == kEndOfStream) return RingItem{};
  return RingItem{Slot(pool_, *index)};
}

bool OutputRing::share_for(const Slot& slot, std::chrono::nanoseconds timeout) {
  std::atomic<std::uint32_t>& holds = pool_->desc(slot.index_).holds;
  holds.fetch_or(hold_, std::memory_order_acq_rel);
  if (ring_.push_for(slot.index_, timeout)) return true;
  holds.fetch_and(~hold_, std::memory_order_acq_rel);  // encode's hold keeps the slot
  return false;
}

bool OutputRing::push_end_of_stream_for(std::chrono::nanoseconds timeout) {
  return ring_.push_for(kEndOfStream, timeout);
}

std::optional<RingItem> OutputRing::pop_for(std::chrono::nanoseconds timeout) {
  const std::optional<std::uint32_t> index = ring_.pop_for(timeout);
  if (!index) return std::nullopt;
  if (*index == kEndOfStream) return RingItem{};
  if (*index >= pool_->nb_slots()) std::abort();
  return RingItem{Slot(pool_, *index, hold_)};
}

std::uint64_t RunSegment::bytes_for(const SegmentSpec& spec) {
  return layout_for(spec).total;
}

int RunSegment::create_fd() {
  // Not MFD_CLOEXEC: the stages inherit it across exec.
  const int fd = memfd_create("vpipe-run", MFD_ALLOW_SEALING);
  if (fd < 0) fail(ExitCode::kRunFailed, "cannot create shared memory: " + errno_text(errno));
  return fd;
}

RunSegment RunSegment::create(const SegmentSpec& spec, int fd) {
  if (spec.nb_slots == 0 || spec.slot_bytes == 0 || spec.window == 0) std::abort();
  const Layout l = layout_for(spec);
  if (fd < 0) fd = create_fd();
  // Sealed once sized, so no one can resize it.
  if (ftruncate(fd, static_cast<off_t>(l.total)) != 0) {
    const int err = errno;
    close(fd);
    // The file-size limit (ulimit -f) counts shared memory too.
    rlimit limit{};
    const std::string why =
        err == EFBIG && getrlimit(RLIMIT_FSIZE, &limit) == 0
            ? "the file-size limit (ulimit -f) is " + std::to_string(limit.rlim_cur >> 10) + " KiB"
            : std::strerror(err);
    fail(ExitCode::kRunFailed, "cannot size shared memory to " +
                                   std::to_string((l.total + (1 << 20) - 1) >> 20) +
                                   " MiB: " + why);
  }
  fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  void* base = map_segment(fd, l.total);
  if (base == nullptr) {
    const int err = errno;
    close(fd);
    if (err == ENOMEM)
      fail_out_of_memory("mapping the run's frames (" + std::to_string(l.total >> 20) + " MiB)");
    fail(ExitCode::kRunFailed, "cannot map " + std::to_string(l.total >> 20) +
                                   " MiB of shared memory: " + std::strerror(err));
  }
  auto* bytes = static_cast<std::uint8_t*>(base);
  populate(bytes, l.data);  // the control block, rings and descriptors: touched at once by all
  auto* control = new (base) ControlBlock{};
  control->magic = kMagic;
  control->total_bytes = l.total;
  control->plan_offset = l.plan;
  control->plan_bytes = spec.plan_json.size();
  std::memcpy(bytes + l.plan, spec.plan_json.data(), spec.plan_json.size());
  control->decoded_ring_offset = l.decoded;
  control->filtered_ring_offset = l.filtered;
  control->free_ring_offset = l.free_ring;
  control->audio_ring_offset = l.audio;
  if (l.audio != 0) PacketRing::create(bytes + l.audio, spec.audio_ring_bytes);
  const std::uint32_t cap = ring_capacity_for(spec);
  for (int k = 1; k < kMaxOutputs; ++k) {
    control->output_ring_offset[k] = l.outputs[k];
    if (l.outputs[k] != 0) IndexRing::create(bytes + l.outputs[k], cap);
  }
  control->desc_offset = l.desc;
  control->data_offset = l.data;
  control->slot_stride = l.stride;
  control->slot_bytes = spec.slot_bytes;
  control->nb_slots = spec.nb_slots;
  control->window = spec.window;
  control->nb_workers = spec.nb_workers;
  control->active_workers.store(spec.nb_workers);
  control->credits.init(spec.window);
  control->total_frames.store(-1);
  control->next_seq_out.store(0);
  control->next_seq_in.store(0);
  IndexRing::create(bytes + l.decoded, cap);
  IndexRing::create(bytes + l.filtered, cap);
  IndexRing free_ring = IndexRing::create(bytes + l.free_ring, cap);
  auto* descs = reinterpret_cast<FrameDesc*>(bytes + l.desc);
  for (std::uint32_t i = 0; i < spec.nb_slots; ++i) {
    new (&descs[i]) FrameDesc{};
    if (!free_ring.try_push(i)) std::abort();
  }
  return RunSegment(fd, base, l.total);
}

RunSegment RunSegment::attach(int fd) {
  std::uint64_t header[2] = {0, 0};
  if (pread(fd, header, sizeof(header), 0) != sizeof(header) || header[0] != kMagic) {
    fail(ExitCode::kRunFailed, "fd " + std::to_string(fd) + " is not a vpipe run segment");
  }
  void* base = map_segment(fd, header[1]);
  if (base == nullptr && errno == ENOMEM)
    fail_out_of_memory("mapping the run's frames (" + std::to_string(header[1] >> 20) + " MiB)");
  if (base == nullptr)
    fail(ExitCode::kRunFailed, std::string("cannot map the run segment: ") + std::strerror(errno));
  return RunSegment(fd, base, header[1]);
}

RunSegment::RunSegment(int fd, void* base, std::uint64_t bytes)
    : fd_(fd),
      base_(base),
      bytes_(bytes),
      control_(static_cast<ControlBlock*>(base)),
      pool_(control_, static_cast<std::uint8_t*>(base)) {}

RunSegment::RunSegment(RunSegment&& other) noexcept
    : fd_(other.fd_),
      base_(other.base_),
      bytes_(other.bytes_),
      control_(other.control_),
      pool_(other.pool_) {
  other.fd_ = -1;
  other.base_ = nullptr;
}

RunSegment::~RunSegment() {
  if (base_ != nullptr) munmap(base_, bytes_);
  if (fd_ >= 0) close(fd_);
}

void RunSegment::populate_slots() {
  // Last slot first: the stages take slots from the first, so the two meet in the middle
  // rather than fault the same pages.
  auto* data = static_cast<std::uint8_t*>(base_) + control_->data_offset;
  for (std::uint32_t i = control_->nb_slots; i-- > 0;)
    populate(data + i * control_->slot_stride, control_->slot_stride);
}

std::string_view RunSegment::plan_json() const {
  return {reinterpret_cast<const char*>(base_) + control_->plan_offset, control_->plan_bytes};
}

FrameRing RunSegment::decoded_ring(StageStats* claimant, bool number_on_claim) {
  return FrameRing(
      &pool_, IndexRing::attach(static_cast<std::uint8_t*>(base_) + control_->decoded_ring_offset),
      claimant, number_on_claim ? &control_->next_seq_in : nullptr);
}

std::optional<PacketRing> RunSegment::audio_ring() {
  if (control_->audio_ring_offset == 0) return std::nullopt;
  return PacketRing::attach(static_cast<std::uint8_t*>(base_) + control_->audio_ring_offset);
}

std::uint32_t RunSegment::release_output(int output) {
  const std::uint32_t hold = output_hold(output);
  std::uint32_t held = 0;
  for (std::uint32_t i = 0; i < control_->nb_slots; ++i) {
    if ((pool_.desc(i).holds.load(std::memory_order_acquire) & hold) == 0) continue;
    ++held;
    if (pool_.release(i, hold)) give_back_credit(*control_);  // the frame left the pipeline
  }
  return held;
}

std::optional<OutputRing> RunSegment::output_ring(int output) {
  if (output <= 0 || output >= kMaxOutputs || control_->output_ring_offset[output] == 0)
    return std::nullopt;
  return OutputRing(
      &pool_,
      IndexRing::attach(static_cast<std::uint8_t*>(base_) + control_->output_ring_offset[output]),
      output);
}

FrameRing RunSegment::filtered_ring(StageStats* claimant) {
  return FrameRing(
      &pool_, IndexRing::attach(static_cast<std::uint8_t*>(base_) + control_->filtered_ring_offset),
      claimant);
}

std::uint32_t RunSegment::markers_missing() {
  // Waiting workers first, then queued markers: a worker taking a marker in between is then
  // counted as still waiting with its marker gone (one too many, harmless), never the reverse.
  std::uint32_t waiting = 0;
  for (std::uint32_t w = 0; w < control_->nb_workers; ++w) {
    waiting += control_->stages[kFirstWorkerStage + w].eos_state.load() ==
               static_cast<std::uint32_t>(EosState::kNone);
  }
  const std::uint32_t queued =
      IndexRing::attach(static_cast<std::uint8_t*>(base_) + control_->decoded_ring_offset)
          .count(kEndOfStream);
  return waiting > queued ? waiting - queued : 0;
}

RunSegment::Reclaimed RunSegment::reclaim(pid_t dead, StageStats& stats) {
  Reclaimed done;
  IndexRing decoded =
      IndexRing::attach(static_cast<std::uint8_t*>(base_) + control_->decoded_ring_offset);
  IndexRing filtered =
      IndexRing::attach(static_cast<std::uint8_t*>(base_) + control_->filtered_ring_offset);
  IndexRing free_ring =
      IndexRing::attach(static_cast<std::uint8_t*>(base_) + control_->free_ring_offset);
  const std::int64_t next_out = control_->next_seq_out.load();
  // A frame is done when encode has it: consumed already, waiting in the filtered ring, or held
  // in encode's reorder window.
  auto frame_done = [&](std::int64_t seq) {
    if (seq < next_out) return true;
    for (std::uint32_t i = 0; i < control_->nb_slots; ++i) {
      const FrameDesc& d = pool_.desc(i);
      if (d.seq != seq || d.owner_pid.load() == dead) continue;
      if (filtered.contains(i) ||
          (d.owner_pid.load() != 0 && !free_ring.contains(i) && !decoded.contains(i)))
        return true;
    }
    return false;
  };
  for (std::uint32_t i = 0; i < control_->nb_slots; ++i) {
    FrameDesc& d = pool_.desc(i);
    if (d.owner_pid.load() != dead) continue;
    if (decoded.contains(i) || filtered.contains(i) || free_ring.contains(i)) {
      d.owner_pid.store(0);  // it died after handing the slot on
      continue;
    }
    d.owner_pid.store(0);
    // It had let go already, and only the decoder still references it: nothing to give back
    // (and never a frame to redo: the pipeline is done with it).
    if (d.holds.load() == kHoldDecoder) continue;
    if (static_cast<SlotRole>(d.role.load()) == SlotRole::kFrame && !frame_done(d.seq)) {
      if (!decoded.push_front(i)) std::abort();  // the ring holds every slot
      ++done.requeued;
    } else {
      // A spare, or a frame that is done: freed, or left to the decoder if it still holds it.
      pool_.release(i);
      ++done.freed;
    }
  }
  if (stats.eos_state.load() == static_cast<std::uint32_t>(EosState::kTaken)) {
    stats.eos_state.store(static_cast<std::uint32_t>(EosState::kNone));
    // It may have died inside the pop, before it committed: then its marker is still queued.
    // Put one back only when fewer are queued than workers still waiting for one.
    if (markers_missing() > 0) {
      if (!decoded.try_push(kEndOfStream)) std::abort();  // the ring has room for every marker
      done.end_of_stream_restored = true;
    }
  }
  return done;
}

}  // namespace vpipe::shm
