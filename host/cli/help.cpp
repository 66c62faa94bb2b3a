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
    {"run-component", "run-component PATH/main.py --component-id=ID [ARG]...",
     "run a Splight component, reporting to the engine (as splight-runner)",
     "Runs the component's main file (it must exist and end in .py) with its directory as the\n"
     "working directory and the first entry of sys.path, and `--component-id ID` then ARGs as\n"
     "its arguments. The component id may also come from COMPONENT_ID. With\n"
     "SPLIGHT_PLATFORM_API_HOST, SPLIGHT_ACCESS_ID and SPLIGHT_SECRET_KEY set, everything it\n"
     "prints and logs, and its status (Running, then Finished, Failed or Stopped, and what its\n"
     "own splight_lib healthcheck() says), reach the engine; its journal is kept in the state\n"
     "directory (PYHOST_STATE_DIR/runs) unless PYHOST_LOG_FILE says where. Exit status: the\n"
     "component's; 2 for a bad request.\n"},
    {"function", "function SOURCE|--id ID [OPTION]... [-- ARG...]",
     "run an openOBD function from an archive, a directory or the catalogue",
     "Extracts the function (SOURCE: a .tar, .tar.gz/.tgz, .tar.xz, .gz or .zip archive, or a\n"
     "directory; --id ID: ID.<one of those> or the directory ID in FUNCTIONS_LOCATION, a\n"
     "directory or s3://bucket/prefix) into a fresh run directory,\n"
     "EXECUTOR_RUN_DIRECTORY/executions/RUNTIME_FUNCTION (default /tmp/executor), refusing\n"
     "entries that would leave it (absolute paths, .., links out), devices, and archives past\n"
     "PYHOST_ARCHIVE_MAX_BYTES (1 GiB) or PYHOST_ARCHIVE_MAX_FILES (10000). Runs its function.py\n"
     "(at the root or in the single top-level folder) there, with OPENOBD_SESSION_INFO set from\n"
     "--session-info and the ARGs after --. The function id is SOURCE's name without its\n"
     "extensions; the runtime id is random unless given. Afterwards, whatever the exit status\n"
     "(a crash included), the console log and the journal are saved to\n"
     "LOGS_LOCATION/YYYY/MM/DD/RUNTIME_FUNCTION.log and .jsonl (default /tmp/executor_logs;\n"
     "STORAGE_DRIVER=s3 with LOGS_LOCATION=s3://bucket/prefix uploads them, with the AWS_*\n"
     "variables), and the run directory is removed unless --keep. A log that cannot be saved\n"
     "stays in PYHOST_STATE_DIR/spool; `pyhost replay` saves it later. Exit status: the\n"
     "function's (128+n for signal n, 124 past --timeout); 2 when it could not be started.\n\n"
     "Options:\n"
     "  --session-info B64   OPENOBD_SESSION_INFO for the function\n"
     "  --runtime-id ID      the run's id (default: a random UUID); also the journal's run_id\n"
     "  --timeout SECONDS    the run's time limit (as PYHOST_TIMEOUT)\n"
     "  --keep               leave the run directory in place\n"},
    {"replay", "replay [JOURNAL] [--sink URL]...", "ship and save what earlier runs left behind",
     "Delivers the records of JOURNAL that a sink has not acknowledged yet (a run killed by\n"
     "SIGKILL, a run whose drain deadline passed), to the sinks of PYHOST_SINKS, --sink and the\n"
     "SPLIGHT_* variables, and saves it if it is a function's execution log still in the spool.\n"
     "Without JOURNAL: saves every execution log waiting in the spool, and ships every journal in\n"
     "the state directory that a configured sink has not fully received. Exits 0 when all is\n"
     "delivered and saved, 1 otherwise. Each sink's progress is kept in JOURNAL.cursors;\n"
     "replaying twice sends nothing twice. Journals that a running pyhost writes are left alone.\n"},
};

constexpr std::string_view k_options =
    "Options (before Python's):\n"
    "  --log-file PATH      the run's journal: every line and logging record, JSON Lines\n"
    "  --text-log PATH      the run's console log: stdout and stderr as they appeared\n"
    "  --sink URL           ship the journal there too (repeatable; as PYHOST_SINKS)\n"
    "  --timeout SECONDS    the run's time limit (as PYHOST_TIMEOUT): then every thread's\n"
    "                       stack is logged, SIGTERM sent, and the run ended with status 124\n";

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
    "  PYHOST_SINKS         comma-separated sinks: jsonl+http(s)://host:port/path (the\n"
    "                       journal's records), loki+http(s)://host:port (Loki push API),\n"
    "                       otlp+http(s)://host:port (OTLP/HTTP logs); user:pass@ in a URL is\n"
    "                       Basic authentication, :token@ is Bearer. Removed from the\n"
    "                       program's environment; never shown in messages\n"
    "  SPLIGHT_PLATFORM_API_HOST, SPLIGHT_ACCESS_ID, SPLIGHT_SECRET_KEY, COMPONENT_ID (or\n"
    "                       --component-id in the program's arguments), SPLIGHT_API_VERSION\n"
    "                       (v4): report logs and status to the Splight engine\n"
    "  PYHOST_STATE_DIR     where journals go when only sinks are given (and where the next\n"
    "                       run finds what an earlier one could not deliver)\n"
    "  PYHOST_DRAIN_TIMEOUT seconds delivery may go on after the program ended (10)\n"
    "  PYHOST_HEARTBEAT     seconds between `running` records with CPU time and RSS (10)\n"
    "  PYHOST_SERVICE_NAME  service.name for OTLP and service_name for Loki\n"
    "  PYHOST_CA_BUNDLE, PYHOST_CLIENT_CERT, PYHOST_CLIENT_KEY: TLS (verified by default)\n"
    "  PYHOST_LOG_LEVEL     pyhost's own diagnostics on stderr: trace, debug, info, warning,\n"
    "                       error (the default) or off; never mixed into the program's output\n"
    "  PYHOST_TIMEOUT       as --timeout; PYHOST_TIMEOUT_GRACE: seconds between SIGTERM and\n"
    "                       the end, for a program that handles SIGTERM (5)\n"
    "  STORAGE_DRIVER, LOGS_LOCATION, FUNCTIONS_LOCATION, EXECUTOR_RUN_DIRECTORY: see\n"
    "                       `pyhost help function`; AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,\n"
    "                       AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL: its S3 storage\n"
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
    "  PYHOST_SINKS=otlp+http://collector:4318 python3 app.py\n"
    "                                       (python3 being pyhost) ship to an OTel collector\n"
    "  pyhost run-component /srv/comp/main.py --component-id=3f2a\n"
    "                                       a Splight component (SPLIGHT_* set)\n"
    "  pyhost function obd-check.tar.gz --session-info \"$B64\" -- --verbose\n"
    "                                       an openOBD function; its log lands in LOGS_LOCATION\n"
    "  pyhost --timeout 60 job.py           at most a minute, then stacks, SIGTERM, status 124\n"
    "  pyhost replay run.jsonl --sink loki+http://loki:3100\n"
    "                                       ship what a killed run left in its journal\n"
    "  PYHOST_LOG_LEVEL=info pyhost app.py  also report, on stderr, how the run ended\n";

}  // namespace

void print_short_usage(std::ostream& out) {
    out << "usage: pyhost [--log-file PATH] [--text-log PATH] [--sink URL] [--timeout S] COMMAND [ARG] ...   (commands:";
    for (const CommandHelp& command : k_commands) {
        out << ' ' << command.name;
    }
    out << ")\n"
           "   or: pyhost [--log-file PATH] [--text-log PATH] [--sink URL] [option] ... [-c cmd | -m mod | file | -] [arg] ...\n"
           "pyhost runs a Python program in-process exactly as python3.11 does (same output, exit\n"
           "status and signals) and captures its output, logging records and status; installed as\n"
           "python3 it is python3. Environment: PYHOST_LOG_FILE, PYHOST_SINKS, PYHOST_RUN_ID,\n"
           "SPLIGHT_*, PYHOST_LOG_LEVEL, PYHOST_INIT and more: see `pyhost help`. Python's usage:\n\n";
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
           "usage: pyhost [--log-file PATH] [--text-log PATH] [--sink URL]... [--timeout S] COMMAND [ARG] ...\n"
           "       pyhost [--log-file PATH] [--text-log PATH] [--sink URL]... [--timeout S] [option] ... [-c cmd | -m mod | file | -] [arg] ...\n\n"
           "pyhost embeds CPython 3.11 (Debian's libpython3.11) and runs a program exactly as\n"
           "/usr/bin/python3.11 does: the same stdout and stderr bytes, exit status, signals,\n"
           "sys.argv and sys.path. Linked or copied under a python name (python3, python), it is\n"
           "python3: none of pyhost's commands exist under that name.\n\n"
           "With a journal configured, everything the program writes to stdout and stderr (also from\n"
           "C code and child processes) and every logging record it emits is captured in-process,\n"
           "once and in order, without changing its output, and written by a native thread as JSON\n"
           "Lines: {seq, ts, run_id, stream, level, logger, message, ...}, with the run's status\n"
           "(running, then finished, failed, stopped or timed_out) first and last. With sinks, native\n"
           "threads ship the journal as it grows (and the rest at exit), retrying what fails; it stays\n"
           "the durable truth, so nothing that reached it is lost.\n\n"
           "Commands:\n";
    // The summary in a column of its own; under a synopsis too long for it.
    constexpr std::size_t k_summary_column = 23;
    for (const CommandHelp& command : k_commands) {
        std::string line = "  " + std::string(command.synopsis);
        if (line.size() + 2 > k_summary_column) {
            line += "\n" + std::string(k_summary_column, ' ');
        } else {
            line.resize(k_summary_column, ' ');
        }
        out << line << command.summary << '\n';
    }
    out << "A script named like a command runs as `pyhost ./NAME`.\n\n"
        << k_options << '\n'
        << k_environment << '\n'
        << k_examples << '\n'
        << "Python's options:\n";
}

}  // namespace pyhost::cli
