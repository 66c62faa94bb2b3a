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
