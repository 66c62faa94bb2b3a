#include "run/exit_path.hpp"

#include <mutex>
#include <csignal>
#include <cstdlib>
#include <vector>

#include <unistd.h>

#include "diag/log.hpp"
#include "run/timeout.hpp"

namespace pyhost::run::exit_path {
namespace {

std::vector<Finisher>& finishers() {
    static std::vector<Finisher> list;
    return list;
}

// finish() runs once; a second caller (the capture thread ending on SIGTERM while the main
// thread returns) waits for the first to complete instead of racing it to exit().
std::mutex g_finish_mutex;
bool g_finished = false;

}  // namespace

void add_finisher(Finisher finisher) { finishers().push_back(std::move(finisher)); }

namespace {

void run_finishers(const Outcome& outcome) noexcept {
    PYHOST_LOG(info) << "run ended: " << outcome.describe();
    for (const Finisher& finisher : finishers()) {
        try {
            finisher(outcome);
        } catch (...) {
            PYHOST_LOG(error) << "a finisher failed at exit";
        }
    }
}

}  // namespace

Outcome effective(const Outcome& outcome) noexcept { return timeout::expired() ? Outcome::timed_out() : outcome; }

void finish(const Outcome& outcome) noexcept {
    timeout::stop();  // the drains below may take long; the run is ending already
    std::lock_guard lock(g_finish_mutex);
    if (!g_finished) {
        g_finished = true;
        run_finishers(effective(outcome));
    }
}

bool try_finish(const Outcome& outcome) noexcept {
    std::unique_lock lock(g_finish_mutex, std::try_to_lock);
    if (!lock.owns_lock() || g_finished) {
        return false;
    }
    timeout::stop();
    g_finished = true;
    run_finishers(effective(outcome));
    return true;
}

void abandon_process(const Outcome& outcome) noexcept {
    finish(outcome);
    std::_Exit(effective(outcome).shell_status());
}

void end_process(const Outcome& ended) noexcept {
    finish(ended);
    const Outcome outcome = effective(ended);
    if (outcome.kind() == Outcome::Kind::signaled) {
        // Die by the signal itself so the parent sees WIFSIGNALED, as it would for python3.
        std::signal(outcome.value(), SIG_DFL);
        sigset_t only;
        sigemptyset(&only);
        sigaddset(&only, outcome.value());
        sigprocmask(SIG_UNBLOCK, &only, nullptr);
        ::raise(outcome.value());
        // Ignored even at SIG_DFL (SIGCHLD, SIGWINCH...) or PID 1: report it as a shell would.
        std::_Exit(outcome.shell_status());
    }
    std::exit(outcome.value());
}

}  // namespace pyhost::run::exit_path
