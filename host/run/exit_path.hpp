// The one way a run ends.
//
// CPython 3.11 leaves a process in three ways pyhost must see: Py_RunMain() returning, Py_Exit()
// when SystemExit escapes -c, a script or stdin (gh-152132: it finalizes and calls exit()
// itself), and Py_RunMain() killing the process with SIGINT after an unhandled
// KeyboardInterrupt. host/interp reports each of them here, after the interpreter is
// finalized, so finishers (the journal and reporter drains of the capture issues) run exactly
// once on every path and never touch Python.
#pragma once

#include <functional>

#include "run/outcome.hpp"

namespace pyhost::run::exit_path {

// Called once with the run's outcome, after Python is finalized. Must not throw.
using Finisher = std::function<void(const Outcome&)>;

// Registers a finisher; they run in registration order. Not thread-safe: call before the
// program starts.
void add_finisher(Finisher finisher);

// The outcome the run reports for `outcome`: timed out once the time limit passed (the program
// may have ended itself after the watchdog's SIGTERM), else `outcome`.
Outcome effective(const Outcome& outcome) noexcept;

// Runs the finishers with effective(outcome) if nothing ended the run before; later calls do
// nothing.
void finish(const Outcome& outcome) noexcept;

// finish() unless another thread is finishing the run right now (or has): then returns false
// at once. For a thread that the finishers themselves wait for (the capture thread).
bool try_finish(const Outcome& outcome) noexcept;

// finish(), then ends the process the way effective(outcome) says: exit(status), or death by
// the signal with its default action.
[[noreturn]] void end_process(const Outcome& outcome) noexcept;

// From a thread other than the interpreter's, while the interpreter may still run (the
// timeout watchdog): finish(), then _exit() with the outcome's status, running no atexit
// handler or static destructor under the interpreter's feet.
[[noreturn]] void abandon_process(const Outcome& outcome) noexcept;

}  // namespace pyhost::run::exit_path
