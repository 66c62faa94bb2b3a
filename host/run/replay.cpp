#include "run/replay.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include <unistd.h>

#include "diag/log.hpp"
#include "reporter/reporter.hpp"
#include "run/program_run.hpp"
#include "storage/log_storage.hpp"

namespace pyhost::run {
namespace {

std::string real_path(const std::string& path) {
    char resolved[PATH_MAX];
    return ::realpath(path.c_str(), resolved) != nullptr ? std::string(resolved) : path;
}

// Ships a spooled log's journal to the sinks (if any), saves it, and removes it from the spool
// once both are done. Returns whether both are.
bool deliver(storage::SpooledLog& log, const reporter::Config& sinks) {
    bool delivered = true;
    if (!sinks.sinks.empty()) {
        reporter::Config config = sinks;
        config.journal_path = log.journal();
        delivered = reporter::replay(std::move(config)) == 0;
    }
    if (const std::string error = log.save(); !error.empty()) {
        diag::to_stderr("pyhost: replay: ", error, "\n");
        return false;
    }
    if (delivered) {
        log.remove();
    }
    return delivered;
}

}  // namespace

int replay(const cli::Invocation& invocation) {
    const reporter::Config sinks = reporter_config(invocation, {});
    const std::string spool = state_directory() + "/spool";
    std::vector<storage::SpooledLog> spooled = storage::SpooledLog::pending(spool);

    if (!invocation.replay_journal.empty()) {
        const std::string& journal = invocation.replay_journal;
        if (::access(journal.c_str(), R_OK) != 0) {
            throw cli::UsageError("replay: cannot read " + journal + ": " + std::strerror(errno));
        }
        const std::string wanted = real_path(journal);
        for (storage::SpooledLog& log : spooled) {
            if (real_path(log.journal()) == wanted) {
                return deliver(log, sinks) ? 0 : 1;
            }
        }
        if (sinks.sinks.empty()) {
            throw cli::UsageError("replay: no sink to ship to (PYHOST_SINKS, --sink URL, or the SPLIGHT_* variables)");
        }
        reporter::Config config = sinks;
        config.journal_path = journal;
        return reporter::replay(std::move(config));
    }

    bool complete = true;
    for (storage::SpooledLog& log : spooled) {
        complete = deliver(log, sinks) && complete;
    }
    if (!sinks.sinks.empty()) {
        complete = reporter::replay_directory(sinks, state_directory() + "/runs") == 0 && complete;
    } else if (spooled.empty()) {
        diag::to_stderr("pyhost: replay: nothing to do: no execution log waits in ", spool,
                        ", and no sink is configured (PYHOST_SINKS, --sink URL, or the SPLIGHT_* variables) "
                        "to ship journals to\n");
    }
    return complete ? 0 : 1;
}

}  // namespace pyhost::run
