// Function archives and folders, extracted by the real libarchive into real directories.
//
// The [corpus] tests read the archives that tests/support/make_archives.py writes at test time
// (CTest runs it first: the archive.corpus fixture) from $PYHOST_TEST_ARCHIVES; its
// manifest.json says what each good archive must extract to and why each bad one is refused.
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "storage/extract.hpp"

using namespace pyhost::storage;
namespace fs = std::filesystem;
namespace json = boost::json;

extern char** environ;

namespace {

// A directory of its own under the system's temporary directory, removed afterwards.
class Scratch {
public:
    Scratch() {
        std::string pattern = (fs::temp_directory_path() / "pyhost-extract-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        m_path = pattern;
    }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    ~Scratch() {
        std::error_code ignored;
        fs::remove_all(m_path, ignored);
    }

    const fs::path& path() const { return m_path; }

    // A fresh `name/` holding an empty `dest` and an empty `canary` beside it.
    fs::path make_case(const std::string& name) const {
        const fs::path parent = m_path / name;
        fs::create_directories(parent / "dest");
        fs::create_directories(parent / "canary");
        return parent;
    }

private:
    fs::path m_path;
};

// An environment variable set for one scope, restored afterwards.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const std::optional<std::string>& value) : m_name(name) {
        if (const char* old = std::getenv(name)) {
            m_old = old;
        }
        if (value) {
            ::setenv(name, value->c_str(), 1);
        } else {
            ::unsetenv(name);
        }
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;
    ~ScopedEnv() {
        if (m_old) {
            ::setenv(m_name, m_old->c_str(), 1);
        } else {
            ::unsetenv(m_name);
        }
    }

private:
    const char* m_name;
    std::optional<std::string> m_old;
};

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

void write_file(const fs::path& path, const std::string& data, fs::perms mode = fs::perms(0644)) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << data;
    fs::permissions(path, mode);
}

std::vector<std::string> listing(const fs::path& directory) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(directory)) {
        names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
}

// Regular files that share an inode get " (linked with a, b)" added, naming the others.
void annotate_links(std::map<std::string, std::string>& tree, const std::map<std::string, std::set<std::string>>& groups) {
    for (const auto& [key, members] : groups) {
        if (members.size() < 2) {
            continue;
        }
        for (const std::string& member : members) {
            std::string others;
            for (const std::string& other : members) {
                if (other != member) {
                    others += (others.empty() ? "" : ", ") + other;
                }
            }
            tree[member] += " (linked with " + others + ")";
        }
    }
}

// What is at each path below `root`, described the way expected() describes the manifest's
// trees; symlinks are not followed.
std::map<std::string, std::string> snapshot(const fs::path& root) {
    std::map<std::string, std::string> tree;
    std::map<std::string, std::set<std::string>> inodes;
    for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
        const std::string relative = it->path().lexically_relative(root).string();
        struct stat status {};
        REQUIRE(::lstat(it->path().c_str(), &status) == 0);
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(status.st_mode & 07777));
        if (S_ISDIR(status.st_mode)) {
            tree[relative] = std::string("dir ") + mode;
        } else if (S_ISLNK(status.st_mode)) {
            tree[relative] = "symlink -> " + fs::read_symlink(it->path()).string();
        } else if (S_ISREG(status.st_mode)) {
            tree[relative] = std::string("file ") + mode + " " + read_file(it->path());
            inodes[std::to_string(status.st_ino)].insert(relative);
        } else {
            tree[relative] = "special";
        }
    }
    annotate_links(tree, inodes);
    return tree;
}

std::map<std::string, std::string> expected(const json::object& tree) {
    std::map<std::string, std::string> out;
    std::map<std::string, std::set<std::string>> links;
    for (const auto& [key, value] : tree) {
        const std::string path(key);
        const json::object& spec = value.as_object();
        const std::string type(spec.at("type").as_string());
        char mode[8] = "";
        if (spec.contains("mode")) {
            std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(spec.at("mode").as_int64()));
        }
        if (type == "dir") {
            out[path] = std::string("dir ") + mode;
        } else if (type == "file") {
            out[path] = std::string("file ") + mode + " " + std::string(spec.at("data").as_string());
        } else if (type == "symlink") {
            out[path] = "symlink -> " + std::string(spec.at("target").as_string());
        } else if (type == "hardlink") {
            const std::string target(spec.at("target").as_string());
            links[target].insert({target, path});
        }
    }
    for (const auto& [target, members] : links) {
        for (const std::string& member : members) {
            out[member] = out.at(target);
        }
    }
    annotate_links(out, links);
    return out;
}

// One "path: what" line per entry, for comparisons that show what differs.
std::string text_of(const std::map<std::string, std::string>& tree) {
    std::string text;
    for (const auto& [path, what] : tree) {
        text += path + ": " + what + "\n";
    }
    return text;
}

struct Corpus {
    fs::path directory;
    json::object manifest;
};

const Corpus& corpus() {
    static const Corpus loaded = [] {
        const char* directory = std::getenv("PYHOST_TEST_ARCHIVES");
        INFO("PYHOST_TEST_ARCHIVES names the corpus of tests/support/make_archives.py (ctest sets it)");
        REQUIRE(directory != nullptr);
        Corpus out{directory, json::parse(read_file(fs::path(directory) / "manifest.json")).as_object()};
        return out;
    }();
    return loaded;
}

ExtractLimits limits_of(const json::object& record) {
    ExtractLimits limits;
    if (const auto* given = record.if_contains("limits")) {
        if (const auto* bytes = given->as_object().if_contains("max_bytes")) {
            limits.max_bytes = static_cast<std::uint64_t>(bytes->as_int64());
        }
        if (const auto* entries = given->as_object().if_contains("max_entries")) {
            limits.max_entries = static_cast<std::uint64_t>(entries->as_int64());
        }
    }
    return limits;
}

std::string error_of_extracting(const std::function<void()>& extract) {
    try {
        extract();
    } catch (const StorageError& error) {
        return error.what();
    }
    return "(no error)";
}

std::span<const std::byte> bytes_of(const std::string& data) {
    return {reinterpret_cast<const std::byte*>(data.data()), data.size()};
}

// Extracts `archive` by its path or from its bytes in memory (named by the same path).
std::string error_of_extracting(const fs::path& archive, bool from_memory, const fs::path& destination,
                                const ExtractLimits& limits) {
    return error_of_extracting([&] {
        if (from_memory) {
            const std::string data = read_file(archive);
            extract_archive_memory(bytes_of(data), archive.string(), destination, limits);
        } else {
            extract_archive(archive, destination, limits);
        }
    });
}

// The corpus's directories that must stay empty, and paths that must not appear, still so.
void check_canaries() {
    for (const auto& canary : corpus().manifest.at("canaries").as_array()) {
        CHECK(listing(std::string(canary.as_string())).empty());
    }
    for (const auto& path : corpus().manifest.at("must_not_exist").as_array()) {
        CHECK_FALSE(fs::exists(fs::symlink_status(std::string(path.as_string()))));
    }
}

bool holds_inode_of(const fs::path& root, const fs::path& file) {
    struct stat other {};
    if (::stat(file.c_str(), &other) != 0) {
        return false;
    }
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
        struct stat status {};
        if (::lstat(entry.path().c_str(), &status) == 0 && status.st_ino == other.st_ino && status.st_dev == other.st_dev) {
            return true;
        }
    }
    return false;
}

// Extracts every archive of the manifest's `list`, from its file and from memory, each time
// into the `dest` of a fresh case directory with a `canary` beside it; `check` looks at the
// outcome (the error, "(no error)" if none). Afterwards nothing may be left beside `dest`.
void for_each_extraction(const char* list, const std::function<void(const json::object& record, const std::string& error,
                                                                    const fs::path& archive, const fs::path& destination)>& check) {
    const Scratch scratch;
    int index = 0;
    for (const auto& value : corpus().manifest.at(list).as_array()) {
        const json::object& record = value.as_object();
        const std::string file(record.at("file").as_string());
        INFO(file);
        const fs::path archive = corpus().directory / file;
        for (const bool from_memory : {false, true}) {
            INFO((from_memory ? "from memory" : "from the file"));
            const fs::path parent = scratch.make_case(list + std::to_string(index++));
            const fs::path destination = parent / "dest";
            check(record, error_of_extracting(archive, from_memory, destination, limits_of(record)), archive, destination);
            CHECK(listing(parent) == std::vector<std::string>{"canary", "dest"});
            CHECK(listing(parent / "canary").empty());
        }
    }
    check_canaries();
}

}  // namespace

TEST_CASE("extract: every good archive of the corpus gives exactly its tree, bytes and modes", "[corpus]") {
    for_each_extraction("good", [](const json::object& record, const std::string& error, const fs::path&,
                                   const fs::path& destination) {
        CHECK(error == "(no error)");
        CHECK(text_of(snapshot(destination)) == text_of(expected(record.at("tree").as_object())));
        if (record.at("root").is_null()) {
            CHECK_THROWS_AS(find_function_root(destination), StorageError);
        } else {
            const std::string root(record.at("root").as_string());
            CHECK(find_function_root(destination) == (root.empty() ? destination : destination / root).string());
        }
    });
}

TEST_CASE("extract: every bad archive of the corpus is refused, naming the entry, and nothing leaves the destination",
          "[corpus]") {
    for_each_extraction("bad", [](const json::object& record, const std::string& error, const fs::path& archive,
                                  const fs::path& destination) {
        CHECK(error.starts_with("archive '" + archive.string() + "': "));
        if (!record.at("entry").is_null()) {
            const std::string entry(record.at("entry").as_string());
            CHECK_THAT(error, Catch::Contains(": entry '" + entry.substr(0, 200)));
        } else {
            CHECK_THAT(error, !Catch::Contains(": entry '"));
        }
        CHECK_THAT(error, Catch::Contains(std::string(record.at("reason").as_string())));
        CHECK_FALSE(holds_inode_of(destination, "/etc/passwd"));
        // What a failed extraction leaves may still be read before the caller removes it:
        // no symlink, however harmless when it was made.
        CHECK_THAT(text_of(snapshot(destination)), !Catch::Contains("symlink"));
    });
}

TEST_CASE("extract: compression that needs an external program is refused and nothing is run", "[corpus]") {
    const Scratch scratch;
    // A PATH whose every decompressor libarchive could spawn leaves a mark when run.
    const fs::path bin = scratch.path() / "bin";
    const fs::path mark = scratch.path() / "ran";
    for (const char* program : {"lzop", "lrzip", "grzip", "lzip", "lz4", "uncompress", "compress", "gzip", "gunzip",
                                "xz", "unxz", "bzip2", "zstd", "lzma", "unlzma"}) {
        write_file(bin / program, "#!/bin/sh\necho \"$0 $*\" >> '" + mark.string() + "'\nexit 1\n", fs::perms(0755));
    }
    const ScopedEnv path("PATH", bin.string());
    int index = 0;
    for (const auto& value : corpus().manifest.at("external").as_array()) {
        const std::string file(value.as_string());
        INFO(file);
        const fs::path destination = scratch.make_case("external-" + std::to_string(index++)) / "dest";
        const std::string data = read_file(corpus().directory / file);
        const std::string error = error_of_extracting([&] { extract_archive_memory(bytes_of(data), "input", destination, {}); });
        CHECK_THAT(error, Catch::Contains("cannot read it as a tar or zip archive"));
        CHECK(listing(destination).empty());
    }
    CHECK_FALSE(fs::exists(mark));

    // The trap works: a program looked up on this PATH does leave the mark.
    pid_t child = 0;
    const char* argv[] = {"lzop", "-d", nullptr};
    REQUIRE(::posix_spawnp(&child, "lzop", nullptr, nullptr, const_cast<char**>(argv), environ) == 0);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(fs::exists(mark));
}

TEST_CASE("extract: the destination must be an existing empty directory") {
    const Scratch scratch;
    const std::string tar_gz = "x.tar.gz";
    const std::string garbage(64, 'x');
    CHECK_THROWS_WITH(extract_archive_memory(bytes_of(garbage), tar_gz, (scratch.path() / "missing").string(), {}),
                      Catch::Contains("cannot open the destination"));
    write_file(scratch.path() / "full" / "something", "x");
    CHECK_THROWS_WITH(extract_archive_memory(bytes_of(garbage), tar_gz, (scratch.path() / "full").string(), {}),
                      Catch::Contains("is not empty"));
    CHECK_THROWS_WITH(extract_archive((scratch.path() / "no-such.tar").string(), scratch.path().string(), {}),
                      Catch::Contains("cannot open it: No such file or directory"));
    fs::create_directories(scratch.path() / "folder.tar");
    CHECK_THROWS_WITH(extract_archive((scratch.path() / "folder.tar").string(), scratch.path().string(), {}),
                      Catch::Contains("not a regular file"));
    REQUIRE(::mkfifo((scratch.path() / "fifo.tar").c_str(), 0644) == 0);
    CHECK_THROWS_WITH(extract_archive((scratch.path() / "fifo.tar").string(), scratch.path().string(), {}),
                      Catch::Contains("not a regular file"));
}

TEST_CASE("extract: archive names and function ids") {
    for (const char* name : {"f.tar", "f.tar.gz", "f.tgz", "f.tar.xz", "f.txz", "f.gz", "f.zip", "/x/obd-check.TAR.GZ",
                             "F.ZIP", "f.tar.bz2", "f.tbz2", "f.tar.zst", "f.tzst"}) {
        INFO(name);
        // Debian 12's libarchive13 decodes bzip2 and zstd itself.
        CHECK(is_archive_name(name));
    }
    for (const char* name : {"f", "f.py", "f.tar.gz.txt", "f.rar", "f.7z", ".tar.gz", ".zip", "f.tar.lzo", ""}) {
        INFO(name);
        CHECK_FALSE(is_archive_name(name));
    }
    CHECK(function_id_of("/x/obd-check.tar.gz") == "obd-check");
    CHECK(function_id_of("obd-check.tgz") == "obd-check");
    CHECK(function_id_of("/x/y/obd.v2.zip") == "obd.v2");
    CHECK(function_id_of("/x/y/fn.gz") == "fn");
    CHECK(function_id_of("/x/y/fn.TAR.XZ") == "fn");
    CHECK(function_id_of("/x/obd-check/") == "obd-check");
    CHECK(function_id_of("/x/obd-check") == "obd-check");
    CHECK(function_id_of("plain") == "plain");
    CHECK(function_id_of(".tar.gz") == ".tar.gz");
}

TEST_CASE("extract: find_function_root looks at the root, then in a single top-level folder") {
    const Scratch scratch;
    const fs::path root = scratch.path();
    write_file(root / "flat" / "function.py", "");
    CHECK(find_function_root((root / "flat").string()) == (root / "flat").string());
    CHECK(find_function_root((root / "flat").string() + "/") == (root / "flat").string());

    write_file(root / "nested" / "obd-check" / "function.py", "");
    CHECK(find_function_root((root / "nested").string()) == (root / "nested" / "obd-check").string());

    write_file(root / "two" / "a" / "function.py", "");
    write_file(root / "two" / "b" / "x.py", "");
    CHECK_THROWS_WITH(find_function_root((root / "two").string()),
                      Catch::Contains("no function.py at the archive's root or in its single top-level folder"));

    write_file(root / "folder-and-file" / "a" / "function.py", "");
    write_file(root / "folder-and-file" / "README", "");
    CHECK_THROWS_AS(find_function_root((root / "folder-and-file").string()), StorageError);

    write_file(root / "deeper" / "a" / "b" / "function.py", "");
    CHECK_THROWS_AS(find_function_root((root / "deeper").string()), StorageError);

    fs::create_directories(root / "dir-named-function" / "function.py");
    CHECK_THROWS_AS(find_function_root((root / "dir-named-function").string()), StorageError);

    // The single folder is a symlink: not followed.
    write_file(root / "elsewhere" / "function.py", "");
    fs::create_directories(root / "linked");
    fs::create_directory_symlink("../elsewhere", root / "linked" / "obd");
    CHECK_THROWS_AS(find_function_root((root / "linked").string()), StorageError);

    fs::create_directories(root / "empty");
    CHECK_THROWS_AS(find_function_root((root / "empty").string()), StorageError);
    CHECK_THROWS_AS(find_function_root((root / "missing").string()), StorageError);
}

TEST_CASE("extract: copy_tree copies files, folders and inside symlinks with pyhost's modes") {
    const Scratch scratch;
    const fs::path source = scratch.path() / "source";
    write_file(source / "function.py", "print(1)\n", fs::perms(0600));
    write_file(source / "run.sh", "#!/bin/sh\n", fs::perms(04775));
    write_file(source / "lib" / "deep" / "helper.py", "x = 1\n", fs::perms(0664));
    fs::permissions(source / "lib", fs::perms(0700));
    fs::create_symlink("lib/deep/helper.py", source / "current");
    fs::create_symlink("../function.py", source / "lib" / "up");
    fs::create_hard_link(source / "function.py", source / "copy.py");
    const fs::path parent = scratch.make_case("copy");
    copy_tree(source.string(), (parent / "dest").string(), {});
    const std::map<std::string, std::string> want{
        {"function.py", "file 0644 print(1)\n"},
        {"copy.py", "file 0644 print(1)\n"},  // a separate file now
        {"run.sh", "file 0755 #!/bin/sh\n"},
        {"lib", "dir 0755"},
        {"lib/deep", "dir 0755"},
        {"lib/deep/helper.py", "file 0644 x = 1\n"},
        {"lib/up", "symlink -> ../function.py"},
        {"current", "symlink -> lib/deep/helper.py"},
    };
    CHECK(text_of(snapshot(parent / "dest")) == text_of(want));
    CHECK(listing(parent) == std::vector<std::string>{"canary", "dest"});
}

TEST_CASE("extract: copy_tree refuses symlinks out, devices, FIFOs and sockets, and keeps the limits") {
    const Scratch scratch;
    const auto refusal = [&](const std::string& name, const std::function<void(const fs::path&)>& make,
                             const ExtractLimits& limits = {}) {
        const fs::path source = scratch.path() / ("source-" + name);
        write_file(source / "function.py", "print(1)\n");
        make(source);
        const fs::path parent = scratch.make_case(name);
        const std::string error = error_of_extracting([&] { copy_tree(source.string(), (parent / "dest").string(), limits); });
        CHECK(listing(parent) == std::vector<std::string>{"canary", "dest"});
        CHECK(listing(parent / "canary").empty());
        CHECK(error.starts_with("directory '" + source.string() + "': "));
        return error;
    };
    CHECK_THAT(refusal("relative-out", [](const fs::path& s) { fs::create_symlink("../../canary", s / "out"); }),
               Catch::Contains("entry 'out': a symlink that resolves outside the destination"));
    CHECK_THAT(refusal("absolute-out", [](const fs::path& s) { fs::create_symlink("/etc", s / "etc"); }),
               Catch::Contains("entry 'etc': a symlink to an absolute path"));
    CHECK_THAT(refusal("chain-out",
                       [](const fs::path& s) {
                           fs::create_directories(s / "sub");
                           fs::create_symlink("..", s / "sub" / "up");
                           fs::create_symlink("sub/up/..", s / "esc");
                       }),
               Catch::Contains("entry 'esc': a symlink that resolves outside the destination"));
    CHECK_THAT(refusal("fifo", [](const fs::path& s) { REQUIRE(::mkfifo((s / "pipe").c_str(), 0644) == 0); }),
               Catch::Contains("entry 'pipe': a FIFO"));
    CHECK_THAT(refusal("socket",
                       [](const fs::path& s) {
                           const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
                           REQUIRE(fd >= 0);
                           sockaddr_un address{};
                           address.sun_family = AF_UNIX;
                           const std::string path = (s / "sock").string();
                           REQUIRE(path.size() < sizeof address.sun_path);
                           std::copy(path.begin(), path.end(), address.sun_path);
                           REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
                           ::close(fd);
                       }),
               Catch::Contains("entry 'sock': a socket"));
    CHECK_THAT(refusal("device", [](const fs::path& s) { REQUIRE(::mknod((s / "null").c_str(), S_IFCHR | 0644, makedev(1, 3)) == 0); }),
               Catch::Contains("entry 'null': a character device"));
    CHECK_THAT(refusal(
                   "bytes", [](const fs::path& s) { write_file(s / "big.bin", std::string(10000, 'x')); }, ExtractLimits{5000, 100}),
               Catch::Contains("entry 'big.bin': more than 5000 bytes of data in all"));
    CHECK_THAT(refusal(
                   "entries",
                   [](const fs::path& s) {
                       for (int i = 0; i < 10; ++i) {
                           write_file((s / "f") += std::to_string(i), "");
                       }
                   },
                   ExtractLimits{1000, 5}),
               Catch::Contains("more than 5 entries"));
}

TEST_CASE("extract: limits from the environment") {
    {
        const ScopedEnv bytes("PYHOST_ARCHIVE_MAX_BYTES", std::nullopt);
        const ScopedEnv files("PYHOST_ARCHIVE_MAX_FILES", "");
        const ExtractLimits limits = ExtractLimits::from_environment();
        CHECK(limits.max_bytes == 1ULL << 30);
        CHECK(limits.max_entries == 10'000);
    }
    {
        const ScopedEnv bytes("PYHOST_ARCHIVE_MAX_BYTES", "5000000000");
        const ScopedEnv files("PYHOST_ARCHIVE_MAX_FILES", "12");
        const ExtractLimits limits = ExtractLimits::from_environment();
        CHECK(limits.max_bytes == 5'000'000'000ULL);
        CHECK(limits.max_entries == 12);
    }
    for (const char* bad : {"12x", "-1", "0", " 5", "1e6", "99999999999999999999999"}) {
        INFO(bad);
        const ScopedEnv bytes("PYHOST_ARCHIVE_MAX_BYTES", bad);
        CHECK_THROWS_WITH(ExtractLimits::from_environment(), Catch::StartsWith("PYHOST_ARCHIVE_MAX_BYTES=") &&
                                                                 Catch::Contains("is not a positive whole number"));
    }
    const ScopedEnv files("PYHOST_ARCHIVE_MAX_FILES", "many");
    CHECK_THROWS_WITH(ExtractLimits::from_environment(), Catch::StartsWith("PYHOST_ARCHIVE_MAX_FILES='many'"));
}
