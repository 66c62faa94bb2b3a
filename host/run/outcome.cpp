#include "run/outcome.hpp"

#include <cstring>

#include <sys/wait.h>

namespace pyhost::run {

Outcome Outcome::from_wait_status(int wait_status) noexcept {
    if (WIFSIGNALED(wait_status)) {
        return signaled(WTERMSIG(wait_status));
    }
    return exited(WEXITSTATUS(wait_status));
}

int Outcome::shell_status() const noexcept {
    // exit() keeps only the low 8 bits; report what the parent will actually see.
    return m_kind == Kind::signaled ? 128 + m_value : (m_value & 0xff);
}

std::string Outcome::describe() const {
    if (m_kind == Kind::exited) {
        return "exited with status " + std::to_string(m_value & 0xff);
    }
    if (m_kind == Kind::timed_out) {
        return "timed out";
    }
    const char* abbrev = sigabbrev_np(m_value);
    return abbrev != nullptr ? std::string("killed by SIG") + abbrev
                             : "killed by signal " + std::to_string(m_value);
}

}  // namespace pyhost::run
