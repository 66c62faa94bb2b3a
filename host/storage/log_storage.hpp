// Execution logs: where a function run's console log and journal are kept once it ended
// (openOBD's LOGS_LOCATION/YYYY/MM/DD/{runtime_id}_{function_id}.log, and .jsonl beside it).
//
// A run's logs are spooled first: its journal and console log are written in the state
// directory's spool, next to a marker that says where they go. Saving copies them there (a
// directory, atomically: a temporary file renamed into place; or S3) and then removes them
// from the spool. A save that fails leaves everything in the spool, and `pyhost replay`
// saves it later: a log is never lost because its destination was unreachable.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "storage/storage_error.hpp"

namespace pyhost::storage {

enum class Driver { local, s3 };

struct LogsLocation {
    Driver driver = Driver::local;
    std::string location;  // a directory, or s3://bucket/prefix

    // STORAGE_DRIVER (local | s3; unset: s3 for an s3:// LOGS_LOCATION, else local) and
    // LOGS_LOCATION (default /tmp/executor_logs). Throws StorageError naming the variable.
    static LogsLocation from_environment();
};

// LOCATION/YYYY/MM/DD/NAME (UTC date of `when`), without an extension.
std::string dated_target(const LogsLocation& location, std::chrono::system_clock::time_point when, std::string_view name);

// One run's logs in the spool, and where they go. Holds an exclusive lock on its marker while
// alive: one process saves a log at a time, and `pyhost replay` skips logs whose run is live.
class SpooledLog {
public:
    // Creates the marker `spool/NAME.save` for a run that is about to start. The journal and
    // console log are `spool/NAME.jsonl` and `spool/NAME.log`. Throws StorageError.
    static SpooledLog create(const std::string& spool, std::string_view name, Driver driver, std::string target);
    // Every spooled log in `spool` that no live process holds, locked. Unreadable markers are
    // reported and skipped.
    static std::vector<SpooledLog> pending(const std::string& spool);

    SpooledLog(SpooledLog&& other) noexcept;
    SpooledLog& operator=(SpooledLog&&) = delete;
    SpooledLog(const SpooledLog&) = delete;
    ~SpooledLog();

    const std::string& journal() const { return m_journal; }
    const std::string& text_log() const { return m_text_log; }
    const std::string& target() const { return m_target; }
    bool saved() const { return m_saved; }

    // Copies the journal and the console log to the target (.jsonl, .log). Returns an error
    // message naming what failed, or an empty string; the first success is recorded in the
    // marker, so that a later call (replay) does not save it twice.
    std::string save();

    // In a forked child: closes this process's copy of the lock (the parent keeps the lock).
    void release_lock();

    // Removes the spooled files (journal, console log, cursors, marker): everything is saved
    // and delivered.
    void remove();

private:
    SpooledLog() = default;
    void write_marker() const;

    std::string m_marker, m_journal, m_text_log;
    Driver m_driver = Driver::local;
    std::string m_target;
    bool m_saved = false;
    int m_lock_fd = -1;
};

}  // namespace pyhost::storage
