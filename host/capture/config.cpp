#include "capture/config.hpp"

#include <cstdlib>
#include <string_view>

#include <sys/random.h>

#include <unistd.h>

#include "common/env.hpp"

namespace pyhost::capture {
namespace {

std::string expand_pid(std::string path) {
    const std::string pid = std::to_string(::getpid());
    for (std::size_t at = path.find("%p"); at != std::string::npos; at = path.find("%p", at + pid.size())) {
        path.replace(at, 2, pid);
    }
    return path;
}

std::string random_run_id() {
    unsigned char bytes[16];
    if (getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
        // No entropy source: fall back on what is unique enough on one machine.
        const auto now = static_cast<unsigned long long>(
            std::chrono::system_clock::now().time_since_epoch().count());
        for (std::size_t i = 0; i < sizeof bytes; ++i) {
            bytes[i] = static_cast<unsigned char>((now >> (8 * (i % 8))) ^ (static_cast<unsigned>(::getpid()) >> (i % 4)));
        }
    }
    // A UUID version 4 in its usual text form.
    bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0F) | 0x40);
    bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3F) | 0x80);
    static constexpr char hex[] = "0123456789abcdef";
    std::string id;
    for (std::size_t i = 0; i < sizeof bytes; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            id += '-';
        }
        id += hex[bytes[i] >> 4];
        id += hex[bytes[i] & 0x0F];
    }
    return id;
}

bool truthy(const std::string& value) { return value == "1" || value == "true" || value == "yes" || value == "on"; }

}  // namespace

const std::vector<std::string>& environment_variables() {
    // Every PYHOST_* variable configures pyhost, not the program.
    static std::vector<std::string> names;
    if (names.empty()) {
        for (char** entry = environ; *entry != nullptr; ++entry) {
            const std::string_view text(*entry);
            if (text.starts_with("PYHOST_")) {
                names.emplace_back(text.substr(0, text.find('=')));
            }
        }
    }
    return names;
}

Config config_from_environment() {
    Config config;
    config.journal_path = expand_pid(env("PYHOST_LOG_FILE"));
    config.text_log_path = expand_pid(env("PYHOST_TEXT_LOG"));
    config.run_id = env("PYHOST_RUN_ID");
    config.capture_children = truthy(env("PYHOST_CAPTURE_CHILDREN"));
    if (const std::string heartbeat = env("PYHOST_HEARTBEAT"); !heartbeat.empty()) {
        char* end = nullptr;
        const double seconds = std::strtod(heartbeat.c_str(), &end);
        if (end != nullptr && *end == '\0' && seconds >= 0) {
            config.heartbeat = std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
        }
    }
    if (const std::string buffer = env("PYHOST_CAPTURE_BUFFER"); !buffer.empty()) {
        char* end = nullptr;
        const unsigned long long bytes = std::strtoull(buffer.c_str(), &end, 10);
        if (end != nullptr && *end == '\0' && bytes > 0) {
            config.ring_bytes = static_cast<std::size_t>(bytes);
        }
    }
    return config;
}

void apply_log_file_option(Config& config, const std::string& path) { config.journal_path = expand_pid(path); }

void apply_text_log_option(Config& config, const std::string& path) { config.text_log_path = expand_pid(path); }

std::string console_log_beside(std::string_view journal_path) {
    if (journal_path.ends_with(".jsonl")) {
        journal_path.remove_suffix(6);
    }
    return std::string(journal_path) + ".log";
}

void finalize(Config& config) {
    if (config.text_log_path.empty() && !config.journal_path.empty()) {
        config.text_log_path = console_log_beside(config.journal_path);
    }
    if (config.run_id.empty()) {
        config.run_id = random_run_id();
    }
}

}  // namespace pyhost::capture
