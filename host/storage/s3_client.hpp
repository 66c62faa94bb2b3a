// pyhost's native S3 client: PUT (single or multipart), GET to a file and ListObjectsV2,
// signed with AWS Signature Version 4 over the dlopen'd libcurl (reporter/curl_api.hpp).
//
// One S3Client owns one curl handle (its connection cache is reused request after request)
// and is used by one thread at a time. Routine failures (network, HTTP, S3 errors, a missing
// local file) are S3Result values with a message that names the bucket and key, the HTTP
// status and S3's <Code> and <Message>; no message ever holds the secret key, the session
// token or a signature.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "reporter/curl_api.hpp"
#include "reporter/http_client.hpp"
#include "storage/sigv4.hpp"
#include "storage/storage_error.hpp"

namespace pyhost::storage {

namespace s3_detail {
struct Request;   // one S3 request: what to sign and send, where its body comes from and goes
struct Response;  // what came back, and what went wrong
}  // namespace s3_detail

struct S3Location {
    std::string bucket;
    std::string key;
};

// "s3://bucket/key/with/slashes" -> {bucket, key}; the key may be empty ("s3://bucket" or
// "s3://bucket/"). The key is taken as written, byte for byte (no percent-decoding: S3 keys
// may contain '%'). Returns std::nullopt and sets `error` (naming the URL) for another scheme,
// an empty or invalid bucket name (S3's rules: 3 to 63 characters of a-z 0-9 . -, starting
// and ending with a letter or digit), or a key longer than S3's 1024 bytes.
std::optional<S3Location> parse_s3_url(std::string_view url, std::string& error);

struct S3Config {
    // AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
    std::string access_key_id, secret_access_key, session_token;
    std::string region;  // AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1
    // AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL: an S3-compatible store, addressed path-style
    // (ENDPOINT/BUCKET/KEY; a path in the endpoint is kept as a prefix). Empty: AWS itself,
    // virtual-hosted style https://BUCKET.s3.REGION.amazonaws.com/KEY, or path-style
    // https://s3.REGION.amazonaws.com/BUCKET/KEY when the bucket name has dots (a wildcard
    // certificate matches one label only).
    std::string endpoint;
    // PYHOST_S3_MULTIPART_THRESHOLD (bytes, at most 5 GiB): files larger than this go up in parts.
    std::uint64_t multipart_threshold = std::uint64_t{16} << 20;
    // PYHOST_S3_PART_SIZE (bytes, 5 MiB to 5 GiB; S3's 5 MiB minimum holds for all parts but the
    // last). A file that would need more than S3's 10,000 parts gets larger ones.
    std::uint64_t part_size = std::uint64_t{8} << 20;
    // Per request: network errors, 5xx, 408 and 429 (S3's 503 SlowDown) are retried with capped
    // jittered backoff, up to this many attempts in all.
    int max_attempts = 5;

    static constexpr std::uint64_t k_min_part_size = std::uint64_t{5} << 20;  // S3's minimum for all parts but the last
    static constexpr std::uint64_t k_max_part_size = std::uint64_t{5} << 30;  // and its maximum for any part
    static constexpr std::uint64_t k_max_single_put = std::uint64_t{5} << 30;  // S3's limit for one PUT

    // Reads the variables above (an empty variable counts as unset). Throws StorageError, naming
    // the variable, for a malformed or out-of-range number, an endpoint that is not an http or
    // https URL, or missing credentials (a key id without a secret, or none at all).
    static S3Config from_environment();
};

// The libcurl for requests to the store, loaded once: one with TLS for AWS itself (an empty
// endpoint) and for an https:// endpoint (see reporter::curl_needs). Throws StorageError
// saying why when none loads.
const reporter::CurlApi& curl_for(const S3Config& config);

// Where requests for `key` in `bucket` go (an empty key: the bucket itself).
struct S3Address {
    std::string origin;  // "scheme://authority"
    std::string host;    // the Host header: the authority without a default port
    std::string path;    // decoded, to be signed and URI-encoded
};

// With config.endpoint: path-style, ENDPOINT[/PREFIX]/BUCKET/KEY. Without: AWS's regional
// endpoint, virtual-hosted (https://BUCKET.s3.REGION.amazonaws.com/KEY), or path-style
// (https://s3.REGION.amazonaws.com/BUCKET/KEY) for a bucket with dots, which a wildcard
// certificate cannot match. std::nullopt, with `error` naming the endpoint, if it is not an
// http or https URL with a host and without credentials, query or fragment.
std::optional<S3Address> s3_address(const S3Config& config, const std::string& bucket, const std::string& key,
                                    std::string& error);

struct S3Result {
    bool ok = false;
    long status = 0;    // the last HTTP status (0: no response, or a local failure)
    std::string error;  // clear, names the bucket and key (or local path), never a secret
};

class S3Client {
public:
    S3Client(const reporter::CurlApi& curl, S3Config config, reporter::TlsOptions tls);

    // PUT a local file as s3://where.bucket/where.key: a single PUT up to the threshold, else
    // multipart (CreateMultipartUpload, UploadPart with each part's own payload hash,
    // CompleteMultipartUpload with the ETags; AbortMultipartUpload when it finally fails, so no
    // parts are left behind to be billed). The file is read twice (hash, then send), never held
    // in memory whole. An empty content_type sends application/octet-stream.
    S3Result put_file(const S3Location& where, const std::string& local_path, std::string_view content_type);

    // GET into local_path: written to a temporary file beside it, flushed to disk, then renamed
    // over local_path, so there is never a partial file at local_path (on failure it is left as
    // it was). The new file's mode is 0666 less the umask, as for any created file.
    S3Result get_to_file(const S3Location& where, const std::string& local_path);

    // ListObjectsV2 under `prefix`, following continuation tokens; keys appended to `keys` in
    // S3's order (UTF-8 binary). On failure the keys of the pages already read stay appended.
    S3Result list(const std::string& bucket, const std::string& prefix, std::vector<std::string>& keys);

    // Optional: once `abort` reads true, a transfer in progress gives up and no retry follows
    // (for a drain deadline). The flag must outlive the client. nullptr: never aborted.
    void set_abort_flag(const std::atomic<bool>* abort) { m_abort = abort; }

    static constexpr std::chrono::milliseconds k_backoff_base{250};
    static constexpr std::chrono::milliseconds k_backoff_cap{20'000};
    // No total timeout fits every request: a request may take k_request_timeout plus its payload
    // at k_min_transfer_rate (an 8 MiB part: 30 s + 128 s) before it is abandoned as stalled.
    // Connecting has k_connect_timeout.
    static constexpr std::chrono::seconds k_connect_timeout = reporter::HttpClient::k_connect_timeout;
    static constexpr std::chrono::seconds k_request_timeout = reporter::HttpClient::k_request_timeout;
    static constexpr std::uint64_t k_min_transfer_rate = 64 * 1024;  // bytes per second

private:
    s3_detail::Response perform(const s3_detail::Request& request, const std::string& what);
    s3_detail::Response attempt(const s3_detail::Request& request);
    std::string failure(const std::string& what, const s3_detail::Response& response) const;
    std::string redact(std::string text, const s3_detail::Response& response) const;
    S3Result put_single(const S3Location& where, int fd, std::uint64_t size, const std::string& content_type);
    S3Result put_multipart(const S3Location& where, int fd, std::uint64_t size, const std::string& content_type);
    bool wait_before_retry(std::chrono::milliseconds delay) const;

    const reporter::CurlApi& m_curl;
    S3Config m_config;
    reporter::TlsOptions m_tls;
    reporter::CurlHandle m_handle;  // not copyable: neither is the client
    const std::atomic<bool>* m_abort = nullptr;
    std::mt19937_64 m_random{std::random_device{}()};
};

}  // namespace pyhost::storage
