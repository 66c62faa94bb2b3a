#include "run/component_run.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include <sys/stat.h>
#include <unistd.h>

#include "diag/log.hpp"
#include "init/init_parent.hpp"
#include "reporter/sink.hpp"
#include "run/program_run.hpp"

namespace pyhost::run {

int run_component(const cli::Invocation& invocation) {
    const cli::ComponentRequest& request = invocation.component;
    const std::string& path = request.main_path;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        throw cli::UsageError("run-component: " + path + ": " + std::strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) {
        throw cli::UsageError("run-component: " + path + " is a directory; give the component's main file (main.py)");
    }
    if (!path.ends_with(".py")) {
        throw cli::UsageError("run-component: " + path + " is not a .py file");
    }
    std::string component_id = request.component_id;
    if (component_id.empty()) {
        const char* from_environment = std::getenv("COMPONENT_ID");
        component_id = from_environment != nullptr ? from_environment : "";
    }
    if (component_id.empty()) {
        throw cli::UsageError("run-component: which component? give --component-id=ID (or set COMPONENT_ID)");
    }
    char resolved[PATH_MAX];
    if (::realpath(path.c_str(), resolved) == nullptr) {
        throw cli::UsageError("run-component: " + path + ": " + std::strerror(errno));
    }
    const std::string main_file = resolved;
    const std::string directory = main_file.substr(0, main_file.rfind('/'));

    init::become_init_if_needed(init::init_mode_from_environment());
    if (::chdir(directory.empty() ? "/" : directory.c_str()) != 0) {
        throw cli::UsageError("run-component: cannot enter " + directory + ": " + std::strerror(errno));
    }
    // sys.path[0] is the script's directory unless safe-path mode is asked for; a component
    // imports its own modules from there.
    ::unsetenv("PYTHONSAFEPATH");

    std::vector<std::string> argv{invocation.argv0, main_file, "--component-id", component_id};
    argv.insert(argv.end(), request.args.begin(), request.args.end());
    ProgramRun run = prepare_run(invocation, std::move(argv), JournalPolicy::always);
    bool reports_to_engine = false;
    for (const reporter::Sink& sink : run.shipping.sinks) {
        reports_to_engine = reports_to_engine || sink.kind == reporter::SinkKind::splight;
    }
    if (!reports_to_engine) {
        diag::to_stderr("pyhost: run-component: SPLIGHT_PLATFORM_API_HOST, SPLIGHT_ACCESS_ID and SPLIGHT_SECRET_KEY "
                        "are not all set: the component's logs and status are not reported to the engine",
                        run.capture.journal_path.empty() ? "" : " (they are in " + run.capture.journal_path + ")",
                        "\n");
    }
    return run_program(run);
}

}  // namespace pyhost::run
