// The little JSON the journal needs, written by hand: the reporter thread formats about a
// million records per second and must not build a document tree per record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pyhost::capture::json {

// Appends `text` as a JSON string (with quotes). Valid UTF-8 passes through (control
// characters, quote and backslash escaped); each byte of invalid UTF-8 becomes a lone
// surrogate escape \udc80..\udcff, Python's surrogateescape, so the original bytes can be
// recovered exactly (json.loads(...).encode("utf-8", "surrogateescape")).
void append_string(std::string& out, std::string_view text);

// Room for a quoted timestamp as below (29 bytes) and snprintf's terminator, for any int64.
inline constexpr std::size_t k_timestamp_capacity = 40;

// Appends a UTC timestamp, microsecond resolution: "2026-11-22T05:09:45.123456Z".
void append_timestamp(std::string& out, std::int64_t unix_micros);

// The same, for a stream of mostly increasing timestamps: remembers the last one formatted,
// so a run of records from one chunk or one second costs a copy, not a calendar computation.
class TimestampFormatter {
public:
    void append(std::string& out, std::int64_t unix_micros) { out.append(format(unix_micros)); }
    // The quoted text of `unix_micros`; valid until the next call.
    std::string_view format(std::int64_t unix_micros);

private:
    std::int64_t m_micros = -1;
    std::int64_t m_second = -1;
    char m_text[k_timestamp_capacity] = {};  // "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" with quotes
    std::size_t m_size = 0;
};

// Appends a decimal integer.
void append_int(std::string& out, std::int64_t value);

}  // namespace pyhost::capture::json
