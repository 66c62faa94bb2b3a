// How a run ended: the exit status a parent process sees.
#pragma once

#include <string>

namespace pyhost::run {

class Outcome {
public:
    enum class Kind { exited, signaled };

    static Outcome exited(int status) noexcept { return Outcome(Kind::exited, status); }
    static Outcome signaled(int signal_number) noexcept { return Outcome(Kind::signaled, signal_number); }
    // Decodes a status filled in by waitpid().
    static Outcome from_wait_status(int wait_status) noexcept;

    Kind kind() const noexcept { return m_kind; }
    // The exit status (0-255 as the parent sees it) or the signal number.
    int value() const noexcept { return m_value; }

    // The status a shell, tini or a container runtime reports: the exit status, or
    // 128 + the signal number.
    int shell_status() const noexcept;

    // "exited with status 3", "killed by SIGTERM".
    std::string describe() const;

    friend bool operator==(const Outcome&, const Outcome&) = default;

private:
    Outcome(Kind kind, int value) noexcept : m_kind(kind), m_value(value) {}

    Kind m_kind;
    int m_value;
};

}  // namespace pyhost::run
