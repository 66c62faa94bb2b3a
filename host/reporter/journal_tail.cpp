#include "reporter/journal_tail.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pyhost::reporter {
namespace {

// Counts the lines of data[0, size), which ends with a newline, up to `max`: how many, and
// where the last one counted ends. The shipper of a flood looks at every byte the program
// printed here once: sixteen bytes per comparison, summed in byte lanes a chunk at a time
// (no popcount: x86-64's baseline lacks the instruction, and libgcc's is slower than a
// loop); the chunk holding the limit, and the tail, a byte at a time.
std::pair<std::size_t, std::size_t> count_lines(const char* data, std::size_t size, std::size_t max) {
    std::size_t count = 0;
    std::size_t i = 0;
    if (max == 0) {
        return {0, 0};
    }
#if defined(__SSE2__)
    constexpr std::size_t k_chunk = 255 * 16;  // a byte lane counts to 255
    const __m128i newline = _mm_set1_epi8('\n');
    while (size - i >= k_chunk) {
        __m128i lanes = _mm_setzero_si128();
        for (std::size_t block = i; block < i + k_chunk; block += 16) {
            const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + block));
            lanes = _mm_sub_epi8(lanes, _mm_cmpeq_epi8(bytes, newline));  // a match is -1
        }
        const __m128i sums = _mm_sad_epu8(lanes, _mm_setzero_si128());  // two sums of 8 lanes
        const auto here = static_cast<std::size_t>(_mm_cvtsi128_si32(sums) + _mm_extract_epi16(sums, 4));
        if (count + here >= max) {
            break;
        }
        count += here;
        i += k_chunk;
    }
#endif
    for (; i < size; ++i) {
        if (data[i] == '\n' && ++count == max) {
            return {max, i + 1};
        }
    }
    return {count, size};
}

// Takes a batch from the complete lines in buffer[head, filled): at most max_records lines,
// and no more than max_bytes unless the first line alone is longer. Sets batch.records and
// batch.end. True when a limit ended the batch (it is full), false when the lines ran out.
//
// A batch that is not full is taken again, from the same line, as the journal grows (a
// shipper waits for it to fill): if batch.begin is that line, the lines it counted up to
// batch.end are not counted again (recounting had the shipper of a flood scan each journal
// byte 2.4 times).
bool take_lines(Batch& batch, std::size_t head, std::size_t max_records, std::size_t max_bytes) {
    const char* bytes = batch.buffer.data();
    std::size_t stop = batch.filled;  // the byte limit: the batch ends at or before it
    if (stop - head > max_bytes) {
        // The last newline within max_bytes; if there is none, the first line's, read whole.
        const void* within = ::memrchr(bytes + head, '\n', max_bytes);
        const void* ending = within != nullptr ? within : std::memchr(bytes + head, '\n', stop - head);
        stop = static_cast<std::size_t>(static_cast<const char*>(ending) - bytes) + 1;
    }
    const std::uint64_t begin = batch.base + head;
    if (max_records == k_uncounted) {
        batch.begin = begin;
        batch.end = batch.base + stop;
        batch.records = stop > head ? k_uncounted : 0;
        return stop < batch.filled;
    }
    std::size_t counted = 0;   // lines in [head, from)
    std::size_t from = head;
    if (batch.begin == begin && batch.end >= begin && batch.end <= batch.base + stop &&
        batch.records <= max_records && batch.records != k_uncounted) {
        counted = batch.records;
        from = static_cast<std::size_t>(batch.end - batch.base);
    }
    const auto [records, length] = count_lines(bytes + from, stop - from, max_records - counted);
    batch.begin = begin;
    batch.records = counted + records;
    batch.end = batch.base + from + length;
    return from + length < batch.filled;
}

// The length of the complete lines at the start of bytes (up to and with the last newline).
std::size_t complete_prefix(const char* bytes, std::size_t size) {
    const void* last = size == 0 ? nullptr : ::memrchr(bytes, '\n', size);
    return last == nullptr ? 0 : static_cast<std::size_t>(static_cast<const char*>(last) - bytes) + 1;
}

}  // namespace

std::size_t Batch::count_records() const {
    if (records != k_uncounted) {
        return records;
    }
    const std::string_view bytes = text();
    return count_lines(bytes.data(), bytes.size(), k_uncounted).first;
}

Batch batch_of_text(std::string_view text, std::uint64_t offset, std::size_t max_records) {
    Batch batch;
    batch.begin = batch.end = batch.base = offset;
    batch.filled = complete_prefix(text.data(), text.size());
    batch.buffer = ByteBuffer(text);
    take_lines(batch, 0, max_records, static_cast<std::size_t>(-1));
    return batch;
}

JournalTail::JournalTail(std::string path) : m_path(std::move(path)) {}

JournalTail::~JournalTail() {
    if (m_fd >= 0) {
        ::close(m_fd);
    }
}

bool JournalTail::ensure_open() {
    if (m_fd < 0) {
        m_fd = ::open(m_path.c_str(), O_RDONLY | O_CLOEXEC);
    }
    return m_fd >= 0;
}

std::uint64_t JournalTail::size() {
    struct stat st {};
    if (!ensure_open() || fstat(m_fd, &st) != 0) {
        return 0;
    }
    return static_cast<std::uint64_t>(st.st_size);
}

bool JournalTail::read(std::uint64_t offset, std::size_t max_records, std::size_t max_bytes, Batch& out) {
    if (out.begin != offset) {
        out.begin = out.end = offset;  // a batch from another line: nothing counted yet
        out.records = 0;
    }
    if (offset < out.base || offset > out.base + out.filled) {
        out.base = offset;  // not where the previous batch left off: nothing to reuse
        out.filled = 0;
    }
    if (take_lines(out, static_cast<std::size_t>(offset - out.base), max_records, max_bytes)) {
        return true;  // a whole batch from bytes read before
    }
    if (!ensure_open()) {
        out.records = 0;
        out.end = offset;
        return false;
    }
    // Too few lines held: keep them, moved to the front, and read what follows.
    const std::size_t head = static_cast<std::size_t>(offset - out.base);
    if (head > 0) {
        std::memmove(out.buffer.data(), out.buffer.data() + head, out.filled - head);
        out.filled -= head;
        out.base = offset;
    }
    std::size_t got_total = out.filled;
    // No more than the journal holds (and at least a byte more than is held, to see whether
    // it grew since): the buffer is sized by what there is to ship, so the few records of a
    // short run do not fault in a batch-sized buffer, nor zero a huge page for it.
    const std::uint64_t journal_size = size();
    const std::uint64_t unread = journal_size > out.base ? journal_size - out.base : 0;
    std::size_t want = unread < max_bytes ? std::max(static_cast<std::size_t>(unread), got_total + 1) : max_bytes;
    for (;;) {
        // Grown, never shrunk: a fresh buffer per read would cost its page faults on every
        // batch, for the whole journal.
        out.buffer.grow(want, got_total);
        if (got_total < want) {
            const ssize_t got = ::pread(m_fd, out.buffer.data() + got_total, want - got_total,
                                        static_cast<off_t>(out.base + got_total));
            if (got > 0) {
                got_total += static_cast<std::size_t>(got);
            }
        }
        out.filled = complete_prefix(out.buffer.data(), got_total);
        if (out.filled > 0 || got_total < want) {
            break;  // lines to ship, or the end of what the journal holds
        }
        want *= 2;  // one line longer than max_bytes: read it whole
    }
    take_lines(out, 0, max_records, max_bytes);
    return !out.empty();
}

}  // namespace pyhost::reporter
