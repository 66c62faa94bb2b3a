#include "storage/sigv4.hpp"

#include <algorithm>
#include <ctime>

namespace pyhost::storage {
namespace {

constexpr std::string_view k_algorithm = "AWS4-HMAC-SHA256";

bool unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

std::string lowercase(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

// The canonical form of a header value: no leading or trailing blanks, each run of blanks
// inside made one space.
std::string normalize_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    bool pending_space = false;
    for (const char c : value) {
        if (c == ' ' || c == '\t') {
            pending_space = !out.empty();
            continue;
        }
        if (pending_space) {
            out += ' ';
            pending_space = false;
        }
        out += c;
    }
    return out;
}

}  // namespace

std::string uri_encode(std::string_view bytes, bool keep_slash) {
    static constexpr char k_digits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(bytes.size());
    for (const char c : bytes) {
        const auto byte = static_cast<unsigned char>(c);
        if (unreserved(byte) || (keep_slash && byte == '/')) {
            out += c;
        } else {
            out += '%';
            out += k_digits[byte >> 4];
            out += k_digits[byte & 0x0f];
        }
    }
    return out;
}

std::string canonical_query_string(const NameValueList& query) {
    NameValueList encoded;
    encoded.reserve(query.size());
    for (const auto& [name, value] : query) {
        encoded.emplace_back(uri_encode(name, false), uri_encode(value, false));
    }
    std::sort(encoded.begin(), encoded.end());
    std::string out;
    for (const auto& [name, value] : encoded) {
        if (!out.empty()) {
            out += '&';
        }
        out += name;
        out += '=';
        out += value;
    }
    return out;
}

std::string amz_date(std::chrono::system_clock::time_point when) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[sizeof "20130524T000000Z"];
    std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &utc);
    return text;
}

Sha256::Digest signing_key(std::string_view secret_access_key, std::string_view yyyymmdd, std::string_view region,
                           std::string_view service) {
    const std::string seed = "AWS4" + std::string(secret_access_key);
    const Sha256::Digest date_key = hmac_sha256(seed, yyyymmdd);
    const Sha256::Digest region_key = hmac_sha256(as_bytes(date_key), region);
    const Sha256::Digest service_key = hmac_sha256(as_bytes(region_key), service);
    return hmac_sha256(as_bytes(service_key), "aws4_request");
}

SignedRequest sign_request(const RequestToSign& request, const AwsCredentials& credentials, std::string_view region,
                           std::chrono::system_clock::time_point now) {
    SignedRequest signed_request;
    const std::string date_time = amz_date(now);
    const std::string date = date_time.substr(0, 8);

    // The headers to send, in order; canonicalized (lowercase names, normalized values) below.
    NameValueList& headers = signed_request.headers;
    headers.emplace_back("Host", request.host);
    headers.emplace_back("x-amz-date", date_time);
    headers.emplace_back("x-amz-content-sha256", request.payload_sha256);
    if (!credentials.session_token.empty()) {
        headers.emplace_back("x-amz-security-token", credentials.session_token);
    }
    for (const auto& [name, value] : request.headers) {
        headers.emplace_back(name, value);
    }
    for (auto& [name, value] : headers) {
        value = normalize_value(value);
    }

    NameValueList canonical;
    canonical.reserve(headers.size());
    for (const auto& [name, value] : headers) {
        canonical.emplace_back(lowercase(name), value);
    }
    std::sort(canonical.begin(), canonical.end());
    std::string canonical_headers;
    std::string signed_headers;
    for (const auto& [name, value] : canonical) {
        canonical_headers += name + ':' + value + '\n';
        if (!signed_headers.empty()) {
            signed_headers += ';';
        }
        signed_headers += name;
    }

    signed_request.encoded_path = uri_encode(request.path.empty() ? "/" : request.path, true);
    signed_request.encoded_query = canonical_query_string(request.query);
    signed_request.canonical_request = request.method + '\n' + signed_request.encoded_path + '\n' +
                                       signed_request.encoded_query + '\n' + canonical_headers + '\n' + signed_headers +
                                       '\n' + request.payload_sha256;

    const std::string scope = date + '/' + std::string(region) + '/' + std::string(k_s3_service) + "/aws4_request";
    signed_request.string_to_sign = std::string(k_algorithm) + '\n' + date_time + '\n' + scope + '\n' +
                                    sha256_hex(signed_request.canonical_request);

    const Sha256::Digest key = signing_key(credentials.secret_access_key, date, region, k_s3_service);
    signed_request.signature = to_hex(hmac_sha256(as_bytes(key), signed_request.string_to_sign));
    headers.emplace_back("Authorization", std::string(k_algorithm) + " Credential=" + credentials.access_key_id + '/' +
                                              scope + ",SignedHeaders=" + signed_headers +
                                              ",Signature=" + signed_request.signature);
    return signed_request;
}

}  // namespace pyhost::storage
