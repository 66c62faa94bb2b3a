// `pyhost replay [JOURNAL] [--sink URL]...`: deliver what earlier runs left behind.
//
// With JOURNAL: what it holds beyond each sink's cursor goes to the sinks, and if it is the
// journal of a function run whose execution log could not be saved (LOGS_LOCATION was
// unreachable), the log is saved now. Without: every execution log waiting in the state
// directory's spool is saved, and with sinks configured every journal in its runs/ that a
// sink has not fully received is shipped. Journals that a live pyhost writes are left alone.
#pragma once

#include "cli/invocation.hpp"

namespace pyhost::run {

// 0 when everything was delivered and saved, 1 otherwise (reported on stderr). Throws
// cli::UsageError for a bad request.
int replay(const cli::Invocation& invocation);

}  // namespace pyhost::run
