#include "capture/json_text.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <memory>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

char* write_u_escape(char* out, unsigned value) {
    out[0] = '\\';
    out[1] = 'u';
    out[2] = k_hex[(value >> 12) & 0xF];
    out[3] = k_hex[(value >> 8) & 0xF];
    out[4] = k_hex[(value >> 4) & 0xF];
    out[5] = k_hex[value & 0xF];
    return out + 6;
}

}  // namespace

namespace {

// Copies k bytes, sizeof(Word) <= k <= 2 * sizeof(Word), as two words that overlap.
template <class Word>
inline void copy_both_ends(char* to, const char* from, std::size_t k) {
    Word head;
    Word tail;
    std::memcpy(&head, from, sizeof head);
    std::memcpy(&tail, from + k - sizeof tail, sizeof tail);
    std::memcpy(to, &head, sizeof head);
    std::memcpy(to + k - sizeof tail, &tail, sizeof tail);
}

// Copies k < 16 bytes exactly, inline.
inline void copy_short(char* to, const char* from, std::size_t k) {
    if (k >= 8) {
        copy_both_ends<std::uint64_t>(to, from, k);
    } else if (k >= 4) {
        copy_both_ends<std::uint32_t>(to, from, k);
    } else if (k > 0) {
        to[0] = from[0];
        to[k / 2] = from[k / 2];
        to[k - 1] = from[k - 1];
    }
}

// Copies to `out` the bytes at the start of p[0, n) that a JSON string holds as they are:
// those before the first control character, quote, backslash or byte of 0x80 and above (a
// multi-byte sequence, which must be validated). Returns how many. Sixteen bytes at a time,
// each block stored before it is looked at, so up to 16 bytes past the plain ones are
// garbage (see quoted_bound()); p[0, n) is read exactly (it may end where the ring does).
std::size_t copy_plain(char* out, const char* p, std::size_t n) {
#if defined(__SSE2__)
    // One signed comparison finds both the controls (0x00-0x1f) and the bytes >= 0x80, which
    // are negative as signed chars.
    const __m128i space = _mm_set1_epi8(0x20);
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const auto specials = [&](__m128i v) {
        const __m128i hit = _mm_or_si128(_mm_cmplt_epi8(v, space),
                                         _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
        return static_cast<unsigned>(_mm_movemask_epi8(hit));
    };
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), block);
        if (const unsigned mask = specials(block)) {
            return i + static_cast<std::size_t>(__builtin_ctz(mask));
        }
    }
    if (i < n) {
        alignas(16) char tail[16] = {};
        copy_short(tail, p + i, n - i);
        const __m128i block = _mm_load_si128(reinterpret_cast<const __m128i*>(tail));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), block);
        if (const unsigned mask = specials(block) & ((1u << (n - i)) - 1)) {
            return i + static_cast<std::size_t>(__builtin_ctz(mask));
        }
    }
    return n;
#else
    std::size_t i = 0;
    while (i < n) {
        const auto c = static_cast<unsigned char>(p[i]);
        if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) {
            break;
        }
        out[i] = p[i];
        ++i;
    }
    return i;
#endif
}

}  // namespace

char* write_string(char* out, std::string_view text) {
    *out++ = '"';
    const char* bytes = text.data();
    std::size_t i = 0;
    while (i < text.size()) {
        const std::size_t plain = copy_plain(out, bytes + i, text.size() - i);
        out += plain;
        i += plain;
        if (i >= text.size()) {
            break;
        }
        const auto c = static_cast<unsigned char>(bytes[i]);
        if (c >= 0x80) {
            if (const std::size_t length = utf8_sequence_length(text, i); length != 0) {
                std::memcpy(out, bytes + i, length);
                out += length;
                i += length;
            } else {
                out = write_u_escape(out, 0xDC00u + c);
                ++i;
            }
            continue;
        }
        const char* escape = nullptr;
        switch (c) {
        case '"': escape = "\\\""; break;
        case '\\': escape = "\\\\"; break;
        case '\n': escape = "\\n"; break;
        case '\r': escape = "\\r"; break;
        case '\t': escape = "\\t"; break;
        case '\b': escape = "\\b"; break;
        case '\f': escape = "\\f"; break;
        default: break;
        }
        if (escape != nullptr) {
            out[0] = escape[0];
            out[1] = escape[1];
            out += 2;
        } else {
            out = write_u_escape(out, c);
        }
        ++i;
    }
    *out++ = '"';
    return out;
}

void append_string(std::string& out, std::string_view text) {
    // Short texts (most) through the stack, without zero-filling room they may not use.
    constexpr std::size_t k_short = 256;
    if (text.size() <= k_short) {
        char buffer[quoted_bound(k_short)];
        out.append(buffer, write_string(buffer, text));
        return;
    }
    const std::size_t old = out.size();
    out.resize(old + quoted_bound(text.size()));
    out.resize(static_cast<std::size_t>(write_string(out.data() + old, text) - out.data()));
}

void TextBuffer::grow(std::size_t capacity) {
    auto bigger = std::make_unique_for_overwrite<char[]>(capacity);
    std::memcpy(bigger.get(), m_data.get(), m_size);
    m_data = std::move(bigger);
    m_capacity = capacity;
}

void TextBuffer::append_int(std::int64_t value) {
    char* at = room(24);
    m_size += static_cast<std::size_t>(std::to_chars(at, at + 24, value).ptr - at);
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
