#include "reporter/journal_tail.hpp"

#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pyhost::reporter {
namespace {

// Splits batch.buffer[0, filled) into complete lines, at most max_records; sets batch.end.
void split_lines(Batch& batch, std::size_t filled, std::size_t max_records) {
    batch.lines.clear();
    const std::string_view bytes = std::string_view(batch.buffer).substr(0, filled);
    std::size_t start = 0;
    while (batch.lines.size() < max_records) {
        const std::size_t newline = bytes.find('\n', start);
        if (newline == std::string_view::npos) {
            break;  // an incomplete last line: the writer is still writing it
        }
        batch.lines.emplace_back(bytes.data() + start, newline - start);
        start = newline + 1;
    }
    batch.end = batch.begin + start;
}

}  // namespace

Batch batch_of_text(std::string text, std::uint64_t offset, std::size_t max_records) {
    Batch batch;
    batch.begin = offset;
    batch.buffer = std::move(text);
    split_lines(batch, batch.buffer.size(), max_records);
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
    if (!ensure_open()) {
        return false;
    }
    std::size_t want = max_bytes;
    std::size_t filled = 0;
    for (;;) {
        // Grown, never shrunk: a fresh buffer per read would cost its page faults (and
        // resize()'s zero-filling) on every batch, for the whole journal.
        if (out.buffer.size() < want) {
            out.buffer.resize(want);
        }
        const ssize_t got = ::pread(m_fd, out.buffer.data(), want, static_cast<off_t>(offset));
        if (got <= 0) {
            return false;
        }
        filled = static_cast<std::size_t>(got);
        if (std::memchr(out.buffer.data(), '\n', filled) != nullptr || filled < want) {
            break;
        }
        want *= 2;  // one line longer than max_bytes: read it whole
    }
    split_lines(out, filled, max_records);
    return !out.lines.empty();
}

}  // namespace pyhost::reporter
