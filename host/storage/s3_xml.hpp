// The XML that S3 speaks: a small, strict parser for its responses (errors, ListObjectsV2,
// InitiateMultipartUpload, CompleteMultipartUpload) and the one request body it takes.
//
// Not a general XML library: no DTDs (S3 never sends one, and refusing them keeps entity
// expansion out), attributes are checked for form and then ignored (S3 puts only xmlns
// there), namespaces prefixes are kept in names as written. Every malformed or truncated
// input is an error naming the byte offset; none is a crash or a partial result.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pyhost::storage {

struct XmlElement {
    std::string name;  // as written, any prefix included
    // The character data directly inside, entity references and CDATA decoded, concatenated
    // (for a container element, the whitespace between its children).
    std::string text;
    std::vector<XmlElement> children;

    // The first child named `child_name`, or nullptr.
    const XmlElement* child(std::string_view child_name) const;
    // The text of the first child named `child_name`; empty if there is none.
    std::string child_text(std::string_view child_name) const;
};

// Parses a whole document: an optional byte order mark, XML declaration, comments and
// processing instructions, then exactly one root element. Nesting deeper than 64 levels is
// refused. Returns std::nullopt and sets `error` for anything else.
std::optional<XmlElement> parse_xml(std::string_view document, std::string& error);

// Escapes text for element content or an attribute value (& < > " ').
std::string xml_escape(std::string_view text);

// Decodes a key from a response with EncodingType "url": %XX sequences and '+' for a space
// (S3 writes a literal '+' as %2B). Returns false for a malformed % sequence.
bool url_decode_key(std::string_view encoded, std::string& decoded);

// S3's error document: <Error><Code>NoSuchKey</Code><Message>...</Message>...</Error>.
struct S3ErrorBody {
    std::string code;
    std::string message;
};

// The error in `body`, or std::nullopt if `body` is not an S3 error document (empty, HTML
// from a proxy, truncated...).
std::optional<S3ErrorBody> parse_s3_error(std::string_view body);

// One page of a ListObjectsV2 response.
struct ListObjectsPage {
    std::vector<std::string> keys;  // decoded: entities, and URL encoding when the response says so
    bool truncated = false;
    std::string next_continuation_token;
};

// Parses a ListObjectsV2 page into `page`. Returns false and sets `error` for a malformed
// document, a missing or invalid IsTruncated, a truncated page without a continuation
// token, or an undecodable key.
bool parse_list_objects_v2(std::string_view body, ListObjectsPage& page, std::string& error);

// The UploadId of an InitiateMultipartUploadResult. Returns false and sets `error` if
// `body` is not one or has no UploadId.
bool parse_initiate_multipart_upload(std::string_view body, std::string& upload_id, std::string& error);

// Whether the body of a 200 answer to CompleteMultipartUpload says the upload is complete.
// S3 may send the 200 before it finishes and an <Error> document in it: that is false, with
// `error` naming the code and message. Any other body is success: the status said so, and
// stores differ in the root they use (AWS's CompleteMultipartUploadResult, moto's
// CompleteMultipartUploadResponse).
bool parse_complete_multipart_upload(std::string_view body, std::string& error);

// The CompleteMultipartUpload request body for parts 1..N with these ETags (in order).
std::string complete_multipart_upload_body(const std::vector<std::string>& etags);

}  // namespace pyhost::storage
