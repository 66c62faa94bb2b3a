#include "capture/entry_ring.hpp"

#include <bit>
#include <cstring>
#include <new>

#include <sys/mman.h>

namespace pyhost::capture {

EntryRing::EntryRing(std::size_t capacity)
    : m_capacity(std::bit_ceil(capacity < (64u << 10) ? std::size_t{64u << 10} : capacity)),
      m_buffer(static_cast<std::byte*>(
          mmap(nullptr, m_capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))) {
    if (m_buffer == MAP_FAILED) {
        throw std::bad_alloc();
    }
}

EntryRing::~EntryRing() { munmap(m_buffer, m_capacity); }

bool EntryRing::try_reserve(std::uint32_t size, Reservation& out) noexcept {
    if (size > max_payload()) {
        return false;
    }
    const std::uint64_t bytes = entry_bytes(size);
    std::uint64_t position = m_producer.load(std::memory_order_relaxed);
    for (;;) {
        const std::uint64_t offset = position & (m_capacity - 1);
        // An entry never straddles the end: pad the tail and start over at offset 0.
        const std::uint64_t padding = offset + bytes > m_capacity ? m_capacity - offset : 0;
        const std::uint64_t consumer = m_consumer.load(std::memory_order_acquire);
        if (position + padding + bytes - consumer > m_capacity) {
            return false;
        }
        if (m_producer.compare_exchange_weak(position, position + padding + bytes,
                                             std::memory_order_acq_rel,
                                             std::memory_order_relaxed)) {
            if (padding != 0) {
                Header* pad = header_at(position);
                pad->size = 0;
                pad->kind.store(k_padding, std::memory_order_release);
                position += padding;
            }
            Header* header = header_at(position);
            header->size = size;
            out.payload = reinterpret_cast<std::byte*>(header + 1);
            out.size = size;
            out.header_offset = position;
            return true;
        }
    }
}

void EntryRing::commit(const Reservation& reservation, std::uint8_t kind) noexcept {
    header_at(reservation.header_offset)->kind.store(kind, std::memory_order_release);
}

void EntryRing::release(std::uint64_t from, std::uint64_t bytes) noexcept {
    // Zero the whole entry, header first cleared with a plain store: nobody else can touch
    // these bytes until m_consumer moves past them below.
    std::memset(static_cast<void*>(m_buffer + (from & (m_capacity - 1))), 0, bytes);
    m_consumer.store(from + bytes, std::memory_order_release);
}

void EntryRing::discard_all() noexcept {
    madvise(m_buffer, m_capacity, MADV_DONTNEED);  // zero again, without touching every page
    m_consumer.store(m_producer.load(std::memory_order_acquire), std::memory_order_release);
}

}  // namespace pyhost::capture
