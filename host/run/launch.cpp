#include "run/launch.hpp"

#include <cstdlib>
#include <iostream>

#include "capture/capture.hpp"
#include "capture/config.hpp"
#include "cli/help.hpp"
#include "init/init_parent.hpp"
#include "interp/link_hooks.hpp"
#include "interp/python_main.hpp"
#include "run/exit_path.hpp"

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

int run_program(const cli::Invocation& invocation) {
    if (invocation.preamble == cli::Preamble::short_usage) {
        cli::print_short_usage(std::cout);
        std::cout.flush();
    }
    init::become_init_if_needed(init::init_mode_from_environment());

    const capture::Config config = capture_config(invocation);
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
        }
    }
    const int status = interp::run_python(invocation.python_argv, capture_mode);
    exit_path::finish(Outcome::exited(status));
    return status;
}

}  // namespace

int execute(const cli::Invocation& invocation) {
    switch (invocation.command) {
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
