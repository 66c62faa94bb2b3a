// What the capture sinks put in the ring, and how the journal thread reads it back.
//
// Every entry starts with a fixed prelude (timestamp, pid); a stream chunk then carries raw
// bytes, and the other kinds carry a list of fields (tag, length, bytes). Producers format
// nothing: turning entries into JSON lines is the journal thread's work, off the program's
// threads and without the GIL.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

namespace pyhost::capture {

enum class EntryKind : std::uint8_t {
    stream = 1,  // bytes written to stdout or stderr, by the interpreter or natively
    log = 2,     // one logging record
    status = 3,  // a run status (running, finished, failed, stopped)
    host = 4,    // pyhost's own note about the run (dropped records, journal errors)
};

enum class Stream : std::uint8_t { stdout_ = 1, stderr_ = 2, native = 3 };

// Set on stream bytes written by a logging handler while it handles a captured record: they
// belong in the console log, but the record itself is already in the journal.
constexpr std::uint8_t k_echo_of_log_record = 1;

// Told each time records reach the journal file: how many records and bytes this writer has
// put there so far. Runs on the thread writing the journal (the capture thread; at the end
// of the run, the one ending it): it must return at once, never block for long, never
// allocate.
using JournalObserver = void (*)(std::uint64_t records, std::uint64_t bytes) noexcept;

struct Prelude {
    std::int64_t ts_micros;  // UTC, microseconds since the epoch
    std::int32_t pid;        // the process that produced it (forked children included)
    Stream stream;           // stream entries only
    std::uint8_t fd;         // the file descriptor written to (1 or 2)
    std::uint8_t flags;
    std::uint8_t unused = 0;
};
static_assert(sizeof(Prelude) == 16);

// Field tags of log, status and host entries.
enum class Field : std::uint8_t {
    level,       // text: DEBUG..CRITICAL
    levelno,     // integer
    logger,
    message,
    file,
    line,        // integer
    func,
    thread,
    exc,         // formatted traceback
    stack,       // stack_info
    extra_key,   // followed by extra_value
    extra_value, // a JSON value, already encoded
    status,      // running | finished | failed | stopped | timed_out
    exit_code,   // integer
    signal,      // text: SIGTERM
    exc_type,
    exc_message,
    detail,      // JSON object members, already encoded (`"a":1,"b":"x"`)
    component_status,  // what a component's own healthcheck() said (Splight)
};

// Builds the field list of one entry in a reusable buffer.
class FieldList {
public:
    void clear() { m_bytes.clear(); }  // keeps the capacity
    void reserve(std::size_t bytes) { m_bytes.reserve(bytes); }
    void add(Field tag, std::string_view value) {
        // One resize and two copies: the logging hook adds about ten fields per record.
        const auto size = static_cast<std::uint32_t>(value.size());
        const std::size_t at = m_bytes.size();
        m_bytes.resize(at + 1 + sizeof size + value.size());
        char* out = m_bytes.data() + at;
        out[0] = static_cast<char>(tag);
        std::memcpy(out + 1, &size, sizeof size);
        std::memcpy(out + 1 + sizeof size, value.data(), value.size());
    }
    void add_int(Field tag, std::int64_t value) {
        add(tag, std::string_view(reinterpret_cast<const char*>(&value), sizeof value));
    }
    std::string_view bytes() const { return m_bytes; }

private:
    std::string m_bytes;
};

// Walks a field list: visit(Field, std::string_view) for each field.
template <class Visit>
void for_each_field(std::span<const std::byte> bytes, Visit&& visit) {
    std::size_t i = 0;
    while (i + 5 <= bytes.size()) {
        const auto tag = static_cast<Field>(bytes[i]);
        std::uint32_t size = 0;
        std::memcpy(&size, bytes.data() + i + 1, sizeof size);
        i += 5;
        if (size > bytes.size() - i) {
            return;  // truncated entry: stop rather than read past it
        }
        visit(tag, std::string_view(reinterpret_cast<const char*>(bytes.data() + i), size));
        i += size;
    }
}

inline std::int64_t field_int(std::string_view value) {
    std::int64_t out = 0;
    if (value.size() == sizeof out) {
        std::memcpy(&out, value.data(), sizeof out);
    }
    return out;
}

}  // namespace pyhost::capture
