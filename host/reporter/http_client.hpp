// One HTTP POST at a time over a reused libcurl handle, and what its outcome means for a batch.
// Used by one shipper thread each: curl handles are not shared between threads.
#pragma once

#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "reporter/curl_api.hpp"

namespace pyhost::reporter {

struct TlsOptions {
    std::string ca_bundle;    // PYHOST_CA_BUNDLE: verify peers against this file (else the system's)
    std::string client_cert;  // PYHOST_CLIENT_CERT, PYHOST_CLIENT_KEY: mutual TLS
    std::string client_key;
    static TlsOptions from_environment();
};

struct HttpRequest {
    std::string url;
    std::string content_type;
    std::string body;
    bool gzip = true;            // compress the body (Content-Encoding: gzip)
    std::string authorization;   // header value, or empty
    // A body that lives elsewhere until the request is sent (JSON Lines: the batch's own
    // journal bytes); when set, it is sent instead of `body`.
    std::string_view borrowed_body;

    std::string_view payload() const { return borrowed_body.data() != nullptr ? borrowed_body : std::string_view(body); }
};

struct HttpOutcome {
    enum class Kind {
        delivered,  // 2xx: the batch is done
        retry,      // network error, 408, 429, 5xx: send it again later
        rejected,   // any other status: final for this batch, never retried
    };
    Kind kind = Kind::retry;
    long status = 0;                            // 0 for network errors
    std::string detail;                         // what went wrong, no secrets in it
    std::chrono::milliseconds retry_after{-1};  // from a Retry-After header, if any
};

class HttpClient {
public:
    // `abort` set true makes a transfer in progress give up (the drain deadline passed).
    HttpClient(const CurlApi& curl, TlsOptions tls, const std::atomic<bool>& abort);

    HttpOutcome post(const HttpRequest& request);

    static constexpr std::chrono::seconds k_connect_timeout{5};
    static constexpr std::chrono::seconds k_request_timeout{30};

private:
    const CurlApi& m_curl;
    TlsOptions m_tls;
    const std::atomic<bool>& m_abort;
    CurlHandle m_handle;
    std::string m_response;
    std::string m_retry_after;
    std::string m_compressed;  // reused: grown, never shrunk (see gzip_into)
};

// The retry rule of Fluent Bit, the OTLP specification and S3 (503 SlowDown): 408, 429 and 5xx
// are transient; any other status is the receiver refusing the request for good.
bool is_transient_status(long status);

// Capped exponential backoff with jitter before retry number `attempt` (0 for the first retry):
// drawn uniformly from [d/2, d] where d = min(cap, base * 2^attempt).
std::chrono::milliseconds backoff_delay(int attempt, std::chrono::milliseconds base, std::chrono::milliseconds cap,
                                        std::mt19937_64& random);

// The options every request pyhost makes shares, set on `handle` after curl_easy_reset: no
// signals (transfers run on pyhost's own threads), the connect timeout, peers verified
// (against tls.ca_bundle if set) and the client certificate for mutual TLS.
void apply_common_options(const CurlApi& curl, CURL* handle, const TlsOptions& tls);

// gzip (RFC 1952) of `data` at a fast level into `out`, reused from call to call: it only
// grows, so a steady stream of batches costs no page faults. Returns the compressed size (the
// bytes at the start of `out`), 0 on failure.
std::size_t gzip_into(std::string_view data, std::string& out);

// The same into a string of its own. Empty on failure.
std::string gzip(std::string_view data);

// The delay a Retry-After header value asks for: delay-seconds or an HTTP-date. -1 if neither.
std::chrono::milliseconds parse_retry_after(const std::string& value, std::chrono::system_clock::time_point now);

}  // namespace pyhost::reporter
