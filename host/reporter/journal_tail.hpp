// Reading a journal while it grows: complete lines only, from a byte offset.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pyhost::reporter {

struct Batch {
    std::uint64_t begin = 0;  // journal offset of the first line
    std::uint64_t end = 0;    // offset just past the last line's newline
    // The journal's bytes from `begin`; may hold more than the batch (an incomplete line, or
    // room kept from an earlier read: the buffer is reused and only grows).
    std::string buffer;
    std::vector<std::string_view> lines;  // into buffer, without newlines

    // The batch's lines as the journal holds them, each with its newline.
    std::string_view text() const { return std::string_view(buffer).substr(0, end - begin); }
};

// The complete lines of `text` (at most `max_records`) as a batch starting at `offset`.
Batch batch_of_text(std::string text, std::uint64_t offset = 0,
                    std::size_t max_records = static_cast<std::size_t>(-1));

class JournalTail {
public:
    explicit JournalTail(std::string path);
    ~JournalTail();
    JournalTail(const JournalTail&) = delete;
    JournalTail& operator=(const JournalTail&) = delete;

    const std::string& path() const { return m_path; }

    // Current size of the journal file (0 if it does not exist yet).
    std::uint64_t size();

    // Reads complete lines from `offset`: at most `max_records` lines and about `max_bytes`
    // (a single longer line is read whole). False when there is no complete line yet.
    bool read(std::uint64_t offset, std::size_t max_records, std::size_t max_bytes, Batch& out);

private:
    bool ensure_open();
    std::string m_path;
    int m_fd = -1;
};

}  // namespace pyhost::reporter
