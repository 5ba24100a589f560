// Fuzzes the frame pool's descriptor handling: the rings, the free ring, FrameDesc ownership and
// RunSegment::reclaim after a process dies.
//
// The input is a small segment's shape (4 bytes) and then a sequence of operations, one byte
// each plus arguments. The harness plays every process of a run in turn (decode, the transform
// workers, encode; each has a made-up pid far above pid_max) and steps them through what the
// real stages do, one step per operation, including dying between any two steps or inside a
// ring operation. After each operation it compares the shared rings, cell by cell, with its own
// model of where every slot is, and checks that reclaim() put back exactly what the dead process
// held. Other operations write arbitrary seq / role / owner_pid values (the states only a stray
// write can make) or reclaim an unknown pid: from then on only the slot accounting is checked.
//
// Live runs (a shape bit): decode queues frames unnumbered and a worker numbers each as it claims
// it (FrameRing's seq_counter), even one it dies claiming; with no credit free decode evicts the
// oldest queued frame (`decode-evict`: an unnumbered one's slot takes the new frame, a numbered
// one goes on to encode as a tombstone), and a worker may pass a late frame on unprocessed
// (`worker-drop-late`). Every numbered frame must still reach encode, as a picture or a
// tombstone, in order.
//
// Decode may also decode straight into slots (FramePool::take_for_decoder): its decoder then
// references them beyond the frame's life in the pipeline, takes some it never outputs, may
// output one twice, and lets go in any order.
//
// Checked always: every slot is in exactly one place (a ring, the free ring, or a process's
// hands), or in none while only the decoder references it (never free while it does), rings never
// exceed their capacity and hold only slot indices or end-of-stream markers, and pops return what
// the model says is at the front. Checked while no descriptor was corrupted: no frame is lost
// (every frame decoded and not yet encoded is carried by some slot on its way), and encode does not
// see the last end-of-stream marker before the last frame.
#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "shm/eviction.hpp"
#include "shm/index_ring.hpp"
#include "shm/run_segment.hpp"

namespace {

namespace shm = vpipe::shm;

constexpr std::uint32_t kEos = shm::kEndOfStream;
constexpr pid_t kFakePidBase = 0x10000000;  // pid_max is at most 2^22: no real process has these
constexpr int kMaxOps = 400;
constexpr auto kNoWait = std::chrono::nanoseconds::zero();

[[noreturn]] void violated(const std::string& what) {
  std::fprintf(stderr, "fuzz_ring_descriptor: %s\n", what.c_str());
  std::abort();
}

std::string show(const std::deque<std::uint32_t>& ring) {
  std::string text = "[";
  for (const std::uint32_t v : ring) {
    text += (text.size() > 1 ? " " : "") + (v == kEos ? std::string("EOS") : std::to_string(v));
  }
  return text + "]";
}

// Reads the input front to back; past its end every value is zero.
class Bytes {
 public:
  Bytes(const std::uint8_t* data, std::size_t size) : data_(data), left_(size) {}
  [[nodiscard]] bool empty() const { return left_ == 0; }
  std::uint8_t u8() {
    if (left_ == 0) return 0;
    --left_;
    return *data_++;
  }
  std::uint32_t u32() {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(u8()) << (8 * i);
    return v;
  }
  std::int64_t i64() {
    const std::uint64_t low = u32();
    return static_cast<std::int64_t>(low | static_cast<std::uint64_t>(u32()) << 32);
  }

 private:
  const std::uint8_t* data_;
  std::size_t left_;
};

// A slot the harness holds on some process's behalf.
struct Held {
  shm::Slot slot;
  std::uint32_t index;
  bool spare;              // taken from the free ring; else a frame popped from a ring
  bool written = false;    // a worker's spare that holds a result
  bool processed = false;  // a worker's input whose result (or itself) has moved on
  bool reused = false;     // decode: an evicted frame's slot, for the new frame (no new credit)
};

struct Actor {
  enum class Kind { kDecode, kWorker, kEncode };
  Kind kind;
  int stage;  // index of its StageStats
  pid_t pid;
  bool alive = true;
  std::vector<Held> held;
  // The slot it has just pushed: FrameRing::push_for clears owner_pid after the push commits,
  // so until this process's next step a consumer may already have claimed it.
  std::optional<std::uint32_t> clearing;
  bool eos_taken = false;   // worker: took its end-of-stream marker
  bool eos_pushed = false;  // worker: forwarded it
  bool eos_marked = false;  // worker: recorded kForwarded
};

// What a dead process held: kept without running destructors, as the process is gone.
union Forgotten {
  explicit Forgotten(shm::Slot&& s) : slot(std::move(s)) {}
  ~Forgotten() {}
  shm::Slot slot;
};

enum class Op : std::uint8_t {
  kDecodeAcquire,
  kDecodePush,
  kDecodeEndOfStream,
  kDecodeExit,
  kWorkerPop,
  kWorkerAcquire,
  kWorkerWrite,
  kWorkerPush,
  kWorkerRelease,
  kWorkerForwardEndOfStream,
  kWorkerMarkForwarded,
  kWorkerExit,
  kEncodePop,
  kKill,
  kLateOwnerClear,
  kKillInsideRelease,
  kKillInsidePop,
  kKillInsidePopEndOfStream,
  kKillInsidePush,
  kCorruptSeq,
  kCorruptRole,
  kCorruptOwner,
  kReclaimUnknownPid,
  // Appended, so that the seeds written before them keep their meaning.
  kDecoderTake,
  kDecodeAdopt,
  kDecoderRelease,
  kDecodeEvict,
  kWorkerDropLate,
  kCount
};

constexpr const char* kOpNames[] = {"decode-acquire",
                                    "decode-push",
                                    "decode-end-of-stream",
                                    "decode-exit",
                                    "worker-pop",
                                    "worker-acquire",
                                    "worker-write",
                                    "worker-push",
                                    "worker-release",
                                    "worker-forward-eos",
                                    "worker-mark-forwarded",
                                    "worker-exit",
                                    "encode-pop",
                                    "kill",
                                    "late-owner-clear",
                                    "kill-inside-release",
                                    "kill-inside-pop",
                                    "kill-inside-pop-eos",
                                    "kill-inside-push",
                                    "corrupt-seq",
                                    "corrupt-role",
                                    "corrupt-owner",
                                    "reclaim-unknown-pid",
                                    "decoder-take",
                                    "decode-adopt",
                                    "decoder-release",
                                    "decode-evict",
                                    "worker-drop-late"};
static_assert(std::size(kOpNames) == static_cast<std::size_t>(Op::kCount));

// VPIPE_FUZZ_TRACE=1 prints each step (to read a finding); VPIPE_FUZZ_RING_SKIP="name,name"
// turns steps into no-ops (to look past a known finding while it is being fixed).
struct Settings {
  bool trace = false;
  bool skip[static_cast<std::size_t>(Op::kCount)] = {};
};

const Settings& settings() {
  static const Settings s = [] {
    Settings s;
    s.trace = std::getenv("VPIPE_FUZZ_TRACE") != nullptr;
    const std::string skip =
        std::getenv("VPIPE_FUZZ_RING_SKIP") ? std::getenv("VPIPE_FUZZ_RING_SKIP") : "";
    for (std::size_t i = 0; i < std::size(kOpNames); ++i) {
      const std::string name = kOpNames[i];
      for (std::size_t at = skip.find(name); at != std::string::npos;
           at = skip.find(name, at + 1)) {
        const bool starts = at == 0 || skip[at - 1] == ',';
        const bool ends = at + name.size() == skip.size() || skip[at + name.size()] == ',';
        if (starts && ends) s.skip[i] = true;
      }
    }
    return s;
  }();
  return s;
}

class Harness {
 public:
  explicit Harness(Bytes& in)
      : nb_workers_(1 + in.u8() % 3),
        window_(1 + in.u8() % 6),
        batch_(1 + in.u8() % 3),
        shape_(in.u8()),
        needs_spare_((shape_ & 1) != 0),
        decoder_slots_(((shape_ >> 1) & 3) % 3),
        live_(((shape_ >> 3) & 1) != 0),
        segment_(shm::RunSegment::create(
            {window_ + (needs_spare_ ? nb_workers_ * batch_ : 0) + decoder_slots_, 64, window_,
             nb_workers_, "{}"})),
        nb_slots_(segment_.control().nb_slots),
        carries_(nb_slots_),
        credits_(static_cast<int>(window_)) {
    if (settings().trace) {
      std::fprintf(
          stderr,
          "segment: %u worker(s), window %u, batch %u, %s, %u for the decoder, %u slots%s\n",
          nb_workers_, window_, batch_, needs_spare_ ? "spares" : "no spares", decoder_slots_,
          nb_slots_, live_ ? ", live" : "");
    }
    auto* base = reinterpret_cast<std::uint8_t*>(&segment_.control());
    descs_ = reinterpret_cast<shm::FrameDesc*>(base + segment_.control().desc_offset);
    for (std::uint32_t i = 0; i < nb_slots_; ++i) free_.push_back(i);
    // Stats where the scheduler puts them (reclaim reads every worker's): decode 0, encode 1,
    // then the workers.
    actors_.push_back({Actor::Kind::kDecode, 0, kFakePidBase});
    for (std::uint32_t w = 0; w < nb_workers_; ++w) {
      const int stage = shm::kFirstWorkerStage + static_cast<int>(w);
      actors_.push_back({Actor::Kind::kWorker, stage, kFakePidBase + stage});
    }
    actors_.push_back({Actor::Kind::kEncode, 1, kFakePidBase + 1});
    check();
  }

  void step(Bytes& in) {
    const auto op = static_cast<Op>(in.u8() % static_cast<std::uint8_t>(Op::kCount));
    const std::uint8_t who = in.u8();
    Actor& worker = actors_[1 + who % nb_workers_];
    Actor& stage = (who & 0x80) != 0 ? decode() : worker;
    // Any further step of a process means its last push_for has returned: owner_pid is cleared.
    if (op <= Op::kDecodeExit || op == Op::kDecodeAdopt || op == Op::kDecodeEvict)
      decode().clearing.reset();
    if ((op >= Op::kWorkerPop && op <= Op::kWorkerExit) || op == Op::kWorkerDropLate)
      worker.clearing.reset();
    if (settings().trace) trace(op, stage, worker);
    if (settings().skip[static_cast<std::size_t>(op)]) return;
    switch (op) {
      case Op::kDecodeAcquire:
        decode_acquire();
        break;
      case Op::kDecodePush:
        decode_push();
        break;
      case Op::kDecodeEndOfStream:
        decode_end_of_stream();
        break;
      case Op::kDecodeExit:
        decode_exit();
        break;
      case Op::kWorkerPop:
        worker_pop(worker);
        break;
      case Op::kWorkerAcquire:
        worker_acquire(worker);
        break;
      case Op::kWorkerWrite:
        worker_write(worker);
        break;
      case Op::kWorkerPush:
        worker_push(worker);
        break;
      case Op::kWorkerRelease:
        worker_release(worker);
        break;
      case Op::kWorkerForwardEndOfStream:
        worker_forward_end(worker);
        break;
      case Op::kWorkerMarkForwarded:
        worker_mark_forwarded(worker);
        break;
      case Op::kWorkerExit:
        worker_exit(worker);
        break;
      case Op::kEncodePop:
        encode_pop();
        break;
      case Op::kKill:
        kill(stage);
        break;
      case Op::kLateOwnerClear:
        late_owner_clear(stage);
        break;
      case Op::kKillInsideRelease:
        kill_inside_release(stage, in.u8());
        break;
      case Op::kKillInsidePop:
        kill_inside_pop(worker, false);
        break;
      case Op::kKillInsidePopEndOfStream:
        kill_inside_pop(worker, true);
        break;
      case Op::kKillInsidePush:
        kill_inside_push(stage);
        break;
      case Op::kCorruptSeq: {
        const std::uint8_t slot = in.u8();
        corrupt_seq(slot, in.i64());
        break;
      }
      case Op::kCorruptRole: {
        const std::uint8_t slot = in.u8();
        corrupt_role(slot, in.u32());
        break;
      }
      case Op::kCorruptOwner: {
        const std::uint8_t slot = in.u8();
        corrupt_owner(slot, in.u32());
        break;
      }
      case Op::kReclaimUnknownPid: {
        const auto pid = static_cast<pid_t>(in.u32());
        reclaim_unknown_pid(pid, in.u32());
        break;
      }
      case Op::kDecoderTake:
        decoder_take();
        break;
      case Op::kDecodeAdopt:
        decode_adopt();
        break;
      case Op::kDecoderRelease:
        decoder_release(in.u8());
        break;
      case Op::kDecodeEvict:
        decode_evict();
        break;
      case Op::kWorkerDropLate:
        worker_drop_late(worker);
        break;
      case Op::kCount:
        break;
    }
    check();
  }

 private:
  void trace(Op op, const Actor& stage, const Actor& worker) const {
    const char* name = kOpNames[static_cast<std::size_t>(op)];
    const bool on_stage = op == Op::kKill || op == Op::kLateOwnerClear ||
                          op == Op::kKillInsideRelease || op == Op::kKillInsidePush;
    const bool on_worker = (op >= Op::kWorkerPop && op <= Op::kWorkerExit) ||
                           op == Op::kKillInsidePop || op == Op::kKillInsidePopEndOfStream ||
                           op == Op::kWorkerDropLate;
    const Actor* who = on_stage ? &stage : on_worker ? &worker : nullptr;
    std::fprintf(
        stderr, "  %-22s %s  decoded %s filtered %s free %s\n", name,
        who == nullptr ? ""
        : who->kind == Actor::Kind::kDecode
            ? "decode  "
            : ("worker " + std::to_string(who->stage - shm::kFirstWorkerStage + 1)).c_str(),
        show(decoded_).c_str(), show(filtered_).c_str(), show(free_).c_str());
  }

  // ---- the processes' steps -----------------------------------------------------------------

  Actor& decode() { return actors_.front(); }
  Actor& encode() { return actors_.back(); }
  shm::StageStats& stats(const Actor& a) { return segment_.control().stages[a.stage]; }
  shm::FrameDesc& desc(std::uint32_t index) { return descs_[index]; }
  std::uint32_t index_of(const shm::Slot& slot) {
    return static_cast<std::uint32_t>(&slot.desc() - descs_);
  }
  bool producing() const { return decode_alive() && decode_eos_pushed_ == 0; }
  bool decode_alive() const { return actors_.front().alive; }

  // The harness stands in for `a`: a pop or acquire recorded this process's real pid.
  void take(Actor& a, shm::Slot slot, bool spare) {
    const std::uint32_t index = index_of(slot);
    desc(index).owner_pid.store(a.pid);
    a.held.push_back({std::move(slot), index, spare});
  }

  void acquire(Actor& a) {
    std::optional<shm::Slot> slot = segment_.pool().acquire_for(kNoWait);
    if (!slot) {
      if (!free_.empty()) violated("acquire failed with " + show(free_) + " in the free ring");
      return;  // a real stage would wait
    }
    const std::uint32_t expected = expect_front(free_, "free");
    if (index_of(*slot) != expected)
      violated("acquire returned slot " + std::to_string(index_of(*slot)));
    take(a, std::move(*slot), true);
  }

  std::uint32_t expect_front(std::deque<std::uint32_t>& ring, const char* name) {
    if (ring.empty())
      violated(std::string("a pop returned an item from the empty ") + name + " ring");
    const std::uint32_t v = ring.front();
    ring.pop_front();
    return v;
  }

  // Releases what `a` holds at `at` through the Slot's destructor: to the free ring, unless the
  // decoder still references it.
  void release(Actor& a, std::size_t at) {
    const std::uint32_t index = a.held[at].index;
    a.held.erase(a.held.begin() + static_cast<std::ptrdiff_t>(at));
    if (!decoder_holds(index)) free_.push_front(index);  // last in, first out
    carries_[index].reset();
  }

  // ---- the decoder's references -------------------------------------------------------------

  bool decoder_holds(std::uint32_t index) const {
    return std::find(decoder_refs_.begin(), decoder_refs_.end(), index) != decoder_refs_.end();
  }
  bool in_pipeline(std::uint32_t index) const {
    return contains(decoded_, index) || contains(filtered_, index) || holder_of(index) != nullptr;
  }
  // Only the decoder references it: the pipeline let go, the decoder has not.
  bool parked(std::uint32_t index) const { return decoder_holds(index) && !in_pipeline(index); }

  // The decoder allocates a picture: a free slot, never waiting, within its share of the pool.
  void decoder_take() {
    if (!decode_alive() || decoder_refs_.size() >= decoder_slots_) return;
    const std::optional<std::uint32_t> index = segment_.pool().take_for_decoder();
    if (!index) {
      if (!free_.empty()) violated("take_for_decoder failed with " + show(free_) + " free");
      return;
    }
    if (*index != expect_front(free_, "free"))
      violated("take_for_decoder returned slot " + std::to_string(*index));
    if (desc(*index).owner_pid.load() != shm::kOwnerDecoder)
      violated("a slot being decoded into does not name the decoder");
    decoder_refs_.push_back(*index);
  }

  // A decoded picture enters the pipeline in its own slot, with a credit as any frame; a
  // picture already in the pipeline (shown twice) must be refused.
  void decode_adopt() {
    Actor& d = decode();
    if (!producing() || !d.held.empty() || credits_ == 0 || decoder_refs_.empty()) return;
    for (const std::uint32_t index : decoder_refs_) {
      if (in_pipeline(index)) continue;
      std::optional<shm::Slot> slot = segment_.pool().adopt_decoded(index);
      if (!slot) violated("adopt_decoded refused slot " + std::to_string(index));
      take(d, std::move(*slot), true);
      --credits_;
      return;
    }
    if (segment_.pool().adopt_decoded(decoder_refs_.front()))
      violated("a slot already in the pipeline was adopted a second time");
  }

  // The decoder lets go of a reference; a dead decode never does (its slots stay lost).
  void decoder_release(std::uint8_t which) {
    if (!decode_alive() || decoder_refs_.empty()) return;
    const auto at = decoder_refs_.begin() + which % decoder_refs_.size();
    const std::uint32_t index = *at;
    decoder_refs_.erase(at);
    segment_.pool().release_from_decoder(index);
    if (!in_pipeline(index)) free_.push_front(index);
  }

  // Credits bound the frames in flight: one is taken per frame, encode gives it back.
  void decode_acquire() {
    Actor& d = decode();
    if (!producing() || !d.held.empty() || credits_ == 0) return;
    acquire(d);
    if (!d.held.empty()) --credits_;
  }

  void decode_push() {
    Actor& d = decode();
    if (!producing() || d.held.empty()) return;
    Held& h = d.held.front();
    // Live, a worker numbers the frame as it claims it.
    h.slot.desc().seq = live_ ? -1 : produced_;
    shm::FrameRing ring = segment_.decoded_ring();
    if (!ring.push_for(h.slot, kNoWait)) return;
    decoded_.push_back(h.index);
    carries_[h.index] = live_ ? kUnnumbered : produced_;
    if (!h.reused) ++produced_;
    d.clearing = h.index;
    d.held.clear();
  }

  // One marker per worker; after decode died, the scheduler's drain pushes them instead.
  void decode_end_of_stream() {
    Actor& d = decode();
    if (d.alive) {
      if (!d.held.empty() || decode_eos_pushed_ == nb_workers_) return;
      if (decode_eos_pushed_ == 0) segment_.control().total_frames.store(produced_);
      if (push_end_of_stream(segment_.decoded_ring(), decoded_)) ++decode_eos_pushed_;
    } else {
      while (drain_eos_left_ > 0 && push_end_of_stream(segment_.decoded_ring(), decoded_))
        --drain_eos_left_;
    }
  }

  void decode_exit() {
    if (!decode_alive() || decode_eos_pushed_ != nb_workers_) return;
    // Closing the codec lets go of every reference (Decoder::release_pictures).
    while (!decoder_refs_.empty()) decoder_release(0);
    decode().alive = false;
  }

  bool push_end_of_stream(shm::FrameRing ring, std::deque<std::uint32_t>& model,
                          shm::StageStats* forwarder = nullptr) {
    if (!ring.push_end_of_stream_for(kNoWait, forwarder)) return false;
    model.push_back(kEos);
    return true;
  }

  std::size_t inputs_of(const Actor& w) const {
    return static_cast<std::size_t>(
        std::count_if(w.held.begin(), w.held.end(), [](const Held& h) { return !h.spare; }));
  }
  Held* first(Actor& w, bool spare, bool processed_or_written) {
    for (Held& h : w.held) {
      if (h.spare == spare && (spare ? h.written : h.processed) == processed_or_written) return &h;
    }
    return nullptr;
  }
  Held* spare_of(Actor& w) {
    for (Held& h : w.held) {
      if (h.spare) return &h;
    }
    return nullptr;
  }

  // A worker claims up to a batch of frames, then takes its end-of-stream marker and stops.
  void worker_pop(Actor& w) {
    if (!w.alive || w.eos_taken || inputs_of(w) >= batch_) return;
    std::optional<shm::RingItem> item = segment_.decoded_ring(&stats(w), live_).try_pop();
    if (!item) {
      if (!decoded_.empty()) violated("try_pop found nothing in decoded " + show(decoded_));
      return;
    }
    const std::uint32_t expected = expect_front(decoded_, "decoded");
    if (item->end_of_stream()) {
      if (expected != kEos)
        violated("popped end-of-stream where slot " + std::to_string(expected) + " was");
      if (stats(w).eos_state.load() != static_cast<std::uint32_t>(shm::EosState::kTaken)) {
        violated("taking an end-of-stream marker did not record kTaken");
      }
      w.eos_taken = true;
      return;
    }
    if (index_of(item->slot) != expected)
      violated("popped slot " + std::to_string(index_of(item->slot)) + " of " + show(decoded_));
    if (item->slot.desc().role.load() != static_cast<std::uint32_t>(shm::SlotRole::kFrame))
      violated("a popped frame is not kFrame");
    if (live_) number(expected, item->slot.desc().seq);
    take(w, std::move(item->slot), false);
  }

  // Live: the number a claimed frame must have got: the next one, or the one it already had.
  void number(std::uint32_t index, std::int64_t got) {
    if (corrupted_) return;
    if (carries_[index] == kUnnumbered) carries_[index] = next_seq_in_++;
    if (got != *carries_[index]) {
      violated("a claimed frame got number " + std::to_string(got) + ", expected " +
               std::to_string(*carries_[index]));
    }
  }

  // Live, no credit free: decode takes the oldest queued frame. An unnumbered one gives its slot
  // (and credit) to the new frame; a numbered one (requeued after a worker died) has its place
  // in the order and goes on to encode as a tombstone.
  void decode_evict() {
    Actor& d = decode();
    if (!live_ || !producing() || !d.held.empty() || credits_ != 0 || decoded_.empty() ||
        decoded_.front() == kEos)
      return;
    shm::FrameRing decoded = segment_.decoded_ring();
    std::optional<shm::Slot> evicted = shm::evict_oldest(decoded);
    if (!evicted || !*evicted) violated("decode-evict found no frame at the front");
    const std::uint32_t index = expect_front(decoded_, "decoded");
    if (index_of(*evicted) != index) violated("decode-evict popped another slot");
    shm::Slot slot = std::move(*evicted);
    if (slot.desc().dropped != static_cast<std::int32_t>(shm::DropReason::kRingFull))
      violated("decode-evict did not mark the frame dropped");
    if (shm::can_carry_the_new_frame(slot.desc())) {
      take(d, std::move(slot), true);
      d.held.back().reused = true;
      carries_[index].reset();
      return;
    }
    if (!segment_.filtered_ring().push_for(slot, kNoWait))
      violated("the filtered ring had no room for a tombstone");
    filtered_.push_back(index);
    d.clearing = index;
  }

  // Live: a worker passes a frame it cannot finish in time on unprocessed, as a tombstone.
  void worker_drop_late(Actor& w) {
    Held* input = first(w, false, false);
    if (!live_ || !w.alive || input == nullptr || spare_of(w) != nullptr) return;
    const std::uint32_t index = input->index;
    input->slot.desc().dropped = static_cast<std::int32_t>(shm::DropReason::kLate);
    if (!segment_.filtered_ring().push_for(input->slot, kNoWait)) return;
    filtered_.push_back(index);
    w.clearing = index;
    w.held.erase(std::find_if(w.held.begin(), w.held.end(),
                              [&](const Held& h) { return h.index == index; }));
  }

  void worker_acquire(Actor& w) {
    if (w.alive && needs_spare_ && spare_of(w) == nullptr && first(w, false, false) != nullptr)
      acquire(w);
  }

  // The chain wrote its result into the spare: the spare now carries the input's frame.
  void worker_write(Actor& w) {
    Held* spare = spare_of(w);
    Held* input = first(w, false, false);
    if (!w.alive || spare == nullptr || spare->written || input == nullptr) return;
    spare->slot.desc().seq = input->slot.desc().seq;
    spare->written = true;
    carries_[spare->index] = carries_[input->index];
  }

  void worker_push(Actor& w) {
    Held* input = first(w, false, false);
    if (!w.alive || input == nullptr) return;
    Held* result = input;
    if (needs_spare_) {
      result = spare_of(w);
      if (result == nullptr || !result->written) return;
    }
    const std::uint32_t index = result->index;
    if (!segment_.filtered_ring().push_for(result->slot, kNoWait)) return;
    filtered_.push_back(index);
    w.clearing = index;
    input->processed = true;
    w.held.erase(std::find_if(w.held.begin(), w.held.end(),
                              [&](const Held& h) { return h.index == index; }));
  }

  void worker_release(Actor& w) {
    for (std::size_t i = 0; w.alive && i < w.held.size(); ++i) {
      if (!w.held[i].spare && w.held[i].processed) return release(w, i);
    }
  }

  void worker_forward_end(Actor& w) {
    if (!w.alive || !w.eos_taken || w.eos_pushed || first(w, false, false) != nullptr ||
        spare_of(w) != nullptr)
      return;
    // As the worker does: kForwarded is recorded with the push, under the ring's lock.
    w.eos_pushed = push_end_of_stream(segment_.filtered_ring(), filtered_, &stats(w));
    w.eos_marked = w.eos_pushed;
  }

  void worker_mark_forwarded(Actor& w) {
    if (!w.alive || !w.eos_pushed || w.eos_marked) return;
    stats(w).eos_state.store(static_cast<std::uint32_t>(shm::EosState::kForwarded));
    w.eos_marked = true;
  }

  void worker_exit(Actor& w) {
    if (!w.alive || !w.eos_marked) return;
    while (!w.held.empty()) release(w, 0);
    w.alive = false;
  }

  // Encode reorders by seq, drops duplicates, and frees each frame once it is written.
  void encode_pop() {
    Actor& e = encode();
    if (!e.alive) return;
    std::optional<shm::RingItem> item = segment_.filtered_ring().try_pop();
    if (!item) {
      if (!filtered_.empty()) violated("try_pop found nothing in filtered " + show(filtered_));
      return;
    }
    const std::uint32_t expected = expect_front(filtered_, "filtered");
    if (item->end_of_stream()) {
      if (expected != kEos)
        violated("popped end-of-stream where slot " + std::to_string(expected) + " was");
      if (++ends_seen_ == nb_workers_) encode_finished();
      return;
    }
    if (index_of(item->slot) != expected)
      violated("popped slot " + std::to_string(index_of(item->slot)) + " of " + show(filtered_));
    const std::int64_t seq = item->slot.desc().seq;
    take(e, std::move(item->slot), false);
    const auto pending = [&](std::int64_t s, std::size_t skip) {
      for (std::size_t i = 0; i < e.held.size(); ++i) {
        if (i != skip && e.held[i].slot.desc().seq == s) return i;
      }
      return e.held.size();
    };
    const bool beyond_window = seq >= next_out_ + static_cast<std::int64_t>(window_);
    if (beyond_window && !corrupted_)
      violated("frame " + std::to_string(seq) + " arrived beyond the window (encode aborts)");
    if (seq < next_out_ || beyond_window || pending(seq, e.held.size() - 1) != e.held.size()) {
      release(e, e.held.size() - 1);  // a duplicate: the first copy counts
    }
    for (std::size_t at; (at = pending(next_out_, e.held.size())) != e.held.size();) {
      release(e, at);
      segment_.control().next_seq_out.store(++next_out_);
      ++credits_;
    }
  }

  void encode_finished() {
    encode().alive = false;
    if (corrupted_) return;
    // Once decode has pushed its first marker it produces no more frames, and a marker put
    // back for a worker that died inside its pop may stand in for one decode has yet to push:
    // encode may then finish first, as long as every frame reached it (checked below).
    if (decode_alive() && decode_eos_pushed_ == 0) {
      violated("encode saw every end-of-stream marker while decode was still decoding");
    }
    if (next_out_ != numbered()) {
      violated("encode saw every end-of-stream marker after " + std::to_string(next_out_) + " of " +
               std::to_string(numbered()) + " frames");
    }
  }

  // ---- deaths -------------------------------------------------------------------------------

  // SIGKILL: what `a` held stays marked with its pid; the scheduler then reclaims it, restarts a
  // worker that had not forwarded its end-of-stream marker, and ends the stream for a dead decode.
  void kill(Actor& a) {
    if (!a.alive || a.kind == Actor::Kind::kEncode) return;
    std::vector<std::uint32_t> held;
    for (Held& h : a.held) {
      held.push_back(h.index);
      forgotten_.emplace_back(std::move(h.slot));
    }
    a.held.clear();
    reclaim_and_verify(a.pid, stats(a), held);
    if (a.kind == Actor::Kind::kDecode) {
      a.alive = false;
      drain_eos_left_ = segment_.markers_missing();  // as the scheduler does
      decode_end_of_stream();
      return;
    }
    if (stats(a).eos_state.load() == static_cast<std::uint32_t>(shm::EosState::kForwarded)) {
      a.alive = false;
      return;
    }
    a.pid += 256;  // the restarted worker
    a.clearing.reset();
    a.eos_taken = a.eos_pushed = a.eos_marked = false;
  }

  // The next four steps stop a process between two shared-memory writes of one ring operation,
  // so they follow the order of those writes in run_segment.cpp (FramePool::release,
  // FrameRing::claim, FrameRing::push_for): change them with it.

  // FrameRing::push_for clears owner_pid after the push commits; a consumer that claimed the
  // slot in between loses its claim to that late store.
  void late_owner_clear(Actor& a) {
    if (!a.clearing) return;
    const std::uint32_t index = *a.clearing;
    a.clearing.reset();
    if (holder_of(index) != nullptr) desc(index).owner_pid.store(0);
  }

  // Killed inside FramePool::release, after it cleared owner_pid and role, before the push.
  void kill_inside_release(Actor& a, std::uint8_t which) {
    if (!a.alive || a.kind == Actor::Kind::kEncode || a.held.empty()) return;
    const Held& h = a.held[which % a.held.size()];
    if (decoder_holds(h.index)) return;  // its release is one compare-and-swap
    desc(h.index).owner_pid.store(0);
    desc(h.index).role.store(static_cast<std::uint32_t>(shm::SlotRole::kFree));
    kill(a);
  }

  // Killed inside a pop, after the claim ran, before the pop committed.
  void kill_inside_pop(Actor& w, bool end_of_stream) {
    if (!w.alive || w.eos_taken || inputs_of(w) >= batch_ || decoded_.empty()) return;
    const std::uint32_t front = decoded_.front();
    if ((front == kEos) != end_of_stream) return;
    if (front == kEos) {
      stats(w).eos_state.store(static_cast<std::uint32_t>(shm::EosState::kTaken));
    } else {
      // As FrameRing::claim: the number first (live), then the role and the owner.
      if (live_ && desc(front).seq < 0) {
        std::atomic<std::int64_t>& next = segment_.control().next_seq_in;
        desc(front).seq = next.load();
        next.store(desc(front).seq + 1);
        if (!corrupted_) number(front, desc(front).seq);
      }
      desc(front).role.store(static_cast<std::uint32_t>(shm::SlotRole::kFrame));
      desc(front).owner_pid.store(w.pid);
    }
    kill(w);
  }

  // Killed inside push_for, after the push committed, before owner_pid was cleared.
  void kill_inside_push(Actor& a) {
    if (!a.clearing) return;
    if (holder_of(*a.clearing) == nullptr) desc(*a.clearing).owner_pid.store(a.pid);
    kill(a);
  }

  // ---- stray writes -------------------------------------------------------------------------

  void corrupt_seq(std::uint8_t slot, std::int64_t seq) {
    corrupted_ = true;
    desc(slot % nb_slots_).seq = seq;
  }
  void corrupt_role(std::uint8_t slot, std::uint32_t role) {
    corrupted_ = true;
    desc(slot % nb_slots_).role.store(role);
  }
  // Only a queued slot's owner: a held slot that names another process is that process's.
  void corrupt_owner(std::uint8_t slot, std::uint32_t owner) {
    const std::uint32_t index = slot % nb_slots_;
    if (holder_of(index) != nullptr) return;
    corrupted_ = true;
    desc(index).owner_pid.store(static_cast<pid_t>(owner));
  }
  // A pid that holds nothing (0 is never a child's pid); its stats say anything but kTaken,
  // which would put back a marker that was never taken.
  void reclaim_unknown_pid(pid_t pid, std::uint32_t eos_state) {
    if (pid == 0) return;
    for (const Actor& a : actors_) {
      if (a.pid == pid) return;
      for (const Held& h : a.held) {
        if (desc(h.index).owner_pid.load() == pid) return;
      }
    }
    corrupted_ = true;
    shm::StageStats& s = segment_.control().stages[shm::kMaxStages - 1];
    s.eos_state.store(eos_state == static_cast<std::uint32_t>(shm::EosState::kTaken) ? 7
                                                                                     : eos_state);
    reclaim_and_verify(pid, s, {});
  }

  // ---- checks -------------------------------------------------------------------------------

  const Actor* holder_of(std::uint32_t index) const {
    for (const Actor& a : actors_) {
      for (const Held& h : a.held) {
        if (h.index == index) return &a;
      }
    }
    return nullptr;
  }

  static bool contains(const std::deque<std::uint32_t>& ring, std::uint32_t v) {
    return std::find(ring.begin(), ring.end(), v) != ring.end();
  }

  // reclaim() must take back exactly what `dead` held: frames to the front of decoded (in the
  // order it walks the slots, so the last one first), everything else to the free ring, and its
  // end-of-stream marker when it had taken one and not forwarded it.
  void reclaim_and_verify(pid_t dead, shm::StageStats& s, const std::vector<std::uint32_t>& held) {
    std::vector<std::uint32_t> owned;   // what reclaim can find: slots that name the dead pid
    std::vector<std::uint32_t> let_go;  // slots it let go of that only the decoder holds now
    for (std::uint32_t i = 0; i < nb_slots_; ++i) {
      if (desc(i).owner_pid.load() != dead) continue;
      if (parked(i) && !std::count(held.begin(), held.end(), i)) {
        let_go.push_back(i);
        continue;
      }
      const bool queued = contains(decoded_, i) || contains(filtered_, i) || contains(free_, i);
      if (!queued && !std::count(held.begin(), held.end(), i)) {
        violated("slot " + std::to_string(i) + " names pid " + std::to_string(dead) +
                 " but another process holds it");
      }
      if (!queued) owned.push_back(i);
    }
    for (const std::uint32_t i : held) {
      if (!std::count(owned.begin(), owned.end(), i)) {
        violated("slot " + std::to_string(i) + " was held by the dead pid " + std::to_string(dead) +
                 " but names owner " + std::to_string(desc(i).owner_pid.load()) +
                 ": reclaim cannot find it");
      }
    }
    const bool took_eos = s.eos_state.load() == static_cast<std::uint32_t>(shm::EosState::kTaken);
    // A marker goes back only when fewer are queued than workers still waiting for one (the
    // dead worker counts as waiting again): it may have died inside its pop, marker still queued.
    std::uint32_t waiting = 0;
    for (std::uint32_t w = 0; w < nb_workers_; ++w) {
      const auto st = segment_.control().stages[shm::kFirstWorkerStage + w].eos_state.load();
      waiting += st == static_cast<std::uint32_t>(shm::EosState::kNone) ||
                 &segment_.control().stages[shm::kFirstWorkerStage + w] == &s;
    }
    const bool restore_eos = took_eos && static_cast<std::uint32_t>(std::count(
                                             decoded_.begin(), decoded_.end(), kEos)) < waiting;
    const shm::RunSegment::Reclaimed done = segment_.reclaim(dead, s);

    const std::deque<std::uint32_t> decoded = read_ring(segment_.control().decoded_ring_offset);
    const std::deque<std::uint32_t> free = read_ring(segment_.control().free_ring_offset);
    std::deque<std::uint32_t> expect_decoded = decoded_;
    std::deque<std::uint32_t> expect_free = free_;
    std::uint32_t requeued = 0;
    for (const std::uint32_t i : owned) {
      if (desc(i).owner_pid.load() != 0)
        violated("reclaim left slot " + std::to_string(i) + " owned");
      if (contains(decoded, i)) {
        expect_decoded.push_front(i);
        ++requeued;
      } else {
        if (!decoder_holds(i)) expect_free.push_front(i);
        carries_[i].reset();
      }
    }
    for (const std::uint32_t i : let_go) {
      if (desc(i).owner_pid.load() != 0)
        violated("reclaim left slot " + std::to_string(i) + " naming the dead process");
    }
    if (restore_eos) expect_decoded.push_back(kEos);
    if (decoded != expect_decoded || free != expect_free) {
      violated("reclaim of " + std::to_string(owned.size()) + " slot(s): decoded " + show(decoded) +
               " (expected " + show(expect_decoded) + "), free " + show(free) + " (expected " +
               show(expect_free) + ")");
    }
    if (done.requeued != requeued || done.freed != owned.size() - requeued ||
        done.end_of_stream_restored != restore_eos) {
      violated("reclaim's counts differ from what it moved");
    }
    if (took_eos && s.eos_state.load() != static_cast<std::uint32_t>(shm::EosState::kNone))
      violated("eos_state not reset");
    decoded_ = decoded;
    free_ = free;
  }

  std::deque<std::uint32_t> read_ring(std::uint64_t offset) const {
    const auto* base = reinterpret_cast<const std::uint8_t*>(&segment_.control());
    const auto* ring = reinterpret_cast<const shm::IndexRingShared*>(base + offset);
    const std::uint32_t* cells = ring->cells;
    if (ring->tail - ring->head > ring->capacity) violated("a ring holds more than its capacity");
    if (ring->high_water > ring->capacity) violated("a ring's high water exceeds its capacity");
    std::deque<std::uint32_t> values;
    for (std::uint64_t i = ring->head; i != ring->tail; ++i)
      values.push_back(cells[i % ring->capacity]);
    return values;
  }

  void check() {
    const shm::ControlBlock& c = segment_.control();
    const std::pair<const char*, std::pair<std::uint64_t, const std::deque<std::uint32_t>*>>
        rings[] = {{"decoded", {c.decoded_ring_offset, &decoded_}},
                   {"filtered", {c.filtered_ring_offset, &filtered_}},
                   {"free", {c.free_ring_offset, &free_}}};
    std::vector<int> places(nb_slots_, 0);
    for (const auto& [name, ring] : rings) {
      const std::deque<std::uint32_t> actual = read_ring(ring.first);
      if (actual != *ring.second) {
        violated(std::string(name) + " ring holds " + show(actual) + ", expected " +
                 show(*ring.second));
      }
      for (const std::uint32_t v : actual) {
        if (v == kEos && ring.second != &free_) continue;
        if (v >= nb_slots_)
          violated(std::string(name) + " ring holds a bad value " + std::to_string(v));
        ++places[v];
      }
    }
    for (const Actor& a : actors_) {
      for (const Held& h : a.held) ++places[h.index];
    }
    for (std::uint32_t i = 0; i < nb_slots_; ++i) {
      if (decoder_holds(i) && contains(free_, i))
        violated("slot " + std::to_string(i) + " is free while the decoder references it");
      if (places[i] != 1 && !(places[i] == 0 && decoder_holds(i)))
        violated("slot " + std::to_string(i) + " is in " + std::to_string(places[i]) + " places");
    }
    if (!corrupted_) {
      check_no_frame_lost();
      check_end_of_stream_reachable();
    }
  }

  // The stream can still end: once decode (or the scheduler's drain after its death) has pushed
  // its markers, every live worker that has not taken one finds one queued, and encode can still
  // count one marker per worker (seen, queued for it, or to come from a live worker).
  void check_end_of_stream_reachable() {
    const auto live = [&](auto pred) {
      return static_cast<std::uint32_t>(std::count_if(
          actors_.begin(), actors_.end(),
          [&](const Actor& a) { return a.kind == Actor::Kind::kWorker && a.alive && pred(a); }));
    };
    const auto markers = [](const std::deque<std::uint32_t>& ring) {
      return static_cast<std::uint32_t>(std::count(ring.begin(), ring.end(), kEos));
    };
    const bool all_pushed =
        decode_eos_pushed_ == nb_workers_ || (!decode_alive() && drain_eos_left_ == 0);
    if (all_pushed && markers(decoded_) < live([](const Actor& a) { return !a.eos_taken; })) {
      violated("a live worker waits for an end-of-stream marker that is not queued: decoded " +
               show(decoded_));
    }
    if (encode().alive && ends_seen_ + markers(filtered_) + live([](const Actor& a) {
                            return !a.eos_pushed;
                          }) < nb_workers_) {
      violated("encode can no longer see one end-of-stream marker per worker");
    }
  }

  // Every frame decoded and not yet written is carried by a slot that will still reach encode.
  void check_no_frame_lost() {
    std::vector<bool> carried(static_cast<std::size_t>(numbered() - next_out_), false);
    const auto mark = [&](std::uint32_t index) {
      if (index == kEos || !carries_[index]) return;
      const std::int64_t seq = *carries_[index];
      if (seq >= next_out_ && seq < numbered())
        carried[static_cast<std::size_t>(seq - next_out_)] = true;
    };
    for (const std::uint32_t v : decoded_) mark(v);
    for (const std::uint32_t v : filtered_) mark(v);
    for (const Actor& a : actors_) {
      if (a.kind == Actor::Kind::kDecode) continue;
      for (const Held& h : a.held) {
        if (a.kind == Actor::Kind::kEncode || (h.spare ? h.written : !h.processed)) mark(h.index);
      }
    }
    for (std::size_t i = 0; i < carried.size(); ++i) {
      if (!carried[i])
        violated("frame " + std::to_string(next_out_ + static_cast<std::int64_t>(i)) + " was lost");
    }
  }

  const std::uint32_t nb_workers_;
  const std::uint32_t window_;
  const std::uint32_t batch_;
  const std::uint8_t shape_;
  const bool needs_spare_;
  const std::uint32_t decoder_slots_;  // slots the decoder may reference beyond the window
  const bool live_;                    // frames numbered as claimed; eviction and late drops
  static constexpr std::int64_t kUnnumbered = -1;  // carries_: a live frame not yet claimed
  std::int64_t next_seq_in_ = 0;                   // live: frames numbered so far
  // Frames encode must see: all decode pushed offline; live, those numbered.
  [[nodiscard]] std::int64_t numbered() const { return live_ ? next_seq_in_ : produced_; }
  shm::RunSegment segment_;  // first: what the actors hold returns to it as they go
  const std::uint32_t nb_slots_;
  shm::FrameDesc* descs_ = nullptr;
  std::vector<std::optional<std::int64_t>> carries_;  // per slot: the frame it carries
  std::deque<std::uint32_t> decoded_, filtered_, free_;
  std::vector<std::uint32_t> decoder_refs_;  // slots the decoder references, oldest first
  std::deque<Forgotten> forgotten_;
  std::vector<Actor> actors_;
  int credits_;
  std::int64_t produced_ = 0;  // frames decode pushed: seq 0 .. produced_ - 1
  std::int64_t next_out_ = 0;  // frames encode wrote
  std::uint32_t decode_eos_pushed_ = 0;
  std::uint32_t drain_eos_left_ = 0;
  std::uint32_t ends_seen_ = 0;
  bool corrupted_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes in(data, size);
  Harness harness(in);
  for (int i = 0; i < kMaxOps && !in.empty(); ++i) harness.step(in);
  return 0;
}
