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
