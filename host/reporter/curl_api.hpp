// libcurl, loaded when a sink is configured and not before.
//
// Linking libcurl would make the dynamic loader map it and the dozen libraries it depends on
// (OpenSSL, nghttp2, libssh2, LDAP, Kerberos...) at every start, sinks or not; start-up is held
// to python3.11's own (bench/core.py). So the few functions the reporter uses are resolved
// with dlopen()/dlsym() the first time a sink needs them.
//
// Which libcurl: cmake/build_lean_curl.sh builds two from Debian's source of the installed
// libcurl4, and the build puts them beside the executable (an installation: in ../lib/pyhost/
// from it). libpyhost-curl.so.4 speaks HTTP and HTTPS over OpenSSL, and needs OpenSSL's two
// libraries where Debian's libcurl.so.4 needs 31: 4 to 5 ms less CPU a shipped run.
// libpyhost-curl-http.so.4 speaks plain HTTP and needs the C library alone, another 2.4 ms
// less (OpenSSL's loading and initialization), for sinks such as a local agent's. A caller
// names what it needs; without the lean libraries, Debian's is loaded.
#pragma once

#include <curl/curl.h>

#include <string>
#include <string_view>

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

enum class CurlNeeds {
    plain_http,  // http:// only: any libcurl will do, the one without TLS best
    tls,         // https://, or an https:// proxy
};

// What requests to `url` need: TLS for an https:// URL, or when the environment names an
// https:// proxy (http_proxy, https_proxy, all_proxy, in either case).
CurlNeeds curl_needs(std::string_view url);

// A loaded API that does what `needs` says, with curl_global_init() done, or nullptr (and
// `error` says why). Each library is loaded once per process, under a lock that fork() waits
// for; a process whose clients need both may have both loaded (each with its own global
// state, which is libcurl's design).
const CurlApi* curl_api(CurlNeeds needs, std::string& error);

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
