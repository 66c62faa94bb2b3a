// pyhost's own diagnostics (never the program's output).
//
// Records go to stderr as "pyhost[PID]: LEVEL: message", one write() each, filtered by
// PYHOST_LOG_LEVEL (trace, debug, info, warning, error, off; default: error): a run that
// logs nothing pays one integer comparison per call site. Not Boost.Log, which pyhost used
// until 2026-12-06: its static initializers, and those of Boost.Thread and Boost.Filesystem
// that it brings, ran at every start whether anything was logged or not (see README,
// "Benchmarks").
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace pyhost::diag {

enum class Level { trace, debug, info, warning, error, off };

// Parses a PYHOST_LOG_LEVEL word; returns false for an unknown word.
bool parse_level(std::string_view word, Level& level) noexcept;

// The threshold read from PYHOST_LOG_LEVEL on first use.
Level threshold() noexcept;

inline bool enabled(Level level) noexcept { return level >= threshold() && level != Level::off; }

// Emits one record. Thread-safe; never throws.
void write(Level level, std::string_view message) noexcept;

// Text of pyhost's own on stderr as it is (a usage error, what a command did): the parts, in
// one write through C stdio's unbuffered stderr (where std::cerr's bytes went, so capture
// records them as native output of fd 2, as before). pyhost does not use std::cerr nor
// std::cout: <iostream>'s static initializer (the eight standard streams and the classic
// locale) cost every start 90 us here (a static C++ `int main() {}` with and without it,
// 1,500 interleaved runs), and pyhost starts far more often than it prints.
void to_stderr(std::string_view text) noexcept;
template <class... Parts>
void to_stderr(const Parts&... parts) noexcept {
    try {
        std::string text;
        (text.append(std::string_view(parts)), ...);
        to_stderr(std::string_view(text));
    } catch (...) {
        (to_stderr(std::string_view(parts)), ...);  // no memory: a write per part
    }
}

// True while this thread writes a diagnostic to stderr. The capture write() hook sends those
// bytes to the console only: pyhost's diagnostics are never the program's output.
bool writing_now() noexcept;

// One record built with <<, emitted when the statement ends.
class Record {
public:
    explicit Record(Level level) : m_level(level) {}
    Record(const Record&) = delete;
    Record& operator=(const Record&) = delete;
    ~Record() { write(m_level, m_text.view()); }
    std::ostringstream& stream() { return m_text; }

private:
    Level m_level;
    std::ostringstream m_text;
};

}  // namespace pyhost::diag

// PYHOST_LOG(info) << "text"; the stream expression is not evaluated when the level is off.
#define PYHOST_LOG(level)                                                   \
    if (!::pyhost::diag::enabled(::pyhost::diag::Level::level)) {          \
    } else                                                                  \
        ::pyhost::diag::Record(::pyhost::diag::Level::level).stream()
