#include <csignal>

#include <catch2/catch.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include "run/outcome.hpp"

using pyhost::run::Outcome;

namespace {

int wait_status_of_child(void (*body)()) {
    const pid_t child = fork();
    if (child == 0) {
        body();
        _exit(99);
    }
    int status = 0;
    waitpid(child, &status, 0);
    return status;
}

}  // namespace

TEST_CASE("an exit status reads back as exited, truncated to 8 bits as the parent sees it") {
    const Outcome outcome = Outcome::from_wait_status(wait_status_of_child([] { _exit(3); }));
    CHECK(outcome == Outcome::exited(3));
    CHECK(outcome.shell_status() == 3);
    CHECK(outcome.describe() == "exited with status 3");
    CHECK(Outcome::exited(256).shell_status() == 0);
}

TEST_CASE("death by a signal reads back as signaled, 128+n for a shell") {
    const Outcome outcome =
        Outcome::from_wait_status(wait_status_of_child([] { ::raise(SIGTERM); }));
    CHECK(outcome == Outcome::signaled(SIGTERM));
    CHECK(outcome.shell_status() == 143);
    CHECK(outcome.describe() == "killed by SIGTERM");
}

TEST_CASE("a run past its time limit reports 124, as timeout(1)") {
    CHECK(Outcome::timed_out().shell_status() == 124);
    CHECK(Outcome::timed_out().kind() == Outcome::Kind::timed_out);
    CHECK(Outcome::timed_out().describe() == "timed out");
    CHECK(Outcome::timed_out() != Outcome::exited(124));
}
