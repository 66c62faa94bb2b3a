#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "cli/help.hpp"
#include "cli/invocation.hpp"

using namespace pyhost::cli;

namespace {

// argv storage that outlives the Invocation pointing into it.
struct Argv {
    explicit Argv(std::vector<std::string> words) : strings(std::move(words)) {
        for (std::string& word : strings) {
            pointers.push_back(word.data());
        }
    }
    Invocation parse() { return pyhost::cli::parse(static_cast<int>(pointers.size()), pointers.data()); }
    std::vector<std::string> python_argv(const Invocation& invocation) const {
        return {invocation.python_argv.begin(), invocation.python_argv.end()};
    }
    std::vector<std::string> strings;
    std::vector<char*> pointers;
};

}  // namespace

TEST_CASE("a python name is python3: nothing of pyhost's command line exists") {
    for (const char* name : {"python", "python3", "/usr/local/bin/python3.11", "./python3-dbg"}) {
        Argv argv({name, "help", "--help"});
        const Invocation invocation = argv.parse();
        CHECK(invocation.personality == Personality::python);
        CHECK(invocation.command == Command::run_python);
        CHECK(invocation.preamble == Preamble::none);
        CHECK(argv.python_argv(invocation) == argv.strings);
    }
}

TEST_CASE("under its own name, `help` is pyhost's command") {
    Argv argv({"/opt/bin/pyhost", "help", "help"});
    const Invocation invocation = argv.parse();
    CHECK(invocation.personality == Personality::pyhost);
    CHECK(invocation.command == Command::help);
    CHECK(invocation.help_topic == std::vector<std::string>{"help"});
}

TEST_CASE("a script named like a command runs as ./name") {
    Argv argv({"pyhost", "./help", "x"});
    const Invocation invocation = argv.parse();
    CHECK(invocation.command == Command::run_python);
    CHECK(argv.python_argv(invocation) == argv.strings);
}

TEST_CASE("--help among Python's options gets pyhost's preamble, after the program it does not") {
    CHECK(Argv({"pyhost", "--help"}).parse().preamble == Preamble::short_usage);
    CHECK(Argv({"pyhost", "-X", "dev", "-h"}).parse().preamble == Preamble::short_usage);
    CHECK(Argv({"pyhost", "-W", "-h"}).parse().preamble == Preamble::none);  // -h is -W's value
    CHECK(Argv({"pyhost", "script.py", "--help"}).parse().preamble == Preamble::none);
    CHECK(Argv({"pyhost", "-c", "pass", "-h"}).parse().preamble == Preamble::none);
    CHECK(Argv({"pyhost", "-m", "pydoc", "--help"}).parse().preamble == Preamble::none);
}

TEST_CASE("help for an unknown command is a usage error naming it") {
    Argv argv({"pyhost", "help", "frobnicate"});
    const Invocation invocation = argv.parse();
    std::ostringstream out;
    REQUIRE_THROWS_WITH(print_help(out, invocation.help_topic), Catch::Contains("'frobnicate'"));
}

TEST_CASE("the short usage stays short and starts with a usage line") {
    std::ostringstream out;
    print_short_usage(out);
    const std::string text = out.str();
    CHECK(text.rfind("usage:", 0) == 0);
    CHECK(std::count(text.begin(), text.end(), '\n') <= 8);
    CHECK(text.find("PYTHONHOME") == std::string::npos);
}

TEST_CASE("pyhost's options before a command: --timeout among them") {
    Argv argv({"pyhost", "--timeout", "2.5", "--log-file=run.jsonl", "app.py", "--timeout", "9"});
    const Invocation invocation = argv.parse();
    CHECK(invocation.command == Command::run_python);
    CHECK(invocation.timeout == "2.5");
    CHECK(invocation.log_file == "run.jsonl");
    // After the program's name, --timeout is the program's.
    CHECK(argv.python_argv(invocation) == std::vector<std::string>{"pyhost", "app.py", "--timeout", "9"});
    REQUIRE_THROWS_WITH(Argv({"pyhost", "--timeout"}).parse(), "--timeout needs a SECONDS");
}

TEST_CASE("run-component takes the main file, --component-id anywhere, and passes the rest on") {
    Argv argv({"pyhost", "run-component", "/srv/c/main.py", "--verbose", "--component-id=c-1", "x"});
    const Invocation invocation = argv.parse();
    CHECK(invocation.command == Command::run_component);
    CHECK(invocation.component.main_path == "/srv/c/main.py");
    CHECK(invocation.component.component_id == "c-1");
    CHECK(invocation.component.args == std::vector<std::string>{"--verbose", "x"});
    CHECK(Argv({"pyhost", "run-component", "m.py", "--component-id", "c-2"}).parse().component.component_id == "c-2");
    REQUIRE_THROWS_WITH(Argv({"pyhost", "run-component"}).parse(), Catch::Contains("which component?"));
}

TEST_CASE("function: one source or --id, its options, the function's arguments after --") {
    Argv argv({"pyhost", "function", "--session-info", "e30=", "obd.tar.gz", "--runtime-id=r1", "--keep",
               "--timeout", "30", "--", "--verbose", "obd.tar.gz"});
    const Invocation invocation = argv.parse();
    CHECK(invocation.command == Command::function);
    const FunctionRequest& request = invocation.function;
    CHECK(request.source == "obd.tar.gz");
    CHECK(request.session_info == "e30=");
    CHECK(request.session_info_given);
    CHECK(request.runtime_id == "r1");
    CHECK(request.keep);
    CHECK(invocation.timeout == "30");
    CHECK(request.args == std::vector<std::string>{"--verbose", "obd.tar.gz"});

    const Invocation by_id = Argv({"pyhost", "function", "--id", "obd-check"}).parse();
    CHECK(by_id.function.function_id == "obd-check");
    CHECK(by_id.function.source.empty());
    CHECK_FALSE(by_id.function.session_info_given);

    REQUIRE_THROWS_WITH(Argv({"pyhost", "function"}).parse(), Catch::Contains("which function?"));
    REQUIRE_THROWS_WITH(Argv({"pyhost", "function", "a.tar", "--id", "b"}).parse(),
                        Catch::Contains("SOURCE and --id exclude each other"));
    REQUIRE_THROWS_WITH(Argv({"pyhost", "function", "a.tar", "b.tar"}).parse(),
                        Catch::Contains("one SOURCE only, got 'a.tar' and 'b.tar'"));
    REQUIRE_THROWS_WITH(Argv({"pyhost", "function", "a.tar", "--verbose"}).parse(),
                        Catch::Contains("unknown option '--verbose' (the function's own arguments go after --)"));
    REQUIRE_THROWS_WITH(Argv({"pyhost", "function", "--runtime-id="}).parse(),
                        Catch::Contains("--runtime-id needs a ID, not an empty string"));
}

TEST_CASE("replay takes an optional journal and sinks") {
    CHECK(Argv({"pyhost", "replay"}).parse().replay_journal.empty());
    const Invocation invocation = Argv({"pyhost", "replay", "--sink", "jsonl+http://h/x", "run.jsonl"}).parse();
    CHECK(invocation.replay_journal == "run.jsonl");
    CHECK(invocation.sinks == std::vector<std::string>{"jsonl+http://h/x"});
    REQUIRE_THROWS_WITH(Argv({"pyhost", "replay", "a", "b"}).parse(), Catch::Contains("unexpected argument 'b'"));
}
