// RunSegment: the one shared-memory segment of a run, and the frame pool and rings inside it.
//
// Layout (every part at an offset recorded in the control block; no pointers are shared):
//   ControlBlock | plan JSON | ring decode->transform | ring transform->encode | free-slot ring
//   | FrameDesc[nb_slots] | slot data (page aligned, pre-faulted by the scheduler as the run
//   starts)
//
// The segment is an anonymous memfd: the scheduler creates it, children inherit the fd across
// exec. Nothing is ever named in /dev/shm, so nothing can outlive the run even if every process
// is SIGKILLed (invariant 5), and no other user can open it (invariant 6).
//
// Frames: a slot holds one planar picture plus its FrameDesc. A frame moves between stages as a
// slot index in a ring, never as pixels (invariant 1). Slot is the move-only handle that owns a
// slot; one that goes out of scope unpublished returns to the free ring. Raw indices never leave
// this module.
//
// Flow control: the credit protocol (shm/credits.hpp) bounds the frames in flight to `window`;
// the end-of-stream protocol (shm/end_of_stream.hpp) ends the stream in band. Because the pool
// holds window + one spare per transform worker, a stage that needs a slot always finds one, and
// the reorder window in encode can never starve the worker that holds the frame it waits for.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "common/stage_id.hpp"
#include "shm/drop_reason.hpp"
#include "shm/index_ring.hpp"
#include "shm/latency_histogram.hpp"
#include "shm/packet_ring.hpp"
#include "shm/shm_semaphore.hpp"

namespace vpipe::shm {

inline constexpr int kMaxPlanes = 4;
inline constexpr int kMaxStages = 66;  // decode, encode and up to 64 transform workers
inline constexpr int kFirstWorkerStage =
    StageId::kFirstWorkerSlot;  // decode 0, encode 1, workers 2..
inline constexpr std::uint32_t kEndOfStream = 0xFFFFFFFFu;

// Where a picture lies in its slot.
struct PlaneLayout {
  std::int32_t width;
  std::int32_t height;
  std::int32_t pix_fmt;  // AVPixelFormat
  std::int32_t nb_planes;
  std::int32_t linesize[kMaxPlanes];
  std::uint64_t offset[kMaxPlanes];  // plane start, relative to the slot's data
};

// The picture and timing of one frame. Written by whoever owns the slot.
struct FrameDesc {
  std::int64_t seq;         // decode order, from 0
  std::int64_t pts;         // in the input stream's time base
  std::int64_t duration;    // in the input stream's time base, 0 if unknown
  std::int64_t capture_ns;  // CLOCK_MONOTONIC when the frame was captured (or decoded)
  // Non-zero (a DropReason) when a stage dropped the frame: it travels on as a tombstone
  // so that encode keeps the order and returns its credit, but is never encoded.
  std::int32_t dropped;
  // The picture as decoded. Written once by decode and never changed, so a frame requeued
  // after a worker crash is processed from exactly what decode produced.
  PlaneLayout source;
  // The picture to hand on: what the last stage produced (a crop moves only this view).
  PlaneLayout picture;
  std::atomic<std::int32_t> owner_pid;  // 0 while queued in a ring (invariant 3)
  std::atomic<std::uint32_t> role;      // SlotRole: how the owner got it, for reclaiming
  // SlotHold bits: who still needs the slot's pixels. It returns to the free ring when the last
  // one lets go.
  std::atomic<std::uint32_t> holds;
};

// A slot the decoder decoded into is also one of its reference pictures: it stays the
// decoder's after the pipeline is done with the frame, until the decoder lets go of it.
enum SlotHold : std::uint32_t {
  kHoldPipeline = 1,  // a stage or a ring has it (every slot taken from the free ring)
  kHoldDecoder = 2,   // decode's decoder references it (see FramePool::adopt_decoded)
};
// owner_pid of a slot the decoder took to decode into, before its frame enters the pipeline.
inline constexpr std::int32_t kOwnerDecoder = -1;

// How a process came to own a slot; tells the scheduler what to do with it if that process dies.
enum class SlotRole : std::uint32_t {
  kFree = 0,
  kFrame = 1,  // a frame taken from a ring: requeue it unless its result already moved on
  kSpare = 2,  // taken from the free ring to write into: return it
};
static_assert(std::is_standard_layout_v<FrameDesc>);
static_assert(std::atomic<std::int32_t>::is_always_lock_free);

// Per-process counters, written by that process only, read by the scheduler.
struct alignas(kCacheLine) StageStats {
  std::atomic<std::int32_t> pid;
  std::atomic<std::uint64_t> frames_in;
  std::atomic<std::uint64_t> frames_out;
  std::atomic<std::uint64_t> busy_ns;
  std::atomic<std::uint64_t> wait_ns;
  std::atomic<std::uint64_t> bytes_copied;  // pixels copied at stage boundaries: must stay 0
  // Decode: pictures it copied or converted into a slot, not decoded straight into one.
  std::atomic<std::uint64_t> frames_copied;
  std::atomic<std::uint64_t> errors;        // e.g. packets the decoder rejected
  std::atomic<std::uint64_t> drops_late;    // live: frames this stage dropped past deadline
  std::atomic<std::uint64_t> drops_full;    // live: frames dropped because the pipeline was full
  std::atomic<std::int64_t> cost_ns;        // live: the stage's estimate of its time per frame
  std::atomic<std::uint32_t> eos_state;     // transform workers: EosState
  std::atomic<std::uint32_t> restarts;      // transform workers: times restarted
  std::atomic<std::uint64_t> heartbeat_ns;  // CLOCK_MONOTONIC of the stage's last sign of life
};

// A worker's progress with its end-of-stream marker, so one lost in a crash is put back.
enum class EosState : std::uint32_t { kNone = 0, kTaken = 1, kForwarded = 2 };
static_assert(sizeof(StageStats) % kCacheLine == 0, "stages must not share cache lines");

struct SegmentSpec {
  std::uint32_t nb_slots = 0;
  std::uint64_t slot_bytes = 0;
  std::uint32_t window = 0;  // frames in flight between decode and encode
  std::uint32_t nb_workers = 1;
  std::string plan_json;               // the run plan, read by every stage at start
  std::uint64_t audio_ring_bytes = 0;  // a live input's audio, decode -> encode; 0: none
};

struct ControlBlock {
  std::uint64_t magic;
  std::uint64_t total_bytes;
  std::uint64_t plan_offset, plan_bytes;
  std::uint64_t decoded_ring_offset, filtered_ring_offset, free_ring_offset;
  std::uint64_t desc_offset, data_offset, slot_stride, slot_bytes;
  std::uint64_t audio_ring_offset;  // 0: the run has no audio ring
  std::uint32_t nb_slots, window, nb_workers;
  alignas(kCacheLine) ShmSemaphore credits;
  alignas(kCacheLine) std::atomic<std::uint32_t> stop_input;  // finish cleanly: stop reading
  std::atomic<std::uint32_t> abort;                           // stop now, output is forfeit
  std::atomic<std::int64_t> total_frames;                     // set by decode at end, else -1
  std::atomic<std::int64_t> next_seq_out;                     // encode: frames < this are done
  // Live mode: the next sequence number, given to a frame as a worker first claims it (see
  // FrameRing), so that frames dropped while still queued leave no gap in the order.
  std::atomic<std::int64_t> next_seq_in;
  std::atomic<std::uint32_t> stages_ready;  // encode and workers, once set up (live start)
  // Latency from decode to the encoder, per frame: a log-scale histogram (kLatencyBuckets per
  // doubling of microseconds), written by encode.
  std::atomic<std::uint64_t> latency_buckets[kLatencyBuckets];
  std::atomic<std::uint64_t> latency_max_us;  // the exact largest, which caps the percentiles
  // The first stage to fail records its one-line reason here for the scheduler to print.
  std::atomic<std::uint32_t> error_claimed;
  std::int32_t error_code;
  char error_text[512];
  alignas(kCacheLine) StageStats stages[kMaxStages];

  StageStats& stage(StageId id) { return stages[id.stats_slot()]; }
  [[nodiscard]] const StageStats& stage(StageId id) const { return stages[id.stats_slot()]; }
};
static_assert(std::is_standard_layout_v<ControlBlock>);

// Records the run's first failure (exit code and one line); later ones are ignored. Any process.
void record_first_error(ControlBlock& control, int exit_code, const std::string& text);

class FramePool;

// Move-only ownership of one slot. Destroying a Slot that still owns returns it to the pool.
class Slot {
 public:
  Slot() = default;
  Slot(Slot&& other) noexcept { *this = std::move(other); }
  Slot& operator=(Slot&& other) noexcept;
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  ~Slot() { reset(); }

  [[nodiscard]] explicit operator bool() const { return pool_ != nullptr; }
  [[nodiscard]] FrameDesc& desc() const;
  [[nodiscard]] std::uint8_t* data() const;

  [[nodiscard]] std::uint64_t capacity() const;
  void reset();

 private:
  friend class FramePool;
  friend class FrameRing;
  Slot(FramePool* pool, std::uint32_t index) : pool_(pool), index_(index) {}
  std::uint32_t release_index();

  FramePool* pool_ = nullptr;
  std::uint32_t index_ = 0;
};

class FramePool {
 public:
  FramePool() = default;
  FramePool(ControlBlock* control, std::uint8_t* base);

  // Any stage. Empty on timeout (only possible when the pool is mis-sized or during shutdown).
  [[nodiscard]] std::optional<Slot> acquire_for(std::chrono::nanoseconds timeout);
  [[nodiscard]] bool is_free(std::uint32_t index) const { return free_ring_.contains(index); }
  [[nodiscard]] std::uint32_t nb_slots() const { return control_->nb_slots; }
  [[nodiscard]] std::uint32_t nb_free() const { return free_ring_.size(); }

  // Decode, for decoding straight into slots. A slot the decoder allocates: taken from the free
  // ring without waiting, held by the decoder only (kHoldDecoder); empty when none is free.
  [[nodiscard]] std::optional<std::uint32_t> take_for_decoder();
  // The decoder let go of `index` (its buffer's free callback): the slot returns to the free
  // ring unless the pipeline still has the frame, which then frees it as usual.
  void release_from_decoder(std::uint32_t index);
  // A frame the decoder output in slot `index` enters the pipeline (kHoldPipeline added);
  // empty when that slot is already in the pipeline (a decoder showing one picture twice),
  // for the caller to copy that frame instead.
  [[nodiscard]] std::optional<Slot> adopt_decoded(std::uint32_t index);
  [[nodiscard]] std::uint8_t* slot_data(std::uint32_t index) const { return data(index); }
  // Which slot `data` (a pointer into some slot's data) lies in; empty if none.
  [[nodiscard]] std::optional<std::uint32_t> slot_of(const std::uint8_t* data) const;

 private:
  friend class Slot;
  friend class FrameRing;
  friend class RunSegment;
  // The pipeline lets go of `index`: to the free ring, or back to the decoder that still holds
  // it. Also the scheduler's, for a dead worker's finished frames.
  void release(std::uint32_t index);
  void push_free(std::uint32_t index);
  static void claim_spare(void* self, std::uint32_t index);
  static void publish_free(void* self, std::uint32_t index);
  FrameDesc& desc(std::uint32_t index) const;
  std::uint8_t* data(std::uint32_t index) const;

  ControlBlock* control_ = nullptr;
  std::uint8_t* base_ = nullptr;
  IndexRing free_ring_ = IndexRing::attach(nullptr);
};

// One item taken from a FrameRing: a frame, or the in-band end-of-stream marker.
struct RingItem {
  Slot slot;
  [[nodiscard]] bool end_of_stream() const { return !slot; }
};

// A ring of frames between two stages. Producers push slots (ownership moves into the ring);
// consumers pop them. push_for leaves the slot with the caller when it times out.
class FrameRing {
 public:
  // `claimant`: the popping process's stats, where taking an end-of-stream marker is recorded.
  // `seq_counter`: when given, a frame without a sequence number (seq < 0) gets the next one as
  // it is claimed, under the ring's lock, so numbers follow the ring's order.
  FrameRing(FramePool* pool, IndexRing ring, StageStats* claimant = nullptr,
            std::atomic<std::int64_t>* seq_counter = nullptr)
      : pool_(pool), ring_(ring), claimant_(claimant), seq_counter_(seq_counter) {}

  [[nodiscard]] bool push_for(Slot& slot, std::chrono::nanoseconds timeout);
  // `forwarder`: a worker handing on its end-of-stream marker, recorded as kForwarded together
  // with the push, so that a death in between cannot make it look untaken.
  [[nodiscard]] bool push_end_of_stream_for(std::chrono::nanoseconds timeout,
                                            StageStats* forwarder = nullptr);
  [[nodiscard]] std::optional<RingItem> pop_for(std::chrono::nanoseconds timeout);
  [[nodiscard]] std::optional<RingItem> try_pop();
  [[nodiscard]] std::uint32_t size() const { return ring_.size(); }
  [[nodiscard]] std::uint32_t high_water() const { return ring_.high_water(); }

 private:
  friend class RunSegment;
  static void claim(void* self, std::uint32_t value);
  static void publish(void* self, std::uint32_t value);
  std::optional<RingItem> take(std::optional<std::uint32_t> index);

  FramePool* pool_;
  IndexRing ring_;
  StageStats* claimant_;
  std::atomic<std::int64_t>* seq_counter_;
  StageStats* forwarder_ = nullptr;
};

// Owns the mapping (and, in the creating process, the memfd) of a run's segment.
class RunSegment {
 public:
  // Scheduler: an empty memfd, inheritable across exec, for a stage started before the run's
  // sizes are known (decode probes the input first); create() later lays the segment out in it.
  static int create_fd();
  // Scheduler: sizes `fd` (a new memfd when -1), lays everything out; the slots' pages are
  // allocated by populate_slots().
  static RunSegment create(const SegmentSpec& spec, int fd = -1);
  // Scheduler, once the stages run: allocates every slot's pages (a first touch of a 1080p
  // picture costs several times a copy of it), while the stages start up, instead of before
  // they may start or in the middle of their first frames. Safe while stages use the slots.
  void populate_slots();
  // Stage: maps the segment from an inherited fd.
  static RunSegment attach(int fd);
  static std::uint64_t bytes_for(const SegmentSpec& spec);

  RunSegment(RunSegment&& other) noexcept;
  RunSegment& operator=(RunSegment&&) = delete;
  RunSegment(const RunSegment&) = delete;
  ~RunSegment();

  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] ControlBlock& control() const { return *control_; }
  [[nodiscard]] std::string_view plan_json() const;
  [[nodiscard]] FramePool& pool() { return pool_; }
  [[nodiscard]] FrameRing decoded_ring(StageStats* claimant = nullptr,
                                       bool number_on_claim = false);     // decode -> transform
  [[nodiscard]] FrameRing filtered_ring(StageStats* claimant = nullptr);  // transform -> encode
  // A live input's audio packets, decode -> encode; empty when the run has none.
  [[nodiscard]] std::optional<PacketRing> audio_ring();

  struct Reclaimed {
    std::uint32_t requeued = 0;  // frames put back at the head of the decode ring
    std::uint32_t freed = 0;     // slots returned to the pool
    bool end_of_stream_restored = false;
  };
  // Scheduler, after process `dead` (a transform worker with stats `stats`) has exited: gives
  // back everything it held (a slot it let go of that the decoder still holds stays with it).
  // Frames it had taken and not yet handed on go back to the front of the decode ring, untouched
  // (workers never write into the slot they read); spares return to the pool; an end-of-stream
  // marker it took but did not forward goes back too.
  Reclaimed reclaim(pid_t dead, StageStats& stats);
  // End-of-stream markers the decode ring still lacks: workers waiting for one, less those
  // queued. For putting back a lost marker, and for ending the stream when decode died (maybe
  // after it had pushed some or all of its own). Never below what is needed; concurrent takes can
  // only make it one too high per take, which the ring's room for twice the markers absorbs.
  [[nodiscard]] std::uint32_t markers_missing();

 private:
  RunSegment(int fd, void* base, std::uint64_t bytes);

  int fd_ = -1;
  void* base_ = nullptr;
  std::uint64_t bytes_ = 0;
  ControlBlock* control_ = nullptr;
  FramePool pool_;
};

}  // namespace vpipe::shm
