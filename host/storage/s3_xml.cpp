#include "storage/s3_xml.hpp"

#include <cstdint>

namespace pyhost::storage {
namespace {

constexpr int k_max_depth = 64;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool is_name_char(char c) {
    return !(is_space(c) || c == '<' || c == '>' || c == '/' || c == '=' || c == '"' || c == '\'' || c == '&' ||
             c == '\0');
}

bool is_name_start(char c) { return is_name_char(c) && !(c >= '0' && c <= '9') && c != '-' && c != '.'; }

// The characters XML 1.0 allows (section 2.2), for character references.
bool is_xml_char(std::uint32_t code) {
    return code == 0x9 || code == 0xA || code == 0xD || (code >= 0x20 && code <= 0xD7FF) ||
           (code >= 0xE000 && code <= 0xFFFD) || (code >= 0x10000 && code <= 0x10FFFF);
}

void append_utf8(std::string& out, std::uint32_t code) {
    if (code < 0x80) {
        out += static_cast<char>(code);
    } else if (code < 0x800) {
        out += static_cast<char>(0xC0 | (code >> 6));
        out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
        out += static_cast<char>(0xE0 | (code >> 12));
        out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (code >> 18));
        out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code & 0x3F));
    }
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

class Parser {
public:
    explicit Parser(std::string_view document) : m_doc(document) {}

    std::optional<XmlElement> document(std::string& error) {
        if (m_doc.substr(0, 3) == "\xEF\xBB\xBF") {
            m_pos = 3;
        }
        XmlElement root;
        const bool ok = misc(true) && element(root, 1) && misc(false) && at_end();
        if (!ok) {
            error = "malformed XML at byte " + std::to_string(m_error_at) + ": " + m_error;
            return std::nullopt;
        }
        return root;
    }

private:
    bool fail(std::string message) {
        m_error = std::move(message);
        m_error_at = m_pos;
        return false;
    }

    bool starts_with(std::string_view prefix) const { return m_doc.substr(m_pos, prefix.size()) == prefix; }

    void skip_space() {
        while (m_pos < m_doc.size() && is_space(m_doc[m_pos])) {
            ++m_pos;
        }
    }

    // Moves past the next `terminator`; false (the document ends first) otherwise.
    bool skip_past(std::string_view terminator, std::string_view what) {
        const std::size_t end = m_doc.find(terminator, m_pos);
        if (end == std::string_view::npos) {
            m_pos = m_doc.size();
            return fail("unexpected end of document in " + std::string(what));
        }
        m_pos = end + terminator.size();
        return true;
    }

    // A comment or processing instruction at m_pos, skipped; `found` says whether there was one.
    bool skip_comment(bool& found) {
        found = true;
        if (starts_with("<?")) {
            return skip_past("?>", "a processing instruction");
        }
        if (starts_with("<!--")) {
            return skip_past("-->", "a comment");
        }
        found = false;
        return true;
    }

    // Comments, processing instructions and whitespace around the root element.
    bool misc(bool before_root) {
        for (bool found = true; found;) {
            skip_space();
            if (!skip_comment(found)) {
                return false;
            }
        }
        if (starts_with("<!DOCTYPE")) {
            return fail("document type declarations are not accepted");
        }
        if (before_root && m_pos >= m_doc.size()) {
            return fail(m_doc.empty() ? "empty document" : "no root element");
        }
        return true;
    }

    bool at_end() { return m_pos == m_doc.size() || fail("content after the root element"); }

    // Moves past `c` inside a tag, or fails: the document ended there, or `otherwise`.
    bool expect(char c, const std::string& otherwise) {
        if (m_pos >= m_doc.size()) {
            return fail("unexpected end of document in a tag");
        }
        if (m_doc[m_pos] != c) {
            return fail(otherwise);
        }
        ++m_pos;
        return true;
    }

    bool name(std::string& out) {
        const std::size_t start = m_pos;
        if (m_pos >= m_doc.size() || !is_name_start(m_doc[m_pos])) {
            return m_pos >= m_doc.size() ? fail("unexpected end of document in a tag") : fail("expected a name");
        }
        while (m_pos < m_doc.size() && is_name_char(m_doc[m_pos])) {
            ++m_pos;
        }
        out.assign(m_doc.substr(start, m_pos - start));
        return true;
    }

    // An entity or character reference at m_pos ('&'), appended decoded to `out`.
    bool reference(std::string& out) {
        std::size_t semicolon = m_pos + 1;
        while (semicolon < m_doc.size() && (is_name_char(m_doc[semicolon]) || m_doc[semicolon] == '#') &&
               m_doc[semicolon] != ';') {
            ++semicolon;
        }
        if (semicolon >= m_doc.size()) {
            m_pos = m_doc.size();
            return fail("unexpected end of document in a reference");
        }
        if (m_doc[semicolon] != ';' || semicolon == m_pos + 1) {
            return fail("'&' not starting a reference");
        }
        const std::string_view ref = m_doc.substr(m_pos + 1, semicolon - m_pos - 1);
        if (ref == "amp") {
            out += '&';
        } else if (ref == "lt") {
            out += '<';
        } else if (ref == "gt") {
            out += '>';
        } else if (ref == "quot") {
            out += '"';
        } else if (ref == "apos") {
            out += '\'';
        } else if (ref.size() >= 2 && ref[0] == '#') {
            const bool hex = ref[1] == 'x';
            const std::string_view digits = ref.substr(hex ? 2 : 1);
            std::uint32_t code = 0;
            for (const char c : digits) {
                const int digit = hex ? hex_value(c) : (c >= '0' && c <= '9' ? c - '0' : -1);
                if (digit < 0 || code > 0x10FFFF) {
                    return fail("bad character reference &" + std::string(ref) + ";");
                }
                code = code * (hex ? 16 : 10) + static_cast<std::uint32_t>(digit);
            }
            if (digits.empty() || !is_xml_char(code)) {
                return fail("bad character reference &" + std::string(ref) + ";");
            }
            append_utf8(out, code);
        } else {
            return fail("unknown entity &" + std::string(ref) + ";");
        }
        m_pos = semicolon + 1;
        return true;
    }

    // Attributes up to the end of a start tag; sets `empty` for "/>".
    bool attributes(bool& empty) {
        for (;;) {
            const std::size_t before = m_pos;
            skip_space();
            if (m_pos >= m_doc.size()) {
                return fail("unexpected end of document in a tag");
            }
            if (starts_with("/>")) {
                m_pos += 2;
                empty = true;
                return true;
            }
            if (m_doc[m_pos] == '>') {
                ++m_pos;
                empty = false;
                return true;
            }
            if (m_pos == before) {
                return fail("expected whitespace before an attribute");
            }
            std::string attribute;
            if (!name(attribute)) {
                return false;
            }
            skip_space();
            if (!expect('=', "expected '=' after attribute " + attribute)) {
                return false;
            }
            skip_space();
            if (m_pos >= m_doc.size() || (m_doc[m_pos] != '"' && m_doc[m_pos] != '\'')) {
                return m_pos >= m_doc.size() ? fail("unexpected end of document in a tag")
                                             : fail("expected a quoted value for attribute " + attribute);
            }
            const char quote = m_doc[m_pos++];
            const std::size_t end = m_doc.find(quote, m_pos);
            if (end == std::string_view::npos) {
                m_pos = m_doc.size();
                return fail("unexpected end of document in an attribute value");
            }
            if (m_doc.substr(m_pos, end - m_pos).find('<') != std::string_view::npos) {
                return fail("'<' in an attribute value");
            }
            m_pos = end + 1;
        }
    }

    bool element(XmlElement& out, int depth) {
        if (depth > k_max_depth) {
            return fail("elements nested deeper than " + std::to_string(k_max_depth) + " levels");
        }
        if (m_pos >= m_doc.size() || m_doc[m_pos] != '<') {
            return fail("expected an element");
        }
        ++m_pos;
        bool empty = false;
        if (!name(out.name) || !attributes(empty)) {
            return false;
        }
        if (empty) {
            return true;
        }
        for (;;) {
            if (m_pos >= m_doc.size()) {
                return fail("unexpected end of document inside <" + out.name + ">");
            }
            bool found = false;
            if (!skip_comment(found)) {
                return false;
            }
            if (found) {
                continue;
            }
            const char c = m_doc[m_pos];
            if (c == '&') {
                if (!reference(out.text)) {
                    return false;
                }
            } else if (c != '<') {
                const std::size_t end = m_doc.find_first_of("<&", m_pos);
                const std::size_t stop = end == std::string_view::npos ? m_doc.size() : end;
                out.text.append(m_doc.substr(m_pos, stop - m_pos));
                m_pos = stop;
            } else if (starts_with("</")) {
                m_pos += 2;
                std::string closing;
                if (!name(closing)) {
                    return false;
                }
                skip_space();
                if (closing != out.name) {
                    return fail("</" + closing + "> closes <" + out.name + ">");
                }
                return expect('>', "expected '>' after </" + closing);
            } else if (starts_with("<![CDATA[")) {
                const std::size_t start = m_pos + 9;
                if (!skip_past("]]>", "a CDATA section")) {
                    return false;
                }
                out.text.append(m_doc.substr(start, m_pos - 3 - start));
            } else if (starts_with("<!")) {
                return fail("unexpected markup declaration");
            } else {
                out.children.emplace_back();
                if (!element(out.children.back(), depth + 1)) {
                    return false;
                }
            }
        }
    }

    std::string_view m_doc;
    std::size_t m_pos = 0;
    std::string m_error;
    std::size_t m_error_at = 0;
};

}  // namespace

const XmlElement* XmlElement::child(std::string_view child_name) const {
    for (const XmlElement& element : children) {
        if (element.name == child_name) {
            return &element;
        }
    }
    return nullptr;
}

std::string XmlElement::child_text(std::string_view child_name) const {
    const XmlElement* element = child(child_name);
    return element != nullptr ? element->text : std::string();
}

std::optional<XmlElement> parse_xml(std::string_view document, std::string& error) {
    return Parser(document).document(error);
}

std::string xml_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&apos;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

bool url_decode_key(std::string_view encoded, std::string& decoded) {
    decoded.clear();
    decoded.reserve(encoded.size());
    for (std::size_t i = 0; i < encoded.size(); ++i) {
        const char c = encoded[i];
        if (c == '+') {
            decoded += ' ';
        } else if (c != '%') {
            decoded += c;
        } else {
            const int high = i + 2 < encoded.size() ? hex_value(encoded[i + 1]) : -1;
            const int low = i + 2 < encoded.size() ? hex_value(encoded[i + 2]) : -1;
            if (high < 0 || low < 0) {
                return false;
            }
            decoded += static_cast<char>(high * 16 + low);
            i += 2;
        }
    }
    return true;
}

std::optional<S3ErrorBody> parse_s3_error(std::string_view body) {
    std::string ignored;
    const std::optional<XmlElement> root = parse_xml(body, ignored);
    if (!root || root->name != "Error" || root->child("Code") == nullptr) {
        return std::nullopt;
    }
    return S3ErrorBody{root->child_text("Code"), root->child_text("Message")};
}

namespace {

// The root of `body` if it is `expected`; otherwise false with `error` saying what it was
// instead (S3's own error when it is one).
bool expect_root(std::string_view body, std::string_view expected, std::optional<XmlElement>& root,
                 std::string& error) {
    std::string parse_error;
    root = parse_xml(body, parse_error);
    if (!root) {
        error = "unreadable " + std::string(expected) + " (" + parse_error + ")";
        return false;
    }
    if (root->name == expected) {
        return true;
    }
    if (root->name == "Error") {
        error = root->child_text("Code") + ": " + root->child_text("Message");
    } else {
        error = "expected <" + std::string(expected) + ">, got <" + root->name + ">";
    }
    return false;
}

}  // namespace

bool parse_list_objects_v2(std::string_view body, ListObjectsPage& page, std::string& error) {
    std::optional<XmlElement> root;
    if (!expect_root(body, "ListBucketResult", root, error)) {
        return false;
    }
    const bool url_encoded = root->child_text("EncodingType") == "url";
    page = ListObjectsPage{};
    for (const XmlElement& element : root->children) {
        if (element.name != "Contents") {
            continue;
        }
        const XmlElement* key = element.child("Key");
        if (key == nullptr) {
            error = "a <Contents> without a <Key> in the listing";
            return false;
        }
        std::string decoded = key->text;
        if (url_encoded && !url_decode_key(key->text, decoded)) {
            error = "a URL-encoded key that does not decode in the listing: " + key->text;
            return false;
        }
        page.keys.push_back(std::move(decoded));
    }
    const std::string truncated = root->child_text("IsTruncated");
    if (truncated != "true" && truncated != "false") {
        error = root->child("IsTruncated") == nullptr ? "no <IsTruncated> in the listing"
                                                      : "<IsTruncated> is neither true nor false: " + truncated;
        return false;
    }
    page.truncated = truncated == "true";
    page.next_continuation_token = root->child_text("NextContinuationToken");
    if (page.truncated && page.next_continuation_token.empty()) {
        error = "a truncated listing without a <NextContinuationToken>";
        return false;
    }
    return true;
}

bool parse_initiate_multipart_upload(std::string_view body, std::string& upload_id, std::string& error) {
    std::optional<XmlElement> root;
    if (!expect_root(body, "InitiateMultipartUploadResult", root, error)) {
        return false;
    }
    upload_id = root->child_text("UploadId");
    if (upload_id.empty()) {
        error = "no <UploadId> in the InitiateMultipartUploadResult";
        return false;
    }
    return true;
}

bool parse_complete_multipart_upload(std::string_view body, std::string& error) {
    if (const std::optional<S3ErrorBody> failed = parse_s3_error(body)) {
        error = failed->code + ": " + failed->message;
        return false;
    }
    return true;
}

std::string complete_multipart_upload_body(const std::vector<std::string>& etags) {
    std::string body = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
    for (std::size_t i = 0; i < etags.size(); ++i) {
        body += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + xml_escape(etags[i]) +
                "</ETag></Part>";
    }
    body += "</CompleteMultipartUpload>";
    return body;
}

}  // namespace pyhost::storage
