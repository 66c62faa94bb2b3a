// How far each sink has delivered a journal: byte offsets, kept beside the journal
// (JOURNAL.cursors) so that `pyhost replay` and the next run can ship what is left.
//
// The file names the journal its offsets belong to by a fingerprint of the journal's first
// line (which holds the creating run's id and the microsecond it started, and never changes
// in an append-only file): a journal deleted or rotated away and created anew at the same path
// must be delivered from its beginning, not from where its predecessor's delivery ended.
//   {"journal":"<16 hex digits>","sinks":{"<sink id>":<offset>,...}}
// A file of the earlier form, the sinks' object alone, is read too; its offsets are kept only
// where the journal is at least that long.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <sys/types.h>

namespace pyhost::reporter {

// The fingerprint of a journal: FNV-1a of its first line (at most its first 128 bytes), in
// hex; nullopt while the file does not exist or holds no complete first line.
std::optional<std::string> journal_fingerprint(const std::string& journal_path);

class CursorStore {
public:
    // Loads JOURNAL.cursors if it exists and belongs to the journal now at that path.
    explicit CursorStore(const std::string& journal_path);
    ~CursorStore();
    CursorStore(const CursorStore&) = delete;
    CursorStore& operator=(const CursorStore&) = delete;

    std::uint64_t get(const std::string& sink_id);
    // Records an acknowledged offset, and persists it when the file is older than
    // k_save_interval. Saving after every batch cost a new file and a rename (whose ext4
    // replace-on-rename starts writeback) per 10,000 records, 15% of a shipper's CPU; a cursor
    // that lags only means a batch sent again after a crash (delivery is at least once).
    void set(const std::string& sink_id, std::uint64_t offset);
    // Persists what set() has not yet: when a shipper waits for more records or stops.
    void save();
    // The journal was cut (truncated in place) and starts anew: its fingerprint is taken again
    // when its new first line is there.
    void journal_restarted();

    const std::string& path() const { return m_path; }

    static constexpr std::chrono::milliseconds k_save_interval{100};

private:
    // Overwrites the file in place with one pwrite() at offset 0, padded with blanks to at
    // least what it held, so it never has to be truncated: a process killed at any point
    // leaves either the old text or the new one (a write into the page cache is not cut by a
    // signal). A temporary file renamed over it, as before, cost a file creation, the old
    // inode's deletion and, on ext4 (auto_da_alloc), a writeback of the new one started on
    // every save: block I/O, and 5% of a flood's shipper's CPU (4.5 ms of 94, the median of
    // 14 alternating runs). What in-place writing gives up is the rename's ordering on power
    // loss; a cursor file torn then is not parsed, and its journal is delivered again from the
    // beginning: duplicates, never a loss.
    void save_locked();
    bool open_file();  // opens (again) the file at m_path when m_fd is not it
    void warn_once(const char* reason);  // once until a save succeeds
    std::string m_journal_path;
    std::string m_path;
    std::optional<std::string> m_fingerprint;  // the journal's, once it has a first line
    std::mutex m_mutex;
    std::map<std::string, std::uint64_t> m_offsets;
    bool m_unsaved = false;
    int m_fd = -1;                // the cursor file, opened by the first save
    ino_t m_inode = 0;            // m_fd's, to notice the file at m_path being replaced
    dev_t m_device = 0;
    std::size_t m_file_size = 0;  // what it holds: a save writes at least this much
    bool m_warned = false;
    std::chrono::steady_clock::time_point m_saved_at{};
};

}  // namespace pyhost::reporter
