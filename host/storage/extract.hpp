// Functions given as archives or folders, unpacked safely: the archive is untrusted input.
//
// Whatever an archive holds, nothing is written, linked or created outside the destination:
// every entry is created with openat()/mkdirat()/symlinkat()/linkat() relative to a descriptor
// of its parent, reached from the destination one component at a time with O_NOFOLLOW, so no
// path string is ever resolved whole and a symlink planted by an earlier entry cannot redirect
// a later one (`a -> /etc`, then `a/passwd`). Refused, with a StorageError that names the
// archive, the entry and why:
//   - names that are empty, absolute, have a `..` component, are longer than
//     k_max_path_length bytes, have a component longer than k_max_name_length bytes or are
//     more than k_max_depth components deep;
//   - an entry whose path passes through a symlink, or names something that exists already
//     (a directory entry over a directory is fine);
//   - symlinks whose target is empty, absolute, or resolves outside the destination (followed
//     through the other symlinks of the tree, checked when created and again once the whole
//     tree is there, so the order of the entries does not matter), or loops; and symlinks
//     too many or too tangled to check in a million steps (about a second);
//   - hard links whose target is not a regular file extracted earlier from the same archive,
//     or that carry data;
//   - character and block devices, FIFOs, sockets;
//   - more than ExtractLimits::max_entries entries, or more than ExtractLimits::max_bytes bytes
//     written (counted as written, whatever the headers claim: a bomb stops at the limit).
// Modes are pyhost's, not the archive's: files 0644, or 0755 when any execute bit is set;
// directories 0755. No setuid/setgid/sticky bit, owner, ACL, extended attribute or time is
// restored.
//
// Only the tar and zip formats are read, and only compression that libarchive decodes itself
// (gzip, xz, and bzip2 and zstd where built in): a filter it would run an external program for
// is never enabled. Corrupt, truncated or mislabelled input is a StorageError; no other
// exception type leaves these functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "storage/storage_error.hpp"

namespace pyhost::storage {

// Names longer than these are refused: PATH_MAX and NAME_MAX on Linux, and a depth no real
// function needs (each level is one openat() per entry below it).
inline constexpr std::size_t k_max_path_length = 4096;
inline constexpr std::size_t k_max_name_length = 255;
inline constexpr std::size_t k_max_depth = 128;

struct ExtractLimits {
    // PYHOST_ARCHIVE_MAX_BYTES: total bytes actually written (not what headers claim).
    std::uint64_t max_bytes = 1ULL << 30;
    // PYHOST_ARCHIVE_MAX_FILES: entries of any kind. The directories that entries' paths
    // create without an entry of their own count too: they are inodes made all the same.
    std::uint64_t max_entries = 10'000;

    // Reads the variables (unset or empty: the default; otherwise a positive decimal
    // integer); throws StorageError naming a malformed one.
    static ExtractLimits from_environment();
};

// Archive formats by file name (case-insensitive): .tar, .tar.gz, .tgz, .tar.xz, .txz, .gz (a
// gzipped tar), .zip, and .tar.bz2, .tbz2, .tar.zst, .tzst where libarchive decodes bzip2 and
// zstd itself. The name must have something before the extension.
bool is_archive_name(std::string_view file_name);

// The function id of an archive or directory: its file name without the archive extensions
// ("/x/obd-check.tar.gz" -> "obd-check", "/x/obd-check/" -> "obd-check"). A name that is only
// an extension (".tar.gz") is kept whole.
std::string function_id_of(std::string_view path);

// Extracts the archive at `archive_path` into `destination`, an existing empty directory. The
// format is the one its name says (is_archive_name); data that is something else (a .zip that
// is a tar, a .tar.gz that is xz or plain tar) is refused. A name that is not an archive name
// accepts any of the formats and filters above. Throws StorageError whose message names the
// archive and, for a refused or broken entry, the entry and why. On error, whatever was
// written stays inside `destination` (the caller removes it), less the symlinks extracted so
// far: none is left that could lead out. Never writes, links or creates anything outside
// `destination`, whatever the archive holds.
void extract_archive(const std::string& archive_path, const std::string& destination, const ExtractLimits& limits);

// The same from memory (the fuzz target uses it); `name` is used in messages and, as above,
// chooses the format.
void extract_archive_memory(std::span<const std::byte> data, std::string_view name, const std::string& destination,
                            const ExtractLimits& limits);

// Copies a directory tree (a function given as a folder) into `destination`, an existing empty
// directory, under the same rules: regular files and directories, symlinks only when they stay
// inside (copied as symlinks, their targets unchanged), no devices/FIFOs/sockets, the same
// limits and modes. Hard links in the source become separate files.
void copy_tree(const std::string& source_directory, const std::string& destination, const ExtractLimits& limits);

// Where the entrypoint is: `destination/function.py`, or `destination/ONLY_FOLDER/function.py`
// when the tree has a single top-level entry and it is a directory (openOBD's archives do).
// Returns the directory holding function.py; throws StorageError ("no function.py at the
// archive's root or in its single top-level folder") otherwise. function.py may be a symlink
// to a regular file; the single folder may not be a symlink.
std::string find_function_root(const std::string& destination);

}  // namespace pyhost::storage
