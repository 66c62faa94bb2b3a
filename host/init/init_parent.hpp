// A tiny init for when pyhost is a container's PID 1 (what tini does, without a second binary).
//
// As PID 1 a process gets no default action for SIGTERM or SIGINT (plain python3 then ignores
// `docker stop`), and orphaned processes are re-parented to it and must be reaped. Reaping with
// waitpid(-1) inside the interpreter's process would steal the exit statuses `subprocess` waits
// for (ARCHITECTURE.md, pitfall 3), so PID 1 forks: the child runs the program as an ordinary
// process, and the parent, which never starts Python, forwards signals, reaps every zombie and
// exits with the program's status (128 + n when a signal ended it).
#pragma once

#include <chrono>
#include <optional>

#include <sys/resource.h>

#include "run/outcome.hpp"

namespace pyhost::init {

enum class InitMode {
    automatic,  // be init only when this process is PID 1 (the default)
    never,      // PYHOST_INIT=0: never fork an init parent
    always,     // PYHOST_INIT=1: fork one even when not PID 1 (a subreaper, for tests and nesting)
};

// Reads PYHOST_INIT (unset, "auto": automatic; "0"/"off": never; "1"/"on": always).
InitMode init_mode_from_environment() noexcept;

// Returns in the process that runs the program. When an init parent is wanted, it forks first
// and the parent never returns: it exits with the child's status once the child is gone.
void become_init_if_needed(InitMode mode);

// How a parent watches the process it forked.
struct Supervision {
    // Reap every zombie, not only the child's (PID 1, or a subreaper).
    bool reap_orphans = false;
    // A backstop: SIGKILL the child if it is still there at this time.
    std::optional<std::chrono::steady_clock::time_point> kill_at;
};

// Forks. Returns nullopt in the child, which runs the program as an ordinary process (own
// process group, the terminal's foreground). In the parent, which must not have started
// Python or any thread, forwards every signal to the child until it is gone, then returns how
// it ended (`usage`: its resource usage) with the parent's signal mask restored. Throws
// std::runtime_error when fork() fails.
std::optional<run::Outcome> fork_supervised(const Supervision& supervision, rusage* usage = nullptr);

}  // namespace pyhost::init
