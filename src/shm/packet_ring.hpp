// PacketRing: compressed packets (a live input's audio) from decode to encode, in the run
// segment. One producer (decode), one consumer (encode); variable-size records in a byte ring.
//
// Audio from a file is read again by encode (encode/audio_copy.hpp); a stream, a camera or
// stdin can be read only once, so decode hands its audio packets on through this ring. The
// producer never waits: a full ring (encode stalled) drops the packet and counts it.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "shm/index_ring.hpp"

namespace vpipe::shm {

// One packet's timing, as in AVPacket (in the input stream's time base).
struct PacketHeader {
  std::int64_t pts;
  std::int64_t dts;
  std::int64_t duration;
  std::int32_t flags;
  std::uint32_t size;  // bytes of data after the header; kWrap: the rest of the ring is unused
};
static_assert(sizeof(PacketHeader) == 32);

struct PacketRingShared {
  alignas(kCacheLine) std::atomic<std::uint64_t> head;  // bytes consumed, ever
  alignas(kCacheLine) std::atomic<std::uint64_t> tail;  // bytes produced, ever
  std::atomic<std::uint64_t> dropped;                   // packets that found the ring full
  std::uint64_t capacity;                               // bytes of `data`, a multiple of 8
  alignas(kCacheLine) std::uint8_t data[1];
};

class PacketRing {
 public:
  static std::uint64_t bytes_for(std::uint64_t capacity);
  // Lays out an empty ring of `capacity` bytes (rounded down to 8) at `at`.
  static PacketRing create(void* at, std::uint64_t capacity);
  static PacketRing attach(void* at) { return PacketRing(static_cast<PacketRingShared*>(at)); }

  // Producer. False (and counted in dropped()) when the packet does not fit now.
  bool try_push(const PacketHeader& header, const std::uint8_t* data);
  // Consumer. The next packet into `header` and `data`; false when none is queued.
  bool try_pop(PacketHeader& header, std::vector<std::uint8_t>& data);

  [[nodiscard]] std::uint64_t dropped() const { return shared_->dropped.load(); }

 private:
  explicit PacketRing(PacketRingShared* shared) : shared_(shared) {}
  PacketRingShared* shared_;
};

}  // namespace vpipe::shm
