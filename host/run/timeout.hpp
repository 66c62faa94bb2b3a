// A time limit for a run (--timeout, PYHOST_TIMEOUT), enforced in-process by a native watchdog.
//
// When the limit passes, the watchdog writes every Python thread's stack to stderr (so the
// console and the journal show where the program was), then shuts the program down the way
// SIGTERM would: a program with its own SIGTERM handler (or one that ignores SIGTERM) gets the
// signal and PYHOST_TIMEOUT_GRACE seconds to end; a program with SIGTERM's default action is
// ended at once. Either way the run ends through run::exit_path as `timed_out`, exit status
// 124 as timeout(1) reports it, after every finisher drained: the journal's final status says
// `timed_out`, whatever status the program itself ended with after the signal.
//
// The watchdog never takes the GIL: the stacks are read as faulthandler reads them.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace pyhost::run::timeout {

struct Limits {
    std::chrono::milliseconds limit{0};
    // Between SIGTERM and the end, for a program that handles (or ignores) SIGTERM.
    std::chrono::milliseconds grace{5'000};
};

// A number of seconds (fractions allowed). Returns nullopt for anything else, and for a
// negative value. 0 means "no limit" to the callers.
std::optional<std::chrono::milliseconds> parse_seconds(std::string_view text) noexcept;

// The limits of this run: `option` (--timeout, may be empty), else PYHOST_TIMEOUT; the grace
// from PYHOST_TIMEOUT_GRACE. nullopt when there is no limit. Throws std::invalid_argument with
// a message naming the variable or option for a value that is not a number of seconds.
std::optional<Limits> limits_from(std::string_view option);

// Writes the stacks of every Python thread to `fd`. Called from the watchdog thread, without
// the GIL, as faulthandler's watchdog does; must not be called once Python is finalizing.
using DumpStacks = void (*)(int fd) noexcept;

// Starts the watchdog: the limit runs from now. Once per process.
void start(const Limits& limits, DumpStacks dump_stacks);

// Whether the limit passed (the run then ends as timed out).
bool expired() noexcept;

// The run is ending (run::exit_path calls it first): the watchdog does nothing more, unless it
// is the one ending the run.
void stop() noexcept;

// Python starts finalizing: no stack dump from now on; waits for one in progress to end.
void python_finalizing() noexcept;

}  // namespace pyhost::run::timeout
