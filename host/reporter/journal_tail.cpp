#include "reporter/journal_tail.hpp"

#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pyhost::reporter {

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
    out.buffer.clear();
    out.lines.clear();
    if (!ensure_open()) {
        return false;
    }
    std::size_t want = max_bytes;
    for (;;) {
        out.buffer.resize(want);
        const ssize_t got = ::pread(m_fd, out.buffer.data(), want, static_cast<off_t>(offset));
        if (got <= 0) {
            out.buffer.clear();
            return false;
        }
        out.buffer.resize(static_cast<std::size_t>(got));
        if (out.buffer.find('\n') != std::string::npos || static_cast<std::size_t>(got) < want) {
            break;
        }
        want *= 2;  // one line longer than max_bytes: read it whole
    }
    std::size_t start = 0;
    while (out.lines.size() < max_records) {
        const std::size_t newline = out.buffer.find('\n', start);
        if (newline == std::string::npos) {
            break;  // an incomplete last line: the writer is still writing it
        }
        out.lines.emplace_back(out.buffer.data() + start, newline - start);
        start = newline + 1;
    }
    out.end = offset + start;
    return !out.lines.empty();
}

}  // namespace pyhost::reporter
