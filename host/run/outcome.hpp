// How a run ended: the exit status a parent process sees.
#pragma once

#include <string>

namespace pyhost::run {

class Outcome {
public:
    enum class Kind {
        exited,     // the program ended with an exit status
        signaled,   // a signal ended it
        timed_out,  // pyhost ended it when its time limit passed (--timeout): status 124, as timeout(1)
    };

    static Outcome exited(int status) noexcept { return Outcome(Kind::exited, status); }
    static Outcome signaled(int signal_number) noexcept { return Outcome(Kind::signaled, signal_number); }
    static Outcome timed_out() noexcept { return Outcome(Kind::timed_out, k_timed_out_status); }
    // timeout(1)'s status for a command it had to stop.
    static constexpr int k_timed_out_status = 124;
    // Decodes a status filled in by waitpid().
    static Outcome from_wait_status(int wait_status) noexcept;

    Kind kind() const noexcept { return m_kind; }
    // The exit status (0-255 as the parent sees it), the signal number, or 124 (timed out).
    int value() const noexcept { return m_value; }

    // The status a shell, tini or a container runtime reports: the exit status, or
    // 128 + the signal number.
    int shell_status() const noexcept;

    // "exited with status 3", "killed by SIGTERM", "timed out".
    std::string describe() const;

    friend bool operator==(const Outcome&, const Outcome&) = default;

private:
    Outcome(Kind kind, int value) noexcept : m_kind(kind), m_value(value) {}

    Kind m_kind;
    int m_value;
};

}  // namespace pyhost::run
