#include "storage/sha256.hpp"

#include <algorithm>
#include <cstring>

namespace pyhost::storage {
namespace {

// FIPS 180-4 section 4.2.2: the first 32 bits of the fractional parts of the cube roots of
// the first 64 primes.
constexpr std::array<std::uint32_t, 64> k_round_constants = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

// FIPS 180-4 section 5.3.3: the first 32 bits of the fractional parts of the square roots of
// the first 8 primes.
constexpr std::array<std::uint32_t, 8> k_initial_state = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

constexpr std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

// The functions of FIPS 180-4 section 4.1.2.
constexpr std::uint32_t ch(std::uint32_t x, std::uint32_t y, std::uint32_t z) { return (x & y) ^ (~x & z); }
constexpr std::uint32_t maj(std::uint32_t x, std::uint32_t y, std::uint32_t z) { return (x & y) ^ (x & z) ^ (y & z); }
constexpr std::uint32_t big_sigma0(std::uint32_t x) { return rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22); }
constexpr std::uint32_t big_sigma1(std::uint32_t x) { return rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25); }
constexpr std::uint32_t small_sigma0(std::uint32_t x) { return rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3); }
constexpr std::uint32_t small_sigma1(std::uint32_t x) { return rotr(x, 17) ^ rotr(x, 19) ^ (x >> 10); }

// Words are big-endian (FIPS 180-4 section 3.1), whatever the machine's order.
std::uint32_t load_be32(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

void store_be32(std::uint8_t* p, std::uint32_t value) {
    p[0] = static_cast<std::uint8_t>(value >> 24);
    p[1] = static_cast<std::uint8_t>(value >> 16);
    p[2] = static_cast<std::uint8_t>(value >> 8);
    p[3] = static_cast<std::uint8_t>(value);
}

}  // namespace

void Sha256::reset() noexcept {
    m_state = k_initial_state;
    m_buffered = 0;
    m_length = 0;
}

// One block through the compression function (FIPS 180-4 section 6.2.2).
void Sha256::compress(const std::uint8_t* block) noexcept {
    std::array<std::uint32_t, 64> w;
    for (std::size_t t = 0; t < 16; ++t) {
        w[t] = load_be32(block + 4 * t);
    }
    for (std::size_t t = 16; t < 64; ++t) {
        w[t] = small_sigma1(w[t - 2]) + w[t - 7] + small_sigma0(w[t - 15]) + w[t - 16];
    }
    std::uint32_t a = m_state[0], b = m_state[1], c = m_state[2], d = m_state[3];
    std::uint32_t e = m_state[4], f = m_state[5], g = m_state[6], h = m_state[7];
    for (std::size_t t = 0; t < 64; ++t) {
        const std::uint32_t t1 = h + big_sigma1(e) + ch(e, f, g) + k_round_constants[t] + w[t];
        const std::uint32_t t2 = big_sigma0(a) + maj(a, b, c);
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    m_state[0] += a;
    m_state[1] += b;
    m_state[2] += c;
    m_state[3] += d;
    m_state[4] += e;
    m_state[5] += f;
    m_state[6] += g;
    m_state[7] += h;
}

void Sha256::update(const void* data, std::size_t size) noexcept {
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    m_length += size;
    if (m_buffered > 0) {
        const std::size_t take = std::min(size, k_block_size - m_buffered);
        std::memcpy(m_buffer.data() + m_buffered, bytes, take);
        m_buffered += take;
        bytes += take;
        size -= take;
        if (m_buffered < k_block_size) {
            return;
        }
        compress(m_buffer.data());
        m_buffered = 0;
    }
    // Whole blocks straight from the caller's memory: no copy for large inputs.
    for (; size >= k_block_size; bytes += k_block_size, size -= k_block_size) {
        compress(bytes);
    }
    if (size > 0) {
        std::memcpy(m_buffer.data(), bytes, size);
        m_buffered = size;
    }
}

Sha256::Digest Sha256::final() noexcept {
    // Padding (FIPS 180-4 section 5.1.1): a 1 bit, zeros up to 56 mod 64 bytes, then the
    // message length in bits as a 64-bit big-endian number.
    const std::uint64_t bits = m_length * 8;
    m_buffer[m_buffered++] = 0x80;
    if (m_buffered > k_block_size - 8) {
        std::memset(m_buffer.data() + m_buffered, 0, k_block_size - m_buffered);
        compress(m_buffer.data());
        m_buffered = 0;
    }
    std::memset(m_buffer.data() + m_buffered, 0, k_block_size - 8 - m_buffered);
    store_be32(m_buffer.data() + 56, static_cast<std::uint32_t>(bits >> 32));
    store_be32(m_buffer.data() + 60, static_cast<std::uint32_t>(bits));
    compress(m_buffer.data());

    Digest digest;
    for (std::size_t i = 0; i < m_state.size(); ++i) {
        store_be32(digest.data() + 4 * i, m_state[i]);
    }
    reset();
    return digest;
}

Sha256::Digest sha256(std::string_view data) noexcept {
    Sha256 hash;
    hash.update(data);
    return hash.final();
}

Sha256::Digest hmac_sha256(std::string_view key, std::string_view message) noexcept {
    // RFC 2104 section 2: K padded with zeros to the block size (hashed first if longer),
    // H((K ^ opad) || H((K ^ ipad) || message)).
    std::array<std::uint8_t, Sha256::k_block_size> block{};
    if (key.size() > Sha256::k_block_size) {
        const Sha256::Digest hashed = sha256(key);
        std::memcpy(block.data(), hashed.data(), hashed.size());
    } else {
        std::memcpy(block.data(), key.data(), key.size());
    }
    std::array<std::uint8_t, Sha256::k_block_size> pad;
    for (std::size_t i = 0; i < pad.size(); ++i) {
        pad[i] = block[i] ^ 0x36;
    }
    Sha256 inner;
    inner.update(pad.data(), pad.size());
    inner.update(message);
    const Sha256::Digest inner_digest = inner.final();

    for (std::size_t i = 0; i < pad.size(); ++i) {
        pad[i] = block[i] ^ 0x5c;
    }
    Sha256 outer;
    outer.update(pad.data(), pad.size());
    outer.update(inner_digest.data(), inner_digest.size());
    return outer.final();
}

std::string to_hex(std::string_view bytes) {
    static constexpr char k_digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char c : bytes) {
        const auto byte = static_cast<unsigned char>(c);
        out += k_digits[byte >> 4];
        out += k_digits[byte & 0x0f];
    }
    return out;
}

}  // namespace pyhost::storage
