// SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), for AWS Signature Version 4.
//
// Written here rather than taken from OpenSSL: linking libcrypto would map it at every start
// of pyhost, S3 or not, and start-up is held to python3.11's own (bench/core.py). Signing
// hashes a few hundred bytes per request and each payload once. This portable version runs
// at about 180 MB/s on these machines (OpenSSL with the SHA extensions: 1.2 GB/s), so an
// 8 MiB part costs 45 ms of hashing before it is sent.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pyhost::storage {

class Sha256 {
public:
    static constexpr std::size_t k_digest_size = 32;
    static constexpr std::size_t k_block_size = 64;
    using Digest = std::array<std::uint8_t, k_digest_size>;

    Sha256() { reset(); }

    // Adds bytes to the message. Any split of a message into updates gives the same digest.
    void update(const void* data, std::size_t size) noexcept;
    void update(std::string_view data) noexcept { update(data.data(), data.size()); }

    // The digest of everything added since construction or the last final(); the object then
    // starts a new, empty message.
    Digest final() noexcept;

private:
    void reset() noexcept;
    void compress(const std::uint8_t* block) noexcept;

    std::array<std::uint32_t, 8> m_state{};
    std::array<std::uint8_t, k_block_size> m_buffer{};
    std::size_t m_buffered = 0;
    std::uint64_t m_length = 0;  // message bytes so far (FIPS 180-4 allows up to 2^64 bits)
};

// The digest of `data` in one call.
Sha256::Digest sha256(std::string_view data) noexcept;

// HMAC-SHA256 of `message` under `key` (RFC 2104; keys longer than a block are hashed first).
Sha256::Digest hmac_sha256(std::string_view key, std::string_view message) noexcept;

// The digest's bytes, as a key for the next HMAC in a chain (no copy: valid while `digest` is).
inline std::string_view as_bytes(const Sha256::Digest& digest) noexcept {
    return {reinterpret_cast<const char*>(digest.data()), digest.size()};
}

// Lowercase hexadecimal of arbitrary bytes (two characters a byte).
std::string to_hex(std::string_view bytes);
inline std::string to_hex(const Sha256::Digest& digest) { return to_hex(as_bytes(digest)); }

// to_hex(sha256(data)): the form x-amz-content-sha256 and the canonical request use.
inline std::string sha256_hex(std::string_view data) { return to_hex(sha256(data)); }

}  // namespace pyhost::storage
