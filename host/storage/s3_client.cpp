#include "storage/s3_client.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "common/env.hpp"
#include "common/file_descriptor.hpp"
#include "diag/log.hpp"
#include "reporter/sink.hpp"
#include "storage/s3_xml.hpp"

namespace pyhost::storage {

using reporter::CurlApi;

namespace {

constexpr std::size_t k_max_key_bytes = 1024;  // S3's limit for a key
constexpr std::uint64_t k_max_parts = 10'000;  // S3's limit for one multipart upload
constexpr std::size_t k_hash_chunk = 1 << 20;  // bytes read at a time to hash a file
constexpr std::size_t k_error_body_limit = 64 << 10;
constexpr std::size_t k_listing_body_limit = 16 << 20;  // a page of 1,000 keys of 1,024 bytes is about 1.5 MB
constexpr std::string_view k_default_region = "us-east-1";

bool valid_bucket_name(std::string_view bucket) {
    if (bucket.size() < 3 || bucket.size() > 63) {
        return false;
    }
    const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!alnum(bucket.front()) || !alnum(bucket.back())) {
        return false;
    }
    return std::all_of(bucket.begin(), bucket.end(), [&](char c) { return alnum(c) || c == '.' || c == '-'; });
}

// A byte count from `variable`: decimal digits only, within [low, high].
std::uint64_t parse_bytes(const char* variable, const std::string& text, std::uint64_t low, std::uint64_t high) {
    std::uint64_t value = 0;
    bool ok = !text.empty() && text.size() <= 19;
    for (const char c : text) {
        ok = ok && c >= '0' && c <= '9';
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (!ok) {
        throw StorageError(std::string(variable) + " must be a number of bytes, not '" + text + "'");
    }
    if (value < low || value > high) {
        throw StorageError(std::string(variable) + " must be between " + std::to_string(low) + " and " +
                           std::to_string(high) + " bytes, not " + text);
    }
    return value;
}

// Where path-style requests go for an S3-compatible endpoint.
struct Endpoint {
    std::string origin;  // scheme://authority, as written
    std::string host;    // the Host header: the authority without a default port
    std::string prefix;  // a path in the endpoint URL, without a trailing '/'
};

// The endpoint as it may appear in a message: credentials (which have no place there but may
// have been written all the same) and any query become ***.
std::string shown_endpoint(std::string_view text) {
    if (!boost::urls::parse_uri(text)) {
        return text.find('@') == std::string_view::npos ? std::string(text) : "<an unparsable URL>";
    }
    return reporter::redact_url(text);
}

bool parse_endpoint(std::string_view text, Endpoint& endpoint, std::string& error) {
    const auto parsed = boost::urls::parse_uri(text);
    if (!parsed) {
        error = "not a URL (" + parsed.error().message() + ")";
        return false;
    }
    const boost::urls::url_view url = *parsed;
    const std::string scheme(url.scheme());
    if (scheme != "http" && scheme != "https") {
        error = "the scheme must be http or https, not '" + scheme + "'";
        return false;
    }
    if (url.encoded_host().empty()) {
        error = "no host";
        return false;
    }
    if (url.has_userinfo() || url.has_query() || url.has_fragment()) {
        error = "credentials, a query or a fragment have no place in it";
        return false;
    }
    const bool default_port =
        !url.has_port() || (scheme == "http" && url.port() == "80") || (scheme == "https" && url.port() == "443");
    endpoint.origin = scheme + "://" + std::string(url.encoded_host_and_port());
    endpoint.host = default_port ? std::string(url.encoded_host()) : std::string(url.encoded_host_and_port());
    endpoint.prefix = std::string(url.encoded_path());
    while (!endpoint.prefix.empty() && endpoint.prefix.back() == '/') {
        endpoint.prefix.pop_back();
    }
    return true;
}

std::string errno_text(int error) { return std::strerror(error); }

std::string s3_url(const std::string& bucket, const std::string& key) { return "s3://" + bucket + "/" + key; }

// A bucket that did not come through parse_s3_url is checked all the same: it becomes part of
// a host name.
std::string bucket_error(const std::string& what, const std::string& bucket) {
    return valid_bucket_name(bucket) ? std::string() : what + ": '" + bucket + "' is not a valid bucket name";
}

bool header_is(std::string_view line, std::string_view name, std::string& value) {
    if (line.size() <= name.size() || line[name.size()] != ':') {
        return false;
    }
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = line[i];
        const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        if (lower != name[i]) {
            return false;
        }
    }
    std::string_view rest = line.substr(name.size() + 1);
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) {
        rest.remove_prefix(1);
    }
    while (!rest.empty() && (rest.back() == '\r' || rest.back() == '\n' || rest.back() == ' ')) {
        rest.remove_suffix(1);
    }
    value.assign(rest);
    return true;
}

// The umask, which a created file's mode honours; read without changing it (umask(2) would,
// for every thread, for a moment).
mode_t current_umask() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("Umask:", 0) == 0) {
            return static_cast<mode_t>(std::strtoul(line.c_str() + 6, nullptr, 8));
        }
    }
    return 022;
}

// The SHA-256 of `size` bytes of `fd` from `offset`, read in chunks.
bool hash_file_range(int fd, std::uint64_t offset, std::uint64_t size, std::string& hex, int& error) {
    Sha256 hash;
    std::string buffer(static_cast<std::size_t>(std::min<std::uint64_t>(size, k_hash_chunk)), '\0');
    while (size > 0) {
        const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(size, buffer.size()));
        const ssize_t got = pread(fd, buffer.data(), want, static_cast<off_t>(offset));
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            error = got == 0 ? ENODATA : errno;  // 0: the file shrank since it was measured
            return false;
        }
        hash.update(buffer.data(), static_cast<std::size_t>(got));
        offset += static_cast<std::uint64_t>(got);
        size -= static_cast<std::uint64_t>(got);
    }
    hex = to_hex(hash.final());
    return true;
}

}  // namespace

// ---- URLs and configuration -------------------------------------------------------------

std::optional<S3Location> parse_s3_url(std::string_view url, std::string& error) {
    constexpr std::string_view scheme = "s3://";
    if (url.substr(0, scheme.size()) != scheme) {
        error = "'" + std::string(url) + "' is not an s3:// URL (s3://bucket/key)";
        return std::nullopt;
    }
    const std::string_view rest = url.substr(scheme.size());
    const std::size_t slash = rest.find('/');
    S3Location location{std::string(rest.substr(0, slash)),
                        slash == std::string_view::npos ? std::string() : std::string(rest.substr(slash + 1))};
    if (location.bucket.empty()) {
        error = "'" + std::string(url) + "' names no bucket (s3://bucket/key)";
        return std::nullopt;
    }
    if (!valid_bucket_name(location.bucket)) {
        error = "'" + std::string(url) + "': '" + location.bucket +
                "' is not a valid bucket name (3 to 63 characters of a-z, 0-9, '.' and '-', starting and ending "
                "with a letter or digit)";
        return std::nullopt;
    }
    if (location.key.size() > k_max_key_bytes) {
        error = "'" + std::string(url).substr(0, 80) + "...': the key is longer than S3's 1024 bytes";
        return std::nullopt;
    }
    return location;
}

S3Config S3Config::from_environment() {
    S3Config config;
    config.access_key_id = env("AWS_ACCESS_KEY_ID");
    config.secret_access_key = env("AWS_SECRET_ACCESS_KEY");
    config.session_token = env("AWS_SESSION_TOKEN");
    if (config.access_key_id.empty()) {
        throw StorageError(config.secret_access_key.empty()
                               ? "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                               : "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
    }
    if (config.secret_access_key.empty()) {
        throw StorageError("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    }
    config.region = env("AWS_REGION");
    if (config.region.empty()) {
        config.region = env("AWS_DEFAULT_REGION");
    }
    if (config.region.empty()) {
        config.region = k_default_region;
    }
    const char* endpoint_variable = "AWS_ENDPOINT_URL_S3";
    config.endpoint = env(endpoint_variable);
    if (config.endpoint.empty()) {
        endpoint_variable = "AWS_ENDPOINT_URL";
        config.endpoint = env(endpoint_variable);
    }
    if (!config.endpoint.empty()) {
        Endpoint parsed;
        std::string why;
        if (!parse_endpoint(config.endpoint, parsed, why)) {
            throw StorageError(std::string(endpoint_variable) + " '" + shown_endpoint(config.endpoint) + "': " + why);
        }
    }
    if (const std::string threshold = env("PYHOST_S3_MULTIPART_THRESHOLD"); !threshold.empty()) {
        config.multipart_threshold = parse_bytes("PYHOST_S3_MULTIPART_THRESHOLD", threshold, 0, k_max_single_put);
    }
    if (const std::string part_size = env("PYHOST_S3_PART_SIZE"); !part_size.empty()) {
        config.part_size = parse_bytes("PYHOST_S3_PART_SIZE", part_size, k_min_part_size, k_max_part_size);
    }
    return config;
}

std::optional<S3Address> s3_address(const S3Config& config, const std::string& bucket, const std::string& key,
                                    std::string& error) {
    const std::string object = key.empty() ? std::string() : "/" + key;
    if (!config.endpoint.empty()) {
        Endpoint endpoint;
        if (!parse_endpoint(config.endpoint, endpoint, error)) {
            error = "the S3 endpoint '" + shown_endpoint(config.endpoint) + "': " + error;
            return std::nullopt;
        }
        return S3Address{endpoint.origin, endpoint.host, endpoint.prefix + "/" + bucket + object};
    }
    const std::string region = config.region.empty() ? std::string(k_default_region) : config.region;
    const std::string regional = "s3." + region + ".amazonaws.com";
    if (bucket.find('.') != std::string::npos) {
        return S3Address{"https://" + regional, regional, "/" + bucket + object};
    }
    const std::string host = bucket + "." + regional;
    return S3Address{"https://" + host, host, object.empty() ? "/" : object};
}

// ---- One request -----------------------------------------------------------------------

namespace s3_detail {

struct Request {
    std::string method;  // GET, PUT, POST, DELETE
    std::string bucket;
    std::string key;        // empty for bucket requests
    NameValueList query;    // decoded
    NameValueList headers;  // besides the signing headers
    // The body: `memory` if set, else `size` bytes of `fd` from `offset` (none if size is 0).
    const std::string* memory = nullptr;
    int fd = -1;
    std::uint64_t offset = 0;
    std::uint64_t size = 0;
    std::string payload_sha256;
    int download_fd = -1;  // a 2xx body is written here (GET to a file), else kept in memory
    std::size_t body_limit = k_error_body_limit;
    bool error_in_ok_body = false;  // CompleteMultipartUpload: a 200 may carry an <Error>
};

struct Response {
    CURLcode code = CURLE_OK;
    long status = 0;
    std::string body;  // a non-download body, up to the request's limit
    bool body_truncated = false;
    std::string etag;           // the ETag header
    std::string bucket_region;  // x-amz-bucket-region, S3's hint for a wrong region
    std::string curl_error;     // curl's detailed message
    std::string local_error;    // reading the upload or writing the download failed
    bool aborted = false;       // the abort flag was raised
    bool timed_out = false;
    std::chrono::milliseconds limit{0};
    std::string url;
    std::string signature;  // of the last attempt, to keep out of messages
    int attempts = 0;
    bool ok() const { return code == CURLE_OK && status >= 200 && status < 300 && local_error.empty(); }
};

}  // namespace s3_detail

using s3_detail::Request;
using s3_detail::Response;

namespace {

// What libcurl's callbacks of one attempt share.
struct Transfer {
    const CurlApi* curl;
    CURL* handle;
    const Request* request;
    Response* response;
    const std::atomic<bool>* abort;
    std::chrono::steady_clock::time_point start;
    std::uint64_t sent = 0;     // body bytes handed to curl
    std::uint64_t written = 0;  // download bytes written
    int body_status = -1;       // 1: this response's body goes to download_fd, 0: to memory
};

size_t read_body(char* buffer, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const Request& request = *t->request;
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(size * count, request.size - t->sent));
    if (want == 0) {
        return 0;
    }
    if (request.memory != nullptr) {
        std::memcpy(buffer, request.memory->data() + t->sent, want);
        t->sent += want;
        return want;
    }
    for (;;) {
        const ssize_t got = pread(request.fd, buffer, want, static_cast<off_t>(request.offset + t->sent));
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            t->response->local_error = got == 0 ? "the file shrank while it was being sent" : errno_text(errno);
            return CURL_READFUNC_ABORT;
        }
        t->sent += static_cast<std::uint64_t>(got);
        return static_cast<size_t>(got);
    }
}

// curl rewinds the body when it must send it again on the same attempt.
int seek_body(void* user, curl_off_t offset, int origin) {
    auto* t = static_cast<Transfer*>(user);
    if (origin != SEEK_SET || offset < 0 || static_cast<std::uint64_t>(offset) > t->request->size) {
        return CURL_SEEKFUNC_CANTSEEK;
    }
    t->sent = static_cast<std::uint64_t>(offset);
    return CURL_SEEKFUNC_OK;
}

size_t write_body(char* data, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const std::size_t bytes = size * count;
    if (t->body_status < 0) {
        long status = 0;
        t->curl->easy_getinfo(t->handle, CURLINFO_RESPONSE_CODE, &status);
        t->body_status = (t->request->download_fd >= 0 && status >= 200 && status < 300) ? 1 : 0;
    }
    if (t->body_status == 0) {
        std::string& body = t->response->body;
        const std::size_t room = t->request->body_limit - std::min(body.size(), t->request->body_limit);
        body.append(data, std::min(bytes, room));
        t->response->body_truncated = t->response->body_truncated || bytes > room;
        return bytes;
    }
    std::size_t done = 0;
    while (done < bytes) {
        const ssize_t wrote =
            pwrite(t->request->download_fd, data + done, bytes - done, static_cast<off_t>(t->written));
        if (wrote < 0 && errno == EINTR) {
            continue;
        }
        if (wrote <= 0) {
            t->response->local_error = errno_text(wrote < 0 ? errno : EIO);
            return 0;  // curl fails the transfer with CURLE_WRITE_ERROR
        }
        done += static_cast<std::size_t>(wrote);
        t->written += static_cast<std::uint64_t>(wrote);
    }
    return bytes;
}

size_t header_line(char* data, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const std::string_view line(data, size * count);
    if (line.rfind("HTTP/", 0) == 0) {
        // A new response (after a 100 Continue, say): what the previous one said no longer holds.
        t->response->etag.clear();
        t->response->bucket_region.clear();
    }
    header_is(line, "etag", t->response->etag);
    header_is(line, "x-amz-bucket-region", t->response->bucket_region);
    return size * count;
}

// The abort flag, and the total time limit: k_request_timeout plus the payload (either way)
// at k_min_transfer_rate, so a large part is not cut off while a stalled small request is.
int progress(void* user, curl_off_t download_total, curl_off_t, curl_off_t, curl_off_t) {
    auto* t = static_cast<Transfer*>(user);
    if (t->abort != nullptr && t->abort->load(std::memory_order_relaxed)) {
        t->response->aborted = true;
        return 1;
    }
    const std::uint64_t payload =
        std::max<std::uint64_t>(t->request->size, static_cast<std::uint64_t>(std::max<curl_off_t>(download_total, 0)));
    t->response->limit = std::chrono::duration_cast<std::chrono::milliseconds>(S3Client::k_request_timeout) +
                         std::chrono::milliseconds(payload * 1000 / S3Client::k_min_transfer_rate);
    if (std::chrono::steady_clock::now() - t->start > t->response->limit) {
        t->response->timed_out = true;
        return 1;
    }
    return 0;
}

// curl failures that the same request will meet again: not worth a retry.
bool permanent_curl_error(CURLcode code) {
    switch (code) {
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_READ_ERROR:
        case CURLE_WRITE_ERROR:
        case CURLE_ABORTED_BY_CALLBACK:
            return true;
        default:
            return false;
    }
}

}  // namespace

S3Client::S3Client(const CurlApi& curl, S3Config config, reporter::TlsOptions tls)
    : m_curl(curl), m_config(std::move(config)), m_tls(std::move(tls)), m_handle(curl) {
    if (m_config.region.empty()) {
        m_config.region = k_default_region;
    }
    m_config.max_attempts = std::max(1, m_config.max_attempts);
    m_config.part_size = std::clamp(m_config.part_size, S3Config::k_min_part_size, S3Config::k_max_part_size);
    m_config.multipart_threshold = std::min(m_config.multipart_threshold, S3Config::k_max_single_put);
}

Response S3Client::attempt(const Request& request) {
    Response response;
    if (m_handle.get() == nullptr) {
        response.code = CURLE_FAILED_INIT;
        response.curl_error = "curl_easy_init failed";
        return response;
    }
    const std::optional<S3Address> address = s3_address(m_config, request.bucket, request.key, response.local_error);
    if (!address) {
        return response;
    }
    const AwsCredentials credentials{m_config.access_key_id, m_config.secret_access_key, m_config.session_token};
    RequestToSign to_sign{request.method, address->host,   address->path,
                          request.query,  request.headers, request.payload_sha256};
    const SignedRequest signed_request =
        sign_request(to_sign, credentials, m_config.region, std::chrono::system_clock::now());
    response.url = address->origin + signed_request.encoded_path;
    if (!signed_request.encoded_query.empty()) {
        response.url += "?" + signed_request.encoded_query;
    }
    response.signature = signed_request.signature;
    response.limit = std::chrono::duration_cast<std::chrono::milliseconds>(k_request_timeout) +
                     std::chrono::milliseconds(request.size * 1000 / k_min_transfer_rate);

    if (request.download_fd >= 0 && (ftruncate(request.download_fd, 0) != 0)) {
        response.local_error = errno_text(errno);
        return response;
    }

    CURL* h = m_handle.get();
    m_curl.easy_reset(h);  // keeps the connection cache: the next request reuses the connection
    apply_common_options(m_curl, h, m_tls);
    curl_slist* headers = nullptr;
    for (const auto& [name, value] : signed_request.headers) {
        headers = m_curl.slist_append(headers, (name + ": " + value).c_str());
    }
    headers = m_curl.slist_append(headers, "Expect:");  // no 100-continue round trip
    Transfer transfer{&m_curl, h, &request, &response, m_abort, std::chrono::steady_clock::now()};
    char curl_error[CURL_ERROR_SIZE] = "";
    m_curl.easy_setopt(h, CURLOPT_URL, response.url.c_str());
    m_curl.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    m_curl.easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);  // a key's "/../" is part of the key, not to be resolved
    m_curl.easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    m_curl.easy_setopt(h, CURLOPT_ERRORBUFFER, curl_error);
    m_curl.easy_setopt(h, CURLOPT_WRITEFUNCTION, write_body);
    m_curl.easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
    m_curl.easy_setopt(h, CURLOPT_HEADERFUNCTION, header_line);
    m_curl.easy_setopt(h, CURLOPT_HEADERDATA, &transfer);
    m_curl.easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    m_curl.easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress);
    m_curl.easy_setopt(h, CURLOPT_XFERINFODATA, &transfer);
    m_curl.easy_setopt(h, CURLOPT_READFUNCTION, read_body);
    m_curl.easy_setopt(h, CURLOPT_READDATA, &transfer);
    m_curl.easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_body);
    m_curl.easy_setopt(h, CURLOPT_SEEKDATA, &transfer);
    if (request.method == "PUT") {
        m_curl.easy_setopt(h, CURLOPT_UPLOAD, 1L);
        m_curl.easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.size));
    } else if (request.method == "POST") {
        m_curl.easy_setopt(h, CURLOPT_POST, 1L);
        m_curl.easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.size));
    } else if (request.method != "GET") {
        m_curl.easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }

    response.code = m_curl.easy_perform(h);
    m_curl.easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);  // the buffer does not outlive this call
    m_curl.easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);   // nor does the list
    m_curl.slist_free_all(headers);
    m_curl.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
    if (response.code != CURLE_OK) {
        response.curl_error = curl_error[0] != '\0' ? curl_error : m_curl.easy_strerror(response.code);
    }
    return response;
}

bool S3Client::wait_before_retry(std::chrono::milliseconds delay) const {
    const auto until = std::chrono::steady_clock::now() + delay;
    for (;;) {
        if (m_abort != nullptr && m_abort->load()) {
            return false;
        }
        const auto now = std::chrono::steady_clock::now();
        if (now >= until) {
            return true;
        }
        std::this_thread::sleep_for(
            std::min<std::chrono::steady_clock::duration>(until - now, std::chrono::milliseconds(50)));
    }
}

Response S3Client::perform(const Request& request, const std::string& what) {
    for (int attempt = 1;; ++attempt) {
        Response response = this->attempt(request);
        response.attempts = attempt;
        bool transient;
        if (response.ok()) {
            const std::optional<S3ErrorBody> error =
                request.error_in_ok_body ? parse_s3_error(response.body) : std::nullopt;
            if (!error) {
                return response;
            }
            // S3's advice for CompleteMultipartUpload: an <Error> in a 200 is retried if it
            // is InternalError; the others (InvalidPart...) are final.
            transient = error->code == "InternalError" || error->code == "SlowDown";
        } else if (!response.local_error.empty() || response.aborted) {
            return response;
        } else if (response.code != CURLE_OK) {
            transient = response.timed_out || !permanent_curl_error(response.code);
        } else {
            transient = reporter::is_transient_status(response.status);
        }
        if (!transient || attempt >= m_config.max_attempts) {
            return response;
        }
        const std::chrono::milliseconds delay =
            reporter::backoff_delay(attempt - 1, k_backoff_base, k_backoff_cap, m_random);
        PYHOST_LOG(warning) << failure(what, response) << "; retrying in " << delay.count() << " ms";
        if (!wait_before_retry(delay)) {
            response.aborted = true;
            return response;
        }
    }
}

std::string S3Client::redact(std::string text, const Response& response) const {
    for (const std::string* secret : {&m_config.secret_access_key, &m_config.session_token, &response.signature}) {
        if (secret->size() < 4) {
            continue;
        }
        for (std::size_t at = text.find(*secret); at != std::string::npos; at = text.find(*secret, at)) {
            text.replace(at, secret->size(), "***");
        }
    }
    return text;
}

std::string S3Client::failure(const std::string& what, const Response& response) const {
    std::string text = what + ": ";
    const std::string tries = response.attempts > 1 ? " (" + std::to_string(response.attempts) + " attempts)" : "";
    if (!response.local_error.empty()) {
        text += response.local_error;
    } else if (response.aborted) {
        text += "abandoned: pyhost is shutting down";
    } else if (response.timed_out) {
        text += "no complete answer from " + response.url + " within " + std::to_string(response.limit.count() / 1000) +
                " s" + tries;
    } else if (response.code != CURLE_OK) {
        text += "cannot reach " + response.url + ": " + response.curl_error + tries;
    } else {
        text += "HTTP " + std::to_string(response.status);
        if (const std::optional<S3ErrorBody> error = parse_s3_error(response.body)) {
            text += " " + error->code;
            if (!error->message.empty()) {
                text += ": " + error->message;
            }
        } else if (!response.body.empty()) {
            // Not S3 speaking (a proxy, a load balancer): a little of what it said.
            std::string shown;
            for (const char c : response.body.substr(0, 200)) {
                shown += (c >= 0x20 && c < 0x7f) ? c : ' ';
            }
            text += " from " + response.url + " (not an S3 error document: " + shown + ")";
        }
        if (!response.bucket_region.empty() && response.bucket_region != m_config.region) {
            text += " (the bucket is in " + response.bucket_region + ", not " + m_config.region + ": set AWS_REGION)";
        }
        text += tries;
    }
    return redact(std::move(text), response);
}

// ---- Operations ------------------------------------------------------------------------

S3Result S3Client::put_file(const S3Location& where, const std::string& local_path, std::string_view content_type) {
    const std::string target = s3_url(where.bucket, where.key);
    if (std::string error = bucket_error("put " + local_path + " to " + target, where.bucket); !error.empty()) {
        return {false, 0, std::move(error)};
    }
    if (where.key.empty()) {
        return {false, 0, "put " + local_path + " to " + target + ": no key to store it under"};
    }
    FileDescriptor fd(::open(local_path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat info {};
    if (fd.get() < 0 || fstat(fd.get(), &info) != 0) {
        return {false, 0,
                "put " + local_path + " to " + target + ": cannot open " + local_path + ": " + errno_text(errno)};
    }
    if (!S_ISREG(info.st_mode)) {
        return {false, 0, "put " + local_path + " to " + target + ": " + local_path + " is not a regular file"};
    }
    const auto control = [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; };
    if (std::any_of(content_type.begin(), content_type.end(), control)) {  // a header must stay one line
        return {false, 0, "put " + local_path + " to " + target + ": the content type has control characters"};
    }
    const std::string type = content_type.empty() ? "application/octet-stream" : std::string(content_type);
    const auto size = static_cast<std::uint64_t>(info.st_size);
    return size > m_config.multipart_threshold ? put_multipart(where, fd.get(), size, type)
                                               : put_single(where, fd.get(), size, type);
}

S3Result S3Client::put_single(const S3Location& where, int fd, std::uint64_t size, const std::string& content_type) {
    const std::string what = "PUT " + s3_url(where.bucket, where.key);
    Request request;
    request.method = "PUT";
    request.bucket = where.bucket;
    request.key = where.key;
    request.headers = {{"Content-Type", content_type}};
    request.fd = fd;
    request.size = size;
    int error = 0;
    if (!hash_file_range(fd, 0, size, request.payload_sha256, error)) {
        return {false, 0, what + ": reading the file failed: " + errno_text(error)};
    }
    const Response response = perform(request, what);
    return response.ok() ? S3Result{true, response.status, ""}
                         : S3Result{false, response.status, failure(what, response)};
}

S3Result S3Client::put_multipart(const S3Location& where, int fd, std::uint64_t size, const std::string& content_type) {
    const std::string target = s3_url(where.bucket, where.key);
    // At most 10,000 parts: a larger file gets larger parts (as the aws CLI does).
    const std::uint64_t part_size = std::max(m_config.part_size, (size + k_max_parts - 1) / k_max_parts);
    const std::uint64_t parts = (size + part_size - 1) / part_size;

    Request initiate;
    initiate.method = "POST";
    initiate.bucket = where.bucket;
    initiate.key = where.key;
    initiate.query = {{"uploads", ""}};
    initiate.headers = {{"Content-Type", content_type}};
    initiate.payload_sha256 = sha256_hex("");
    const std::string initiate_what = "CreateMultipartUpload " + target;
    const Response started = perform(initiate, initiate_what);
    if (!started.ok()) {
        return {false, started.status, failure(initiate_what, started)};
    }
    std::string upload_id, why;
    if (!parse_initiate_multipart_upload(started.body, upload_id, why)) {
        return {false, started.status, redact(initiate_what + ": " + why, started)};
    }

    // Every failure from here on aborts the upload: S3 keeps (and bills) the parts otherwise.
    const auto abandon = [&](long status, std::string message) {
        Request abort;
        abort.method = "DELETE";
        abort.bucket = where.bucket;
        abort.key = where.key;
        abort.query = {{"uploadId", upload_id}};
        abort.payload_sha256 = sha256_hex("");
        const std::string abort_what = "AbortMultipartUpload " + target;
        const Response aborted = perform(abort, abort_what);
        message += aborted.ok()
                       ? "; the upload was aborted"
                       : "; aborting the upload (id " + upload_id + ") failed too: " + failure(abort_what, aborted);
        return S3Result{false, status, std::move(message)};
    };

    std::vector<std::string> etags;
    etags.reserve(static_cast<std::size_t>(parts));
    for (std::uint64_t number = 1; number <= parts; ++number) {
        const std::string what =
            "UploadPart " + std::to_string(number) + " of " + std::to_string(parts) + " of " + target;
        Request part;
        part.method = "PUT";
        part.bucket = where.bucket;
        part.key = where.key;
        part.query = {{"partNumber", std::to_string(number)}, {"uploadId", upload_id}};
        part.fd = fd;
        part.offset = (number - 1) * part_size;
        part.size = std::min(part_size, size - part.offset);
        int error = 0;
        if (!hash_file_range(fd, part.offset, part.size, part.payload_sha256, error)) {
            return abandon(0, what + ": reading the file failed: " + errno_text(error));
        }
        const Response response = perform(part, what);
        if (!response.ok()) {
            return abandon(response.status, failure(what, response));
        }
        if (response.etag.empty()) {
            return abandon(response.status, what + ": the response has no ETag");
        }
        etags.push_back(response.etag);
    }

    const std::string body = complete_multipart_upload_body(etags);
    Request complete;
    complete.method = "POST";
    complete.bucket = where.bucket;
    complete.key = where.key;
    complete.query = {{"uploadId", upload_id}};
    complete.headers = {{"Content-Type", "application/xml"}};
    complete.memory = &body;
    complete.size = body.size();
    complete.payload_sha256 = sha256_hex(body);
    complete.error_in_ok_body = true;
    const std::string complete_what = "CompleteMultipartUpload " + target;
    const Response completed = perform(complete, complete_what);
    if (!completed.ok()) {
        return abandon(completed.status, failure(complete_what, completed));
    }
    if (!parse_complete_multipart_upload(completed.body, why)) {
        return abandon(completed.status, redact(complete_what + ": " + why, completed));
    }
    return {true, completed.status, ""};
}

S3Result S3Client::get_to_file(const S3Location& where, const std::string& local_path) {
    const std::string what = "GET " + s3_url(where.bucket, where.key);
    if (std::string error = bucket_error(what, where.bucket); !error.empty()) {
        return {false, 0, std::move(error)};
    }
    if (where.key.empty()) {
        return {false, 0, what + ": no key to fetch"};
    }
    // The temporary file is beside local_path, so that the rename stays on one file system.
    const std::size_t slash = local_path.rfind('/');
    const std::string directory = slash == std::string::npos ? std::string() : local_path.substr(0, slash + 1);
    const std::string name = slash == std::string::npos ? local_path : local_path.substr(slash + 1);
    std::string temporary = directory + "." + name + ".s3-XXXXXX";
    FileDescriptor fd(mkostemp(temporary.data(), O_CLOEXEC));
    if (fd.get() < 0) {
        return {false, 0, what + ": cannot create a file beside " + local_path + ": " + errno_text(errno)};
    }
    Request request;
    request.method = "GET";
    request.bucket = where.bucket;
    request.key = where.key;
    request.payload_sha256 = sha256_hex("");
    request.download_fd = fd.get();
    const Response response = perform(request, what);
    std::string error;
    if (!response.ok()) {
        error = failure(what, response);
        if (!response.local_error.empty()) {
            error = what + ": writing beside " + local_path + " failed: " + response.local_error;
        }
    } else if (fchmod(fd.get(), 0666 & ~current_umask()) != 0 || fsync(fd.get()) != 0 || ::close(fd.release()) != 0 ||
               std::rename(temporary.c_str(), local_path.c_str()) != 0) {
        error = what + ": cannot write " + local_path + ": " + errno_text(errno);
    }
    if (!error.empty()) {
        ::unlink(temporary.c_str());
        return {false, response.status, std::move(error)};
    }
    return {true, response.status, ""};
}

S3Result S3Client::list(const std::string& bucket, const std::string& prefix, std::vector<std::string>& keys) {
    const std::string what = "ListObjectsV2 " + s3_url(bucket, prefix);
    if (std::string error = bucket_error(what, bucket); !error.empty()) {
        return {false, 0, std::move(error)};
    }
    std::string token;
    long status = 0;
    for (int page = 1;; ++page) {
        Request request;
        request.method = "GET";
        request.bucket = bucket;
        request.query = {{"list-type", "2"}, {"prefix", prefix}, {"encoding-type", "url"}};
        if (!token.empty()) {
            request.query.emplace_back("continuation-token", token);
        }
        request.payload_sha256 = sha256_hex("");
        request.body_limit = k_listing_body_limit;
        const std::string page_what = page == 1 ? what : what + " (page " + std::to_string(page) + ")";
        const Response response = perform(request, page_what);
        if (!response.ok()) {
            return {false, response.status, failure(page_what, response)};
        }
        status = response.status;
        if (response.body_truncated) {
            return {false, status,
                    page_what + ": the response is larger than " + std::to_string(k_listing_body_limit) + " bytes"};
        }
        ListObjectsPage listing;
        std::string why;
        if (!parse_list_objects_v2(response.body, listing, why)) {
            return {false, status, redact(page_what + ": " + why, response)};
        }
        keys.insert(keys.end(), std::make_move_iterator(listing.keys.begin()),
                    std::make_move_iterator(listing.keys.end()));
        if (!listing.truncated) {
            return {true, status, ""};
        }
        if (listing.next_continuation_token == token) {
            return {false, status, page_what + ": the server returned the same continuation token again"};
        }
        token = std::move(listing.next_continuation_token);
    }
}

const reporter::CurlApi& curl_for(const S3Config& config) {
    std::string error;
    const reporter::CurlApi* curl =
        reporter::curl_api(reporter::curl_needs(config.endpoint.empty() ? std::string_view("https://") : config.endpoint), error);
    if (curl == nullptr) {
        throw StorageError(error);
    }
    return *curl;
}

}  // namespace pyhost::storage
