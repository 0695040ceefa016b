#include "radsync/mapping/credentials.hpp"

#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <boost/algorithm/hex.hpp>

#include "radsync/core/hmac.hpp"

namespace radsync::mapping {

namespace {

// rlm_sql's default `safe_characters`; anything else is escaped before the SQL lookup.
constexpr std::string_view kSafeCharacters =
    "@abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_: /";

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is not valid UTF-8.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
    const auto lead = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    if (lead < 0x80) {
        return 1;
    }
    if ((lead & 0xE0) == 0xC0 && lead >= 0xC2) {
        len = 2;
    } else if ((lead & 0xF0) == 0xE0) {
        len = 3;
    } else if ((lead & 0xF8) == 0xF0 && lead <= 0xF4) {
        len = 4;
    } else {
        return 0;
    }
    if (i + len > s.size()) {
        return 0;
    }
    for (std::size_t k = 1; k < len; ++k) {
        if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
            return 0;
        }
    }
    return len;
}

// Decodes UTF-8 into UTF-16LE bytes, as Windows does before hashing an NT password.
bool utf8_to_utf16le(std::string_view s, std::vector<unsigned char>& out) {
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t len = utf8_sequence_length(s, i);
        if (len == 0) {
            return false;
        }
        auto byte = [&](std::size_t k) {
            return static_cast<std::uint32_t>(static_cast<unsigned char>(s[i + k]));
        };
        std::uint32_t cp = 0;
        switch (len) {
            case 1:
                cp = byte(0);
                break;
            case 2:
                cp = ((byte(0) & 0x1F) << 6) | (byte(1) & 0x3F);
                break;
            case 3:
                cp = ((byte(0) & 0x0F) << 12) | ((byte(1) & 0x3F) << 6) | (byte(2) & 0x3F);
                break;
            default:
                cp = ((byte(0) & 0x07) << 18) | ((byte(1) & 0x3F) << 12) | ((byte(2) & 0x3F) << 6) |
                     (byte(3) & 0x3F);
                break;
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;  // overlong encodings and surrogates are not valid UTF-8
        }
        auto put16 = [&](std::uint32_t unit) {
            out.push_back(static_cast<unsigned char>(unit & 0xFF));
            out.push_back(static_cast<unsigned char>(unit >> 8));
        };
        if (cp >= 0x10000) {
            cp -= 0x10000;
            put16(0xD800 + (cp >> 10));
            put16(0xDC00 + (cp & 0x3FF));
        } else {
            put16(cp);
        }
        i += len;
    }
    return true;
}

// MD4 lives in OpenSSL 3's legacy provider. A private library context keeps the process-wide
// default context untouched (loading a provider into it would stop the default provider from
// auto-loading for everyone else).
struct Md4 {
    OSSL_LIB_CTX* ctx = nullptr;
    OSSL_PROVIDER* legacy = nullptr;
    OSSL_PROVIDER* fallback = nullptr;
    EVP_MD* md = nullptr;

    Md4() {
        ctx = OSSL_LIB_CTX_new();
        if (ctx != nullptr) {
            legacy = OSSL_PROVIDER_load(ctx, "legacy");
            fallback = OSSL_PROVIDER_load(ctx, "default");
        }
        if (legacy != nullptr && fallback != nullptr) {
            md = EVP_MD_fetch(ctx, "MD4", nullptr);
        }
    }
    ~Md4() {
        // Each load holds a reference of its own that freeing the context does not drop.
        EVP_MD_free(md);
        if (fallback != nullptr) {
            OSSL_PROVIDER_unload(fallback);
        }
        if (legacy != nullptr) {
            OSSL_PROVIDER_unload(legacy);
        }
        OSSL_LIB_CTX_free(ctx);
    }
    Md4(const Md4&) = delete;
    Md4& operator=(const Md4&) = delete;
};

const Md4& md4() {
    static const Md4 instance;
    return instance;
}

}  // namespace

std::string radius_escape(std::string_view login_name) {
    std::string out;
    out.reserve(login_name.size());
    for (std::size_t i = 0; i < login_name.size();) {
        const std::size_t len = utf8_sequence_length(login_name, i);
        if (len > 1) {
            out.append(login_name.substr(i, len));
            i += len;
            continue;
        }
        const char c = login_name[i];
        if (kSafeCharacters.find(c) != std::string_view::npos) {
            out.push_back(c);
        } else {
            out.push_back('=');
            boost::algorithm::hex(&c, &c + 1, std::back_inserter(out));
        }
        ++i;
    }
    return out;
}

Result<std::string> normalise_login_name(std::string_view raw, bool lower_case) {
    const auto first = raw.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) {
        return Error(Errc::kMalformedPayload, "username is empty");
    }
    const auto last = raw.find_last_not_of(" \t\r\n");
    std::string name(raw.substr(first, last - first + 1));
    for (std::size_t i = 0; i < name.size();) {
        const std::size_t len = utf8_sequence_length(name, i);
        if (len == 0) {
            return Error(Errc::kMalformedPayload, "username is not valid UTF-8");
        }
        const auto c = static_cast<unsigned char>(name[i]);
        if (len == 1 && (c < 0x20 || c == 0x7F)) {
            // rlm_sql turns \n \r \t into backslash sequences rather than =XX; no login name
            // should carry them, so refuse instead of guessing.
            return Error(Errc::kMalformedPayload, "username contains control characters");
        }
        if (len == 1 && lower_case && c >= 'A' && c <= 'Z') {
            name[i] = static_cast<char>(c - 'A' + 'a');
        }
        i += len;
    }
    if (radius_escape(name).size() > kMaxUsernameBytes) {
        return Error(Errc::kMalformedPayload, "username longer than " +
                                                  std::to_string(kMaxUsernameBytes) +
                                                  " bytes once escaped for FreeRADIUS");
    }
    return name;
}

Status check_usable_password(std::string_view utf8_password) {
    if (utf8_password.empty()) {
        return Error(Errc::kMalformedPayload, "password is empty");
    }
    for (std::size_t i = 0; i < utf8_password.size();) {
        const std::size_t len = utf8_sequence_length(utf8_password, i);
        if (len == 0) {
            return Error(Errc::kMalformedPayload, "password is not valid UTF-8");
        }
        // A 4-byte sequence is exactly a code point above U+FFFF.
        if (len == 4) {
            return Error(Errc::kMalformedPayload,
                         "password contains a character outside the Basic Multilingual Plane "
                         "(such as an emoji), which FreeRADIUS and WiFi clients cannot hash for "
                         "MS-CHAP/PEAP: it could never log in");
        }
        i += len;
    }
    return {};
}

Result<std::string> nt_hash_hex(std::string_view utf8_password) {
    std::vector<unsigned char> utf16;
    if (!utf8_to_utf16le(utf8_password, utf16)) {
        return Error(Errc::kMalformedPayload, "password is not valid UTF-8");
    }
    const Md4& m = md4();
    if (m.md == nullptr) {
        return Error(Errc::kIoFailed, "MD4 unavailable: cannot load OpenSSL's legacy provider");
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    if (EVP_Digest(utf16.data(), utf16.size(), digest, &digest_len, m.md, nullptr) != 1) {
        return Error(Errc::kIoFailed, "MD4 digest failed");
    }
    std::string hex;
    boost::algorithm::hex_lower(digest, digest + digest_len, std::back_inserter(hex));
    return hex;
}

bool is_keyed_hash(std::string_view value) {
    if (value.size() != kKeyedHashPrefix.size() + 64 || !value.starts_with(kKeyedHashPrefix)) {
        return false;
    }
    return value.substr(kKeyedHashPrefix.size()).find_first_not_of("0123456789abcdef") ==
           std::string_view::npos;
}

std::string keyed_hash(std::string_view key, std::string_view value) {
    const auto mac = core::hmac_sha256(key, value);
    if (!mac) {
        // Only a broken OpenSSL gets here; no hash is better than one that matches anything.
        throw std::runtime_error("HMAC-SHA256 failed");
    }
    std::string out(kKeyedHashPrefix);
    boost::algorithm::hex_lower(mac->begin(), mac->end(), std::back_inserter(out));
    return out;
}

std::string generate_password(int length) {
    // No 0/O/o, 1/l/I: members type these from an e-mail onto a phone keyboard.
    static constexpr std::string_view kAlphabet =
        "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    // Largest multiple of the alphabet size that fits a byte: bytes above it are redrawn so
    // every character is equally likely.
    constexpr unsigned kLimit = 256 - (256 % kAlphabet.size());
    std::string out;
    out.reserve(static_cast<std::size_t>(length));
    unsigned char buf[64];
    while (out.size() < static_cast<std::size_t>(length)) {
        if (RAND_bytes(buf, sizeof buf) != 1) {
            std::abort();  // no entropy means no safe credentials; never fall back to weak ones
        }
        for (unsigned char b : buf) {
            if (b < kLimit && out.size() < static_cast<std::size_t>(length)) {
                out.push_back(kAlphabet[b % kAlphabet.size()]);
            }
        }
    }
    return out;
}

}  // namespace radsync::mapping
