// AWS Signature Version 4 for S3, with the signature in the Authorization header and the
// payload signed in a single chunk (the hex SHA-256 of the body in x-amz-content-sha256).
//
// Pure functions: the time is passed in, nothing is read from the environment or the clock,
// so AWS's published examples are unit tests.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/sha256.hpp"

namespace pyhost::storage {

struct AwsCredentials {
    std::string access_key_id;
    std::string secret_access_key;
    std::string session_token;  // temporary credentials only; sent as x-amz-security-token
};

// Name/value pairs, in the caller's order (signing sorts them).
using NameValueList = std::vector<std::pair<std::string, std::string>>;

struct RequestToSign {
    std::string method;          // "GET", "PUT", ...
    std::string host;            // the Host header exactly as it is sent ("h:port" for a non-default port)
    std::string path;            // decoded: "/bucket/my key.txt"; encoded by signing
    NameValueList query;         // decoded; a flag like "uploads" has an empty value
    NameValueList headers;       // further headers to sign and send (Content-Type, Range, ...)
    std::string payload_sha256;  // hex SHA-256 of the body (of "" for none)
};

struct SignedRequest {
    std::string encoded_path;       // the path as it must appear in the URL: what was signed
    std::string encoded_query;      // "name=value&..." sorted, or empty; likewise for the URL
    std::string canonical_request;  // for tests and debugging; holds no secret
    std::string string_to_sign;     // likewise
    // Every header to send: Host, x-amz-date, x-amz-content-sha256, x-amz-security-token (with a
    // session token), the request's own headers, Authorization. The token and the signature
    // are in here: never log these values.
    NameValueList headers;
    std::string signature;  // hex, as in the Authorization header: never log it either
};

inline constexpr std::string_view k_s3_service = "s3";

// AWS's URI encoding: every byte but the unreserved A-Z a-z 0-9 - . _ ~ becomes %XX
// (uppercase hex); '/' is kept when `keep_slash` (object key paths), encoded otherwise
// (query names and values).
std::string uri_encode(std::string_view bytes, bool keep_slash);

// The canonical query string: names and values encoded, sorted by encoded name (then value),
// joined as "a=1&b=&c=3". Empty for no parameters.
std::string canonical_query_string(const NameValueList& query);

// ISO 8601 basic format in UTC, as x-amz-date wants it: "20130524T000000Z".
std::string amz_date(std::chrono::system_clock::time_point when);

// The signing key: HMAC chain over "AWS4" + secret, the date (YYYYMMDD), region, service and
// "aws4_request".
Sha256::Digest signing_key(std::string_view secret_access_key, std::string_view yyyymmdd, std::string_view region,
                           std::string_view service);

// Signs `request` for `region` at time `now` (service "s3"). Header names are lowercased,
// values trimmed with inner runs of spaces collapsed, for the canonical form; the headers to
// send carry the same values.
SignedRequest sign_request(const RequestToSign& request, const AwsCredentials& credentials, std::string_view region,
                           std::chrono::system_clock::time_point now);

}  // namespace pyhost::storage
