#include "storage/extract.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <new>
#include <optional>
#include <unordered_set>
#include <utility>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <locale.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/archive_api.hpp"

namespace pyhost::storage {
namespace {

constexpr std::size_t k_buffer_size = 64 * 1024;
// What the kernel itself follows in one lookup before it answers ELOOP.
constexpr int k_max_symlink_expansions = 40;
// Steps of symlink resolution in one extraction (see TreeWriter::resolve): about a second of
// system calls; real functions need a few per symlink.
constexpr std::uint64_t k_max_resolution_steps = 1'000'000;
constexpr mode_t k_file_mode = 0644;
constexpr mode_t k_executable_mode = 0755;
constexpr mode_t k_directory_mode = 0755;
// Every directory on the way to an entry is opened this way: a symlink, even one that points
// inside, is never followed.
constexpr int k_open_directory = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

using Components = std::vector<std::string>;

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : m_fd(fd) {}
    Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
    Fd& operator=(Fd&& other) noexcept {
        std::swap(m_fd, other.m_fd);
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (m_fd >= 0) {
            ::close(m_fd);
        }
    }

    int get() const { return m_fd; }
    explicit operator bool() const { return m_fd >= 0; }

private:
    int m_fd = -1;
};

// A name from an archive as it may appear in a message: quoted, with every byte that is not
// printable ASCII escaped (it may be anything, terminal escapes included) and cut short when
// absurdly long.
std::string quoted(std::string_view text) {
    constexpr std::size_t k_shown = 200;
    std::string out = "'";
    for (std::size_t i = 0; i < text.size() && i < k_shown; ++i) {
        const auto byte = static_cast<unsigned char>(text[i]);
        if (byte >= 0x20 && byte < 0x7f && byte != '\'' && byte != '\\') {
            out += static_cast<char>(byte);
        } else {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
            out += escaped;
        }
    }
    if (text.size() > k_shown) {
        out += "...";
    }
    return out + "'";
}

std::string system_error(int error) { return std::strerror(error); }

std::string joined(const Components& path, std::size_t count) {
    std::string out;
    for (std::size_t i = 0; i < count && i < path.size(); ++i) {
        if (i > 0) {
            out += '/';
        }
        out += path[i];
    }
    return out;
}

std::string joined(const Components& path) { return joined(path, path.size()); }

// Splits an entry's name into the components of its path below the destination; "" and "."
// components are dropped ("./a//b/" is "a/b"). Returns why the name is refused, or "".
std::string split_name(std::string_view name, Components& out) {
    out.clear();
    if (name.empty()) {
        return "an empty name";
    }
    if (name.size() > k_max_path_length) {
        return "a name longer than " + std::to_string(k_max_path_length) + " bytes";
    }
    if (name.front() == '/') {
        return "an absolute path";
    }
    for (std::size_t start = 0; start <= name.size();) {
        std::size_t end = name.find('/', start);
        if (end == std::string_view::npos) {
            end = name.size();
        }
        const std::string_view part = name.substr(start, end - start);
        start = end + 1;
        if (part.empty() || part == ".") {
            continue;
        }
        if (part == "..") {
            return "a '..' component";
        }
        if (part.size() > k_max_name_length) {
            return "a component longer than " + std::to_string(k_max_name_length) + " bytes";
        }
        if (out.size() == k_max_depth) {
            return "more than " + std::to_string(k_max_depth) + " levels deep";
        }
        out.emplace_back(part);
    }
    return {};
}

// The names in a directory, sorted, without "." and "..".
std::optional<std::vector<std::string>> list_names(int directory) {
    const int copy = ::fcntl(directory, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) {
        return std::nullopt;
    }
    DIR* stream = ::fdopendir(copy);
    if (stream == nullptr) {
        ::close(copy);
        return std::nullopt;
    }
    std::vector<std::string> names;
    errno = 0;
    while (const dirent* entry = ::readdir(stream)) {
        const std::string_view name = entry->d_name;
        if (name != "." && name != "..") {
            names.emplace_back(name);
        }
    }
    const int error = errno;
    ::closedir(stream);
    if (error != 0) {
        errno = error;
        return std::nullopt;
    }
    std::sort(names.begin(), names.end());
    return names;
}

std::string describe_special(mode_t type) {
    switch (type & S_IFMT) {
    case S_IFCHR:
        return "a character device: devices, FIFOs and sockets are never extracted";
    case S_IFBLK:
        return "a block device: devices, FIFOs and sockets are never extracted";
    case S_IFIFO:
        return "a FIFO: devices, FIFOs and sockets are never extracted";
    case S_IFSOCK:
        return "a socket: devices, FIFOs and sockets are never extracted";
    default: {
        char octal[16];
        std::snprintf(octal, sizeof octal, "0%o", static_cast<unsigned>(type));
        return std::string("an entry of unknown type ") + octal;
    }
    }
}

[[noreturn]] void fail(const std::string& label, std::string_view why) {
    throw StorageError(label + ": " + std::string(why));
}

// Where an archive or a source tree is unpacked: every file, directory and link is made here,
// through the rules of extract.hpp, one entry at a time.
class TreeWriter {
public:
    TreeWriter(std::string label, const std::string& destination, const ExtractLimits& limits)
        : m_label(std::move(label)), m_limits(limits), m_root(::open(destination.c_str(), k_open_directory & ~O_NOFOLLOW)) {
        if (!m_root) {
            fail("cannot open the destination " + quoted(destination) + ": " + system_error(errno));
        }
        const auto names = list_names(m_root.get());
        if (!names) {
            fail("cannot list the destination " + quoted(destination) + ": " + system_error(errno));
        }
        if (!names->empty()) {
            fail("the destination " + quoted(destination) + " is not empty");
        }
    }

    TreeWriter(const TreeWriter&) = delete;
    TreeWriter& operator=(const TreeWriter&) = delete;

    // A symlink made early may resolve outside once a later one exists (see finish()); an
    // extraction that fails, whether finish() found that or anything else went wrong, leaves
    // no symlink behind, so that what remains cannot lead out even before the caller removes it.
    ~TreeWriter() {
        if (m_finished) {
            return;
        }
        for (const Symlink& link : m_symlinks) {
            Fd directory(::fcntl(m_root.get(), F_DUPFD_CLOEXEC, 0));
            for (std::size_t index = 0; directory && index < link.directory.size(); ++index) {
                directory = Fd(::openat(directory.get(), link.directory[index].c_str(), k_open_directory));
            }
            if (directory) {
                ::unlinkat(directory.get(), link.name.c_str(), 0);
            }
        }
    }

    // Starts the entry `name`: counts it against the limit, checks its name and returns its
    // path below the destination (empty for the destination itself, as in "./").
    Components begin_entry(std::string_view name) {
        m_entry = name;
        if (m_entries >= m_limits.max_entries) {
            refuse_too_many();
        }
        ++m_entries;
        Components path;
        if (const std::string why = split_name(name, path); !why.empty()) {
            refuse(why);
        }
        return path;
    }

    void make_directory(const Components& path) {
        if (path.empty()) {
            return;
        }
        const Fd parent = open_parent(path);
        enter(parent.get(), path, path.size() - 1, Count::no);
    }

    // The new file, open for writing; its data goes through write_data().
    Fd create_file(const Components& path, bool executable) {
        refuse_if_root(path);
        const Fd parent = open_parent(path);
        Fd file(::openat(parent.get(), path.back().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!file) {
            refuse_creation(parent.get(), path.back(), errno);
        }
        if (::fchmod(file.get(), executable ? k_executable_mode : k_file_mode) != 0) {
            refuse("cannot set its mode: " + system_error(errno));
        }
        m_regular_files.insert(joined(path));
        return file;
    }

    void write_data(int file, const char* data, std::size_t size) {
        if (size > m_limits.max_bytes - m_bytes) {
            refuse("more than " + std::to_string(m_limits.max_bytes) + " bytes of data in all (PYHOST_ARCHIVE_MAX_BYTES)");
        }
        m_bytes += size;
        while (size > 0) {
            const ssize_t written = ::write(file, data, size);
            if (written < 0 && errno == EINTR) {
                continue;
            }
            if (written <= 0) {
                refuse("cannot write it: " + system_error(written < 0 ? errno : EIO));
            }
            data += written;
            size -= static_cast<std::size_t>(written);
        }
    }

    void make_symlink(const Components& path, const std::string& target) {
        refuse_if_root(path);
        const Components directory(path.begin(), path.end() - 1);
        if (const std::string why = check_symlink_target(directory, target); !why.empty()) {
            refuse(why);
        }
        const Fd parent = open_parent(path);
        if (::symlinkat(target.c_str(), parent.get(), path.back().c_str()) != 0) {
            refuse_creation(parent.get(), path.back(), errno);
        }
        m_symlinks.push_back(Symlink{m_entry, directory, path.back(), target});
    }

    void make_hard_link(const Components& path, const std::string& target_name) {
        refuse_if_root(path);
        Components target;
        if (const std::string why = split_name(target_name, target); !why.empty()) {
            refuse("its hard link target " + quoted(target_name) + " is refused: " + why);
        }
        if (!m_regular_files.contains(joined(target))) {
            refuse("a hard link to " + quoted(target_name) + ", which is not a regular file extracted before it");
        }
        const Fd target_parent = find_directory(Components(target.begin(), target.end() - 1));
        if (!target_parent) {
            refuse("the folder of its hard link target " + quoted(target_name) + " is gone");
        }
        const Fd parent = open_parent(path);
        // No AT_SYMLINK_FOLLOW: the target is the file itself, never what a name points to.
        if (::linkat(target_parent.get(), target.back().c_str(), parent.get(), path.back().c_str(), 0) != 0) {
            refuse_creation(parent.get(), path.back(), errno);
        }
        m_regular_files.insert(joined(path));
    }

    // Checks every symlink again in the finished tree: one made early may point through a
    // symlink made later (`x -> sub/up/..`, then `sub/up -> ..`).
    void finish() {
        for (const Symlink& link : m_symlinks) {
            if (const std::string why = check_symlink_target(link.directory, link.target); !why.empty()) {
                m_entry = link.entry;
                refuse(why);
            }
        }
        m_finished = true;
    }

    [[noreturn]] void refuse(std::string_view why) const {
        throw StorageError(m_label + ": entry " + quoted(m_entry) + ": " + std::string(why));
    }

    [[noreturn]] void fail(std::string_view why) const { storage::fail(m_label, why); }

private:
    enum class Count { yes, no };
    enum class Resolution { inside, outside, loop, too_tangled };

    struct Symlink {
        std::string entry;
        Components directory;  // where the link is: its target is relative to this
        std::string name;
        std::string target;
    };

    [[noreturn]] void refuse_too_many() const {
        refuse("more than " + std::to_string(m_limits.max_entries) +
               " entries, counting the folders their paths create (PYHOST_ARCHIVE_MAX_FILES)");
    }

    void refuse_if_root(const Components& path) const {
        if (path.empty()) {
            refuse("it names the destination itself");
        }
    }

    [[noreturn]] void refuse_creation(int parent, const std::string& name, int error) const {
        struct stat existing {};
        if (error == EEXIST && ::fstatat(parent, name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0) {
            const char* what = S_ISDIR(existing.st_mode) ? "a directory" : S_ISLNK(existing.st_mode) ? "a symlink" : "a file";
            refuse(std::string(what) + " of that name exists already: entries never replace one another");
        }
        refuse("cannot create it: " + system_error(error));
    }

    Fd duplicate_root() const {
        Fd copy(::fcntl(m_root.get(), F_DUPFD_CLOEXEC, 0));
        if (!copy) {
            refuse("cannot open the destination again: " + system_error(errno));
        }
        return copy;
    }

    // The directory that will hold the last component of `path`, created with the folders
    // above it where missing.
    Fd open_parent(const Components& path) {
        Fd directory = duplicate_root();
        for (std::size_t index = 0; index + 1 < path.size(); ++index) {
            directory = enter(directory.get(), path, index, Count::yes);
        }
        return directory;
    }

    // Creates (if missing) and opens the directory path[index] in `parent`. A folder created
    // for a deeper entry counts against max_entries; the entry's own directory (Count::no) was
    // counted when the entry began.
    Fd enter(int parent, const Components& path, std::size_t index, Count count) {
        const char* name = path[index].c_str();
        bool created = false;
        if (count == Count::no || m_entries < m_limits.max_entries) {
            if (::mkdirat(parent, name, k_directory_mode) == 0) {
                created = true;
                m_entries += count == Count::yes ? 1 : 0;
            } else if (errno != EEXIST) {
                refuse("cannot create the folder " + quoted(joined(path, index + 1)) + ": " + system_error(errno));
            }
        }
        Fd directory(::openat(parent, name, k_open_directory));
        if (!directory) {
            const int error = errno;
            struct stat existing {};
            if (::fstatat(parent, name, &existing, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno == ENOENT && count == Count::yes) {
                    refuse_too_many();
                }
            } else if (S_ISLNK(existing.st_mode)) {
                refuse("its path passes through the symlink " + quoted(joined(path, index + 1)));
            } else if (!S_ISDIR(existing.st_mode)) {
                refuse("its path passes through " + quoted(joined(path, index + 1)) + ", which is not a directory");
            }
            refuse("cannot open the folder " + quoted(joined(path, index + 1)) + ": " + system_error(error));
        }
        // mkdirat() applied the umask; pyhost's modes do not depend on it.
        if (created && ::fchmod(directory.get(), k_directory_mode) != 0) {
            refuse("cannot set the mode of " + quoted(joined(path, index + 1)) + ": " + system_error(errno));
        }
        return directory;
    }

    // The directory at `path` if it exists as one, reached without following any symlink; an
    // empty Fd if it does not.
    Fd find_directory(const Components& path) const {
        Fd directory = duplicate_root();
        for (const std::string& name : path) {
            Fd next(::openat(directory.get(), name.c_str(), k_open_directory));
            if (!next) {
                if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP) {
                    refuse("cannot open the folder " + quoted(name) + ": " + system_error(errno));
                }
                return {};
            }
            directory = std::move(next);
        }
        return directory;
    }

    // Follows `target` from `directory` as the kernel would, through the symlinks of the tree
    // as it is now; components that do not exist yet are taken as plain names. A step is one
    // readlinkat() and at most one openat(), on descriptors kept along the way, and every step
    // of an extraction counts against k_max_resolution_steps: a tangle of symlinks (thousands
    // of links with 4 KiB targets through deep folders) cannot make the checks run for hours.
    Resolution resolve(const Components& directory, std::string_view target) {
        // opened[i] is the directory reached[0..i]. It falls behind `reached` at the first
        // component that is not an existing directory: below that nothing exists yet.
        Components reached;
        std::vector<Fd> opened;
        const auto current = [&]() -> int {
            if (opened.size() != reached.size()) {
                return -1;
            }
            return opened.empty() ? m_root.get() : opened.back().get();
        };
        const auto descend = [&](std::string name) {
            const int parent = current();
            reached.push_back(std::move(name));
            if (parent < 0) {
                return;
            }
            Fd next(::openat(parent, reached.back().c_str(), k_open_directory));
            if (next) {
                opened.push_back(std::move(next));
            } else if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP) {
                refuse("cannot open the folder " + quoted(joined(reached)) + ": " + system_error(errno));
            }
        };
        std::deque<std::string> pending;
        const auto push_front = [&pending](std::string_view text) {
            Components parts;
            for (std::size_t start = 0; start <= text.size();) {
                std::size_t end = text.find('/', start);
                end = end == std::string_view::npos ? text.size() : end;
                if (end > start && text.substr(start, end - start) != ".") {
                    parts.emplace_back(text.substr(start, end - start));
                }
                start = end + 1;
            }
            pending.insert(pending.begin(), parts.begin(), parts.end());
        };
        for (const std::string& name : directory) {
            descend(name);
        }
        push_front(target);
        std::string link(k_max_path_length + 1, '\0');
        int expansions = 0;
        while (!pending.empty()) {
            if (++m_resolution_steps > k_max_resolution_steps) {
                return Resolution::too_tangled;
            }
            std::string part = std::move(pending.front());
            pending.pop_front();
            if (part == "..") {
                if (reached.empty()) {
                    return Resolution::outside;
                }
                if (opened.size() == reached.size()) {
                    opened.pop_back();
                }
                reached.pop_back();
                continue;
            }
            if (const int parent = current(); parent >= 0) {
                const ssize_t size = ::readlinkat(parent, part.c_str(), link.data(), link.size());
                if (size >= 0) {
                    if (++expansions > k_max_symlink_expansions) {
                        return Resolution::loop;
                    }
                    if (size == 0 || link.front() == '/') {
                        return Resolution::outside;
                    }
                    push_front(std::string_view(link.data(), static_cast<std::size_t>(size)));
                    continue;
                }
                if (errno != EINVAL && errno != ENOENT && errno != ENOTDIR) {
                    refuse("cannot read the symlink " + quoted(part) + ": " + system_error(errno));
                }
            }
            descend(std::move(part));
        }
        return Resolution::inside;
    }

    // Why a symlink in `directory` may not point to `target`, or "".
    std::string check_symlink_target(const Components& directory, const std::string& target) {
        if (target.empty()) {
            return "a symlink with an empty target";
        }
        if (target.size() > k_max_path_length) {
            return "a symlink whose target is longer than " + std::to_string(k_max_path_length) + " bytes";
        }
        if (target.front() == '/') {
            return "a symlink to an absolute path (" + quoted(target) + ")";
        }
        switch (resolve(directory, target)) {
        case Resolution::inside:
            return {};
        case Resolution::outside:
            return "a symlink that resolves outside the destination (" + quoted(target) + ")";
        case Resolution::loop:
            return "a symlink loop (" + quoted(target) + ")";
        case Resolution::too_tangled:
            return "more symlinks, or more tangled ones, than can be checked (" + std::to_string(k_max_resolution_steps) +
                   " steps in all)";
        }
        return {};
    }

    std::string m_label;
    ExtractLimits m_limits;
    Fd m_root;
    std::string m_entry;
    std::uint64_t m_entries = 0;
    std::uint64_t m_bytes = 0;
    std::unordered_set<std::string> m_regular_files;  // paths, for hard links to point at
    std::vector<Symlink> m_symlinks;
    std::uint64_t m_resolution_steps = 0;
    bool m_finished = false;
};

// ---- Archive kinds, by file name ----

enum class ArchiveKind { tar, tar_gzip, tar_xz, tar_bzip2, tar_zstd, zip, any };

struct Suffix {
    std::string_view text;
    ArchiveKind kind;
};

// Longest first: ".tar.gz" before ".gz".
constexpr std::array k_suffixes{
    Suffix{".tar.bz2", ArchiveKind::tar_bzip2}, Suffix{".tar.zst", ArchiveKind::tar_zstd},
    Suffix{".tar.gz", ArchiveKind::tar_gzip},   Suffix{".tar.xz", ArchiveKind::tar_xz},
    Suffix{".tbz2", ArchiveKind::tar_bzip2},    Suffix{".tzst", ArchiveKind::tar_zstd},
    Suffix{".tgz", ArchiveKind::tar_gzip},      Suffix{".txz", ArchiveKind::tar_xz},
    Suffix{".tar", ArchiveKind::tar},           Suffix{".zip", ArchiveKind::zip},
    Suffix{".gz", ArchiveKind::tar_gzip},
};

std::string_view base_name(std::string_view path) {
    while (path.size() > 1 && path.back() == '/') {
        path.remove_suffix(1);
    }
    const std::size_t slash = path.rfind('/');
    return slash == std::string_view::npos || path.size() == 1 ? path : path.substr(slash + 1);
}

// The archive extension of `name` (the longest that matches), when something comes before it:
// ".tar.gz" alone is not a gzipped tar named ".tar".
const Suffix* suffix_of(std::string_view name) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    for (const Suffix& suffix : k_suffixes) {
        if (name.size() >= suffix.text.size() &&
            std::equal(suffix.text.begin(), suffix.text.end(), name.end() - static_cast<std::ptrdiff_t>(suffix.text.size()),
                       [&](char a, char b) { return a == lower(b); })) {
            return name.size() > suffix.text.size() ? &suffix : nullptr;
        }
    }
    return nullptr;
}

ArchiveKind kind_of(std::string_view name) {
    const Suffix* suffix = suffix_of(base_name(name));
    return suffix != nullptr ? suffix->kind : ArchiveKind::any;
}

struct KindInfo {
    const char* description;       // for messages: "cannot read it as ..."
    std::optional<Filter> filter;  // the one compression it must have, if any
};

KindInfo info_of(ArchiveKind kind) {
    switch (kind) {
    case ArchiveKind::tar:
        return {"a tar archive", std::nullopt};
    case ArchiveKind::tar_gzip:
        return {"a gzip-compressed tar archive", Filter::gzip};
    case ArchiveKind::tar_xz:
        return {"an xz-compressed tar archive", Filter::xz};
    case ArchiveKind::tar_bzip2:
        return {"a bzip2-compressed tar archive", Filter::bzip2};
    case ArchiveKind::tar_zstd:
        return {"a zstd-compressed tar archive", Filter::zstd};
    case ArchiveKind::zip:
        return {"a zip archive", std::nullopt};
    case ArchiveKind::any:
        break;
    }
    return {"a tar or zip archive", std::nullopt};
}

struct FilterInfo {
    int code;  // archive_filter_code()'s
    const char* name;
};

// Indexed by Filter.
constexpr std::array<FilterInfo, k_filter_count> k_filters{{
    {ARCHIVE_FILTER_GZIP, "gzip"},
    {ARCHIVE_FILTER_XZ, "xz"},
    {ARCHIVE_FILTER_BZIP2, "bzip2"},
    {ARCHIVE_FILTER_ZSTD, "zstd"},
}};

const FilterInfo& info_of(Filter filter) { return k_filters[static_cast<std::size_t>(filter)]; }

// ---- Reading archives ----

std::string error_of(const ArchiveApi& api, archive* reader) {
    const char* text = api.error_string(reader);
    return text != nullptr ? text : "unknown error";
}

// libarchive converts the names it reads into the current locale's charset, and under the C
// locale (pyhost before Python starts, the tests) a zip's or pax header's UTF-8 name cannot be
// converted: the entry comes back nameless. For the life of a read handle this thread alone
// uses C.UTF-8 (uselocale() is per thread; the process's locale is untouched). Names stored
// as raw bytes (plain tar headers) are not converted either way.
class Utf8Names {
public:
    Utf8Names() : m_utf8(::newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr))) {
        if (m_utf8 != static_cast<locale_t>(nullptr)) {
            m_previous = ::uselocale(m_utf8);
        }
    }
    Utf8Names(const Utf8Names&) = delete;
    Utf8Names& operator=(const Utf8Names&) = delete;
    ~Utf8Names() {
        if (m_utf8 != static_cast<locale_t>(nullptr)) {
            ::uselocale(m_previous);
            ::freelocale(m_utf8);
        }
    }

private:
    locale_t m_utf8;
    locale_t m_previous = static_cast<locale_t>(nullptr);
};

const ArchiveApi& load_api(const std::string& label) {
    std::string error;
    const ArchiveApi* api = archive_api(error);
    if (api == nullptr) {
        fail(label, error);
    }
    return *api;
}

// A read handle for `kind`: only its format, and only its filter (all built-in filters for
// ArchiveKind::any), so that data of another kind is not recognised.
ArchiveReader open_reader(const ArchiveApi& api, ArchiveKind kind, const TreeWriter& writer) {
    ArchiveReader reader(api.read_new(), ArchiveReaderFree{&api});
    if (!reader) {
        writer.fail("archive_read_new failed (out of memory)");
    }
    if ((kind != ArchiveKind::zip && api.support_format_tar(reader.get()) != ARCHIVE_OK) ||
        ((kind == ArchiveKind::zip || kind == ArchiveKind::any) && api.support_format_zip(reader.get()) != ARCHIVE_OK)) {
        writer.fail("libarchive cannot read " + std::string(info_of(kind).description) + ": " + error_of(api, reader.get()));
    }
    for (std::size_t index = 0; index < k_filter_count; ++index) {
        const auto filter = static_cast<Filter>(index);
        const bool wanted = kind == ArchiveKind::any ? api.is_builtin(filter) : info_of(kind).filter == filter;
        if (!wanted) {
            continue;
        }
        if (!api.is_builtin(filter) || api.support_filter(reader.get(), filter) != ARCHIVE_OK) {
            writer.fail(std::string("this libarchive decodes ") + info_of(filter).name +
                        " only through an external program, which pyhost never runs for an archive");
        }
    }
    return reader;
}

void extract_entries(const ArchiveApi& api, archive* reader, ArchiveKind kind, TreeWriter& writer) {
    const KindInfo expected = info_of(kind);
    std::vector<char> buffer(k_buffer_size);
    std::string previous;
    for (bool first = true;; first = false) {
        archive_entry* entry = nullptr;
        const int status = api.next_header(reader, &entry);
        if (first && status != ARCHIVE_OK && status != ARCHIVE_WARN && status != ARCHIVE_EOF) {
            writer.fail("cannot read it as " + std::string(expected.description) + ": " + error_of(api, reader));
        }
        // "none" is always enabled: a plain tar named .tar.gz would be read as well.
        if (first && expected.filter && api.filter_code(reader, 0) != info_of(*expected.filter).code) {
            writer.fail("cannot read it as " + std::string(expected.description) + ": it is not " +
                        info_of(*expected.filter).name + "-compressed");
        }
        if (status == ARCHIVE_EOF) {
            return;
        }
        if (status != ARCHIVE_OK && status != ARCHIVE_WARN) {
            writer.fail("corrupt or truncated after the entry " + quoted(previous) + ": " + error_of(api, reader));
        }
        const char* name = api.entry_pathname(entry);
        if (name == nullptr) {
            writer.begin_entry("(undecodable)");
            writer.refuse("its name cannot be decoded");
        }
        const Components path = writer.begin_entry(name);
        const mode_t type = api.entry_filetype(entry);
        if (const char* link_target = api.entry_hardlink(entry)) {
            // A pax hard link may carry data for the file it links to: written through the
            // link, it would change a file extracted earlier.
            if (api.entry_size_is_set(entry) != 0 && api.entry_size(entry) > 0) {
                writer.refuse("a hard link that carries data");
            }
            writer.make_hard_link(path, link_target);
        } else if (type == AE_IFREG) {
            const Fd file = writer.create_file(path, (api.entry_perm(entry) & 0111) != 0);
            for (;;) {
                const la_ssize_t got = api.read_data(reader, buffer.data(), buffer.size());
                if (got == 0) {
                    break;
                }
                if (got < 0) {
                    writer.refuse("its data is corrupt or truncated: " + error_of(api, reader));
                }
                writer.write_data(file.get(), buffer.data(), static_cast<std::size_t>(got));
            }
        } else if (type == AE_IFDIR) {
            writer.make_directory(path);
        } else if (type == AE_IFLNK) {
            const char* target = api.entry_symlink(entry);
            writer.make_symlink(path, target != nullptr ? target : "");
        } else {
            writer.refuse(describe_special(type));
        }
        previous = name;
    }
}

// Extracts the archive that `open` attaches to a read handle (archive_read_open_*), its kind
// chosen by `name`, into `destination`.
template <class Open>
void read_archive(const std::string& label, std::string_view name, const std::string& destination, const ExtractLimits& limits,
                  Open open) {
    TreeWriter writer(label, destination, limits);
    const ArchiveApi& api = load_api(label);
    const Utf8Names utf8_names;
    const ArchiveKind kind = kind_of(name);
    const ArchiveReader reader = open_reader(api, kind, writer);
    if (open(api, reader.get()) != ARCHIVE_OK) {
        writer.fail("cannot read it as " + std::string(info_of(kind).description) + ": " + error_of(api, reader.get()));
    }
    extract_entries(api, reader.get(), kind, writer);
    writer.finish();
}

// Runs `body`, turning whatever it throws into a StorageError that names `label`.
template <class Body>
void guarded(const std::string& label, Body body) {
    try {
        body();
    } catch (const StorageError&) {
        throw;
    } catch (const std::bad_alloc&) {
        fail(label, "out of memory");
    } catch (const std::exception& error) {
        fail(label, error.what());
    }
}

// ---- Copying directory trees ----

void copy_directory(int source, const Components& prefix, TreeWriter& writer, std::vector<char>& buffer) {
    const auto names = list_names(source);
    if (!names && prefix.empty()) {
        writer.fail("cannot list it: " + system_error(errno));
    }
    if (!names) {
        writer.refuse("cannot list it: " + system_error(errno));
    }
    for (const std::string& name : *names) {
        Components path = writer.begin_entry(joined(prefix) + (prefix.empty() ? "" : "/") + name);
        struct stat status {};
        if (::fstatat(source, name.c_str(), &status, AT_SYMLINK_NOFOLLOW) != 0) {
            writer.refuse("cannot read it: " + system_error(errno));
        }
        if (S_ISDIR(status.st_mode)) {
            writer.make_directory(path);
            const Fd directory(::openat(source, name.c_str(), k_open_directory));
            if (!directory) {
                writer.refuse("cannot open it: " + system_error(errno));
            }
            copy_directory(directory.get(), path, writer, buffer);
        } else if (S_ISREG(status.st_mode)) {
            // O_NONBLOCK: if it has been swapped for a FIFO since fstatat(), open() must not
            // wait for a writer; fstat() then tells.
            const Fd input(::openat(source, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
            if (!input || ::fstat(input.get(), &status) != 0 || !S_ISREG(status.st_mode)) {
                writer.refuse("cannot open it as a regular file: " + system_error(input ? EINVAL : errno));
            }
            const Fd output = writer.create_file(path, (status.st_mode & 0111) != 0);
            for (;;) {
                const ssize_t got = ::read(input.get(), buffer.data(), buffer.size());
                if (got < 0 && errno == EINTR) {
                    continue;
                }
                if (got < 0) {
                    writer.refuse("cannot read it: " + system_error(errno));
                }
                if (got == 0) {
                    break;
                }
                writer.write_data(output.get(), buffer.data(), static_cast<std::size_t>(got));
            }
        } else if (S_ISLNK(status.st_mode)) {
            std::string target(k_max_path_length + 1, '\0');
            const ssize_t size = ::readlinkat(source, name.c_str(), target.data(), target.size());
            if (size < 0) {
                writer.refuse("cannot read the symlink: " + system_error(errno));
            }
            target.resize(static_cast<std::size_t>(size));
            writer.make_symlink(path, target);
        } else {
            writer.refuse(describe_special(status.st_mode));
        }
    }
}

std::uint64_t limit_from_environment(const char* variable, std::uint64_t fallback) {
    const char* value = std::getenv(variable);
    if (value == nullptr || *value == '\0') {
        return fallback;
    }
    const std::string_view text = value;
    std::uint64_t limit = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), limit);
    if (error != std::errc() || end != text.data() + text.size() || limit == 0) {
        throw StorageError(std::string(variable) + "=" + quoted(text) + " is not a positive whole number");
    }
    return limit;
}

bool is_regular_file(const std::string& path) {
    struct stat status {};
    return ::stat(path.c_str(), &status) == 0 && S_ISREG(status.st_mode);
}

}  // namespace

ExtractLimits ExtractLimits::from_environment() {
    const ExtractLimits defaults;
    ExtractLimits limits;
    limits.max_bytes = limit_from_environment("PYHOST_ARCHIVE_MAX_BYTES", defaults.max_bytes);
    limits.max_entries = limit_from_environment("PYHOST_ARCHIVE_MAX_FILES", defaults.max_entries);
    return limits;
}

bool is_archive_name(std::string_view file_name) {
    const Suffix* suffix = suffix_of(base_name(file_name));
    if (suffix == nullptr) {
        return false;
    }
    // tar, zip, gzip and xz are always archive names (an extraction says so if this libarchive
    // cannot read one); bzip2 and zstd only where libarchive decodes them itself, which asks
    // libarchive (loading it) only for those names.
    const std::optional<Filter> filter = info_of(suffix->kind).filter;
    if (!filter || *filter == Filter::gzip || *filter == Filter::xz) {
        return true;
    }
    std::string error;
    const ArchiveApi* api = archive_api(error);
    return api != nullptr && api->is_builtin(*filter);
}

std::string function_id_of(std::string_view path) {
    const std::string_view name = base_name(path);
    const Suffix* suffix = suffix_of(name);
    return std::string(suffix != nullptr ? name.substr(0, name.size() - suffix->text.size()) : name);
}

void extract_archive(const std::string& archive_path, const std::string& destination, const ExtractLimits& limits) {
    const std::string label = "archive " + quoted(archive_path);
    guarded(label, [&] {
        // O_NONBLOCK: a FIFO named like an archive must not hang the open; fstat() refuses it.
        const Fd file(::open(archive_path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
        struct stat status {};
        if (!file || ::fstat(file.get(), &status) != 0) {
            fail(label, "cannot open it: " + system_error(errno));
        }
        if (!S_ISREG(status.st_mode)) {
            fail(label, "not a regular file");
        }
        if (status.st_size == 0) {
            fail(label, "empty (0 bytes)");
        }
        read_archive(label, archive_path, destination, limits,
                     [&](const ArchiveApi& api, archive* reader) { return api.open_fd(reader, file.get(), k_buffer_size); });
    });
}

void extract_archive_memory(std::span<const std::byte> data, std::string_view name, const std::string& destination,
                            const ExtractLimits& limits) {
    const std::string label = "archive " + quoted(name);
    guarded(label, [&] {
        if (data.empty()) {
            fail(label, "empty (0 bytes)");
        }
        read_archive(label, name, destination, limits,
                     [&](const ArchiveApi& api, archive* reader) { return api.open_memory(reader, data.data(), data.size()); });
    });
}

void copy_tree(const std::string& source_directory, const std::string& destination, const ExtractLimits& limits) {
    const std::string label = "directory " + quoted(source_directory);
    guarded(label, [&] {
        const Fd source(::open(source_directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!source) {
            fail(label, "cannot open it: " + system_error(errno));
        }
        TreeWriter writer(label, destination, limits);
        std::vector<char> buffer(k_buffer_size);
        copy_directory(source.get(), {}, writer, buffer);
        writer.finish();
    });
}

std::string find_function_root(const std::string& destination) {
    std::string root = destination;
    while (root.size() > 1 && root.back() == '/') {
        root.pop_back();
    }
    if (is_regular_file(root + "/function.py")) {
        return root;
    }
    const Fd directory(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    const auto names = directory ? list_names(directory.get()) : std::nullopt;
    struct stat status {};
    if (names && names->size() == 1 && ::fstatat(directory.get(), names->front().c_str(), &status, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISDIR(status.st_mode)) {
        const std::string folder = root + "/" + names->front();
        if (is_regular_file(folder + "/function.py")) {
            return folder;
        }
    }
    throw StorageError(quoted(destination) + ": no function.py at the archive's root or in its single top-level folder");
}

}  // namespace pyhost::storage
