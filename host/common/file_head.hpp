// The first bytes of a file, read into the caller's buffer: no allocation and no stdio, for
// the capture thread (which must not allocate) and for the end of every run.
#pragma once

#include <cerrno>
#include <cstddef>

#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/file_descriptor.hpp"

namespace pyhost {

// Reads `path` from its start into buffer[0, capacity): up to `capacity` bytes, fewer at its
// end. Returns how many were read (a read error ends it early), or -1 when it cannot be opened.
inline ssize_t read_file_head(const char* path, char* buffer, std::size_t capacity) noexcept {
    const FileDescriptor file(::open(path, O_RDONLY | O_CLOEXEC));
    if (file.get() < 0) {
        return -1;
    }
    std::size_t size = 0;
    while (size < capacity) {
        const ssize_t got = ::read(file.get(), buffer + size, capacity - size);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break;
        }
        size += static_cast<std::size_t>(got);
    }
    return static_cast<ssize_t>(size);
}

}  // namespace pyhost
