// A bounded multi-producer, single-consumer ring of variable-length entries.
//
// Producers are the capture sinks: the write() hook (which can run in any thread, with or
// without the GIL, and inside a signal handler such as faulthandler's) and the logging hook.
// So reservation is lock-free (one CAS on the producer cursor) and never allocates: a producer
// that finds the ring full gets `false` back and decides itself whether to wait or drop.
//
// Layout: entries are 8-byte aligned, {header, payload}, and never straddle the end of the
// buffer (a padding entry fills the tail instead). A header's `kind` is 0 until its producer
// commits it; the consumer zeroes every byte it has consumed before giving the space back, so
// bytes of an old payload can never be mistaken for a committed header on the next lap.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

namespace pyhost::capture {

class EntryRing {
public:
    // Capacity in bytes, rounded up to a power of two (at least 64 KiB).
    explicit EntryRing(std::size_t capacity);
    ~EntryRing();
    EntryRing(const EntryRing&) = delete;
    EntryRing& operator=(const EntryRing&) = delete;

    std::size_t capacity() const noexcept { return m_capacity; }

    // The largest payload one entry can carry; producers split or truncate above it.
    std::size_t max_payload() const noexcept { return m_capacity / 4; }

    struct Reservation {
        std::byte* payload = nullptr;
        std::uint32_t size = 0;
        std::uint64_t header_offset = 0;
    };

    // Reserves room for `size` payload bytes (size <= max_payload()). Lock-free and
    // async-signal-safe. Returns false when the ring has no room now.
    bool try_reserve(std::uint32_t size, Reservation& out) noexcept;

    // Publishes a reserved entry with its kind (1..255). Until then the consumer waits at it.
    void commit(const Reservation& reservation, std::uint8_t kind) noexcept;

    // A committed entry, as the consumer sees it.
    struct Entry {
        std::uint8_t kind;
        std::span<const std::byte> payload;
    };

    // Consumer only: hands every committed entry, in order, to `visit(Entry)`, stopping at the
    // first one still being written. Returns the number of entries visited.
    template <class Visit>
    std::size_t consume(Visit&& visit);

    // Consumer only: drops everything reserved so far, committed or not. For a forked child,
    // whose copy of the ring holds the parent's entries and possibly reservations of threads
    // that do not exist in the child.
    void discard_all() noexcept;

    // Bytes reserved and not yet consumed (a snapshot).
    std::size_t used() const noexcept {
        return static_cast<std::size_t>(m_producer.load(std::memory_order_acquire) -
                                        m_consumer.load(std::memory_order_acquire));
    }
    bool empty() const noexcept { return used() == 0; }

private:
    struct Header {
        std::atomic<std::uint8_t> kind;  // 0: not committed; k_padding; or a producer's kind
        std::uint8_t reserved[3];
        std::uint32_t size;  // payload bytes
    };
    static_assert(sizeof(Header) == 8);
    static constexpr std::uint8_t k_padding = 0xff;

    Header* header_at(std::uint64_t position) noexcept {
        return reinterpret_cast<Header*>(m_buffer + (position & (m_capacity - 1)));
    }
    static std::uint64_t entry_bytes(std::uint32_t payload) noexcept {
        return (sizeof(Header) + payload + 7u) & ~std::uint64_t{7};
    }
    void release(std::uint64_t from, std::uint64_t bytes) noexcept;

    std::size_t m_capacity;
    // Anonymous memory: zero-filled by the kernel and only resident once used, so an idle
    // ring costs no RSS and no start-up time.
    std::byte* m_buffer;
    alignas(64) std::atomic<std::uint64_t> m_producer{0};
    alignas(64) std::atomic<std::uint64_t> m_consumer{0};
};

template <class Visit>
std::size_t EntryRing::consume(Visit&& visit) {
    std::size_t visited = 0;
    const std::uint64_t end = m_producer.load(std::memory_order_acquire);
    std::uint64_t position = m_consumer.load(std::memory_order_relaxed);
    while (position < end) {
        Header* header = header_at(position);
        const std::uint8_t kind = header->kind.load(std::memory_order_acquire);
        if (kind == 0) {
            break;  // reserved, not yet committed
        }
        const std::uint64_t bytes = kind == k_padding
                                        ? m_capacity - (position & (m_capacity - 1))
                                        : entry_bytes(header->size);
        if (kind != k_padding) {
            const auto* payload = reinterpret_cast<const std::byte*>(header + 1);
            visit(Entry{kind, {payload, header->size}});
            ++visited;
        }
        release(position, bytes);
        position += bytes;
    }
    return visited;
}

}  // namespace pyhost::capture
