#include "run/launch.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string_view>

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

// pyhost's own text on stdout, through C stdio (not std::cout: see diag::to_stderr()),
// flushed before the interpreter prints after it.
void write_stdout(std::string_view text) {
    (void)std::fwrite(text.data(), 1, text.size(), stdout);
    (void)std::fflush(stdout);
}

// CPython's own command line (python3's drop-in).
int run_python_command(const cli::Invocation& invocation) {
    if (invocation.preamble == cli::Preamble::short_usage) {
        std::ostringstream usage;
        cli::print_short_usage(usage);
        write_stdout(usage.view());
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
    case cli::Command::help: {
        std::ostringstream help;
        cli::print_help(help, invocation.help_topic);
        write_stdout(help.view());
        if (!invocation.help_topic.empty()) {
            return 0;
        }
        return interp::print_python_usage(invocation.argv0);
    }
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
