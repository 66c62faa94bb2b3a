#include "diag/log.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

#include <unistd.h>

namespace pyhost::diag {
namespace {

constexpr std::string_view k_level_names[] = {"trace", "debug", "info", "warning", "error", "off"};

std::string_view name_of(Level level) { return k_level_names[static_cast<int>(level)]; }

Level read_threshold() noexcept {
    const char* word = std::getenv("PYHOST_LOG_LEVEL");
    Level level = Level::error;
    if (word != nullptr && *word != '\0' && !parse_level(word, level)) {
        // A typo must not silence errors; say so once, in the format of any other record.
        to_stderr("pyhost: warning: PYHOST_LOG_LEVEL=", word,
                  " is not one of trace, debug, info, warning, error, off; using error\n");
        level = Level::error;
    }
    return level;
}

thread_local bool t_writing = false;

// Writes all of `text` to fd 2 by write(2) itself, not through C stdio: under capture, fd 2
// may be a pipe that pyhost reads as the program's native output, and the write() hook must
// see (and route) these bytes. One write() per record keeps records whole when threads log at
// once (a pipe takes up to PIPE_BUF bytes in one piece; a terminal or an O_APPEND file, a
// whole write).
void write_stderr(std::string_view text) noexcept {
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(2, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        done += static_cast<std::size_t>(n);
    }
}

}  // namespace

bool parse_level(std::string_view word, Level& level) noexcept {
    for (int i = 0; i < static_cast<int>(std::size(k_level_names)); ++i) {
        if (word == k_level_names[i]) {
            level = static_cast<Level>(i);
            return true;
        }
    }
    return false;
}

Level threshold() noexcept {
    static const Level value = read_threshold();
    return value;
}

void write(Level level, std::string_view message) noexcept {
    if (!enabled(level)) {
        return;
    }
    const bool previous = t_writing;
    t_writing = true;
    // "pyhost[PID]: LEVEL: message" in one write(). (The message comes from Record's
    // ostringstream: this is not a path that avoids allocating.)
    char head[48];
    const int length = std::snprintf(head, sizeof head, "pyhost[%d]: %.*s: ", static_cast<int>(::getpid()),
                                     static_cast<int>(name_of(level).size()), name_of(level).data());
    const std::string_view prefix(head, static_cast<std::size_t>(std::clamp(length, 0, static_cast<int>(sizeof head) - 1)));
    try {
        std::string record;
        record.reserve(prefix.size() + message.size() + 1);
        record.append(prefix).append(message) += '\n';
        write_stderr(record);
    } catch (const std::bad_alloc&) {
        write_stderr(prefix);  // no memory for the record: three writes
        write_stderr(message);
        write_stderr("\n");
    }
    t_writing = previous;
}

void to_stderr(std::string_view text) noexcept { (void)std::fwrite(text.data(), 1, text.size(), stderr); }

bool writing_now() noexcept { return t_writing; }

}  // namespace pyhost::diag
