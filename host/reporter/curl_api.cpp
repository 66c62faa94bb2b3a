#include "reporter/curl_api.hpp"

#include <mutex>
#include <vector>

#include <dlfcn.h>
#include <pthread.h>
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

// Paths to try, best first: the lean libcurl where the build or an installation puts it
// relative to the executable, then Debian's by its soname.
std::vector<std::string> candidate_libraries() {
    std::vector<std::string> candidates;
    char exe[4096];
    const ssize_t length = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (length > 0) {
        std::string directory(exe, static_cast<std::size_t>(length));
        directory.resize(directory.rfind('/') + 1);
        candidates.push_back(directory + k_lean_library);
        candidates.push_back(directory + "../lib/pyhost/" + k_lean_library);
    }
    candidates.emplace_back(k_debian_library);
    return candidates;
}

// dlopen()s the first candidate that loads. A lean libcurl that exists but does not load (its
// OpenSSL missing, a damaged file) is a warning, and Debian's is tried next; when none loads,
// `error` names each failure.
void* load_library(std::string& error) {
    std::string lean_failure;
    for (const std::string& path : candidate_libraries()) {
        const bool lean = path != k_debian_library;
        if (lean && ::access(path.c_str(), F_OK) != 0) {
            continue;
        }
        if (void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) {
            return library;
        }
        const char* why = dlerror();
        if (lean) {
            lean_failure = path + ": " + (why ? why : "unknown error");
            PYHOST_LOG(warning) << "cannot load " << lean_failure << "; loading " << k_debian_library;
        } else {
            error = std::string("cannot load libcurl.so.4 (install libcurl4): ") + (why ? why : "unknown error");
            if (!lean_failure.empty()) {
                error += "; nor " + lean_failure;
            }
        }
    }
    return nullptr;
}

}  // namespace

const CurlApi* curl_api(std::string& error) {
    static std::once_flag once;
    static CurlApi api{};
    static const CurlApi* loaded = nullptr;
    static std::string load_error;
    std::call_once(once, [] {
        pthread_atfork(lock_loading, unlock_loading, unlock_loading);
        std::lock_guard loading(g_loading);
        void* library = load_library(load_error);
        if (library == nullptr) {
            return;
        }
        const bool ok = resolve(library, "curl_global_init", api.global_init, load_error) &&
                        resolve(library, "curl_easy_init", api.easy_init, load_error) &&
                        resolve(library, "curl_easy_cleanup", api.easy_cleanup, load_error) &&
                        resolve(library, "curl_easy_setopt", api.easy_setopt, load_error) &&
                        resolve(library, "curl_easy_perform", api.easy_perform, load_error) &&
                        resolve(library, "curl_easy_getinfo", api.easy_getinfo, load_error) &&
                        resolve(library, "curl_easy_strerror", api.easy_strerror, load_error) &&
                        resolve(library, "curl_easy_reset", api.easy_reset, load_error) &&
                        resolve(library, "curl_slist_append", api.slist_append, load_error) &&
                        resolve(library, "curl_slist_free_all", api.slist_free_all, load_error);
        if (!ok) {
            return;
        }
        if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            load_error = "curl_global_init failed";
            return;
        }
        loaded = &api;
    });
    if (loaded == nullptr) {
        error = load_error;
    }
    return loaded;
}

}  // namespace pyhost::reporter
