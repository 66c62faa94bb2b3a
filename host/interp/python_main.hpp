// Running CPython as /usr/bin/python3.11's main() does. The only host code with Python.h.
#pragma once

#include <vector>

namespace pyhost::interp {

// Runs the interpreter on `argv` (argv[0] included), which CPython parses itself (PEP 587:
// every python3 option, the script, -c, -m, -, and the program's own arguments), and returns
// the exit status python3.11 would return. Paths that end the process inside CPython
// (SystemExit through Py_Exit, the SIGINT re-raise after an unhandled KeyboardInterrupt)
// still go through run::exit_path first.
//
// With `capture` on, pyhost's pieces are installed as the interpreter starts: the _pyhost
// module and its import hook after the core phase (before site, sitecustomize, .pth files and
// the program), the termination-signal policy once Python's signal module has read the
// dispositions. capture::start() must have run.
enum class Capture { off, on };
int run_python(std::vector<char*> argv, Capture capture);

// Writes the stack of every Python thread to `fd`, as faulthandler does, from any thread and
// without the GIL (run::timeout's watchdog). Must not run once finalization started.
void dump_thread_stacks(int fd) noexcept;

// Prints CPython's own usage text, exactly as `argv0 --help` prints it, to stdout.
// Returns the status python3 exits with after printing it.
int print_python_usage(char* argv0);

}  // namespace pyhost::interp
