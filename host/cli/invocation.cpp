#include "cli/invocation.hpp"

#include <algorithm>
#include <optional>
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


// `--name VALUE` or `--name=VALUE` at argv[i]: returns the value and moves i past it, or
// nullopt (i unchanged) when argv[i] is not that option. `context` prefixes error messages.
std::optional<std::string> option_value(int argc, char** argv, int& i, std::string_view name, std::string_view what,
                                        std::string_view context) {
    const std::string_view arg(argv[i]);
    std::string value;
    if (arg == name) {
        if (i + 1 >= argc) {
            throw UsageError(std::string(context) + std::string(name) + " needs a " + std::string(what));
        }
        value = argv[i + 1];
        i += 2;
    } else if (arg.size() > name.size() && arg.starts_with(name) && arg[name.size()] == '=') {
        value = std::string(arg.substr(name.size() + 1));
        i += 1;
    } else {
        return std::nullopt;
    }
    if (value.empty()) {
        throw UsageError(std::string(context) + std::string(name) + " needs a " + std::string(what) +
                         ", not an empty string");
    }
    return value;
}

constexpr std::string_view k_run_component_usage =
    "(usage: pyhost run-component PATH/main.py --component-id=ID [ARG]...)";
constexpr std::string_view k_function_usage =
    "(usage: pyhost function SOURCE|--id FUNCTION_ID [--session-info B64] [--runtime-id ID] [--timeout SECONDS] "
    "[--keep] [-- ARG...])";

// splight-runner's command line: the main file, then --component-id anywhere among the
// component's own arguments, which are passed on in order.
void parse_run_component(int argc, char** argv, int i, ComponentRequest& out) {
    if (i >= argc) {
        throw UsageError("run-component: which component? " + std::string(k_run_component_usage));
    }
    out.main_path = argv[i++];
    if (out.main_path.empty()) {
        throw UsageError("run-component: the component's main file is an empty string " +
                         std::string(k_run_component_usage));
    }
    while (i < argc) {
        if (auto value = option_value(argc, argv, i, "--component-id", "ID", "run-component: ")) {
            out.component_id = std::move(*value);
        } else {
            out.args.emplace_back(argv[i++]);
        }
    }
}

// The executor's command line: one SOURCE or --id, pyhost's options for the run, and the
// function's own arguments after `--`.
void parse_function(int argc, char** argv, int i, Invocation& invocation) {
    FunctionRequest& out = invocation.function;
    while (i < argc) {
        const std::string_view arg(argv[i]);
        if (arg == "--") {
            out.args.assign(argv + i + 1, argv + argc);
            break;
        }
        if (arg == "--keep") {
            out.keep = true;
            ++i;
        } else if (auto id = option_value(argc, argv, i, "--id", "FUNCTION_ID", "function: ")) {
            out.function_id = std::move(*id);
        } else if (auto info = option_value(argc, argv, i, "--session-info", "B64", "function: ")) {
            out.session_info = std::move(*info);
            out.session_info_given = true;
        } else if (auto runtime = option_value(argc, argv, i, "--runtime-id", "ID", "function: ")) {
            out.runtime_id = std::move(*runtime);
        } else if (auto limit = option_value(argc, argv, i, "--timeout", "SECONDS", "function: ")) {
            invocation.timeout = std::move(*limit);
        } else if (arg.starts_with("-") && arg != "-") {
            throw UsageError("function: unknown option '" + std::string(arg) + "' (the function's own arguments go after --) " +
                             std::string(k_function_usage));
        } else if (!out.source.empty()) {
            throw UsageError("function: one SOURCE only, got '" + out.source + "' and '" + std::string(arg) +
                             "' (the function's own arguments go after --) " + std::string(k_function_usage));
        } else {
            out.source = arg;
            ++i;
        }
    }
    if (out.source.empty() == out.function_id.empty()) {
        throw UsageError(std::string(out.source.empty() ? "function: which function? give SOURCE or --id "
                                                        : "function: SOURCE and --id exclude each other ") +
                         std::string(k_function_usage));
    }
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
    while (next < argc) {
        if (auto log_file = option_value(argc, argv, next, "--log-file", "PATH", "")) {
            invocation.log_file = std::move(*log_file);
        } else if (auto text_log = option_value(argc, argv, next, "--text-log", "PATH", "")) {
            invocation.text_log = std::move(*text_log);
        } else if (auto sink = option_value(argc, argv, next, "--sink", "URL", "")) {
            invocation.sinks.push_back(std::move(*sink));
        } else if (auto timeout = option_value(argc, argv, next, "--timeout", "SECONDS", "")) {
            invocation.timeout = std::move(*timeout);
        } else {
            break;
        }
    }
    invocation.python_argv.erase(invocation.python_argv.begin() + 1, invocation.python_argv.begin() + next);

    const std::string_view command = next < argc ? std::string_view(argv[next]) : std::string_view();
    if (command == "replay") {
        invocation.command = Command::replay;
        invocation.python_argv.clear();
        for (int i = next + 1; i < argc;) {
            if (auto value = option_value(argc, argv, i, "--sink", "URL", "replay: ")) {
                invocation.sinks.push_back(std::move(*value));
                continue;
            }
            const std::string_view arg(argv[i]);
            if (arg.starts_with("-") || !invocation.replay_journal.empty()) {
                throw UsageError("replay: unexpected argument '" + std::string(arg) +
                                 "' (usage: pyhost replay [JOURNAL] [--sink URL]...)");
            }
            invocation.replay_journal = arg;
            ++i;
        }
        return invocation;
    }
    if (command == "run-component") {
        invocation.command = Command::run_component;
        invocation.python_argv.resize(1);
        parse_run_component(argc, argv, next + 1, invocation.component);
        return invocation;
    }
    if (command == "function") {
        invocation.command = Command::function;
        invocation.python_argv.resize(1);
        parse_function(argc, argv, next + 1, invocation);
        return invocation;
    }
    if (command == "help") {
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
