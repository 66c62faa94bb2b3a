#include "cli/invocation.hpp"

#include <algorithm>
#include <utility>

namespace pyhost::cli {
namespace {

std::string_view basename_of(std::string_view path) {
    const auto slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// Python options that consume the next argument when given separately (`-W error`).
bool python_option_takes_value(std::string_view arg) {
    return arg == "-W" || arg == "-X" || arg == "--check-hash-based-pycs";
}

// Whether Python's own command line (argv[1:]) asks for --help before the program starts.
// Scans only the interpreter options: the first -c/-m, script or `-` ends them.
bool asks_for_help(const std::vector<char*>& python_argv) {
    for (std::size_t i = 1; i < python_argv.size(); ++i) {
        const std::string_view arg(python_argv[i]);
        if (arg == "--help" || arg == "-h" || arg == "-?") {
            return true;
        }
        if (arg == "--" || arg == "-" || arg.empty() || arg[0] != '-' || arg.starts_with("-c") ||
            arg.starts_with("-m")) {
            return false;
        }
        if (python_option_takes_value(arg)) {
            ++i;
        }
    }
    return false;
}

}  // namespace

Personality personality_of(std::string_view argv0) noexcept {
    return basename_of(argv0).starts_with("python") ? Personality::python : Personality::pyhost;
}

Invocation parse(int argc, char** argv) {
    Invocation invocation;
    if (argc < 1 || argv[0] == nullptr) {
        // execve() with an empty argv: CPython copes (sys.executable from /proc); so do we.
        static char empty[] = "";
        invocation.argv0 = empty;
        invocation.python_argv.push_back(empty);
        return invocation;
    }
    invocation.argv0 = argv[0];
    invocation.personality = personality_of(argv[0]);
    invocation.python_argv.assign(argv, argv + argc);
    if (invocation.personality == Personality::python) {
        return invocation;
    }

    // pyhost's own options come first; the first argument that is not one of them starts
    // Python's command line (or names a command).
    int next = 1;
    std::string sink;
    while (next < argc) {
        const std::string_view arg(argv[next]);
        std::string* target = nullptr;
        std::string_view name;
        std::string_view what = "PATH";
        for (const auto& [option, field] : {std::pair{std::string_view("--log-file"), &invocation.log_file},
                                            std::pair{std::string_view("--text-log"), &invocation.text_log},
                                            std::pair{std::string_view("--sink"), &sink}}) {
            if (arg == option || (arg.starts_with(option) && arg.size() > option.size() && arg[option.size()] == '=')) {
                target = field;
                name = option;
                what = field == &sink ? "URL" : "PATH";
            }
        }
        if (target == nullptr) {
            break;
        }
        if (arg.size() > name.size()) {
            *target = std::string(arg.substr(name.size() + 1));
            ++next;
        } else if (next + 1 < argc) {
            *target = argv[next + 1];
            next += 2;
        } else {
            throw UsageError(std::string(name) + " needs a " + std::string(what));
        }
        if (target->empty()) {
            throw UsageError(std::string(name) + " needs a " + std::string(what) + ", not an empty string");
        }
        if (target == &sink) {
            invocation.sinks.push_back(std::move(sink));
            sink.clear();
        }
    }
    invocation.python_argv.erase(invocation.python_argv.begin() + 1, invocation.python_argv.begin() + next);

    if (next < argc && std::string_view(argv[next]) == "replay") {
        invocation.command = Command::replay;
        invocation.python_argv.clear();
        for (int i = next + 1; i < argc; ++i) {
            const std::string_view arg(argv[i]);
            if (arg == "--sink" && i + 1 < argc) {
                invocation.sinks.emplace_back(argv[++i]);
            } else if (arg.starts_with("--sink=")) {
                invocation.sinks.emplace_back(arg.substr(7));
            } else if (!arg.starts_with("-") && invocation.replay_journal.empty()) {
                invocation.replay_journal = arg;
            } else {
                throw UsageError("replay: unexpected argument '" + std::string(arg) +
                                 "' (usage: pyhost replay JOURNAL [--sink URL]...)");
            }
        }
        if (invocation.replay_journal.empty()) {
            throw UsageError("replay: which journal? (usage: pyhost replay JOURNAL [--sink URL]...)");
        }
        return invocation;
    }
    if (next < argc && std::string_view(argv[next]) == "help") {
        invocation.command = Command::help;
        invocation.help_topic.assign(argv + next + 1, argv + argc);
        invocation.python_argv.clear();
        return invocation;
    }
    if (asks_for_help(invocation.python_argv)) {
        invocation.preamble = Preamble::short_usage;
    }
    return invocation;
}

}  // namespace pyhost::cli
