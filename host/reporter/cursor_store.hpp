// How far each sink has delivered a journal: byte offsets, kept beside the journal
// (JOURNAL.cursors) so that `pyhost replay` and the next run can ship what is left.
#pragma once

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
    // Records and persists (write to a temporary file, then rename: never a torn file).
    void set(const std::string& sink_id, std::uint64_t offset);

    const std::string& path() const { return m_path; }

private:
    void save_locked();
    std::string m_path;
    std::mutex m_mutex;
    std::map<std::string, std::uint64_t> m_offsets;
};

}  // namespace pyhost::reporter
