// libarchive, loaded the first time an archive is read, and only the entry points pyhost uses.
//
// Linking libarchive would make the dynamic loader map it and what it depends on (libxml2,
// ICU, nettle, libacl, liblzma, libzstd, liblz4, libbz2...) at every start of every python3
// run, archives or not; start-up is held to python3.11's own (bench/core.py). So, as with
// libcurl (reporter/curl_api.hpp), the functions below are resolved with dlopen()/dlsym().
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <array>
#include <cstddef>
#include <memory>
#include <string>

namespace pyhost::storage {

// The compression filters pyhost may enable. Each is enabled only where libarchive decodes it
// in-process: for a filter it was built without, libarchive's support call registers a
// fallback that runs an external program (gzip -d, unxz, lzop...) and says so by returning
// ARCHIVE_WARN. An untrusted archive must never make pyhost spawn a program.
enum class Filter : std::size_t { gzip, xz, bzip2, zstd };
inline constexpr std::size_t k_filter_count = 4;

struct ArchiveApi {
    decltype(&archive_read_new) read_new;
    decltype(&archive_read_free) read_free;
    decltype(&archive_read_support_format_tar) support_format_tar;
    decltype(&archive_read_support_format_zip) support_format_zip;
    decltype(&archive_read_support_filter_gzip) support_filter_gzip;
    decltype(&archive_read_support_filter_xz) support_filter_xz;
    decltype(&archive_read_support_filter_bzip2) support_filter_bzip2;
    decltype(&archive_read_support_filter_zstd) support_filter_zstd;
    decltype(&archive_read_open_fd) open_fd;
    decltype(&archive_read_open_memory) open_memory;
    decltype(&archive_read_next_header) next_header;
    decltype(&archive_read_data) read_data;
    decltype(&archive_filter_code) filter_code;
    decltype(&archive_error_string) error_string;
    decltype(&archive_entry_pathname) entry_pathname;
    decltype(&archive_entry_filetype) entry_filetype;
    decltype(&archive_entry_perm) entry_perm;
    decltype(&archive_entry_symlink) entry_symlink;
    decltype(&archive_entry_hardlink) entry_hardlink;
    decltype(&archive_entry_size) entry_size;
    decltype(&archive_entry_size_is_set) entry_size_is_set;

    // Per Filter: decoded in-process (its support call returned ARCHIVE_OK on a scratch handle
    // when the library was loaded).
    std::array<bool, k_filter_count> builtin{};

    bool is_builtin(Filter filter) const { return builtin[static_cast<std::size_t>(filter)]; }

    // The support call of `filter` on `reader`: ARCHIVE_OK when it is decoded in-process.
    // Anything else has registered an external-program fallback (ARCHIVE_WARN) or failed: the
    // handle must then be freed unused.
    int support_filter(archive* reader, Filter filter) const;
};

// The loaded API, or nullptr (and `error` says why, naming libarchive.so.13). Thread-safe; the
// library is loaded once and never unloaded.
const ArchiveApi* archive_api(std::string& error);

// Owns a read handle: archive_read_free() on every path out of the scope that holds it.
struct ArchiveReaderFree {
    const ArchiveApi* api;
    void operator()(archive* reader) const noexcept { api->read_free(reader); }
};
using ArchiveReader = std::unique_ptr<archive, ArchiveReaderFree>;

}  // namespace pyhost::storage
