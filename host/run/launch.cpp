#include "run/launch.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include <sys/stat.h>
#include <unistd.h>

#include "capture/capture.hpp"
#include "capture/config.hpp"
#include "cli/help.hpp"
#include "diag/log.hpp"
#include "init/init_parent.hpp"
#include "interp/link_hooks.hpp"
#include "interp/python_main.hpp"
#include "reporter/reporter.hpp"
#include "run/exit_path.hpp"

namespace pyhost::run {
namespace {

std::string env(const char* name) {
    const char* value = std::getenv(name);
    return value != nullptr ? value : "";
}

// Where journals live when no path is given: PYHOST_STATE_DIR, else $XDG_STATE_HOME/pyhost,
// else ~/.local/state/pyhost, else /tmp/pyhost-state-UID.
std::string state_directory() {
    if (std::string dir = env("PYHOST_STATE_DIR"); !dir.empty()) {
        return dir;
    }
    if (std::string dir = env("XDG_STATE_HOME"); !dir.empty()) {
        return dir + "/pyhost";
    }
    if (std::string home = env("HOME"); !home.empty()) {
        return home + "/.local/state/pyhost";
    }
    return "/tmp/pyhost-state-" + std::to_string(::getuid());
}

bool make_directories(const std::string& path) {
    std::string partial;
    for (std::size_t i = 0; i <= path.size(); ++i) {
        if (i == path.size() || (path[i] == '/' && i > 0)) {
            partial = path.substr(0, i);
            if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
                return false;
            }
        }
    }
    return true;
}

// Sinks from PYHOST_SINKS, --sink and the Splight variables. Throws reporter::SinkError.
reporter::Config reporter_config(const cli::Invocation& invocation, const std::vector<std::string>& program_args) {
    reporter::Config config;
    config.sinks = reporter::parse_sink_list(env("PYHOST_SINKS"));
    for (const std::string& url : invocation.sinks) {
        config.sinks.push_back(reporter::parse_sink(url));
    }
    reporter::Sink splight;
    if (reporter::splight_sink_from_environment(program_args, splight)) {
        config.identity.component_id = splight.splight_component_id;
        config.sinks.push_back(std::move(splight));
    }
    config.identity.service_name = env("PYHOST_SERVICE_NAME");
    if (config.identity.service_name.empty()) {
        config.identity.service_name = config.identity.component_id.empty() ? "pyhost" : config.identity.component_id;
    }
    reporter::read_environment(config);
    return config;
}

// Capture configuration from the environment and pyhost's own options.
capture::Config capture_config(const cli::Invocation& invocation) {
    capture::Config config = capture::config_from_environment();
    if (!invocation.log_file.empty()) {
        capture::apply_log_file_option(config, invocation.log_file);
    }
    if (!invocation.text_log.empty()) {
        capture::apply_text_log_option(config, invocation.text_log);
    }
    // With the Splight variables set, the run id is the component's too (unless given).
    capture::finalize(config);
    return config;
}

int run_program(const cli::Invocation& invocation) {
    if (invocation.preamble == cli::Preamble::short_usage) {
        cli::print_short_usage(std::cout);
        std::cout.flush();
    }
    init::become_init_if_needed(init::init_mode_from_environment());

    capture::Config config = capture_config(invocation);
    const std::vector<std::string> program_args(invocation.python_argv.begin(), invocation.python_argv.end());
    reporter::Config shipping = reporter_config(invocation, program_args);
    if (!shipping.sinks.empty() && config.journal_path.empty()) {
        // Shipping needs a journal: it is what the sinks read and what replay resends.
        const std::string runs = state_directory() + "/runs";
        if (make_directories(runs)) {
            config.journal_path = runs + "/" + config.run_id + ".jsonl";
            config.text_log_path = runs + "/" + config.run_id + ".log";
            shipping.leftovers_directory = runs;
        } else {
            PYHOST_LOG(error) << "cannot create " << runs << " (" << std::strerror(errno)
                              << "); set PYHOST_LOG_FILE or PYHOST_STATE_DIR; nothing is shipped";
        }
    }
    diag::threshold();  // PYHOST_LOG_LEVEL is read now: the PYHOST_* variables may go below
    // pyhost's own secrets are never the program's to see.
    for (const char* name : {"PYHOST_SINKS", "PYHOST_API_TOKEN"}) {
        ::unsetenv(name);
    }
    interp::Capture capture_mode = interp::Capture::off;
    if (config.enabled()) {
        if (!config.capture_children) {
            // pyhost's configuration is not the program's: children that re-run
            // sys.executable are captured through the inherited stdout/stderr instead.
            for (const std::string& name : capture::environment_variables()) {
                ::unsetenv(name.c_str());
            }
        }
        if (capture::start(config, invocation.python_argv, interp::real_write)) {
            capture_mode = interp::Capture::on;
            if (!shipping.sinks.empty() && !config.journal_path.empty()) {
                shipping.journal_path = config.journal_path;
                reporter::start(std::move(shipping));
            }
        }
    }
    const int status = interp::run_python(invocation.python_argv, capture_mode);
    exit_path::finish(Outcome::exited(status));
    return status;
}

}  // namespace

int replay(const cli::Invocation& invocation) {
    reporter::Config config = reporter_config(invocation, {});
    if (config.sinks.empty()) {
        throw cli::UsageError("replay: no sink to ship to (PYHOST_SINKS, --sink URL, or the SPLIGHT_* variables)");
    }
    if (::access(invocation.replay_journal.c_str(), R_OK) != 0) {
        throw cli::UsageError("replay: cannot read " + invocation.replay_journal + ": " + std::strerror(errno));
    }
    config.journal_path = invocation.replay_journal;
    return reporter::replay(std::move(config));
}

int execute(const cli::Invocation& invocation) {
    switch (invocation.command) {
    case cli::Command::replay:
        return replay(invocation);
    case cli::Command::help:
        cli::print_help(std::cout, invocation.help_topic);
        if (!invocation.help_topic.empty()) {
            return 0;
        }
        std::cout.flush();
        return interp::print_python_usage(invocation.argv0);
    case cli::Command::run_python:
        return run_program(invocation);
    }
    return 2;
}

}  // namespace pyhost::run
