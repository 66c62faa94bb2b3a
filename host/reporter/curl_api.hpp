// libcurl, loaded when a sink is configured and not before.
//
// Linking libcurl would make the dynamic loader map it and the dozen libraries it depends on
// (OpenSSL, nghttp2, libssh2, LDAP, Kerberos...) at every start, sinks or not; start-up is held
// to python3.11's own (bench/core.py). So the few functions the reporter uses are resolved
// with dlopen()/dlsym() the first time a sink needs them.
//
// Which libcurl: libpyhost-curl.so.4 when it is beside the executable (the build puts it there)
// or in ../lib/pyhost/ from it (an installation), else Debian's libcurl.so.4. The first is
// built from Debian's source of the installed libcurl4 with HTTP(S) over OpenSSL only
// (cmake/build_lean_curl.sh): 3 libraries to load instead of 31, 4 to 5 ms less CPU a run.
#pragma once

#include <curl/curl.h>

#include <string>

namespace pyhost::reporter {

struct CurlApi {
    decltype(&curl_global_init) global_init;
    decltype(&curl_easy_init) easy_init;
    decltype(&curl_easy_cleanup) easy_cleanup;
    decltype(&curl_easy_setopt) easy_setopt;
    decltype(&curl_easy_perform) easy_perform;
    decltype(&curl_easy_getinfo) easy_getinfo;
    decltype(&curl_easy_strerror) easy_strerror;
    decltype(&curl_easy_reset) easy_reset;
    decltype(&curl_slist_append) slist_append;
    decltype(&curl_slist_free_all) slist_free_all;
};

// The loaded API, with curl_global_init() done, or nullptr (and `error` says why). Call it
// before starting the threads that use curl: curl_global_init is not thread-safe.
const CurlApi* curl_api(std::string& error);

// An easy handle owned by one client (its connection cache is reused request after request),
// cleaned up with it. get() is nullptr if curl_easy_init failed.
class CurlHandle {
public:
    explicit CurlHandle(const CurlApi& curl) : m_curl(curl), m_handle(curl.easy_init()) {}
    ~CurlHandle() {
        if (m_handle != nullptr) {
            m_curl.easy_cleanup(m_handle);
        }
    }
    CurlHandle(const CurlHandle&) = delete;
    CurlHandle& operator=(const CurlHandle&) = delete;
    CURL* get() const { return m_handle; }

private:
    const CurlApi& m_curl;
    CURL* m_handle;
};

}  // namespace pyhost::reporter
