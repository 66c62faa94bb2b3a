#include "init/init_parent.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "diag/log.hpp"
#include "run/outcome.hpp"

namespace pyhost::init {
namespace {

// Signals the parent passes on to the program. SIGCHLD is the parent's own; SIGKILL and
// SIGSTOP cannot be caught; the synchronous faults (SEGV, BUS, FPE, ILL, TRAP, SYS) concern
// the parent itself; SIGTTIN/SIGTTOU/SIGTSTP are job control aimed at the parent.
constexpr int k_forwarded[] = {SIGHUP,  SIGINT,  SIGQUIT,  SIGTERM, SIGUSR1,  SIGUSR2,
                               SIGPIPE, SIGALRM, SIGWINCH, SIGCONT, SIGURG,   SIGVTALRM,
                               SIGPROF, SIGXCPU, SIGXFSZ,  SIGPWR,  SIGSTKFLT};

sigset_t handled_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int signal_number : k_forwarded) {
        sigaddset(&set, signal_number);
    }
    sigaddset(&set, SIGCHLD);
    return set;
}

// In the child: own process group and, on a terminal, the foreground, so that a Ctrl-C typed
// in `docker run -it` reaches the program once (from the terminal) and not twice (from the
// terminal and again forwarded by the parent).
void take_terminal_foreground() {
    if (setpgid(0, 0) != 0) {
        return;
    }
    if (isatty(STDIN_FILENO)) {
        // tcsetpgrp() from a background group raises SIGTTOU; ignore it for the call only.
        struct sigaction ignore {}, previous{};
        ignore.sa_handler = SIG_IGN;
        sigaction(SIGTTOU, &ignore, &previous);
        (void)tcsetpgrp(STDIN_FILENO, getpgrp());
        sigaction(SIGTTOU, &previous, nullptr);
    }
}

[[noreturn]] void supervise(pid_t program, const sigset_t& handled) {
    // The parent runs nothing but this loop: every handled signal is blocked and taken
    // synchronously, so there is no async-signal-safety to reason about.
    for (;;) {
        siginfo_t info{};
        const int signal_number = sigwaitinfo(&handled, &info);
        if (signal_number < 0) {
            continue;  // EINTR from a stopped/continued parent
        }
        if (signal_number != SIGCHLD) {
            if (kill(program, signal_number) != 0 && errno != ESRCH) {
                PYHOST_LOG(warning) << "init: cannot forward signal " << signal_number << ": "
                                    << std::strerror(errno);
            }
            continue;
        }
        // Reap everything that has ended: the program, and orphans re-parented to us.
        for (;;) {
            int wait_status = 0;
            const pid_t reaped = waitpid(-1, &wait_status, WNOHANG);
            if (reaped <= 0) {
                break;
            }
            if (reaped == program) {
                const run::Outcome outcome = run::Outcome::from_wait_status(wait_status);
                PYHOST_LOG(info) << "init: program " << outcome.describe();
                std::_Exit(outcome.shell_status());
            }
        }
    }
}

}  // namespace

InitMode init_mode_from_environment() noexcept {
    const char* value = std::getenv("PYHOST_INIT");
    if (value == nullptr) {
        return InitMode::automatic;
    }
    const std::string_view word(value);
    if (word == "0" || word == "off") {
        return InitMode::never;
    }
    if (word == "1" || word == "on") {
        return InitMode::always;
    }
    return InitMode::automatic;
}

void become_init_if_needed(InitMode mode) {
    if (mode == InitMode::never || (mode == InitMode::automatic && getpid() != 1)) {
        return;
    }
    if (getpid() != 1) {
        // Not PID 1 but asked to supervise: adopt orphans as PID 1 would.
        (void)prctl(PR_SET_CHILD_SUBREAPER, 1);
    }

    const sigset_t handled = handled_signals();
    sigset_t original;
    // Block before fork so no signal can arrive between fork() and sigwaitinfo().
    sigprocmask(SIG_BLOCK, &handled, &original);

    const pid_t program = fork();
    if (program < 0) {
        // Without a parent we still run the program; only PID 1's special cases are lost.
        PYHOST_LOG(error) << "init: fork failed (" << std::strerror(errno)
                          << "); running without an init parent";
        sigprocmask(SIG_SETMASK, &original, nullptr);
        return;
    }
    if (program == 0) {
        // The subreaper flag is not inherited across fork(); only the mask needs restoring.
        sigprocmask(SIG_SETMASK, &original, nullptr);
        take_terminal_foreground();
        return;
    }
    supervise(program, handled);
}

}  // namespace pyhost::init
