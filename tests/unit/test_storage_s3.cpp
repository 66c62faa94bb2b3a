#include <algorithm>
#include <string>

#include <catch2/catch.hpp>

#include "storage/sha256.hpp"

using namespace pyhost::storage;

namespace {

const std::string k_empty_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

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
