// How far each sink has delivered a journal: byte offsets, kept beside the journal
// (JOURNAL.cursors) so that `pyhost replay` and the next run can ship what is left.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace pyhost::reporter {

class CursorStore {
public:
    // Loads JOURNAL.cursors if it exists.
    explicit CursorStore(const std::string& journal_path);

    std::uint64_t get(const std::string& sink_id);
    // Records an acknowledged offset, and persists it when the file is older than
    // k_save_interval. Saving after every batch cost a new file and a rename (whose ext4
    // replace-on-rename starts writeback) per 10,000 records, 15% of a shipper's CPU; a cursor
    // that lags only means a batch sent again after a crash (delivery is at least once).
    void set(const std::string& sink_id, std::uint64_t offset);
    // Persists what set() has not yet: when a shipper waits for more records or stops.
    void save();

    const std::string& path() const { return m_path; }

    static constexpr std::chrono::milliseconds k_save_interval{100};

private:
    void save_locked();  // a temporary file, then rename: never a torn file
    std::string m_path;
    std::mutex m_mutex;
    std::map<std::string, std::uint64_t> m_offsets;
    bool m_unsaved = false;
    std::chrono::steady_clock::time_point m_saved_at{};
};

}  // namespace pyhost::reporter
