// `pyhost run-component PATH/main.py --component-id=ID [ARG]...`: a Splight component, run as
// splight-runner runs it (REFERENCE.md, section 1), without its flaws.
//
// The main file must exist and be a .py file (else a usage error, status 2). The component's
// directory becomes the working directory and the first entry of sys.path; the component gets
// `--component-id ID` in its arguments, followed by its own. Its journal is always kept (in
// the state directory unless PYHOST_LOG_FILE says where), and with SPLIGHT_PLATFORM_API_HOST,
// SPLIGHT_ACCESS_ID and SPLIGHT_SECRET_KEY set, every line it prints and every record it logs,
// and its status, reach the engine.
#pragma once

#include "cli/invocation.hpp"

namespace pyhost::run {

// Throws cli::UsageError for a bad request.
int run_component(const cli::Invocation& invocation);

}  // namespace pyhost::run
