#include "reporter/journal_tail.hpp"

#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pyhost::reporter {
namespace {

// Takes batch.lines from the complete lines in buffer[head, filled), starting a batch at
// `head`: at most max_records lines, and no more than max_bytes unless the first line alone
// is longer. Sets batch.end. True when a limit ended the batch (it is full), false when the
// lines ran out.
bool take_lines(Batch& batch, std::size_t head, std::size_t max_records, std::size_t max_bytes) {
    batch.lines.clear();
    const std::string_view bytes = std::string_view(batch.buffer).substr(0, batch.filled);
    std::size_t start = head;
    bool full = false;
    while (start < bytes.size()) {
        if (batch.lines.size() >= max_records) {
            full = true;
            break;
        }
        const std::size_t newline = bytes.find('\n', start);
        if (newline == std::string_view::npos) {
            break;  // cannot happen: the buffer holds complete lines only
        }
        if (!batch.lines.empty() && newline + 1 - head > max_bytes) {
            full = true;
            break;
        }
        batch.lines.emplace_back(bytes.data() + start, newline - start);
        start = newline + 1;
    }
    batch.end = batch.base + start;
    return full;
}

// The length of the complete lines at the start of bytes (up to and with the last newline).
std::size_t complete_prefix(const char* bytes, std::size_t size) {
    const void* last = size == 0 ? nullptr : ::memrchr(bytes, '\n', size);
    return last == nullptr ? 0 : static_cast<std::size_t>(static_cast<const char*>(last) - bytes) + 1;
}

}  // namespace

Batch batch_of_text(std::string text, std::uint64_t offset, std::size_t max_records) {
    Batch batch;
    batch.begin = batch.base = offset;
    batch.filled = complete_prefix(text.data(), text.size());
    batch.buffer = std::move(text);
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
    out.begin = offset;
    out.end = offset;
    out.lines.clear();
    if (offset < out.base || offset > out.base + out.filled) {
        out.base = offset;  // not where the previous batch left off: nothing to reuse
        out.filled = 0;
    }
    if (take_lines(out, static_cast<std::size_t>(offset - out.base), max_records, max_bytes)) {
        return true;  // a whole batch from bytes read before
    }
    if (!ensure_open()) {
        out.lines.clear();
        return false;
    }
    // Too few lines held: keep them, moved to the front, and read what follows.
    const std::size_t head = static_cast<std::size_t>(offset - out.base);
    if (head > 0) {
        std::memmove(out.buffer.data(), out.buffer.data() + head, out.filled - head);
        out.filled -= head;
        out.base = offset;
    }
    std::size_t want = max_bytes;
    std::size_t got_total = out.filled;
    for (;;) {
        // Grown, never shrunk: a fresh buffer per read would cost its page faults (and
        // resize()'s zero-filling) on every batch, for the whole journal.
        if (out.buffer.size() < want) {
            out.buffer.resize(want);
        }
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
    return !out.lines.empty();
}

}  // namespace pyhost::reporter
