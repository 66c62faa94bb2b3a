#include <algorithm>
#include <chrono>
#include <string>

#include <catch2/catch.hpp>

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
