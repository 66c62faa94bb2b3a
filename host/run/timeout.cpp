#include "run/timeout.hpp"

#include <atomic>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>

#include <pthread.h>
#include <unistd.h>

#include "capture/capture.hpp"
#include "common/native_thread.hpp"
#include "diag/log.hpp"
#include "run/exit_path.hpp"

namespace pyhost::run::timeout {
namespace {

struct Watchdog {
    Limits limits;
    DumpStacks dump_stacks = nullptr;
    std::chrono::steady_clock::time_point deadline;

    std::mutex mutex;
    std::condition_variable wake;
    bool stopped = false;  // guarded by mutex

    std::atomic<bool> expired{false};

    // Held while the stacks are dumped; python_finalizing() takes it to close the door.
    std::mutex dump_mutex;
    bool finalizing = false;  // guarded by dump_mutex

    void run() noexcept;
    // Waits until `until` or stop(); true when stopped.
    bool wait_stopped(std::chrono::steady_clock::time_point until) {
        std::unique_lock lock(mutex);
        return wake.wait_until(lock, until, [this] { return stopped; });
    }
};

// Lives as long as the process: a forked child holds a copy whose thread does not exist.
Watchdog* g_watchdog = nullptr;

std::string seconds_text(std::chrono::milliseconds duration) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", static_cast<double>(duration.count()) / 1000.0);
    return text;
}

// What pyhost says about the timeout goes to stderr through the capture hook: it is part of
// the run's console and journal, where the stacks that follow it are.
void say(const std::string& line) noexcept {
    const char* data = line.data();
    std::size_t left = line.size();
    while (left > 0) {
        const ssize_t n = ::write(2, data, left);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        data += n;
        left -= static_cast<std::size_t>(n);
    }
}

// Whether SIGTERM would do something other than end the process: the program installed a
// handler (signal.signal) or ignores it. pyhost's own handler under capture is the default
// action (drain, then die), so it does not count.
bool program_handles_sigterm() noexcept {
    struct sigaction current {};
    if (sigaction(SIGTERM, nullptr, &current) != 0) {
        return false;
    }
    if (current.sa_flags & SA_SIGINFO) {
        return true;
    }
    if (current.sa_handler == SIG_DFL) {
        return false;
    }
    const capture::SignalHandler ours = capture::termination_handler();
    return !(ours != nullptr && current.sa_handler == ours);
}

void Watchdog::run() noexcept {
    name_this_thread("pyhost-timeout");  // not lowered: it must fire on time
    if (wait_stopped(deadline)) {
        return;
    }
    expired.store(true);
    PYHOST_LOG(info) << "timeout: " << seconds_text(limits.limit) << " s passed";
    {
        std::lock_guard dumping(dump_mutex);
        if (!finalizing) {
            say("pyhost: timeout: still running after " + seconds_text(limits.limit) +
                " s; the stack of every thread follows\n");
            dump_stacks(2);
        }
    }
    if (program_handles_sigterm()) {
        say("pyhost: timeout: SIGTERM sent; the run is ended in " + seconds_text(limits.grace) +
            " s unless it ends first\n");
        ::kill(::getpid(), SIGTERM);
        if (wait_stopped(std::chrono::steady_clock::now() + limits.grace)) {
            return;  // the program ended on its own; the exit path reports it as timed out
        }
        say("pyhost: timeout: the program did not end within " + seconds_text(limits.grace) +
            " s of SIGTERM; ending it\n");
    }
    exit_path::abandon_process(Outcome::timed_out());
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_seconds(std::string_view text) noexcept {
    const std::string copy(text);
    char* end = nullptr;
    errno = 0;
    const double seconds = std::strtod(copy.c_str(), &end);
    if (copy.empty() || end == copy.c_str() || *end != '\0' || errno != 0 || !std::isfinite(seconds) || seconds < 0 ||
        seconds > 1e9) {
        return std::nullopt;
    }
    return std::chrono::milliseconds(static_cast<long long>(std::llround(seconds * 1000.0)));
}

std::optional<Limits> limits_from(std::string_view option) {
    Limits limits;
    std::string_view source = "--timeout";
    std::string text(option);
    if (text.empty()) {
        const char* value = std::getenv("PYHOST_TIMEOUT");
        text = value != nullptr ? value : "";
        source = "PYHOST_TIMEOUT";
    }
    if (text.empty()) {
        return std::nullopt;
    }
    const auto limit = parse_seconds(text);
    if (!limit) {
        throw std::invalid_argument(std::string(source) + " " + text + ": not a number of seconds");
    }
    if (const char* grace = std::getenv("PYHOST_TIMEOUT_GRACE"); grace != nullptr && *grace != '\0') {
        const auto parsed = parse_seconds(grace);
        if (!parsed) {
            throw std::invalid_argument(std::string("PYHOST_TIMEOUT_GRACE=") + grace + ": not a number of seconds");
        }
        limits.grace = *parsed;
    }
    if (limit->count() == 0) {
        return std::nullopt;  // 0: no limit, as timeout(1) reads it
    }
    limits.limit = *limit;
    return limits;
}

void start(const Limits& limits, DumpStacks dump_stacks) {
    if (g_watchdog != nullptr) {
        return;
    }
    auto* watchdog = new Watchdog();
    watchdog->limits = limits;
    watchdog->dump_stacks = dump_stacks;
    watchdog->deadline = std::chrono::steady_clock::now() + limits.limit;
    g_watchdog = watchdog;
    // A forked child (os.fork, multiprocessing) has no watchdog thread, and may have copied its
    // mutexes locked: the limit is the run's, not the child's.
    pthread_atfork(nullptr, nullptr, [] { g_watchdog = nullptr; });
    // Detached: it ends with the run, or ends the run.
    if (const int error = start_detached_thread<Watchdog, &Watchdog::run>(watchdog); error != 0) {
        g_watchdog = nullptr;
        delete watchdog;
        throw std::system_error(error, std::generic_category(), "timeout: cannot start the watchdog thread");
    }
}

bool expired() noexcept { return g_watchdog != nullptr && g_watchdog->expired.load(); }

void stop() noexcept {
    if (Watchdog* watchdog = g_watchdog; watchdog != nullptr) {
        {
            std::lock_guard lock(watchdog->mutex);
            watchdog->stopped = true;
        }
        watchdog->wake.notify_all();
    }
}

void python_finalizing() noexcept {
    if (Watchdog* watchdog = g_watchdog; watchdog != nullptr) {
        std::lock_guard dumping(watchdog->dump_mutex);
        watchdog->finalizing = true;
    }
}

}  // namespace pyhost::run::timeout
