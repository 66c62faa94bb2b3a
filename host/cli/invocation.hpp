// What the command line asks pyhost to do.
//
//   pyhost [--log-file PATH] [--text-log PATH] [--sink URL]... [--timeout SECONDS]
//          [COMMAND ... | PYTHON ARGS ...]
//
// Under a python name (argv[0] is python, python3, python3.11, ...) pyhost is python3:
// nothing of its own command line exists and argv goes to CPython untouched. Under any other
// name (pyhost), a first argument that names a pyhost command runs that command; everything
// else is Python's command line, also handed to CPython whole. A script whose name collides
// with a command runs as `pyhost ./name`.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pyhost::cli {

enum class Personality {
    python,  // invoked as python*: a drop-in python3, pyhost's CLI invisible
    pyhost,  // invoked under its own name
};

enum class Command {
    run_python,     // CPython's own command line
    help,           // `pyhost help [TOPIC]`: pyhost's usage, then Python's options
    replay,         // `pyhost replay [JOURNAL]`: ship what journals and the spool still hold
    run_component,  // `pyhost run-component PATH/main.py --component-id=ID [ARGS]` (splight-runner)
    function,       // `pyhost function SOURCE|--id ID [...] [-- ARGS]` (openOBD's executor)
};

// `pyhost run-component`: a Splight component, as splight-runner runs it.
struct ComponentRequest {
    std::string main_path;     // PATH/main.py as given
    std::string component_id;  // --component-id (else COMPONENT_ID; resolved by the runner)
    std::vector<std::string> args;  // the component's other arguments, in order
};

// `pyhost function`: an openOBD function, from an archive, a directory or the catalogue.
struct FunctionRequest {
    std::string source;        // an archive or a directory (empty with --id)
    std::string function_id;   // --id: look it up in FUNCTIONS_LOCATION
    std::string session_info;  // --session-info B64: OPENOBD_SESSION_INFO for the function
    bool session_info_given = false;
    std::string runtime_id;    // --runtime-id (else a random one)
    bool keep = false;         // --keep: leave the run directory in place
    std::vector<std::string> args;  // after `--`: the function's arguments
};

// Help output wanted in front of what CPython prints.
enum class Preamble {
    none,
    short_usage,  // `pyhost --help` / `-h` / `-?`: a few lines, then CPython's usage
};

struct Invocation {
    Personality personality = Personality::python;
    Command command = Command::run_python;
    Preamble preamble = Preamble::none;
    // argv[0] as given: CPython's usage text names the program with it.
    char* argv0 = nullptr;
    // For run_python: the argv CPython parses, argv[0] included. Points into the real argv.
    std::vector<char*> python_argv;
    // For help: the topic words after `help`.
    std::vector<std::string> help_topic;
    // pyhost's own options, given before Python's (under pyhost's name only).
    std::string log_file;  // --log-file PATH
    std::string text_log;  // --text-log PATH
    std::vector<std::string> sinks;  // --sink URL, repeatable
    std::string timeout;             // --timeout SECONDS (text; run::timeout parses it)
    // For replay: the journal to ship (empty: everything the state directory holds).
    std::string replay_journal;
    ComponentRequest component;
    FunctionRequest function;
};

// A command line pyhost itself cannot accept; the message names what was wrong.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

Personality personality_of(std::string_view argv0) noexcept;

Invocation parse(int argc, char** argv);

}  // namespace pyhost::cli
