#include "init/init_parent.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

#include <sys/prctl.h>
#include <sys/resource.h>
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

// tcsetpgrp() from a background group raises SIGTTOU; ignore it for the call only.
template <class Call>
void with_sigttou_ignored(Call call) {
    struct sigaction ignore {}, previous{};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGTTOU, &ignore, &previous);
    call();
    sigaction(SIGTTOU, &previous, nullptr);
}

// In the child: own process group and, on a terminal, the foreground, so that a Ctrl-C typed
// in `docker run -it` reaches the program once (from the terminal) and not twice (from the
// terminal and again forwarded by the parent).
void take_terminal_foreground() {
    if (setpgid(0, 0) != 0) {
        return;
    }
    if (isatty(STDIN_FILENO)) {
        with_sigttou_ignored([] { (void)tcsetpgrp(STDIN_FILENO, getpgrp()); });
    }
}

// The parent runs nothing but this loop: every handled signal is blocked and taken
// synchronously, so there is no async-signal-safety to reason about.
run::Outcome supervise(pid_t program, const sigset_t& handled, const Supervision& supervision, rusage* usage) {
    for (;;) {
        siginfo_t info{};
        int signal_number;
        if (supervision.kill_at) {
            const auto left = *supervision.kill_at - std::chrono::steady_clock::now();
            if (left <= std::chrono::steady_clock::duration::zero()) {
                PYHOST_LOG(warning) << "supervisor: the program outlived its deadline; killing it";
                (void)kill(program, SIGKILL);
                signal_number = sigwaitinfo(&handled, &info);
            } else {
                const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
                const timespec wait{static_cast<time_t>(nanos / 1'000'000'000), static_cast<long>(nanos % 1'000'000'000)};
                signal_number = sigtimedwait(&handled, &info, &wait);
            }
        } else {
            signal_number = sigwaitinfo(&handled, &info);
        }
        if (signal_number < 0) {
            continue;  // EINTR from a stopped/continued parent, or the deadline (checked above)
        }
        if (signal_number != SIGCHLD) {
            if (kill(program, signal_number) != 0 && errno != ESRCH) {
                PYHOST_LOG(warning) << "supervisor: cannot forward signal " << signal_number << ": "
                                    << std::strerror(errno);
            }
            continue;
        }
        // Reap what has ended: the program, and (as init) orphans re-parented to us.
        for (;;) {
            int wait_status = 0;
            rusage reaped_usage{};
            const pid_t reaped = wait4(supervision.reap_orphans ? -1 : program, &wait_status, WNOHANG, &reaped_usage);
            if (reaped <= 0) {
                break;
            }
            if (reaped == program) {
                if (usage != nullptr) {
                    *usage = reaped_usage;
                }
                const run::Outcome outcome = run::Outcome::from_wait_status(wait_status);
                PYHOST_LOG(info) << "supervisor: program " << outcome.describe();
                return outcome;
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
    std::optional<run::Outcome> ended;
    try {
        ended = fork_supervised(Supervision{.reap_orphans = true, .kill_at = std::nullopt});
    } catch (const std::runtime_error& error) {
        // Without a parent we still run the program; only PID 1's special cases are lost.
        PYHOST_LOG(error) << "init: " << error.what() << "; running without an init parent";
        return;
    }
    if (ended) {
        std::_Exit(ended->shell_status());
    }
}

std::optional<run::Outcome> fork_supervised(const Supervision& supervision, rusage* usage) {
    const sigset_t handled = handled_signals();
    sigset_t original;
    // Block before fork so no signal can arrive between fork() and sigwaitinfo().
    sigprocmask(SIG_BLOCK, &handled, &original);

    const pid_t program = fork();
    if (program < 0) {
        const int error = errno;
        sigprocmask(SIG_SETMASK, &original, nullptr);
        throw std::runtime_error(std::string("fork failed: ") + std::strerror(error));
    }
    if (program == 0) {
        // The subreaper flag is not inherited across fork(); only the mask needs restoring.
        sigprocmask(SIG_SETMASK, &original, nullptr);
        take_terminal_foreground();
        return std::nullopt;
    }
    const run::Outcome outcome = supervise(program, handled, supervision, usage);
    // The child's group had the terminal: the parent's messages after it must not stop on SIGTTOU.
    if (isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == program) {
        with_sigttou_ignored([] { (void)tcsetpgrp(STDIN_FILENO, getpgrp()); });
    }
    sigprocmask(SIG_SETMASK, &original, nullptr);
    return outcome;
}

}  // namespace pyhost::init
