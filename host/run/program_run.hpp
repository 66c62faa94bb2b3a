// One run of a Python program in this process, whatever command asked for it (a plain python3
// command line, a component, a function): capture, shipping and the time limit around
// CPython's own main path.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "capture/config.hpp"
#include "cli/invocation.hpp"
#include "reporter/reporter.hpp"
#include "run/timeout.hpp"

namespace pyhost::run {

struct ProgramRun {
    std::vector<std::string> argv;  // what CPython parses, argv[0] included
    capture::Config capture;
    reporter::Config shipping;
    std::optional<timeout::Limits> limits;
};

// Whether a run keeps a journal when none is configured.
enum class JournalPolicy {
    when_configured,  // only with PYHOST_LOG_FILE / --log-file, or sinks (python3's drop-in)
    always,           // in the state directory's runs/ (a component: its logs are its record)
};

// The run `invocation` asks for, on `argv`: capture from the environment and pyhost's options,
// sinks from PYHOST_SINKS, --sink and the Splight variables (which find --component-id in
// `argv`), the time limit from --timeout and PYHOST_TIMEOUT. Throws reporter::SinkError and
// cli::UsageError for bad configuration.
ProgramRun prepare_run(const cli::Invocation& invocation, std::vector<std::string> argv, JournalPolicy policy);

// The sinks `invocation` configures (PYHOST_SINKS, --sink, the Splight variables with the
// component id from `program_args`), and the reporter's settings. Throws reporter::SinkError.
reporter::Config reporter_config(const cli::Invocation& invocation, const std::vector<std::string>& program_args);

// Runs it and returns the exit status for main(): python3's, or 124 when the time limit ended
// it. Removes pyhost's own variables from the environment first (secrets always; the rest when
// capture is on, unless PYHOST_CAPTURE_CHILDREN is set). Paths on which CPython ends the
// process itself do not return (they go through run::exit_path first).
int run_program(ProgramRun& run);

// Where journals live when no path is given: PYHOST_STATE_DIR, else $XDG_STATE_HOME/pyhost,
// else ~/.local/state/pyhost, else /tmp/pyhost-state-UID.
std::string state_directory();

}  // namespace pyhost::run
