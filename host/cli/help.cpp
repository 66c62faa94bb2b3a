#include "cli/help.hpp"

#include <string_view>

#include "cli/invocation.hpp"

namespace pyhost::cli {
namespace {

struct CommandHelp {
    std::string_view name;
    std::string_view synopsis;     // after "pyhost "
    std::string_view summary;      // one line in the command list
    std::string_view description;  // `pyhost help NAME`
};

// One entry per implemented command; the list and `help NAME` are generated from it.
constexpr CommandHelp k_commands[] = {
    {"help", "help [COMMAND]", "pyhost's usage, then Python's options",
     "Prints pyhost's usage (its commands, environment variables and examples), then the\n"
     "options of the embedded Python, as `python3 --help` prints them. With a COMMAND, prints\n"
     "that command's usage only.\n"},
};

constexpr std::string_view k_options =
    "Options (before Python's):\n"
    "  --log-file PATH      the run's journal: every line and logging record, JSON Lines\n"
    "  --text-log PATH      the run's console log: stdout and stderr as they appeared\n";

constexpr std::string_view k_environment =
    "Environment:\n"
    "  PYHOST_LOG_FILE      as --log-file (`%p` becomes the pid); the console log goes next\n"
    "                       to it, .jsonl replaced by .log\n"
    "  PYHOST_TEXT_LOG      as --text-log\n"
    "  PYHOST_RUN_ID        the run's id in every record (default: a random UUID)\n"
    "  PYHOST_CAPTURE_CHILDREN  1: programs re-run by the program (sys.executable) capture\n"
    "                       into journals of their own (default: their output is captured\n"
    "                       as this run's native output, and pyhost's variables are removed\n"
    "                       from the program's environment)\n"
    "  PYHOST_CAPTURE_BUFFER  bytes between the program and the capture thread (1 MiB)\n"
    "  PYHOST_LOG_LEVEL     pyhost's own diagnostics on stderr: trace, debug, info, warning,\n"
    "                       error (the default) or off; never mixed into the program's output\n"
    "  PYHOST_INIT          auto (default): as PID 1, fork a tiny init that forwards signals,\n"
    "                       reaps zombies and exits with the program's status (128+n for a\n"
    "                       signal); 0: never; 1: always (a subreaper, also when not PID 1)\n";

constexpr std::string_view k_examples =
    "Examples:\n"
    "  pyhost app.py --port 8080            as python3 app.py --port 8080\n"
    "  pyhost -m http.server                run a library module\n"
    "  ln -s \"$(command -v pyhost)\" /usr/local/bin/python3\n"
    "                                       swap it in for python3 (no pyhost CLI under that name)\n"
    "  PYHOST_LOG_FILE=run.jsonl pyhost app.py\n"
    "                                       journal in run.jsonl, console log in run.log\n"
    "  PYHOST_LOG_LEVEL=info pyhost app.py  also report, on stderr, how the run ended\n";

}  // namespace

void print_short_usage(std::ostream& out) {
    out << "usage: pyhost [--log-file PATH] [--text-log PATH] COMMAND [ARG] ...   (commands:";
    for (const CommandHelp& command : k_commands) {
        out << ' ' << command.name;
    }
    out << ")\n"
           "   or: pyhost [--log-file PATH] [--text-log PATH] [option] ... [-c cmd | -m mod | file | -] [arg] ...\n"
           "pyhost runs a Python program in-process exactly as python3.11 does (same output, exit\n"
           "status and signals) and captures its output, logging records and status; installed as\n"
           "python3 it is python3. Environment: PYHOST_LOG_FILE, PYHOST_TEXT_LOG, PYHOST_RUN_ID,\n"
           "PYHOST_CAPTURE_CHILDREN, PYHOST_LOG_LEVEL, PYHOST_INIT. More: `pyhost help`. Python's usage:\n\n";
}

void print_help(std::ostream& out, const std::vector<std::string>& topic) {
    if (!topic.empty()) {
        for (const CommandHelp& command : k_commands) {
            if (topic.front() == command.name) {
                out << "usage: pyhost " << command.synopsis << "\n\n" << command.description;
                return;
            }
        }
        throw UsageError("help: no such command: '" + topic.front() + "' (see `pyhost help`)");
    }
    out << "pyhost: run Python programs in-process, with their output, logs and status captured\n\n"
           "usage: pyhost [--log-file PATH] [--text-log PATH] COMMAND [ARG] ...\n"
           "       pyhost [--log-file PATH] [--text-log PATH] [option] ... [-c cmd | -m mod | file | -] [arg] ...\n\n"
           "pyhost embeds CPython 3.11 (Debian's libpython3.11) and runs a program exactly as\n"
           "/usr/bin/python3.11 does: the same stdout and stderr bytes, exit status, signals,\n"
           "sys.argv and sys.path. Linked or copied under a python name (python3, python), it is\n"
           "python3: none of pyhost's commands exist under that name.\n\n"
           "With a journal configured, everything the program writes to stdout and stderr (also from\n"
           "C code and child processes) and every logging record it emits is captured in-process,\n"
           "once and in order, without changing its output, and written by a native thread as JSON\n"
           "Lines: {seq, ts, run_id, stream, level, logger, message, ...}, with the run's status\n"
           "(running, then finished, failed or stopped) first and last.\n\n"
           "Commands:\n";
    for (const CommandHelp& command : k_commands) {
        std::string line = "  " + std::string(command.synopsis);
        line.resize(std::max<std::size_t>(line.size() + 2, 23), ' ');
        out << line << command.summary << '\n';
    }
    out << "A script named like a command runs as `pyhost ./NAME`.\n\n"
        << k_options << '\n'
        << k_environment << '\n'
        << k_examples << '\n'
        << "Python's options:\n";
}

}  // namespace pyhost::cli
