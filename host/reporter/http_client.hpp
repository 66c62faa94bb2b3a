// One HTTP POST at a time over a reused libcurl handle, and what its outcome means for a batch.
// Used by one shipper thread each: curl handles are not shared between threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_buffer.hpp"
#include "reporter/curl_api.hpp"
#include "reporter/sink.hpp"

namespace pyhost::reporter {

struct TlsOptions {
    std::string ca_bundle;    // PYHOST_CA_BUNDLE: verify peers against this file (else the system's)
    std::string client_cert;  // PYHOST_CLIENT_CERT, PYHOST_CLIENT_KEY: mutual TLS
    std::string client_key;
    static TlsOptions from_environment();
};

// The content codings pyhost sends bodies in (RFC 9110, section 8.4.1).
enum class ContentCoding { zstd, gzip, identity };

std::string_view coding_name(ContentCoding coding);

// What a sink is offered, best first, each tried until the receiver takes it (see
// HttpClient::post). pyhost's own protocol starts with zstd: on journal text it compresses at
// about three times libdeflate's speed into a third of gzip's bytes, and inflates as much faster
// at the receiver. Loki and OTLP receivers are only required to take gzip; they start there.
std::vector<ContentCoding> offered_codings(SinkKind kind);

// After a 415 (RFC 7694, section 3): the first of `offered` after `current` that the receiver's
// Accept-Encoding value accepts (`accept_encoding` null when the answer had no such header: then
// simply the next one). Nullopt when none is left: the request is refused for good.
std::optional<ContentCoding> next_coding(const std::vector<ContentCoding>& offered, ContentCoding current,
                                         const std::optional<std::string>& accept_encoding);

struct HttpRequest {
    std::string url;
    std::string content_type;
    std::string body;
    bool compress = true;        // in the coding the receiver takes (HttpClient), else as it is
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
    // `offered`: the codings for compressed bodies, best first (offered_codings); `shown` names
    // the receiver in messages (no secrets in it).
    HttpClient(const CurlApi& curl, TlsOptions tls, const std::atomic<bool>& abort,
               std::vector<ContentCoding> offered, std::string shown);

    // A receiver that answers 415 to a compressed body is sent the same request again at once
    // in the next coding it accepts, which later requests then start with.
    HttpOutcome post(const HttpRequest& request);

    static constexpr std::chrono::seconds k_connect_timeout{5};
    static constexpr std::chrono::seconds k_request_timeout{30};

    // What the response's headers said that matters here.
    struct ResponseHeaders {
        std::string retry_after;
        std::optional<std::string> accept_encoding;
    };

private:
    // One transfer of `payload` in `coding`; fills m_response and m_headers.
    HttpOutcome perform(const HttpRequest& request, std::string_view payload, ContentCoding coding);

    const CurlApi& m_curl;
    TlsOptions m_tls;
    const std::atomic<bool>& m_abort;
    std::vector<ContentCoding> m_offered;  // never empty
    ContentCoding m_coding;                // one of m_offered: the best the receiver takes
    std::string m_shown;
    CurlHandle m_handle;
    std::string m_response;
    ResponseHeaders m_headers;
    ByteBuffer m_compressed;  // reused: grown, never shrunk (see gzip_into)
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
// grows, so a steady stream of batches costs no page faults, and what it grows by is not
// written before the compressor writes it, so the pages of its bound past the compressed
// bytes are never touched. Returns the compressed size (the bytes at the start of `out`), 0
// on failure.
std::size_t gzip_into(std::string_view data, ByteBuffer& out);

// The same into a string of its own. Empty on failure.
std::string gzip(std::string_view data);

// zstd (RFC 8878, a frame with its content size, without a content checksum) at level 1, with
// the same contract as gzip_into.
std::size_t zstd_into(std::string_view data, ByteBuffer& out);

// Seconds since the epoch of an HTTP-date (IMF-fixdate, or the obsolete rfc850 and asctime
// forms); `now` places rfc850's two-digit years. Nothing if it is not one.
std::optional<std::int64_t> parse_http_date(std::string_view text, std::chrono::system_clock::time_point now);

// The delay a Retry-After header value asks for: delay-seconds or an HTTP-date. -1 if neither.
std::chrono::milliseconds parse_retry_after(const std::string& value, std::chrono::system_clock::time_point now);

}  // namespace pyhost::reporter
