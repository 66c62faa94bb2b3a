#include "run/launch.hpp"

#include <iostream>

#include "cli/help.hpp"
#include "init/init_parent.hpp"
#include "interp/python_main.hpp"
#include "run/exit_path.hpp"

namespace pyhost::run {
namespace {

int run_program(const cli::Invocation& invocation) {
    if (invocation.preamble == cli::Preamble::short_usage) {
        cli::print_short_usage(std::cout);
        std::cout.flush();
    }
    init::become_init_if_needed(init::init_mode_from_environment());
    const int status = interp::run_python(invocation.python_argv);
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
