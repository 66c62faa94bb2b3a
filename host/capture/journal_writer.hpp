// Turns ring entries into the run's journal (JSON Lines) and console log (plain text).
// Runs on the capture thread only; never touches Python.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>

#include "capture/block_reserve.hpp"
#include "capture/entry_ring.hpp"
#include "capture/json_text.hpp"
#include "capture/records.hpp"

namespace pyhost::capture {

class JournalWriter {
public:
    // Opens both files for appending (either path may be empty: that file is not written).
    // Errors are reported through diag and leave that file off.
    JournalWriter(std::string journal_path, std::string text_log_path, std::string run_id, std::int32_t main_pid);
    ~JournalWriter();
    JournalWriter(const JournalWriter&) = delete;
    JournalWriter& operator=(const JournalWriter&) = delete;

    // Numbers the next record last_seq + 1: for a process that appends to a journal another
    // one wrote (the final status of a run whose process died without writing it).
    void continue_after(std::uint64_t last_seq);

    // Appends one entry's records to the output buffers.
    void handle(const EntryRing::Entry& entry);

    // A "host" record: pyhost's own note about the run.
    void note(std::string_view level, std::string_view message, std::int64_t ts_micros);

    // Emits every partial line as a record (at the end of the run).
    void flush_partial_lines();

    // Writes the buffers out. `force`: even when small.
    void flush(bool force);

    // At the end of the run, after the last flush: gives back the disk blocks reserved past
    // the ends of the files (see BlockReserve). Also done by the destructor.
    void release_reserved_blocks() noexcept;

    // Set once, from any thread (the reporter, after capture started); nullptr for none.
    void set_observer(JournalObserver observer) noexcept { m_observer.store(observer); }

    std::uint64_t records_written() const { return m_seq; }
    std::uint64_t records_lost() const { return m_records_lost; }
    bool journal_ok() const { return m_journal_fd >= 0 && !m_journal_failed; }
    int journal_fd() const { return m_journal_fd; }
    int text_fd() const { return m_text_fd; }

private:
    struct LineKey {
        std::int32_t pid;
        Stream stream;
        std::uint8_t fd;
        auto operator<=>(const LineKey&) const = default;
    };
    // A line not yet ended by a newline, for one (pid, stream, fd). Its k_max_line bytes are
    // its slice of m_partial_bytes, reserved at construction (see m_journal) and never grown.
    struct PartialLine {
        LineKey key{};  // whose line `bytes` holds, while it is not empty
        char* bytes = nullptr;
        std::size_t size = 0;
        std::int64_t ts_micros = 0;
        bool empty() const { return size == 0; }
        std::string_view text() const { return {bytes, size}; }
    };
    PartialLine* partial_line(const LineKey& key);
    // Makes sure the next `bound` bytes fit in `buffer` (m_journal or m_text) without growing
    // it, writing it out first if they do not.
    void make_room(json::TextBuffer& buffer, std::size_t bound);
    // Write out m_journal (m_text), emptied.
    void write_journal();
    void write_text();

    void handle_stream(const Prelude& prelude, std::string_view bytes);
    void handle_fields(EntryKind kind, const Prelude& prelude, std::span<const std::byte> fields);
    void emit_line(const LineKey& key, std::int64_t ts, std::string_view text, bool continued);
    void begin_record(std::int64_t ts, std::int32_t pid, std::string_view stream);
    void end_record();
    bool write_all(int fd, BlockReserve& reserve, json::TextBuffer& buffer, std::uint64_t records, bool& failed,
                   const std::string& path);

    std::string m_journal_path;
    std::string m_text_log_path;
    std::string m_run_id_json;  // already quoted
    std::int32_t m_main_pid;
    int m_journal_fd = -1;
    int m_text_fd = -1;
    bool m_journal_failed = false;
    bool m_text_failed = false;
    BlockReserve m_journal_reserve;
    BlockReserve m_text_reserve;

    // Per-record text that never changes: after the timestamp up to the message's quote, for
    // each kind of stream line (stdout, stderr, native fd 1, fd 2, both).
    json::PaddedText m_line_prefix[5];
    json::TimestampFormatter m_timestamps;
    // m_seq in decimal (20 digits at most), counted in place; whole blocks for copy_padded().
    char m_seq_text[json::padded_size(20)] = {'0'};
    std::size_t m_seq_digits = 1;
    void next_seq();

    // Pending JSON lines and console bytes. Reserved at construction and never grown by the
    // capture thread (what does not fit is written out first): its first malloc() would
    // create a glibc arena, a 128 MiB mapping trimmed by two munmap()s, each a TLB shootdown
    // of the CPU running the program. Only a single record larger than the reserve grows it.
    json::TextBuffer m_journal;
    std::uint64_t m_pending_records = 0;
    json::TextBuffer m_text;
    std::uint64_t m_seq = 0;
    std::uint64_t m_records_lost = 0;
    // What reached the journal file, for m_observer.
    std::uint64_t m_records_out = 0;
    std::uint64_t m_bytes_out = 0;
    std::atomic<JournalObserver> m_observer{nullptr};
    // One per stream a run can have (stdout, stderr, native fd 1, fd 2, both), and room to
    // spare; the last one used is looked at first.
    std::array<PartialLine, 8> m_partial;
    // Their bytes: one allocation, large enough for malloc() to make it a mapping of its own,
    // whose pages are faulted in when a partial line first reaches them. (Eight 64 KiB strings
    // came from the heap: brk() calls, and a page fault for each one's header, in every
    // captured run.)
    std::unique_ptr<char[]> m_partial_bytes;
    PartialLine* m_last_partial = nullptr;
};

}  // namespace pyhost::capture
