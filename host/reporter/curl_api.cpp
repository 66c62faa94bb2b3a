#include "reporter/curl_api.hpp"

#include <cstdlib>
#include <mutex>
#include <vector>

#include <dlfcn.h>
#include <pthread.h>
#include <strings.h>
#include <unistd.h>

#include "diag/log.hpp"

namespace pyhost::reporter {
namespace {

// Held while libcurl and its libraries are loaded (on a shipper thread, while the program
// runs). fork() waits for it: a child forked halfway through a dlopen() would inherit the
// dynamic loader's lists half updated, and the first extension module it imported could crash
// (a program that forks early: multiprocessing's fork start method, a cold page cache making
// the load slow).
std::mutex g_loading;

constexpr const char* k_lean_library = "libpyhost-curl.so.4";
constexpr const char* k_lean_http_library = "libpyhost-curl-http.so.4";
constexpr const char* k_debian_library = "libcurl.so.4";

void lock_loading() { g_loading.lock(); }
void unlock_loading() { g_loading.unlock(); }

template <class Function>
bool resolve(void* library, const char* name, Function& out, std::string& error) {
    out = reinterpret_cast<Function>(dlsym(library, name));
    if (out == nullptr) {
        error = std::string("libcurl lacks ") + name;
        return false;
    }
    return true;
}

// Where the build or an installation puts a lean libcurl named `name`, relative to the
// executable: beside it, then ../lib/pyhost/.
std::vector<std::string> lean_paths(const char* name) {
    std::vector<std::string> paths;
    char exe[4096];
    const ssize_t length = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (length > 0) {
        std::string directory(exe, static_cast<std::size_t>(length));
        directory.resize(directory.rfind('/') + 1);
        paths.push_back(directory + name);
        paths.push_back(directory + "../lib/pyhost/" + name);
    }
    return paths;
}

// dlopen()s the first of `candidates` that loads. A lean libcurl that exists but does not load
// (its OpenSSL missing, a damaged file) is a warning, and the next is tried; Debian's, by its
// soname, is always tried when named. When none loads, `error` names each failure; a
// candidate that does not exist is not one.
void* load_library(const std::vector<std::string>& candidates, std::string& error) {
    std::string lean_failures;
    for (const std::string& path : candidates) {
        const bool lean = path != k_debian_library;
        if (lean && ::access(path.c_str(), F_OK) != 0) {
            continue;
        }
        if (void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) {
            return library;
        }
        const char* why = dlerror();
        if (lean) {
            const std::string failure = path + ": " + (why ? why : "unknown error");
            PYHOST_LOG(warning) << "cannot load " << failure << "; trying the next libcurl";
            lean_failures += "; nor " + failure;
        } else {
            error = std::string("cannot load libcurl.so.4 (install libcurl4): ") + (why ? why : "unknown error");
        }
    }
    error += lean_failures;
    return nullptr;
}

// One libcurl, loaded and initialized once.
struct LoadedCurl {
    std::once_flag once;
    CurlApi api{};
    const CurlApi* loaded = nullptr;
    std::string error;
};

const CurlApi* load_once(LoadedCurl& slot, const std::vector<std::string>& candidates, std::string& error) {
    static std::once_flag atfork;
    std::call_once(atfork, [] { pthread_atfork(lock_loading, unlock_loading, unlock_loading); });
    std::call_once(slot.once, [&] {
        std::lock_guard loading(g_loading);
        void* library = load_library(candidates, slot.error);
        if (library == nullptr) {
            return;
        }
        CurlApi& api = slot.api;
        const bool ok = resolve(library, "curl_global_init", api.global_init, slot.error) &&
                        resolve(library, "curl_easy_init", api.easy_init, slot.error) &&
                        resolve(library, "curl_easy_cleanup", api.easy_cleanup, slot.error) &&
                        resolve(library, "curl_easy_setopt", api.easy_setopt, slot.error) &&
                        resolve(library, "curl_easy_perform", api.easy_perform, slot.error) &&
                        resolve(library, "curl_easy_getinfo", api.easy_getinfo, slot.error) &&
                        resolve(library, "curl_easy_strerror", api.easy_strerror, slot.error) &&
                        resolve(library, "curl_easy_reset", api.easy_reset, slot.error) &&
                        resolve(library, "curl_slist_append", api.slist_append, slot.error) &&
                        resolve(library, "curl_slist_free_all", api.slist_free_all, slot.error);
        if (!ok) {
            return;
        }
        if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            slot.error = "curl_global_init failed";
            return;
        }
        slot.loaded = &api;
    });
    if (slot.loaded == nullptr) {
        error = slot.error;
    }
    return slot.loaded;
}

bool starts_with_https(const char* text) {
    return text != nullptr && ::strncasecmp(text, "https://", 8) == 0;
}

}  // namespace

CurlNeeds curl_needs(std::string_view url) {
    if (url.size() >= 8 && ::strncasecmp(url.data(), "https://", 8) == 0) {
        return CurlNeeds::tls;
    }
    // libcurl reaches an https:// proxy over TLS, whatever the URL's scheme.
    for (const char* name : {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
        if (starts_with_https(std::getenv(name))) {
            return CurlNeeds::tls;
        }
    }
    return CurlNeeds::plain_http;
}

const CurlApi* curl_api(CurlNeeds needs, std::string& error) {
    static LoadedCurl with_tls;
    static LoadedCurl plain_http;
    if (needs == CurlNeeds::plain_http) {
        std::string http_error;
        if (const CurlApi* api = load_once(plain_http, lean_paths(k_lean_http_library), http_error)) {
            return api;
        }
        // None built, or it did not load (said): the libcurl that also speaks TLS does HTTP too.
    }
    std::vector<std::string> candidates = lean_paths(k_lean_library);
    candidates.emplace_back(k_debian_library);
    return load_once(with_tls, candidates, error);
}

}  // namespace pyhost::reporter
