// A growable byte array whose new bytes are left uninitialized, for buffers that a read or a
// compressor fills.
//
// Why not std::string: its resize() writes zeros to every new byte, so each page of a buffer
// sized for the largest batch is faulted in whether or not anything is ever written there. A
// shipper's 4 MiB read buffer and 4 MiB compression bound cost 2,048 page faults in every
// shipped run, one that ships three records included (a shipped `-c pass` took 2.5 ms less CPU
// without them, 60 alternating runs). Here a page is faulted in when it is first written: the
// compressed bytes of a batch touch the first few pages of their bound, and the rest is never
// touched.
//
// With huge pages (the journal's read buffer, which a flood fills whole), a buffer of 2 MiB or
// more is aligned to 2 MiB and advised MADV_HUGEPAGE: one fault per 2 MiB instead of 512, when
// the kernel has transparent huge pages in "madvise" or "always" mode (Debian's default is
// madvise); otherwise the advice is ignored and nothing else changes.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string_view>

#include <sys/mman.h>

namespace pyhost {

class ByteBuffer {
public:
    enum class Pages { small, huge };

    explicit ByteBuffer(Pages pages = Pages::small) : m_pages(pages) {}
    explicit ByteBuffer(std::string_view text) {
        grow(text.size(), 0);
        if (!text.empty()) {
            std::memcpy(m_data.get(), text.data(), text.size());
        }
    }

    char* data() { return m_data.get(); }
    const char* data() const { return m_data.get(); }
    std::size_t size() const { return m_size; }

    // Makes the buffer at least `size` bytes long, keeping its first `keep` bytes (at most its
    // size); the bytes past `keep` are uninitialized. Never shrinks; grows at least twofold, so
    // a buffer that follows a slowly growing size is reallocated a few times, not each time.
    // Throws std::bad_alloc.
    void grow(std::size_t size, std::size_t keep) {
        if (size <= m_size) {
            return;
        }
        size = std::max(size, 2 * m_size);
        Storage bigger = allocate(size);
        if (keep > 0) {
            std::memcpy(bigger.get(), m_data.get(), std::min(keep, m_size));
        }
        m_data = std::move(bigger);
        m_size = size;
    }

private:
    static constexpr std::size_t k_huge_page = std::size_t{2} << 20;
    struct Free {
        void operator()(char* bytes) const { std::free(bytes); }
    };
    using Storage = std::unique_ptr<char[], Free>;

    Storage allocate(std::size_t& size) const {
        void* bytes = nullptr;
        if (m_pages == Pages::huge && size >= k_huge_page) {
            size = (size + k_huge_page - 1) / k_huge_page * k_huge_page;
            bytes = std::aligned_alloc(k_huge_page, size);
            if (bytes != nullptr) {
                ::madvise(bytes, size, MADV_HUGEPAGE);  // advice: failing changes nothing
            }
        } else {
            bytes = std::malloc(size);
        }
        if (bytes == nullptr) {
            throw std::bad_alloc();
        }
        return Storage(static_cast<char*>(bytes));
    }

    Pages m_pages = Pages::small;
    Storage m_data;
    std::size_t m_size = 0;
};

}  // namespace pyhost
