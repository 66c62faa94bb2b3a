// From a parsed command line to the process's exit status.
#pragma once

#include "cli/invocation.hpp"

namespace pyhost::run {

// Carries out `invocation` and returns the exit status for main(). Paths on which CPython ends
// the process itself do not return (they go through exit_path first).
int execute(const cli::Invocation& invocation);

}  // namespace pyhost::run
