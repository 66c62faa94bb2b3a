// Reading pyhost's configuration from the environment.
#pragma once

#include <cstdlib>
#include <string>

namespace pyhost {

// The variable's value, or an empty string when it is unset (unset and empty mean the same
// to every pyhost variable).
inline std::string env(const char* name) {
    const char* value = std::getenv(name);
    return value != nullptr ? std::string(value) : std::string();
}

// "/a/b//" -> "/a/b"; "/" stays "/". For directories and s3:// locations read from variables.
inline std::string without_trailing_slashes(std::string text) {
    while (text.size() > 1 && text.back() == '/') {
        text.pop_back();
    }
    return text;
}

}  // namespace pyhost
