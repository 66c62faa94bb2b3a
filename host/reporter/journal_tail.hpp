// Reading a journal while it grows: complete lines only, from a byte offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

#include "common/byte_buffer.hpp"

namespace pyhost::reporter {

// The lines of some text, each without its newline (a last line without one is a line too).
class Lines {
public:
    explicit Lines(std::string_view text) : m_text(text) {}

    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = std::string_view;
        using reference = std::string_view;
        using pointer = void;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        explicit iterator(std::string_view rest) : m_rest(rest) { take(); }
        std::string_view operator*() const { return m_line; }
        iterator& operator++() {
            take();
            return *this;
        }
        iterator operator++(int) {
            iterator before = *this;
            take();
            return before;
        }
        bool operator==(const iterator& other) const { return m_line.data() == other.m_line.data(); }

    private:
        void take() {
            if (m_rest.empty()) {
                m_line = {};
                return;
            }
            const std::size_t newline = m_rest.find('\n');
            m_line = m_rest.substr(0, newline);
            m_rest.remove_prefix(newline == std::string_view::npos ? m_rest.size() : newline + 1);
        }
        std::string_view m_rest;
        std::string_view m_line;
    };

    iterator begin() const { return iterator(m_text); }
    iterator end() const { return iterator(); }

private:
    std::string_view m_text;
};

// As a batch's record limit: none, and the lines are not counted. A sink that sends the
// journal's text as it is (pyhost's own protocol) bounds its batches by bytes alone, so the
// shipper of a flood need not look at every byte to find the lines.
inline constexpr std::size_t k_uncounted = static_cast<std::size_t>(-1);
// As a record limit: none, but the lines are counted.
inline constexpr std::size_t k_no_record_limit = k_uncounted - 1;

struct Batch {
    std::uint64_t begin = 0;  // journal offset of the first line
    std::uint64_t end = 0;    // offset just past the last line's newline
    // Lines in [begin, end); k_uncounted when the batch was taken by bytes alone (see
    // count_records()).
    std::size_t records = 0;
    // Journal bytes from offset `base`: complete lines only, `filled` of them, of which the
    // batch is a part. The next batch usually starts where this one ends, so what the buffer
    // holds beyond `end` is reused rather than read again; the buffer only grows. Huge pages:
    // a flood fills all of it (see ByteBuffer).
    ByteBuffer buffer{ByteBuffer::Pages::huge};
    std::uint64_t base = 0;
    std::size_t filled = 0;

    // The batch's lines as the journal holds them, each with its newline.
    std::string_view text() const {
        return std::string_view(buffer.data(), filled).substr(static_cast<std::size_t>(begin - base), static_cast<std::size_t>(end - begin));
    }
    // Its lines one by one, without newlines (found as they are walked: pyhost's own protocol
    // sends text() as it is and never needs them).
    Lines lines() const { return Lines(text()); }
    bool empty() const { return end == begin; }
    // How many lines it holds, counted now if the batch was taken by bytes alone.
    std::size_t count_records() const;
};

// The complete lines of `text` (at most `max_records`) as a batch starting at `offset`.
Batch batch_of_text(std::string_view text, std::uint64_t offset = 0, std::size_t max_records = k_no_record_limit);

class JournalTail {
public:
    explicit JournalTail(std::string path);
    ~JournalTail();
    JournalTail(const JournalTail&) = delete;
    JournalTail& operator=(const JournalTail&) = delete;

    const std::string& path() const { return m_path; }

    // Current size of the journal file (0 if it does not exist yet).
    std::uint64_t size();

    // The complete lines from `offset`: at most `max_records` lines (k_uncounted: no limit,
    // and the lines are not counted) and `max_bytes` (a single longer line is read whole).
    // False when there is no complete line yet.
    //
    // `out` is the previous batch, or empty: the complete lines it holds past `offset` are
    // used as they are, and only what follows them is read, so a journal is read once
    // however its batches fall. An incomplete last line is never kept (a supervisor may cut
    // a torn one and write the final status in its place): it is read again next time.
    bool read(std::uint64_t offset, std::size_t max_records, std::size_t max_bytes, Batch& out);

private:
    bool ensure_open();
    std::string m_path;
    int m_fd = -1;
};

}  // namespace pyhost::reporter
