// The last record of every run: its final status. Built here for the process that ran the
// program (capture::finish) and for a supervising process that outlived it (a program killed
// before it could write its own: SIGKILL, a crash, the supervisor's deadline).
#pragma once

#include <cstdint>
#include <string>

#include "capture/records.hpp"
#include "run/outcome.hpp"

namespace pyhost::capture {

struct UncaughtException {
    std::string type, message, traceback;
};

// finished (exit 0), failed (any other status), stopped (a signal, named), timed_out (124),
// with exit_code, duration_s and max_rss_kib; the exception when the run failed with one.
FieldList final_status_fields(const run::Outcome& outcome, double duration_s, long max_rss_kib,
                              const UncaughtException* exception);

// What completing a journal found and did.
enum class JournalEnd {
    complete,   // its last record is a final status: nothing to do
    completed,  // the final status was appended (after cutting a torn last line, if any)
    failed,     // the journal cannot be read or written (reported)
};

// Makes `journal_path`'s last record a final status for `outcome` if it is not one: the
// record continues the journal's `seq`, carries `run_id`, and is written as the process that
// wrote the journal would have written it. Only for a journal no live process writes.
JournalEnd complete_journal(const std::string& journal_path, const std::string& run_id, const run::Outcome& outcome,
                            double duration_s, long max_rss_kib);

}  // namespace pyhost::capture
