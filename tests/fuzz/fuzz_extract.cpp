// libFuzzer target: every input is extracted from memory, as an archive of any supported kind,
// into a fresh directory of a sandbox; then what it left is checked by means independent of
// the extractor's own (realpath(), lstat()). A finding aborts:
//   - anything in the sandbox outside the destination (the destination is three levels down,
//     so that `..`, `../..` and `../../..` escapes land where they are seen);
//   - in the destination, anything but regular files, directories and symlinks; a mode other
//     than 0644/0755 for files and 0755 for directories; a symlink that is absolute or, through
//     the real filesystem, resolves outside the destination; more entries or bytes than the
//     limits allow;
//   - an exception other than StorageError (it escapes this function: libFuzzer reports it).
// Absolute-path escapes would land anywhere and cannot be looked for; the unit tests aim the
// corpus's absolute paths at a directory they watch.
//
// PYHOST_FUZZ_SANDBOX names the sandbox directory (default: fuzz-sandbox in the working
// directory); it must hold nothing but what this target leaves there.
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <span>
#include <string>
#include <system_error>

#include "storage/extract.hpp"

namespace fs = std::filesystem;
using pyhost::storage::ExtractLimits;

namespace {

constexpr ExtractLimits k_limits{4ULL << 20, 256};

fs::path g_sandbox;
fs::path g_destination;

[[noreturn]] void finding(const std::string& what, const fs::path& where) {
    std::fprintf(stderr, "fuzz_extract: FINDING: %s: %s\n", what.c_str(), where.c_str());
    std::abort();
}

// Whether `path`, or the deepest part of it that exists, is the destination or inside it.
bool resolves_inside(fs::path path, const std::string& root) {
    for (;;) {
        char resolved[PATH_MAX];
        if (::realpath(path.c_str(), resolved) != nullptr) {
            const std::string text = resolved;
            return text == root || text.starts_with(root + "/");
        }
        if (errno != ENOENT && errno != ENOTDIR) {
            return true;  // a loop or an error: nothing that leaves
        }
        if (!path.has_relative_path() || path.parent_path() == path) {
            return true;
        }
        path = path.parent_path();
    }
}

void check_destination() {
    char root_buffer[PATH_MAX];
    if (::realpath(g_destination.c_str(), root_buffer) == nullptr) {
        finding("the destination is gone", g_destination);
    }
    const std::string root = root_buffer;
    std::uint64_t entries = 0;
    std::uint64_t bytes = 0;
    std::set<ino_t> inodes;
    std::error_code error;
    for (fs::recursive_directory_iterator it(g_destination, error), end; !error && it != end; it.increment(error)) {
        struct stat status {};
        if (::lstat(it->path().c_str(), &status) != 0) {
            finding("cannot lstat", it->path());
        }
        ++entries;
        const mode_t mode = status.st_mode & 07777;
        if (S_ISREG(status.st_mode)) {
            if (mode != 0644 && mode != 0755) {
                finding("a file of mode " + std::to_string(mode), it->path());
            }
            if (inodes.insert(status.st_ino).second) {
                bytes += static_cast<std::uint64_t>(status.st_size);
            }
        } else if (S_ISDIR(status.st_mode)) {
            if (mode != 0755) {
                finding("a directory of mode " + std::to_string(mode), it->path());
            }
        } else if (S_ISLNK(status.st_mode)) {
            const fs::path target = fs::read_symlink(it->path(), error);
            if (error || target.is_absolute()) {
                finding("an absolute or unreadable symlink", it->path());
            }
            if (!resolves_inside(it->path().parent_path() / target, root)) {
                finding("a symlink that resolves outside the destination (" + target.string() + ")", it->path());
            }
        } else {
            finding("a device, FIFO or socket", it->path());
        }
    }
    if (error) {
        finding("cannot walk the destination: " + error.message(), g_destination);
    }
    if (entries > k_limits.max_entries) {
        finding(std::to_string(entries) + " entries", g_destination);
    }
    if (bytes > k_limits.max_bytes) {
        finding(std::to_string(bytes) + " bytes", g_destination);
    }
}

void check_sandbox() {
    const std::set<fs::path> chain{g_sandbox / "a", g_sandbox / "a" / "b", g_destination};
    std::error_code error;
    for (fs::recursive_directory_iterator it(g_sandbox, error), end; !error && it != end; it.increment(error)) {
        if (it->path() == g_destination) {
            it.disable_recursion_pending();
        } else if (!chain.contains(it->path())) {
            finding("something outside the destination", it->path());
        }
    }
    if (error) {
        finding("cannot walk the sandbox: " + error.message(), g_sandbox);
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    const char* sandbox = std::getenv("PYHOST_FUZZ_SANDBOX");
    g_sandbox = fs::absolute(sandbox != nullptr && *sandbox != '\0' ? sandbox : "fuzz-sandbox");
    g_destination = g_sandbox / "a" / "b" / "dest";
    fs::create_directories(g_sandbox);
    fs::remove_all(g_sandbox / "a");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fs::create_directories(g_destination);
    const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
    try {
        pyhost::storage::extract_archive_memory(input, "fuzz-input", g_destination.string(), k_limits);
        pyhost::storage::find_function_root(g_destination.string());
    } catch (const pyhost::storage::StorageError&) {
        // Refused: the expected outcome for most inputs. What was written must still obey the rules.
    }
    check_sandbox();
    check_destination();
    fs::remove_all(g_sandbox / "a");
    return 0;
}
