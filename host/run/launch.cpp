#include "run/launch.hpp"

#include <cerrno>
#include <cstring>
#include <iostream>

#include <unistd.h>

#include "cli/help.hpp"
#include "init/init_parent.hpp"
#include "interp/python_main.hpp"
#include "reporter/reporter.hpp"
#include "run/component_run.hpp"
#include "run/function_run.hpp"
#include "run/program_run.hpp"
#include "run/replay.hpp"

namespace pyhost::run {
namespace {

// CPython's own command line (python3's drop-in).
int run_python_command(const cli::Invocation& invocation) {
    if (invocation.preamble == cli::Preamble::short_usage) {
        cli::print_short_usage(std::cout);
        std::cout.flush();
    }
    init::become_init_if_needed(init::init_mode_from_environment());
    ProgramRun run = prepare_run(
        invocation, std::vector<std::string>(invocation.python_argv.begin(), invocation.python_argv.end()),
        JournalPolicy::when_configured);
    return run_program(run);
}

}  // namespace

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
    case cli::Command::run_component:
        return run_component(invocation);
    case cli::Command::function:
        return run_function(invocation);
    case cli::Command::run_python:
        return run_python_command(invocation);
    }
    return 2;
}

}  // namespace pyhost::run
