#include "run/program_run.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <unistd.h>

#include "capture/capture.hpp"
#include "common/env.hpp"
#include "diag/log.hpp"
#include "interp/link_hooks.hpp"
#include "interp/python_main.hpp"
#include "run/exit_path.hpp"
#include "storage/files.hpp"

namespace pyhost::run {
namespace {

// Capture configuration from the environment and pyhost's own options.
capture::Config capture_config(const cli::Invocation& invocation) {
    capture::Config config = capture::config_from_environment();
    if (!invocation.log_file.empty()) {
        capture::apply_log_file_option(config, invocation.log_file);
    }
    if (!invocation.text_log.empty()) {
        capture::apply_text_log_option(config, invocation.text_log);
    }
    capture::finalize(config);
    return config;
}

}  // namespace

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

ProgramRun prepare_run(const cli::Invocation& invocation, std::vector<std::string> argv, JournalPolicy policy) {
    ProgramRun run;
    run.argv = std::move(argv);
    run.capture = capture_config(invocation);
    run.shipping = reporter_config(invocation, run.argv);
    try {
        run.limits = timeout::limits_from(invocation.timeout);
    } catch (const std::invalid_argument& error) {
        throw cli::UsageError(error.what());
    }
    const bool wants_journal = policy == JournalPolicy::always || !run.shipping.sinks.empty();
    if (wants_journal && run.capture.journal_path.empty()) {
        // Shipping needs a journal: it is what the sinks read and what replay resends.
        const std::string runs = state_directory() + "/runs";
        if (storage::make_directories(runs)) {
            run.capture.journal_path = runs + "/" + run.capture.run_id + ".jsonl";
            run.capture.text_log_path = runs + "/" + run.capture.run_id + ".log";
            run.shipping.leftovers_directory = runs;
        } else {
            PYHOST_LOG(error) << "cannot create " << runs << " (" << std::strerror(errno)
                              << "); set PYHOST_LOG_FILE or PYHOST_STATE_DIR; nothing is captured";
        }
    }
    return run;
}

int run_program(ProgramRun& run) {
    diag::threshold();  // PYHOST_LOG_LEVEL is read now: the PYHOST_* variables may go below
    // pyhost's own secrets are never the program's to see, nor is its time limit (a child
    // re-running sys.executable is part of this run, not a run of its own with a new limit).
    for (const char* name : {"PYHOST_SINKS", "PYHOST_API_TOKEN", "PYHOST_TIMEOUT", "PYHOST_TIMEOUT_GRACE"}) {
        ::unsetenv(name);
    }
    std::vector<char*> argv;
    argv.reserve(run.argv.size() + 1);
    for (std::string& arg : run.argv) {
        argv.push_back(arg.data());
    }
    interp::Capture capture_mode = interp::Capture::off;
    if (run.capture.enabled()) {
        if (!run.capture.capture_children) {
            // pyhost's configuration is not the program's: children that re-run
            // sys.executable are captured through the inherited stdout/stderr instead.
            for (const std::string& name : capture::environment_variables()) {
                ::unsetenv(name.c_str());
            }
        }
        if (capture::start(run.capture, argv, interp::real_write)) {
            capture_mode = interp::Capture::on;
            if (!run.shipping.sinks.empty() && !run.capture.journal_path.empty()) {
                run.shipping.journal_path = run.capture.journal_path;
                reporter::start(std::move(run.shipping));
            }
        }
    }
    if (run.limits) {
        timeout::start(*run.limits, interp::dump_thread_stacks);
    }
    const int status = interp::run_python(argv, capture_mode);
    exit_path::finish(Outcome::exited(status));
    return exit_path::effective(Outcome::exited(status)).shell_status();
}

}  // namespace pyhost::run
