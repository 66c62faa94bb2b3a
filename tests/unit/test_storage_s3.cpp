#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/s3_client.hpp"
#include "storage/s3_xml.hpp"
#include "storage/sha256.hpp"
#include "storage/sigv4.hpp"

using namespace pyhost::storage;

namespace {

const std::string k_empty_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// The value of `name` among `headers`, or "" if it is not there.
std::string header(const NameValueList& headers, const std::string& name) {
    for (const auto& [key, value] : headers) {
        if (key == name) {
            return value;
        }
    }
    return "";
}

// AWS's examples: "Signature Calculations for the Authorization Header: Transferring Payload
// in a Single Chunk", Amazon S3 API Reference.
const AwsCredentials k_example_credentials{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
const auto k_example_time = std::chrono::system_clock::from_time_t(1369353600);  // 2013-05-24T00:00:00Z

}  // namespace

// ---- SHA-256 and HMAC ------------------------------------------------------------------

TEST_CASE("storage: SHA-256 of the FIPS 180-4 example messages") {
    CHECK(sha256_hex("") == k_empty_sha256);
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    // The 448-bit message: padding then needs a second block.
    CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsm"
                     "nopqrstnopqrstu") == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST_CASE("storage: SHA-256 of one million 'a' fed in odd-sized chunks, then reused") {
    const std::string chunk(997, 'a');
    Sha256 hash;
    std::size_t fed = 0;
    for (std::size_t size : {1u, 63u, 64u, 65u, 127u, 3u}) {  // across and within block boundaries
        hash.update(chunk.data(), size);
        fed += size;
    }
    while (fed < 1'000'000) {
        const std::size_t size = std::min<std::size_t>(chunk.size(), 1'000'000 - fed);
        hash.update(chunk.data(), size);
        fed += size;
    }
    CHECK(to_hex(hash.final()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    // final() starts a new message.
    hash.update("abc");
    CHECK(to_hex(hash.final()) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(to_hex(hash.final()) == k_empty_sha256);
}

TEST_CASE("storage: SHA-256 of every length around the padding boundaries matches one-shot hashing") {
    // 55 bytes is the longest message whose padding fits its block; 56 needs another.
    const std::string text(200, 'x');
    for (std::size_t length : {55u, 56u, 57u, 63u, 64u, 119u, 120u, 128u}) {
        Sha256 split;
        split.update(text.data(), length / 3);
        split.update(text.data() + length / 3, length - length / 3);
        CHECK(split.final() == sha256(std::string_view(text.data(), length)));
    }
}

TEST_CASE("storage: HMAC-SHA256 against RFC 4231") {
    // Test case 1
    CHECK(to_hex(hmac_sha256(std::string(20, '\x0b'), "Hi There")) ==
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    // Test case 2: a key shorter than the output
    CHECK(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    // Test case 3
    CHECK(to_hex(hmac_sha256(std::string(20, '\xaa'), std::string(50, '\xdd'))) ==
          "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    // Test case 4
    std::string key4;
    for (char c = 1; c <= 25; ++c) {
        key4 += c;
    }
    CHECK(to_hex(hmac_sha256(key4, std::string(50, '\xcd'))) ==
          "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    // Test case 5: the RFC gives the output truncated to 128 bits
    CHECK(to_hex(hmac_sha256(std::string(20, '\x0c'), "Test With Truncation")).substr(0, 32) ==
          "a3b6167473100ee06e0c796c2955552b");
    // Test cases 6 and 7: a 131-byte key, longer than a block, is hashed first
    CHECK(to_hex(hmac_sha256(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First")) ==
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    CHECK(to_hex(hmac_sha256(std::string(131, '\xaa'),
                             "This is a test using a larger than block-size key and a larger than block-size data. "
                             "The key needs to be hashed before being used by the HMAC algorithm.")) ==
          "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

// ---- Signature Version 4 ---------------------------------------------------------------

TEST_CASE("storage: SigV4: AWS's GET Object example (Range header)") {
    RequestToSign request{"GET", "examplebucket.s3.amazonaws.com", "/test.txt",
                          {},    {{"Range", "bytes=0-9"}},         k_empty_sha256};
    const SignedRequest signed_request = sign_request(request, k_example_credentials, "us-east-1", k_example_time);
    CHECK(signed_request.canonical_request ==
          "GET\n/test.txt\n\n"
          "host:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
          "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
          "x-amz-date:20130524T000000Z\n\n"
          "host;range;x-amz-content-sha256;x-amz-date\n" +
              k_empty_sha256);
    CHECK(signed_request.string_to_sign ==
          "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
          "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    CHECK(header(signed_request.headers, "Authorization") ==
          "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
          "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
          "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    CHECK(signed_request.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    CHECK(header(signed_request.headers, "x-amz-date") == "20130524T000000Z");
    CHECK(header(signed_request.headers, "x-amz-content-sha256") == k_empty_sha256);
    CHECK(header(signed_request.headers, "Range") == "bytes=0-9");
    CHECK(header(signed_request.headers, "x-amz-security-token").empty());
}

TEST_CASE("storage: SigV4: AWS's PUT Object example ('$' in the key, a Date header, a payload)") {
    const std::string payload_hash = sha256_hex("Welcome to Amazon S3.");
    CHECK(payload_hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    RequestToSign request{"PUT",
                          "examplebucket.s3.amazonaws.com",
                          "/test$file.text",
                          {},
                          {{"Date", "Fri, 24 May 2013 00:00:00 GMT"}, {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
                          payload_hash};
    const SignedRequest signed_request = sign_request(request, k_example_credentials, "us-east-1", k_example_time);
    CHECK(signed_request.encoded_path == "/test%24file.text");
    CHECK(signed_request.canonical_request ==
          "PUT\n/test%24file.text\n\n"
          "date:Fri, 24 May 2013 00:00:00 GMT\nhost:examplebucket.s3.amazonaws.com\n"
          "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
          "x-amz-date:20130524T000000Z\nx-amz-storage-class:REDUCED_REDUNDANCY\n\n"
          "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
          "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    CHECK(signed_request.string_to_sign ==
          "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
          "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
    CHECK(header(signed_request.headers, "Authorization") ==
          "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
          "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
          "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST_CASE("storage: SigV4: AWS's GET Bucket (List Objects) example (sorted query)") {
    RequestToSign request{
        "GET", "examplebucket.s3.amazonaws.com", "/", {{"prefix", "J"}, {"max-keys", "2"}}, {}, k_empty_sha256};
    const SignedRequest signed_request = sign_request(request, k_example_credentials, "us-east-1", k_example_time);
    CHECK(signed_request.encoded_query == "max-keys=2&prefix=J");
    CHECK(signed_request.canonical_request ==
          "GET\n/\nmax-keys=2&prefix=J\n"
          "host:examplebucket.s3.amazonaws.com\n"
          "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
          "x-amz-date:20130524T000000Z\n\n"
          "host;x-amz-content-sha256;x-amz-date\n" +
              k_empty_sha256);
    CHECK(signed_request.string_to_sign ==
          "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
          "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7");
    CHECK(header(signed_request.headers, "Authorization") ==
          "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
          "SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
          "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    CHECK(to_hex(signing_key(k_example_credentials.secret_access_key, "20130524", "us-east-1", "s3")) ==
          "dbb893acc010964918f1fd433add87c70e8b0db6be30c1fbeafefa5ec6ba8378");
}

TEST_CASE("storage: SigV4: a session token is sent and signed as x-amz-security-token") {
    AwsCredentials temporary = k_example_credentials;
    temporary.session_token = "FQoGZXIvYXdzEBYa/token+with=specials";
    RequestToSign request{"GET", "examplebucket.s3.amazonaws.com", "/test.txt", {}, {}, k_empty_sha256};
    const SignedRequest with_token = sign_request(request, temporary, "us-east-1", k_example_time);
    const SignedRequest without = sign_request(request, k_example_credentials, "us-east-1", k_example_time);
    CHECK(header(with_token.headers, "x-amz-security-token") == temporary.session_token);
    CHECK(with_token.canonical_request.find("\nx-amz-security-token:" + temporary.session_token + "\n") !=
          std::string::npos);
    CHECK(header(with_token.headers, "Authorization")
              .find("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,") != std::string::npos);
    CHECK(header(with_token.headers, "Authorization") != header(without.headers, "Authorization"));
}

TEST_CASE("storage: SigV4: URI encoding, query canonicalization, header values, dates") {
    CHECK(uri_encode("A-Za-z0-9-._~", false) == "A-Za-z0-9-._~");
    CHECK(uri_encode("a b+c=&?#%/", false) == "a%20b%2Bc%3D%26%3F%23%25%2F");
    CHECK(uri_encode("/dir/a b/", true) == "/dir/a%20b/");
    CHECK(uri_encode("ключ", true) == "%D0%BA%D0%BB%D1%8E%D1%87");  // UTF-8 bytes, uppercase hex
    CHECK(uri_encode("!*'()", true) == "%21%2A%27%28%29");
    // Sorted by encoded name; a flag has an empty value; values are encoded, '/' included.
    CHECK(canonical_query_string({{"uploadId", "a/b+c"}, {"partNumber", "2"}}) == "partNumber=2&uploadId=a%2Fb%2Bc");
    CHECK(canonical_query_string({{"uploads", ""}}) == "uploads=");
    CHECK(canonical_query_string({{"prefix", ""}, {"list-type", "2"}, {"continuation-token", "1/x=="}}) ==
          "continuation-token=1%2Fx%3D%3D&list-type=2&prefix=");
    CHECK(canonical_query_string({}).empty());
    CHECK(amz_date(std::chrono::system_clock::from_time_t(1700000010)) == "20231114T221330Z");
    // Values are trimmed, inner runs of blanks collapsed, in the canonical form and as sent.
    RequestToSign request{"GET", "h", "", {}, {{"X-Custom", "  a   b \t c  "}}, k_empty_sha256};
    const SignedRequest signed_request = sign_request(request, k_example_credentials, "eu-west-1", k_example_time);
    CHECK(signed_request.encoded_path == "/");
    CHECK(signed_request.canonical_request.find("\nx-custom:a b c\n") != std::string::npos);
    CHECK(header(signed_request.headers, "X-Custom") == "a b c");
    CHECK(header(signed_request.headers, "Authorization").find("/20130524/eu-west-1/s3/aws4_request,") !=
          std::string::npos);
}

// ---- XML -------------------------------------------------------------------------------

TEST_CASE("storage: XML: elements, text, entities, CDATA, comments, attributes") {
    std::string error;
    const auto root = parse_xml(
        "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- a comment -->\n"
        "<Root xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\" a='1 > 0'>"
        "<A>x &amp; y &lt;z&gt; &quot;q&quot; &apos;s&apos;</A>"
        "<B>&#65;&#x42;&#xe9;&#x1F600;</B><C/><C><![CDATA[<raw & stuff>]]></C>"
        "<!-- between --><?pi data?><D>  spaced  </D></Root>\n<!-- trailing -->\n",
        error);
    REQUIRE(root);
    CHECK(root->name == "Root");
    CHECK(root->child_text("A") == "x & y <z> \"q\" 's'");
    CHECK(root->child_text("B") == "AB\xC3\xA9\xF0\x9F\x98\x80");
    CHECK(root->child("C")->children.empty());
    CHECK(root->children[3].text == "<raw & stuff>");
    CHECK(root->child_text("D") == "  spaced  ");
    CHECK(root->child("Missing") == nullptr);
    CHECK(root->child_text("Missing").empty());
}

TEST_CASE("storage: XML: truncated and garbage input is a clear error, never a crash") {
    const std::string document =
        "<ListBucketResult><Contents><Key>a&amp;b</Key></Contents><IsTruncated>false</IsTruncated></ListBucketResult>";
    std::string error;
    // Every prefix of a valid document is refused.
    for (std::size_t length = 0; length < document.size(); ++length) {
        CAPTURE(length);
        CHECK_FALSE(parse_xml(document.substr(0, length), error));
        CHECK(error.find("malformed XML at byte") == 0);
    }
    REQUIRE(parse_xml(document, error));
    const std::pair<const char*, const char*> cases[] = {
        {"", "empty document"},
        {"   ", "no root element"},
        {"garbage", "expected an element"},
        {"<html><body>502 Bad Gateway</body>", "unexpected end of document inside <html>"},
        {"<a><b></a></b>", "</a> closes <b>"},
        {"<a>x &unknown; y</a>", "unknown entity &unknown;"},
        {"<a>AT&T</a>", "'&' not starting a reference"},
        {"<a>&#0;</a>", "bad character reference &#0;"},
        {"<a>&#xD800;</a>", "bad character reference &#xD800;"},
        {"<a>&#x110000;</a>", "bad character reference"},
        {"<a>&#12a;</a>", "bad character reference"},
        {"<a></a><b></b>", "content after the root element"},
        {"<a></a>trailing", "content after the root element"},
        {"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", "document type declarations are not accepted"},
        {"<a b=c></a>", "expected a quoted value for attribute b"},
        {"<a b='<'></a>", "'<' in an attribute value"},
        {"<a b='1'c='2'></a>", "expected whitespace before an attribute"},
        {"<1a></1a>", "expected a name"},
        {"<a><!DOCTYPE></a>", "unexpected markup declaration"},
        {"<a><![CDATA[never closed</a>", "unexpected end of document in a CDATA section"},
    };
    for (const auto& [input, expected] : cases) {
        CAPTURE(input);
        CHECK_FALSE(parse_xml(input, error));
        CHECK(error.find(expected) != std::string::npos);
    }
    std::string deep;
    for (int i = 0; i < 100; ++i) {
        deep += "<a>";
    }
    CHECK_FALSE(parse_xml(deep, error));
    CHECK(error.find("nested deeper than 64 levels") != std::string::npos);
    std::string binary(256, '\0');
    for (int i = 0; i < 256; ++i) {
        binary[static_cast<std::size_t>(i)] = static_cast<char>(i);
    }
    CHECK_FALSE(parse_xml(binary, error));
}

TEST_CASE("storage: S3 error documents: Code and Message, entities decoded") {
    const auto error = parse_s3_error(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code>"
        "<Message>The request signature we calculated does not match the signature you provided. Check your key &amp; "
        "signing method.</Message>"
        "<AWSAccessKeyId>AKID</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256...</StringToSign><RequestId>1</"
        "RequestId></Error>");
    REQUIRE(error);
    CHECK(error->code == "SignatureDoesNotMatch");
    CHECK(error->message.find("Check your key & signing method.") != std::string::npos);
    const auto bucket = parse_s3_error(
        "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not "
        "exist</Message><BucketName>nope</BucketName></Error>");
    REQUIRE(bucket);
    CHECK(bucket->code == "NoSuchBucket");
    CHECK_FALSE(parse_s3_error(""));
    CHECK_FALSE(parse_s3_error("<html><title>500 Internal Server Error</title></html>"));
    CHECK_FALSE(parse_s3_error("<Error><Code>NoSuch"));
    CHECK_FALSE(parse_s3_error("<Error><Message>no code</Message></Error>"));
}

TEST_CASE("storage: ListObjectsV2 pages: keys decoded, truncation and continuation tokens") {
    ListObjectsPage page;
    std::string error;
    REQUIRE(parse_list_objects_v2(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name><Prefix>logs/</Prefix>"
        "<KeyCount>3</KeyCount><MaxKeys>3</MaxKeys><IsTruncated>true</IsTruncated>"
        "<Contents><Key>logs/a&amp;b &lt;1&gt;.txt</Key><Size>1</Size></Contents>"
        "<Contents><Key>logs/&#x43A;&#x43B;&#x44E;&#x447;</Key></Contents>"
        "<Contents><ETag>&quot;x&quot;</ETag><Key>logs/plain</Key></Contents>"
        "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken></"
        "ListBucketResult>",
        page, error));
    CHECK(page.keys ==
          std::vector<std::string>{"logs/a&b <1>.txt", "logs/\xD0\xBA\xD0\xBB\xD1\x8E\xD1\x87", "logs/plain"});
    CHECK(page.truncated);
    CHECK(page.next_continuation_token == "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");

    // With EncodingType url, keys are URL-decoded ('+' is a space, %2B a plus).
    REQUIRE(parse_list_objects_v2(
        "<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>"
        "<Contents><Key>dir/a+b%2Bc%26d%25e%D0%BA</Key></Contents><Contents><Key></Key></Contents></ListBucketResult>",
        page, error));
    CHECK(page.keys == std::vector<std::string>{"dir/a b+c&d%e\xD0\xBA", ""});
    CHECK_FALSE(page.truncated);

    REQUIRE(
        parse_list_objects_v2("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>", page, error));
    CHECK(page.keys.empty());

    const std::pair<const char*, const char*> bad[] = {
        {"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
         "a truncated listing without a <NextContinuationToken>"},
        {"<ListBucketResult></ListBucketResult>", "no <IsTruncated> in the listing"},
        {"<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
         "<IsTruncated> is neither true nor false: maybe"},
        {"<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Size>1</Size></Contents></ListBucketResult>",
         "a <Contents> without a <Key>"},
        {"<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated><Contents><Key>a%zz</Key></"
         "Contents></ListBucketResult>",
         "a URL-encoded key that does not decode in the listing: a%zz"},
        {"<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>",
         "NoSuchBucket: The specified bucket does not exist"},
        {"<ListAllMyBucketsResult/>", "expected <ListBucketResult>, got <ListAllMyBucketsResult>"},
        {"<ListBucketResult><IsTruncated>false</IsTr", "unreadable ListBucketResult (malformed XML at byte"},
    };
    for (const auto& [input, expected] : bad) {
        CAPTURE(input);
        CHECK_FALSE(parse_list_objects_v2(input, page, error));
        CHECK(error.find(expected) != std::string::npos);
    }
}

TEST_CASE("storage: Multipart documents: UploadId, completion, and the request body") {
    std::string upload_id, error;
    REQUIRE(parse_initiate_multipart_upload(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><InitiateMultipartUploadResult "
        "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE&amp;x</UploadId></InitiateMultipartUploadResult>",
        upload_id, error));
    CHECK(upload_id == "VXBsb2FkIElE&x");
    CHECK_FALSE(parse_initiate_multipart_upload(
        "<InitiateMultipartUploadResult><UploadId></UploadId></InitiateMultipartUploadResult>", upload_id, error));
    CHECK(error == "no <UploadId> in the InitiateMultipartUploadResult");
    CHECK_FALSE(parse_initiate_multipart_upload("", upload_id, error));
    CHECK(error.find("unreadable InitiateMultipartUploadResult") == 0);

    CHECK(parse_complete_multipart_upload(
        "<CompleteMultipartUploadResult><ETag>&quot;e-3&quot;</ETag></CompleteMultipartUploadResult>", error));
    CHECK(parse_complete_multipart_upload(
        "<CompleteMultipartUploadResponse><ETag>e-3</ETag></CompleteMultipartUploadResponse>", error));
    // A 200 that carries an error, as S3 documents for CompleteMultipartUpload.
    CHECK_FALSE(parse_complete_multipart_upload(
        "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>", error));
    CHECK(error == "InternalError: We encountered an internal error.");

    CHECK(complete_multipart_upload_body({"\"a1\"", "\"b2\""}) ==
          "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
          "<Part><PartNumber>1</PartNumber><ETag>&quot;a1&quot;</ETag></Part>"
          "<Part><PartNumber>2</PartNumber><ETag>&quot;b2&quot;</ETag></Part></CompleteMultipartUpload>");
    CHECK(xml_escape("<a & 'b' \"c\">") == "&lt;a &amp; &apos;b&apos; &quot;c&quot;&gt;");
    std::string decoded;
    CHECK(url_decode_key("a%2", decoded) == false);
    CHECK(url_decode_key("%41%4a%4A", decoded));
    CHECK(decoded == "AJJ");
}

namespace {

// Sets environment variables for one test and puts back what was there.
class ScopedEnvironment {
public:
    explicit ScopedEnvironment(const std::map<std::string, std::string>& values) {
        for (const char* name : k_names) {
            const char* old = std::getenv(name);
            m_saved[name] = old ? std::optional<std::string>(old) : std::nullopt;
            unsetenv(name);
        }
        for (const auto& [name, value] : values) {
            setenv(name.c_str(), value.c_str(), 1);
        }
    }
    ~ScopedEnvironment() {
        for (const auto& [name, value] : m_saved) {
            if (value) {
                setenv(name.c_str(), value->c_str(), 1);
            } else {
                unsetenv(name.c_str());
            }
        }
    }
    ScopedEnvironment(const ScopedEnvironment&) = delete;
    ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;

private:
    static constexpr const char* k_names[] = {
        "AWS_ACCESS_KEY_ID",  "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
        "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3",   "AWS_ENDPOINT_URL",  "PYHOST_S3_MULTIPART_THRESHOLD",
        "PYHOST_S3_PART_SIZE"};
    std::map<std::string, std::optional<std::string>> m_saved;
};

}  // namespace

// ---- URLs and configuration ------------------------------------------------------------

TEST_CASE("storage: s3:// URLs: bucket and key, the key taken as written") {
    std::string error;
    auto location = parse_s3_url("s3://my-bucket/dir/sub/file name.txt", error);
    REQUIRE(location);
    CHECK(location->bucket == "my-bucket");
    CHECK(location->key == "dir/sub/file name.txt");
    location = parse_s3_url("s3://my.bucket.example", error);
    REQUIRE(location);
    CHECK(location->bucket == "my.bucket.example");
    CHECK(location->key.empty());
    location = parse_s3_url("s3://bucket/", error);
    REQUIRE(location);
    CHECK(location->key.empty());
    location = parse_s3_url("s3://bucket//a%20b?x#y", error);
    REQUIRE(location);
    CHECK(location->key == "/a%20b?x#y");
}

TEST_CASE("storage: s3:// URLs: anything else is an error naming the URL") {
    std::string error;
    CHECK_FALSE(parse_s3_url("https://bucket/key", error));
    CHECK(error.find("'https://bucket/key' is not an s3:// URL") != std::string::npos);
    CHECK_FALSE(parse_s3_url("s3://", error));
    CHECK(error.find("'s3://' names no bucket") != std::string::npos);
    CHECK_FALSE(parse_s3_url("s3:///key", error));
    CHECK(error.find("names no bucket") != std::string::npos);
    for (const char* bad : {"s3://Upper/k", "s3://ab/k", "s3://-bucket/k", "s3://bucket-/k", "s3://bu_cket/k",
                            "s3://user@bucket/k", "s3://bucket:80/k"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_s3_url(bad, error));
        CHECK(error.find(bad) != std::string::npos);
        CHECK(error.find("is not a valid bucket name") != std::string::npos);
    }
    CHECK(parse_s3_url("s3://bucket/" + std::string(1024, 'k'), error));
    CHECK_FALSE(parse_s3_url("s3://bucket/" + std::string(1025, 'k'), error));
    CHECK(error.find("longer than S3's 1024 bytes") != std::string::npos);
}

TEST_CASE("storage: S3Config::from_environment reads AWS's variables and pyhost's") {
    {
        ScopedEnvironment env({{"AWS_ACCESS_KEY_ID", "AKID"}, {"AWS_SECRET_ACCESS_KEY", "s3cr3t"}});
        const S3Config config = S3Config::from_environment();
        CHECK(config.access_key_id == "AKID");
        CHECK(config.secret_access_key == "s3cr3t");
        CHECK(config.session_token.empty());
        CHECK(config.region == "us-east-1");
        CHECK(config.endpoint.empty());
        CHECK(config.multipart_threshold == 16u << 20);
        CHECK(config.part_size == 8u << 20);
        CHECK(config.max_attempts == 5);
    }
    {
        ScopedEnvironment env({{"AWS_ACCESS_KEY_ID", "AKID"},
                               {"AWS_SECRET_ACCESS_KEY", "s3cr3t"},
                               {"AWS_SESSION_TOKEN", "tok"},
                               {"AWS_DEFAULT_REGION", "eu-west-1"},
                               {"AWS_ENDPOINT_URL", "http://127.0.0.1:9000"},
                               {"PYHOST_S3_MULTIPART_THRESHOLD", "0"},
                               {"PYHOST_S3_PART_SIZE", "5242880"}});
        const S3Config config = S3Config::from_environment();
        CHECK(config.session_token == "tok");
        CHECK(config.region == "eu-west-1");
        CHECK(config.endpoint == "http://127.0.0.1:9000");
        CHECK(config.multipart_threshold == 0);
        CHECK(config.part_size == 5u << 20);
    }
    {
        // The specific variables win over the general ones.
        ScopedEnvironment env({{"AWS_ACCESS_KEY_ID", "AKID"},
                               {"AWS_SECRET_ACCESS_KEY", "s3cr3t"},
                               {"AWS_REGION", "ap-south-1"},
                               {"AWS_DEFAULT_REGION", "eu-west-1"},
                               {"AWS_ENDPOINT_URL_S3", "https://s3.example:8443/prefix/"},
                               {"AWS_ENDPOINT_URL", "http://other"}});
        const S3Config config = S3Config::from_environment();
        CHECK(config.region == "ap-south-1");
        CHECK(config.endpoint == "https://s3.example:8443/prefix/");
    }
}

TEST_CASE("storage: S3Config::from_environment: errors name the variable, never the secret") {
    const auto message = [](const std::map<std::string, std::string>& values) {
        ScopedEnvironment env(values);
        try {
            S3Config::from_environment();
        } catch (const StorageError& error) {
            return std::string(error.what());
        }
        return std::string("no error");
    };
    CHECK(message({}).find("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") != std::string::npos);
    CHECK(message({{"AWS_ACCESS_KEY_ID", "AKID"}}) == "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    CHECK(message({{"AWS_SECRET_ACCESS_KEY", "hunter22"}}) ==
          "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
    const std::map<std::string, std::string> credentials{{"AWS_ACCESS_KEY_ID", "AKID"},
                                                         {"AWS_SECRET_ACCESS_KEY", "hunter22"}};
    const auto with = [&](const std::string& name, const std::string& value) {
        auto values = credentials;
        values[name] = value;
        const std::string text = message(values);
        CHECK(text.find("hunter22") == std::string::npos);
        return text;
    };
    CHECK(with("PYHOST_S3_PART_SIZE", "8M") == "PYHOST_S3_PART_SIZE must be a number of bytes, not '8M'");
    CHECK(with("PYHOST_S3_PART_SIZE", "-1") == "PYHOST_S3_PART_SIZE must be a number of bytes, not '-1'");
    CHECK(with("PYHOST_S3_PART_SIZE", "1048576").find("PYHOST_S3_PART_SIZE must be between 5242880 and") == 0);
    CHECK(with("PYHOST_S3_MULTIPART_THRESHOLD", "99999999999999999999").find("PYHOST_S3_MULTIPART_THRESHOLD must be") ==
          0);
    CHECK(with("PYHOST_S3_MULTIPART_THRESHOLD", "6000000000")
              .find("PYHOST_S3_MULTIPART_THRESHOLD must be between 0 and 5368709120") == 0);
    CHECK(with("AWS_ENDPOINT_URL", "ftp://h").find("AWS_ENDPOINT_URL 'ftp://h': the scheme must be http or https") ==
          0);
    CHECK(with("AWS_ENDPOINT_URL_S3", "http://u:hunter22@h") ==
          "AWS_ENDPOINT_URL_S3 'http://***@h': credentials, a query or a fragment have no place in it");
    CHECK(with("AWS_ENDPOINT_URL", "not a url").find("AWS_ENDPOINT_URL 'not a url': not a URL") == 0);
}

TEST_CASE("storage: S3 addressing: virtual-hosted on AWS, path-style for dots and endpoints") {
    struct Case {
        const char* endpoint;
        const char* bucket;
        const char* key;
        S3Address expected;
    };
    const Case cases[] = {
        {"",
         "my-bucket",
         "dir/a b.txt",
         {"https://my-bucket.s3.eu-west-1.amazonaws.com", "my-bucket.s3.eu-west-1.amazonaws.com", "/dir/a b.txt"}},
        {"",
         "my-bucket",
         "",
         {"https://my-bucket.s3.eu-west-1.amazonaws.com", "my-bucket.s3.eu-west-1.amazonaws.com", "/"}},
        // A wildcard certificate matches one label only: dotted buckets go path-style.
        {"",
         "logs.example.com",
         "k",
         {"https://s3.eu-west-1.amazonaws.com", "s3.eu-west-1.amazonaws.com", "/logs.example.com/k"}},
        {"http://127.0.0.1:9000", "my-bucket", "k", {"http://127.0.0.1:9000", "127.0.0.1:9000", "/my-bucket/k"}},
        // A default port is not in the Host header; a path in the endpoint is a prefix.
        {"https://minio.example:443/storage/",
         "my-bucket",
         "",
         {"https://minio.example:443", "minio.example", "/storage/my-bucket"}},
        {"http://[::1]:9000", "b-1", "k", {"http://[::1]:9000", "[::1]:9000", "/b-1/k"}},
    };
    for (const Case& c : cases) {
        CAPTURE(c.endpoint, c.bucket, c.key);
        S3Config config;
        config.region = "eu-west-1";
        config.endpoint = c.endpoint;
        std::string error;
        const auto address = s3_address(config, c.bucket, c.key, error);
        REQUIRE(address);
        CHECK(address->origin == c.expected.origin);
        CHECK(address->host == c.expected.host);
        CHECK(address->path == c.expected.path);
    }
    S3Config config;
    config.endpoint = "http://user:secret@h";
    std::string error;
    CHECK_FALSE(s3_address(config, "b-1", "k", error));
    CHECK(error.find("credentials, a query or a fragment have no place in it") != std::string::npos);
    CHECK(error.find("secret") == std::string::npos);
}

TEST_CASE("storage: retries: S3's transient statuses, and capped jittered backoff") {
    using pyhost::reporter::backoff_delay;
    using pyhost::reporter::is_transient_status;
    for (long status : {408L, 429L, 500L, 503L}) {  // 503: S3's SlowDown
        CHECK(is_transient_status(status));
    }
    for (long status : {301L, 400L, 403L, 404L, 409L}) {
        CHECK_FALSE(is_transient_status(status));
    }
    std::mt19937_64 random(42);
    const std::chrono::milliseconds base = S3Client::k_backoff_base, cap = S3Client::k_backoff_cap;
    for (int attempt = 0; attempt < 40; ++attempt) {
        const auto ceiling = std::min<std::chrono::milliseconds>(cap, base * (1LL << std::min(attempt, 20)));
        for (int draw = 0; draw < 20; ++draw) {
            const auto delay = backoff_delay(attempt, base, cap, random);
            CHECK(delay >= ceiling / 2);
            CHECK(delay <= ceiling);
        }
    }
    CHECK(backoff_delay(1000, base, cap, random) <= cap);  // no overflow for a long outage
}
