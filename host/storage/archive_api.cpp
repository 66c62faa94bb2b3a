#include "storage/archive_api.hpp"

#include <mutex>

#include <dlfcn.h>

namespace pyhost::storage {
namespace {

constexpr const char* k_library = "libarchive.so.13";

// Resolves symbols from one library, remembering the first that is missing.
class SymbolLoader {
public:
    explicit SymbolLoader(void* library) : m_library(library) {}

    template <class Function>
    void operator()(Function& out, const char* name) {
        out = reinterpret_cast<Function>(dlsym(m_library, name));
        if (out == nullptr && m_missing.empty()) {
            m_missing = name;
        }
    }

    const std::string& missing() const { return m_missing; }

private:
    void* m_library;
    std::string m_missing;
};

void resolve_all(SymbolLoader& load, ArchiveApi& api) {
    load(api.read_new, "archive_read_new");
    load(api.read_free, "archive_read_free");
    load(api.support_format_tar, "archive_read_support_format_tar");
    load(api.support_format_zip, "archive_read_support_format_zip");
    load(api.support_filter_gzip, "archive_read_support_filter_gzip");
    load(api.support_filter_xz, "archive_read_support_filter_xz");
    load(api.support_filter_bzip2, "archive_read_support_filter_bzip2");
    load(api.support_filter_zstd, "archive_read_support_filter_zstd");
    load(api.open_fd, "archive_read_open_fd");
    load(api.open_memory, "archive_read_open_memory");
    load(api.next_header, "archive_read_next_header");
    load(api.read_data, "archive_read_data");
    load(api.filter_code, "archive_filter_code");
    load(api.error_string, "archive_error_string");
    load(api.entry_pathname, "archive_entry_pathname");
    load(api.entry_filetype, "archive_entry_filetype");
    load(api.entry_perm, "archive_entry_perm");
    load(api.entry_symlink, "archive_entry_symlink");
    load(api.entry_hardlink, "archive_entry_hardlink");
    load(api.entry_size, "archive_entry_size");
    load(api.entry_size_is_set, "archive_entry_size_is_set");
}

}  // namespace

int ArchiveApi::support_filter(archive* reader, Filter filter) const {
    switch (filter) {
    case Filter::gzip:
        return support_filter_gzip(reader);
    case Filter::xz:
        return support_filter_xz(reader);
    case Filter::bzip2:
        return support_filter_bzip2(reader);
    case Filter::zstd:
        return support_filter_zstd(reader);
    }
    return ARCHIVE_FATAL;
}

const ArchiveApi* archive_api(std::string& error) {
    static std::once_flag once;
    static ArchiveApi api{};
    static const ArchiveApi* loaded = nullptr;
    static std::string load_error;
    std::call_once(once, [] {
        void* library = dlopen(k_library, RTLD_NOW | RTLD_LOCAL);
        if (library == nullptr) {
            const char* why = dlerror();
            load_error = std::string("cannot load ") + k_library + " (install libarchive13): " + (why ? why : "unknown error");
            return;
        }
        SymbolLoader load(library);
        resolve_all(load, api);
        if (!load.missing().empty()) {
            load_error = std::string(k_library) + " lacks " + load.missing();
            return;
        }
        // Which filters this build of libarchive decodes itself: asked once, on a handle that
        // is thrown away, because a support call that answers ARCHIVE_WARN has already
        // registered the external-program fallback on the handle it was given.
        for (std::size_t index = 0; index < k_filter_count; ++index) {
            archive* probe = api.read_new();
            if (probe == nullptr) {
                load_error = "archive_read_new failed (out of memory)";
                return;
            }
            api.builtin[index] = api.support_filter(probe, static_cast<Filter>(index)) == ARCHIVE_OK;
            api.read_free(probe);
        }
        loaded = &api;
    });
    if (loaded == nullptr) {
        error = load_error;
    }
    return loaded;
}

}  // namespace pyhost::storage
