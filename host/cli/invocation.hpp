// What the command line asks pyhost to do.
//
//   pyhost [--log-file PATH] [--text-log PATH] [--sink URL]... [COMMAND ... | PYTHON ARGS ...]
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
    run_python,  // CPython's own command line
    help,        // `pyhost help [TOPIC]`: pyhost's usage, then Python's options
    replay,      // `pyhost replay JOURNAL`: ship what a journal holds beyond each sink's cursor
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
    // For replay: the journal to ship.
    std::string replay_journal;
};

// A command line pyhost itself cannot accept; the message names what was wrong.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

Personality personality_of(std::string_view argv0) noexcept;

Invocation parse(int argc, char** argv);

}  // namespace pyhost::cli
