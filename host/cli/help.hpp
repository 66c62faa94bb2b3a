// pyhost's own usage text. Python's options are printed by CPython itself, after it.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace pyhost::cli {

// The few lines `pyhost --help` prints before CPython's usage. Kept short: programs and
// CPython's test_cmd_line parse `--help` and expect a usage line first and under 50 lines.
void print_short_usage(std::ostream& out);

// `pyhost help [COMMAND]`. Throws UsageError for an unknown topic.
void print_help(std::ostream& out, const std::vector<std::string>& topic);

}  // namespace pyhost::cli
