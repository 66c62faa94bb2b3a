// Capture configuration: where a run's records go. Read before Python starts, from pyhost's
// own environment variables (which -E and -I do not touch: they are not PYTHON* variables)
// and, under pyhost's own name, its command-line options.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace pyhost::capture {

struct Config {
    std::string journal_path;   // JSON Lines, one record per line (PYHOST_LOG_FILE, --log-file)
    std::string text_log_path;  // what appeared on stdout and stderr (--text-log, or derived)
    std::string run_id;         // PYHOST_RUN_ID, else random
    // PYHOST_CAPTURE_CHILDREN=1: leave pyhost's variables in the program's environment, so
    // that programs re-running sys.executable capture into journals of their own (a `%p` in
    // the journal path becomes each process's pid). Off by default: a child's output already
    // reaches the run's journal through the native stdout/stderr capture.
    bool capture_children = false;
    // The capture ring between the sinks and the capture thread (PYHOST_CAPTURE_BUFFER, bytes;
    // rounded up to a power of two, at least 64 KiB).
    // 1 MiB holds thousands of records; the capture thread drains it every few milliseconds.
    // Its pages count in the program's resident set once used, so it stays small.
    std::size_t ring_bytes = std::size_t{1} << 20;
    // A `running` status record with CPU time and RSS every so often (PYHOST_HEARTBEAT,
    // seconds; 0 turns it off).
    std::chrono::milliseconds heartbeat{10'000};
    // How long a sink waits for room in a full ring before it drops (and counts) the entry.
    std::chrono::milliseconds full_wait{200};

    // Capture is on when anything consumes records. With nothing configured pyhost installs
    // nothing and is plain python3.
    bool enabled() const { return !journal_path.empty() || !text_log_path.empty(); }
};

// The PYHOST_* variables of this process (read once); removed from the program's environment
// unless capture_children is set.
const std::vector<std::string>& environment_variables();

// Reads the environment. `%p` in paths is replaced by the pid. The text log defaults to the
// journal path with `.log` in place of `.jsonl` (or appended).
Config config_from_environment();

// Applies the command-line forms (--log-file, --text-log) over `config`.
void apply_log_file_option(Config& config, const std::string& path);
void apply_text_log_option(Config& config, const std::string& path);

// The console log that goes with a journal by default: `.log` in place of `.jsonl` (or appended).
std::string console_log_beside(std::string_view journal_path);

// Fills the derived and random parts (text log path, run id) once the sources are read.
void finalize(Config& config);

}  // namespace pyhost::capture
