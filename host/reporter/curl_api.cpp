#include "reporter/curl_api.hpp"

#include <mutex>

#include <dlfcn.h>
#include <pthread.h>

namespace pyhost::reporter {
namespace {

// Held while libcurl and its libraries are loaded (on a shipper thread, while the program
// runs). fork() waits for it: a child forked halfway through a dlopen() would inherit the
// dynamic loader's lists half updated, and the first extension module it imported could crash
// (a program that forks early: multiprocessing's fork start method, a cold page cache making
// the load slow).
std::mutex g_loading;

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

}  // namespace

const CurlApi* curl_api(std::string& error) {
    static std::once_flag once;
    static CurlApi api{};
    static const CurlApi* loaded = nullptr;
    static std::string load_error;
    std::call_once(once, [] {
        pthread_atfork(lock_loading, unlock_loading, unlock_loading);
        std::lock_guard loading(g_loading);
        void* library = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
        if (library == nullptr) {
            const char* why = dlerror();
            load_error = std::string("cannot load libcurl.so.4 (install libcurl4): ") + (why ? why : "unknown error");
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
