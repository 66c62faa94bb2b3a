// The little JSON the journal needs, written by hand: the reporter thread formats about a
// million records per second and must not build a document tree per record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace pyhost::capture::json {

// Appends `text` as a JSON string (with quotes). Valid UTF-8 passes through (control
// characters, quote and backslash escaped); each byte of invalid UTF-8 becomes a lone
// surrogate escape \udc80..\udcff, Python's surrogateescape, so the original bytes can be
// recovered exactly (json.loads(...).encode("utf-8", "surrogateescape")).
void append_string(std::string& out, std::string_view text);

// The room write_string() needs for `size` bytes of text: each byte escaped to six (\u001f,
// or \udcff for a byte of invalid UTF-8), the quotes, and 16 bytes it may scribble past
// its end (it stores sixteen bytes at a time before it knows how many of them are plain).
constexpr std::size_t quoted_bound(std::size_t size) { return 6 * size + 2 + 16; }

// The same as append_string, written at `out`, which has room for quoted_bound(text.size())
// bytes. Returns the end of what it wrote; the bytes past it are garbage.
char* write_string(char* out, std::string_view text);

// The block copy_padded() moves bytes in, and the size a buffer must have for it to read or
// write `n` bytes.
inline constexpr std::size_t k_copy_block = 32;
constexpr std::size_t padded_size(std::size_t n) { return (n + k_copy_block - 1) / k_copy_block * k_copy_block; }

// Copies `n` bytes in whole 32-byte blocks, inlined: the journal's hot path puts pieces of
// lengths the compiler cannot see into every record, and a call to memcpy for each cost more
// than the copy. `from` must stay readable and `to` writable for padded_size(n) bytes; what
// lands past `to + n` is garbage, for the next piece to overwrite. Returns `to + n`.
inline char* copy_padded(char* to, const char* from, std::size_t n) {
    for (std::size_t i = 0; i < n; i += k_copy_block) {
        std::memcpy(to + i, from + i, k_copy_block);
    }
    return to + n;
}

// Text that never changes, stored so that copy_padded() may read it.
class PaddedText {
public:
    PaddedText() = default;
    explicit PaddedText(std::string_view text)
        : m_data(std::make_unique<char[]>(padded_size(text.size()))), m_size(text.size()) {
        std::memcpy(m_data.get(), text.data(), text.size());
    }
    const char* data() const { return m_data.get(); }
    std::size_t size() const { return m_size; }
    std::string_view view() const { return {m_data.get(), m_size}; }

private:
    std::unique_ptr<char[]> m_data;
    std::size_t m_size = 0;
};

// An output buffer that grows only when asked to hold more than its capacity, for the capture
// thread, which must not allocate (see JournalWriter): reserved once, filled, written out,
// cleared. Writing goes through room(n), which guarantees n bytes at the end. Its memory is
// not cleared: untouched pages of the reserve cost no resident memory.
class TextBuffer {
public:
    explicit TextBuffer(std::size_t capacity) : m_data(std::make_unique_for_overwrite<char[]>(capacity)), m_capacity(capacity) {}

    std::size_t size() const { return m_size; }
    std::size_t capacity() const { return m_capacity; }
    bool empty() const { return m_size == 0; }
    const char* data() const { return m_data.get(); }
    std::string_view view() const { return {m_data.get(), m_size}; }
    void clear() { m_size = 0; }
    void reserve(std::size_t capacity) {
        if (capacity > m_capacity) {
            grow(capacity);
        }
    }

    // Where the next n bytes go; grows (allocates) only if they do not fit.
    char* room(std::size_t n) {
        if (m_size + n > m_capacity) {
            grow(m_size + n > 2 * m_capacity ? m_size + n : 2 * m_capacity);
        }
        return m_data.get() + m_size;
    }
    // Takes the bytes written at room() up to `end` as part of the buffer.
    void commit(const char* end) { m_size = static_cast<std::size_t>(end - m_data.get()); }

    void append(std::string_view bytes) {
        std::memcpy(room(bytes.size()), bytes.data(), bytes.size());
        m_size += bytes.size();
    }
    TextBuffer& operator+=(std::string_view bytes) {
        append(bytes);
        return *this;
    }
    TextBuffer& operator+=(char c) {
        *room(1) = c;
        ++m_size;
        return *this;
    }
    // `text` as a JSON string (see append_string).
    void append_quoted(std::string_view text) { commit(write_string(room(quoted_bound(text.size())), text)); }
    void append_int(std::int64_t value);

private:
    void grow(std::size_t capacity);
    std::unique_ptr<char[]> m_data;
    std::size_t m_capacity = 0;
    std::size_t m_size = 0;
};

// Room for a quoted timestamp as below (29 bytes) and snprintf's terminator, for any int64
// (40 bytes), in whole blocks for copy_padded().
inline constexpr std::size_t k_timestamp_capacity = padded_size(40);

// Appends a UTC timestamp, microsecond resolution: "2026-11-22T05:09:45.123456Z".
void append_timestamp(std::string& out, std::int64_t unix_micros);

// The same, for a stream of mostly increasing timestamps: remembers the last one formatted,
// so a run of records from one chunk or one second costs a copy, not a calendar computation.
class TimestampFormatter {
public:
    void append(std::string& out, std::int64_t unix_micros) { out.append(format(unix_micros)); }
    // The quoted text of `unix_micros`; valid until the next call, and readable by
    // copy_padded().
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
