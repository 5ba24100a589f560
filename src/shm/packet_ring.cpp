#include "shm/packet_ring.hpp"

#include <cstring>
#include <new>

namespace vpipe::shm {
namespace {

constexpr std::uint32_t kWrap = 0xFFFFFFFFu;

constexpr std::uint64_t record_bytes(std::uint32_t size) {
  return (sizeof(PacketHeader) + size + 7) / 8 * 8;
}

}  // namespace

std::uint64_t PacketRing::bytes_for(std::uint64_t capacity) {
  return offsetof(PacketRingShared, data) + capacity / 8 * 8;
}

PacketRing PacketRing::create(void* at, std::uint64_t capacity) {
  auto* shared = new (at) PacketRingShared{};
  shared->capacity = capacity / 8 * 8;
  return PacketRing(shared);
}

bool PacketRing::try_push(const PacketHeader& header, const std::uint8_t* data) {
  const std::uint64_t capacity = shared_->capacity;
  const std::uint64_t need = record_bytes(header.size);
  const std::uint64_t tail = shared_->tail.load(std::memory_order_relaxed);
  const std::uint64_t head = shared_->head.load(std::memory_order_acquire);
  const std::uint64_t at = tail % capacity;
  // A record never wraps: if it does not fit before the end, the end is skipped (a header
  // saying so when there is room for one; a consumer skips a shorter rest by itself).
  const std::uint64_t skip = capacity - at < need ? capacity - at : 0;
  if (need > capacity || tail + skip + need - head > capacity) {
    shared_->dropped.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  std::uint8_t* base = shared_->data;
  if (skip >= sizeof(PacketHeader)) {
    PacketHeader wrap{};
    wrap.size = kWrap;
    std::memcpy(base + at, &wrap, sizeof(wrap));
  }
  const std::uint64_t start = (tail + skip) % capacity;
  std::memcpy(base + start, &header, sizeof(header));
  if (header.size > 0) std::memcpy(base + start + sizeof(header), data, header.size);
  shared_->tail.store(tail + skip + need, std::memory_order_release);
  return true;
}

bool PacketRing::try_pop(PacketHeader& header, std::vector<std::uint8_t>& data) {
  const std::uint64_t capacity = shared_->capacity;
  std::uint64_t head = shared_->head.load(std::memory_order_relaxed);
  const std::uint64_t tail = shared_->tail.load(std::memory_order_acquire);
  for (;;) {
    if (head == tail) return false;
    const std::uint64_t at = head % capacity;
    if (capacity - at < sizeof(PacketHeader)) {
      head += capacity - at;  // too short for a header: skipped by the producer
      continue;
    }
    std::memcpy(&header, shared_->data + at, sizeof(header));
    if (header.size == kWrap) {
      head += capacity - at;
      continue;
    }
    data.assign(shared_->data + at + sizeof(header),
                shared_->data + at + sizeof(header) + header.size);
    shared_->head.store(head + record_bytes(header.size), std::memory_order_release);
    return true;
  }
}

}  // namespace vpipe::shm
