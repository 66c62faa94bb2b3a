#include "capture/block_reserve.hpp"

#include <cerrno>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pyhost::capture {

void BlockReserve::attach(int fd) noexcept {
    struct stat st {};
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        return;
    }
    m_fd = fd;
    m_end = static_cast<std::uint64_t>(st.st_size);
    m_reserved = m_end;
}

void BlockReserve::before_append(std::size_t bytes) noexcept {
    const std::uint64_t new_end = m_end + bytes;
    if (m_fd < 0 || new_end <= m_reserved || new_end < m_start) {
        return;
    }
    // From what is reserved (or the end, the first time) to a step past the new end.
    const std::uint64_t from = m_reserved > m_end ? m_reserved : m_end;
    const std::uint64_t to = new_end + m_step;
    int result;
    do {
        result = ::fallocate(m_fd, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(from), static_cast<off_t>(to - from));
    } while (result != 0 && errno == EINTR);
    if (result != 0) {
        // Not supported here, or no room for the stretch: append as if never asked. (A full
        // disk is reported by the write itself, if it comes to that.)
        release();
        return;
    }
    m_reserved = to;
}

void BlockReserve::release() noexcept {
    if (m_fd < 0) {
        return;
    }
    struct stat st {};
    if (m_reserved > m_end && fstat(m_fd, &st) == 0 && static_cast<std::uint64_t>(st.st_size) == m_end) {
        // The same size: only the blocks past the end go.
        (void)::ftruncate(m_fd, static_cast<off_t>(m_end));
    }
    m_fd = -1;
    m_reserved = m_end;
}

namespace {

// Whether a regular file has blocks past what its bytes need (rounded to the block, with room
// for a large file's extent blocks: a reservation is a stretch of megabytes).
bool has_blocks_past_end(const struct stat& st) {
    constexpr std::uint64_t k_slack = 64 * 1024;
    const auto size = static_cast<std::uint64_t>(st.st_size);
    const std::uint64_t needed = (size + 4095) / 4096 * 4096;
    return S_ISREG(st.st_mode) && static_cast<std::uint64_t>(st.st_blocks) * 512 > needed + k_slack;
}

}  // namespace

void release_blocks_past_end(const std::string& path) noexcept {
    // Looked at first, opened only if there is something to give back: the next run looks at
    // every journal an earlier one left in the state directory.
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !has_blocks_past_end(st)) {
        return;
    }
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        return;
    }
    if (fstat(fd, &st) == 0 && has_blocks_past_end(st)) {
        (void)::ftruncate(fd, st.st_size);
    }
    ::close(fd);
}

}  // namespace pyhost::capture
