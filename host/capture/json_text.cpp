#include "capture/json_text.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <ctime>

namespace pyhost::capture::json {
namespace {

constexpr char k_hex[] = "0123456789abcdef";

// Length of the valid UTF-8 sequence starting at text[i], or 0 if it is not valid
// (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char lead = byte(i);
    const std::size_t left = text.size() - i;
    const auto continuation = [&](std::size_t k) { return (byte(k) & 0xC0) == 0x80; };
    if (lead >= 0xC2 && lead <= 0xDF) {
        return left >= 2 && continuation(i + 1) ? 2 : 0;
    }
    if (lead >= 0xE0 && lead <= 0xEF) {
        if (left < 3 || !continuation(i + 1) || !continuation(i + 2)) {
            return 0;
        }
        const unsigned char second = byte(i + 1);
        if ((lead == 0xE0 && second < 0xA0) || (lead == 0xED && second > 0x9F)) {
            return 0;
        }
        return 3;
    }
    if (lead >= 0xF0 && lead <= 0xF4) {
        if (left < 4 || !continuation(i + 1) || !continuation(i + 2) || !continuation(i + 3)) {
            return 0;
        }
        const unsigned char second = byte(i + 1);
        if ((lead == 0xF0 && second < 0x90) || (lead == 0xF4 && second > 0x8F)) {
            return 0;
        }
        return 4;
    }
    return 0;
}

void append_u_escape(std::string& out, unsigned value) {
    out += "\\u";
    out += k_hex[(value >> 12) & 0xF];
    out += k_hex[(value >> 8) & 0xF];
    out += k_hex[(value >> 4) & 0xF];
    out += k_hex[value & 0xF];
}

}  // namespace

// Bytes that cannot be copied as they are: controls, quote, backslash, and every byte of a
// multi-byte sequence (which must be validated).
constexpr bool k_special[256] = {
#define PYHOST_S16(a) a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a
    PYHOST_S16(true), PYHOST_S16(true),
    false, false, true, false, false, false, false, false, false, false, false, false, false, false, false, false,
    PYHOST_S16(false), PYHOST_S16(false),
    false, false, false, false, false, false, false, false, false, false, false, false, true, false, false, false,
    PYHOST_S16(false), PYHOST_S16(false),
    PYHOST_S16(true), PYHOST_S16(true), PYHOST_S16(true), PYHOST_S16(true),
    PYHOST_S16(true), PYHOST_S16(true), PYHOST_S16(true), PYHOST_S16(true),
#undef PYHOST_S16
};

namespace {

// Whether any of the eight bytes of `word` is special (see k_special): below 0x20, '"', '\\'
// or 0x80 and above. Exact as a yes/no answer (the borrows of the zero-byte tests only spill
// above a byte that is itself a match).
bool any_special(std::uint64_t word) {
    constexpr std::uint64_t ones = 0x0101010101010101ULL;
    constexpr std::uint64_t highs = 0x8080808080808080ULL;
    const auto any_zero = [&](std::uint64_t x) { return ((x - ones) & ~x & highs) != 0; };
    const bool below_space = ((word - ones * 0x20) & ~word & highs) != 0;
    return (word & highs) != 0 || below_space || any_zero(word ^ (ones * '"')) || any_zero(word ^ (ones * '\\'));
}

}  // namespace

void append_string(std::string& out, std::string_view text) {
    out += '"';
    std::size_t i = 0;
    std::size_t run_start = 0;  // start of bytes that pass through unchanged
    const auto flush_run = [&] { out.append(text.data() + run_start, i - run_start); };
    const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
    while (i < text.size()) {
        // Plain text eight bytes at a time: the journal escapes every line a program prints.
        for (std::uint64_t word = 0; i + 8 <= text.size(); i += 8) {
            std::memcpy(&word, bytes + i, 8);
            if (any_special(word)) {
                break;
            }
        }
        if (i >= text.size()) {
            break;
        }
        const unsigned char c = bytes[i];
        if (!k_special[c]) {
            ++i;
            continue;
        }
        if (c >= 0x80) {
            const std::size_t length = utf8_sequence_length(text, i);
            if (length != 0) {
                i += length;
                continue;
            }
            flush_run();
            append_u_escape(out, 0xDC00u + c);
            run_start = ++i;
            continue;
        }
        flush_run();
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default: append_u_escape(out, c); break;
        }
        run_start = ++i;
    }
    flush_run();
    out += '"';
}

namespace {

// Writes the quoted RFC 3339 text of `unix_micros` ("YYYY-MM-DDTHH:MM:SS.uuuuuuZ" with its
// quotes) and returns its length. No allocation: the capture thread formats its first record
// with it, and a first malloc() on that thread would create a glibc arena (an mmap, two munmaps
// and an mprotect, each a TLB shootdown to the CPU running the program).
std::size_t format_timestamp(char (&buffer)[k_timestamp_capacity], std::int64_t unix_micros) {
    std::int64_t seconds = unix_micros / 1'000'000;
    std::int64_t micros = unix_micros % 1'000'000;
    if (micros < 0) {
        micros += 1'000'000;
        --seconds;
    }
    const std::time_t t = static_cast<std::time_t>(seconds);
    std::tm utc{};
    gmtime_r(&t, &utc);
    const int n = std::snprintf(buffer, sizeof buffer, "\"%04d-%02d-%02dT%02d:%02d:%02d.%06dZ\"",
                                utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
                                utc.tm_min, utc.tm_sec, static_cast<int>(micros));
    return std::min(static_cast<std::size_t>(n), sizeof buffer - 1);
}

}  // namespace

void append_timestamp(std::string& out, std::int64_t unix_micros) {
    char buffer[k_timestamp_capacity];
    out.append(buffer, format_timestamp(buffer, unix_micros));
}

std::string_view TimestampFormatter::format(std::int64_t unix_micros) {
    if (unix_micros != m_micros) {
        std::int64_t second = unix_micros / 1'000'000;
        std::int64_t micros = unix_micros % 1'000'000;
        if (micros < 0) {
            micros += 1'000'000;
            --second;
        }
        if (second != m_second) {
            m_size = format_timestamp(m_text, unix_micros);
            m_second = second;
        } else {
            // Rewrite the six microsecond digits before `Z"`.
            char* digit = m_text + m_size - 3;
            for (int k = 0; k < 6; ++k) {
                *digit-- = static_cast<char>('0' + micros % 10);
                micros /= 10;
            }
        }
        m_micros = unix_micros;
    }
    return {m_text, m_size};
}

void append_int(std::string& out, std::int64_t value) {
    char buffer[24];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
    out.append(buffer, result.ptr);
}

}  // namespace pyhost::capture::json
