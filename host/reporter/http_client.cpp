#include "reporter/http_client.hpp"

#include <algorithm>
#include <charconv>
#include <cctype>
#include <cstdlib>
#include <ctime>

#include <libdeflate.h>
#include <zstd.h>

#include "diag/log.hpp"

#include "common/civil_time.hpp"
#include "common/env.hpp"

namespace pyhost::reporter {
namespace {

size_t collect(char* data, size_t size, size_t count, void* user) {
    auto* out = static_cast<std::string*>(user);
    if (out->size() < 4096) {  // enough for an error message; the rest is not kept
        out->append(data, std::min(size * count, 4096 - out->size()));
    }
    return size * count;
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
        text.remove_prefix(1);
    }
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
        text.remove_suffix(1);
    }
    return text;
}

bool equals_lower(std::string_view text, std::string_view lower) {
    return text.size() == lower.size() && std::equal(text.begin(), text.end(), lower.begin(), [](char a, char b) {
               return std::tolower(static_cast<unsigned char>(a)) == b;
           });
}

// The value of header `name` (lower case, with its colon) if `line` is that header.
std::optional<std::string> header_value(std::string_view line, std::string_view name) {
    if (line.size() < name.size() || !equals_lower(line.substr(0, name.size()), name)) {
        return std::nullopt;
    }
    return std::string(trim(line.substr(name.size())));
}

size_t header_line(char* data, size_t size, size_t count, void* user) {
    const std::string_view line(data, size * count);
    auto* headers = static_cast<HttpClient::ResponseHeaders*>(user);
    if (line.starts_with("HTTP/")) {
        *headers = {};  // a new response (after a 100 Continue, say): only its own headers count
    } else if (auto value = header_value(line, "retry-after:")) {
        headers->retry_after = std::move(*value);
    } else if (auto accepted = header_value(line, "accept-encoding:")) {
        headers->accept_encoding = std::move(*accepted);
    }
    return size * count;
}

// A whole decimal number ("3", "0.5"), read with std::from_chars: strtod follows the locale,
// which the program may change while this runs on a shipper thread.
std::optional<double> parse_decimal(std::string_view text) {
    double value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

// Whether an Accept-Encoding value (RFC 9110, section 12.5.3) accepts `name`: listed, or
// covered by "*", with a weight above 0; identity also when the value does not refuse it.
bool accepts(std::string_view value, std::string_view name) {
    std::optional<bool> listed;
    std::optional<bool> wildcard;
    while (!value.empty()) {
        const std::size_t comma = value.find(',');
        const std::string_view item = value.substr(0, comma);
        value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
        const std::size_t semicolon = item.find(';');
        const std::string_view token = trim(item.substr(0, semicolon));
        bool refused = false;
        if (semicolon != std::string_view::npos) {
            const std::string_view weight = trim(item.substr(semicolon + 1));
            if (const std::size_t equals = weight.find('=');
                equals != std::string_view::npos && equals_lower(trim(weight.substr(0, equals)), "q")) {
                const std::optional<double> q = parse_decimal(trim(weight.substr(equals + 1)));
                refused = q && *q <= 0.0;
            }
        }
        if (equals_lower(token, name)) {
            listed = !refused;
        } else if (token == "*") {
            wildcard = !refused;
        }
    }
    if (listed) {
        return *listed;
    }
    if (wildcard) {
        return *wildcard;
    }
    return name == "identity";
}

int progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<const std::atomic<bool>*>(user)->load(std::memory_order_relaxed) ? 1 : 0;
}

}  // namespace

TlsOptions TlsOptions::from_environment() {
    return TlsOptions{env("PYHOST_CA_BUNDLE"), env("PYHOST_CLIENT_CERT"), env("PYHOST_CLIENT_KEY")};
}

std::string_view coding_name(ContentCoding coding) {
    switch (coding) {
    case ContentCoding::zstd: return "zstd";
    case ContentCoding::gzip: return "gzip";
    case ContentCoding::identity: return "identity";
    }
    return "identity";
}

std::vector<ContentCoding> offered_codings(SinkKind kind) {
    if (kind == SinkKind::jsonl) {
        return {ContentCoding::zstd, ContentCoding::gzip, ContentCoding::identity};
    }
    return {ContentCoding::gzip, ContentCoding::identity};
}

std::optional<ContentCoding> next_coding(const std::vector<ContentCoding>& offered, ContentCoding current,
                                         const std::optional<std::string>& accept_encoding) {
    auto it = std::find(offered.begin(), offered.end(), current);
    if (it == offered.end()) {
        return std::nullopt;
    }
    for (++it; it != offered.end(); ++it) {
        if (!accept_encoding || accepts(*accept_encoding, coding_name(*it))) {
            return *it;
        }
    }
    return std::nullopt;
}

HttpClient::HttpClient(const CurlApi& curl, TlsOptions tls, const std::atomic<bool>& abort,
                       std::vector<ContentCoding> offered, std::string shown)
    : m_curl(curl),
      m_tls(std::move(tls)),
      m_abort(abort),
      m_offered(offered.empty() ? std::vector<ContentCoding>{ContentCoding::identity} : std::move(offered)),
      m_coding(m_offered.front()),
      m_shown(std::move(shown)),
      m_handle(curl) {}

HttpOutcome HttpClient::post(const HttpRequest& request) {
    for (;;) {
        const ContentCoding coding = request.compress ? m_coding : ContentCoding::identity;
        std::string_view payload = request.payload();
        if (coding != ContentCoding::identity) {
            const std::size_t size = coding == ContentCoding::zstd ? zstd_into(payload, m_compressed)
                                                                   : gzip_into(payload, m_compressed);
            if (size == 0) {
                HttpOutcome outcome;
                outcome.detail = std::string(coding_name(coding)) + " compression failed";
                return outcome;
            }
            payload = std::string_view(m_compressed.data(), size);
        }
        HttpOutcome outcome = perform(request, payload, coding);
        if (outcome.status != 415 || coding == ContentCoding::identity) {
            return outcome;
        }
        // 415 Unsupported Media Type to a compressed body: the receiver says (RFC 7694) or we
        // guess that it does not take this coding. Step down, once for all later requests.
        const std::optional<ContentCoding> next = next_coding(m_offered, coding, m_headers.accept_encoding);
        if (!next) {
            return outcome;
        }
        PYHOST_LOG(warning) << "sink " << m_shown << " does not take " << coding_name(coding) << " bodies (HTTP 415"
                            << (m_headers.accept_encoding ? ", Accept-Encoding: " + *m_headers.accept_encoding : "")
                            << "); sending " << coding_name(*next) << " from now on";
        m_coding = *next;
    }
}

HttpOutcome HttpClient::perform(const HttpRequest& request, std::string_view payload, ContentCoding coding) {
    HttpOutcome outcome;
    if (m_handle.get() == nullptr) {
        outcome.detail = "curl_easy_init failed";
        return outcome;
    }
    CURL* h = m_handle.get();
    m_curl.easy_reset(h);  // keeps the connection cache: the next request reuses the connection
    m_response.clear();
    m_headers = {};
    curl_slist* headers = nullptr;
    headers = m_curl.slist_append(headers, ("Content-Type: " + request.content_type).c_str());
    if (coding != ContentCoding::identity) {
        headers = m_curl.slist_append(headers, ("Content-Encoding: " + std::string(coding_name(coding))).c_str());
    }
    if (!request.authorization.empty()) {
        headers = m_curl.slist_append(headers, ("Authorization: " + request.authorization).c_str());
    }
    headers = m_curl.slist_append(headers, "Expect:");  // no 100-continue round trip
    m_curl.easy_setopt(h, CURLOPT_URL, request.url.c_str());
    m_curl.easy_setopt(h, CURLOPT_POST, 1L);
    m_curl.easy_setopt(h, CURLOPT_POSTFIELDS, payload.data());  // not copied: it outlives the transfer
    m_curl.easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
    m_curl.easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    apply_common_options(m_curl, h, m_tls);
    m_curl.easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(std::chrono::milliseconds(k_request_timeout).count()));
    m_curl.easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    m_curl.easy_setopt(h, CURLOPT_WRITEDATA, &m_response);
    m_curl.easy_setopt(h, CURLOPT_HEADERFUNCTION, header_line);
    m_curl.easy_setopt(h, CURLOPT_HEADERDATA, &m_headers);
    m_curl.easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    m_curl.easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress);
    m_curl.easy_setopt(h, CURLOPT_XFERINFODATA, &m_abort);

    const CURLcode code = m_curl.easy_perform(h);
    m_curl.slist_free_all(headers);
    if (code != CURLE_OK) {
        outcome.kind = HttpOutcome::Kind::retry;
        outcome.detail = m_curl.easy_strerror(code);
        return outcome;
    }
    long status = 0;
    m_curl.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    outcome.status = status;
    if (status >= 200 && status < 300) {
        outcome.kind = HttpOutcome::Kind::delivered;
        return outcome;
    }
    outcome.kind = is_transient_status(status) ? HttpOutcome::Kind::retry : HttpOutcome::Kind::rejected;
    outcome.detail = "HTTP " + std::to_string(status);
    if (!m_response.empty()) {
        outcome.detail += ": " + m_response.substr(0, 300);
    }
    outcome.retry_after = parse_retry_after(m_headers.retry_after, std::chrono::system_clock::now());
    return outcome;
}

bool is_transient_status(long status) { return status == 408 || status == 429 || status >= 500; }

std::chrono::milliseconds backoff_delay(int attempt, std::chrono::milliseconds base, std::chrono::milliseconds cap,
                                        std::mt19937_64& random) {
    const auto ceiling = std::min<std::chrono::milliseconds>(cap, base * (1LL << std::clamp(attempt, 0, 20)));
    return std::chrono::milliseconds(
        std::uniform_int_distribution<long long>(ceiling.count() / 2, ceiling.count())(random));
}

void apply_common_options(const CurlApi& curl, CURL* handle, const TlsOptions& tls) {
    curl.easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl.easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::chrono::milliseconds(HttpClient::k_connect_timeout).count()));
    curl.easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, 1L);
    curl.easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!tls.ca_bundle.empty()) {
        curl.easy_setopt(handle, CURLOPT_CAINFO, tls.ca_bundle.c_str());
    }
    if (!tls.client_cert.empty()) {
        curl.easy_setopt(handle, CURLOPT_SSLCERT, tls.client_cert.c_str());
    }
    if (!tls.client_key.empty()) {
        curl.easy_setopt(handle, CURLOPT_SSLKEY, tls.client_key.c_str());
    }
}

std::size_t gzip_into(std::string_view data, ByteBuffer& out) {
    // libdeflate at level 1: twice zlib's speed at the same ratio on JSON lines (0.9 GB/s
    // and 29:1 on journal text); the reporter must keep pace with a million records a second.
    // One compressor per thread: each shipper has its own.
    struct Compressor {
        libdeflate_compressor* handle = libdeflate_alloc_compressor(1);
        ~Compressor() { libdeflate_free_compressor(handle); }
    };
    thread_local Compressor compressor;
    if (compressor.handle == nullptr) {
        return 0;
    }
    const std::size_t bound = libdeflate_gzip_compress_bound(compressor.handle, data.size());
    out.grow(bound, 0);
    return libdeflate_gzip_compress(compressor.handle, data.data(), data.size(), out.data(), bound);
}

std::string gzip(std::string_view data) {
    ByteBuffer out;
    const std::size_t size = gzip_into(data, out);
    return std::string(out.data(), size);
}

std::size_t zstd_into(std::string_view data, ByteBuffer& out) {
    // Level 1: on journal text, batch by batch, about 2.4 GB/s and 80:1 here, against
    // libdeflate's 0.9 GB/s and 29:1 (negative levels gain 10-25% in speed for a third of the
    // ratio). A 128 KiB window instead of level 1's 512 KiB: records repeat their neighbours,
    // not text half a megabyte back, so it costs little ratio (a print flood's 4 MiB batches:
    // 83:1 -> 68:1) for 10% less time (0.066 -> 0.059 s for 168 MB, best of 12), and a
    // receiver decodes it in a quarter of the memory. No content checksum (zstd's default, and
    // what HTTP senders of zstd send): TCP and TLS carry the body, and the frame's XXH64 was an
    // eighth of the compression time, paid again by the receiver. One context per thread,
    // reused.
    struct Compressor {
        ZSTD_CCtx* handle = ZSTD_createCCtx();
        Compressor() {
            if (handle != nullptr && (ZSTD_isError(ZSTD_CCtx_setParameter(handle, ZSTD_c_compressionLevel, 1)) ||
                                      ZSTD_isError(ZSTD_CCtx_setParameter(handle, ZSTD_c_windowLog, 17)))) {
                ZSTD_freeCCtx(handle);
                handle = nullptr;
            }
        }
        ~Compressor() { ZSTD_freeCCtx(handle); }
    };
    thread_local Compressor compressor;
    if (compressor.handle == nullptr) {
        return 0;
    }
    const std::size_t bound = ZSTD_compressBound(data.size());
    out.grow(bound, 0);
    const std::size_t size = ZSTD_compress2(compressor.handle, out.data(), bound, data.data(), data.size());
    return ZSTD_isError(size) ? 0 : size;
}

namespace {

// 1-12 for an English month abbreviation, exactly as HTTP dates spell it (case-sensitive).
std::optional<int> month_number(std::string_view name) {
    static constexpr std::string_view months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (int i = 0; i < 12; ++i) {
        if (name == months[i]) {
            return i + 1;
        }
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::int64_t> parse_http_date(std::string_view text, std::chrono::system_clock::time_point now) {
    // RFC 9110, section 5.6.7: recipients accept all three forms.
    //   IMF-fixdate   Sun, 06 Nov 1994 08:49:37 GMT
    //   rfc850-date   Sunday, 06-Nov-94 08:49:37 GMT
    //   asctime-date  Sun Nov  6 08:49:37 1994
    // Read by hand, not with strptime, whose %a and %b follow LC_TIME: the program may set a
    // locale in which English names no longer parse.
    std::string_view day, month, year, clock;
    const std::size_t comma = text.find(',');
    if (comma == 3 && text.size() == 29 && text.substr(25) == " GMT" && text[4] == ' ' && text[7] == ' ' &&
        text[11] == ' ' && text[16] == ' ') {
        day = text.substr(5, 2), month = text.substr(8, 3), year = text.substr(12, 4), clock = text.substr(17, 8);
    } else if (comma != std::string_view::npos && comma >= 6 && text.size() == comma + 24 &&
               text.substr(comma + 20) == " GMT" && text[comma + 1] == ' ' && text[comma + 4] == '-' &&
               text[comma + 8] == '-' && text[comma + 11] == ' ') {
        day = text.substr(comma + 2, 2), month = text.substr(comma + 5, 3), year = text.substr(comma + 9, 2);
        clock = text.substr(comma + 12, 8);
    } else if (comma == std::string_view::npos && text.size() == 24 && text[3] == ' ' && text[7] == ' ' &&
               text[10] == ' ' && text[19] == ' ') {
        month = text.substr(4, 3), day = text.substr(text[8] == ' ' ? 9 : 8, text[8] == ' ' ? 1 : 2);  // " 6"
        clock = text.substr(11, 8), year = text.substr(20, 4);
    } else {
        return std::nullopt;
    }
    const std::optional<int> m = month_number(month);
    if (!m || clock.size() != 8 || clock[2] != ':' || clock[5] != ':') {
        return std::nullopt;
    }
    const auto d = decimal_digits(day), y = decimal_digits(year);
    const auto hh = decimal_digits(clock.substr(0, 2)), mm = decimal_digits(clock.substr(3, 2)),
               ss = decimal_digits(clock.substr(6, 2));
    if (!d || !y || !hh || !mm || !ss) {
        return std::nullopt;
    }
    long long full_year = *y;
    if (year.size() == 2) {
        // rfc850's two digits: the year in this century, or the last one when that would be
        // more than 50 years ahead (RFC 9110).
        const std::time_t now_seconds = std::chrono::system_clock::to_time_t(now);
        std::tm today{};
        gmtime_r(&now_seconds, &today);
        const long long this_year = today.tm_year + 1900;
        full_year = this_year - this_year % 100 + *y;
        if (full_year > this_year + 50) {
            full_year -= 100;
        }
    }
    const std::optional<long long> seconds = seconds_from_civil(full_year, *m, *d, *hh, *mm, *ss);
    return seconds ? std::optional<std::int64_t>(*seconds) : std::nullopt;
}

std::chrono::milliseconds parse_retry_after(const std::string& value, std::chrono::system_clock::time_point now) {
    if (value.empty()) {
        return std::chrono::milliseconds(-1);
    }
    if (const std::optional<double> seconds = parse_decimal(value); seconds && *seconds >= 0) {
        return std::chrono::milliseconds(static_cast<long long>(*seconds * 1000));
    }
    if (const std::optional<std::int64_t> at = parse_http_date(value, now)) {
        const auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::from_time_t(static_cast<std::time_t>(*at)) - now);
        return delay.count() > 0 ? delay : std::chrono::milliseconds(0);
    }
    return std::chrono::milliseconds(-1);
}

}  // namespace pyhost::reporter
