#include "radsync/store/at_rest.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "file_owner.hpp"
#include "radsync/core/base64.hpp"
#include "radsync/mapping/credentials.hpp"

namespace radsync::store {

namespace {

constexpr std::size_t kKeyBytes = 32;
constexpr std::size_t kNonceBytes = 12;
constexpr std::size_t kTagBytes = 16;
constexpr std::string_view kSealedPrefix = "radsync-sealed:v1:";

// One half of the key for each use, so a hash can never be turned into a sealing key.
std::string derive(const std::string& key, std::string_view purpose) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(purpose.data()), purpose.size(), out, &len);
    return std::string(reinterpret_cast<const char*>(out), len);
}

struct CipherCtx {
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    ~CipherCtx() { EVP_CIPHER_CTX_free(ctx); }
    CipherCtx() = default;
    CipherCtx(const CipherCtx&) = delete;
    CipherCtx& operator=(const CipherCtx&) = delete;
};

// Fetched once: EVP_aes_256_gcm() makes every Init look the cipher up in the provider tables,
// which costs more than sealing a webhook body.
const EVP_CIPHER* aes_256_gcm() {
    static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    return cipher;
}

const unsigned char* bytes(const std::string& s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

AtRestKey::AtRestKey(std::string key)
    : hash_key_(derive(key, "radsync keyed hash v1")), seal_key_(derive(key, "radsync seal v1")) {}

std::string AtRestKey::path_for(const std::string& state_database) {
    return state_database + ".key";
}

namespace {

AtRestKey from_bytes(const std::array<unsigned char, kKeyBytes>& key) {
    return AtRestKey(std::string(reinterpret_cast<const char*>(key.data()), key.size()));
}

bool fill_random(std::array<unsigned char, kKeyBytes>& key) {
    return RAND_bytes(key.data(), static_cast<int>(key.size())) == 1;
}

}  // namespace

AtRestKey AtRestKey::random() {
    std::array<unsigned char, kKeyBytes> key{};
    if (!fill_random(key)) {
        // Without randomness nothing sealed could be trusted; OpenSSL fails only when the
        // system has no entropy source at all.
        throw std::runtime_error("no randomness for a scratch key");
    }
    return from_bytes(key);
}

Result<AtRestKey> AtRestKey::load_existing(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return Error(errno == ENOENT ? Errc::kNotFound : Errc::kStoreFailed,
                     "cannot read the key " + path + ": " + std::strerror(errno));
    }
    std::array<unsigned char, kKeyBytes> key{};
    const ssize_t n = ::read(fd, key.data(), key.size());
    char extra = 0;
    const ssize_t more = ::read(fd, &extra, 1);
    ::close(fd);
    if (n != static_cast<ssize_t>(key.size()) || more != 0) {
        return Error(Errc::kStoreFailed,
                     "the key " + path + " is not " + std::to_string(kKeyBytes) + " bytes long");
    }
    return from_bytes(key);
}

Result<AtRestKey> AtRestKey::load_or_create(const std::string& path) {
    auto existing = load_existing(path);
    if (existing || existing.error().code != Errc::kNotFound) {
        return existing;
    }
    std::array<unsigned char, kKeyBytes> key{};
    if (!fill_random(key)) {
        return Error(Errc::kStoreFailed, "no randomness for a new key " + path);
    }
    // O_EXCL: two processes starting at once cannot both write a key.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST) {
            return load_existing(path);  // the other one won
        }
        return Error(Errc::kStoreFailed,
                     "cannot create the key " + path + ": " + std::strerror(errno));
    }
    const bool written =
        ::write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size()) && ::fsync(fd) == 0;
    const auto owned = detail::give_to_directory_owner(fd, path);
    ::close(fd);
    if (!written || !owned) {
        ::unlink(path.c_str());
        return !owned ? owned.error() : Error(Errc::kStoreFailed, "cannot write the key " + path);
    }
    return from_bytes(key);
}

std::string AtRestKey::keyed_hash(std::string_view value) const {
    return mapping::keyed_hash(hash_key_, value);
}

Result<std::string> AtRestKey::seal(std::string_view plain) const {
    const auto failed = [] { return Error(Errc::kStoreFailed, "cannot seal: OpenSSL failed"); };
    std::string nonce(kNonceBytes, '\0');
    // A nonce that is not random would be reused: with GCM that gives the key away.
    if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()),
                   static_cast<int>(nonce.size())) != 1) {
        return failed();
    }
    std::string out = nonce;
    out.resize(kNonceBytes + plain.size() + kTagBytes);
    CipherCtx c;
    int len = 0;
    int total = 0;
    auto* sealed = reinterpret_cast<unsigned char*>(out.data()) + kNonceBytes;
    if (c.ctx == nullptr || aes_256_gcm() == nullptr ||
        EVP_EncryptInit_ex(c.ctx, aes_256_gcm(), nullptr, bytes(seal_key_), bytes(nonce)) != 1 ||
        EVP_EncryptUpdate(c.ctx, sealed, &len, reinterpret_cast<const unsigned char*>(plain.data()),
                          static_cast<int>(plain.size())) != 1) {
        return failed();
    }
    total = len;
    if (EVP_EncryptFinal_ex(c.ctx, sealed + total, &len) != 1) {
        return failed();
    }
    total += len;
    if (EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes),
                            sealed + total) != 1) {
        return failed();
    }
    return std::string(kSealedPrefix) + core::base64_encode(out);
}

Result<std::string> AtRestKey::open(std::string_view text) const {
    if (!text.starts_with(kSealedPrefix)) {
        return std::string(text);
    }
    auto raw = core::base64_decode(text.substr(kSealedPrefix.size()));
    if (!raw) {
        return raw.error();
    }
    if (raw->size() < kNonceBytes + kTagBytes) {
        return Error(Errc::kMalformedPayload, "sealed text is too short");
    }
    const std::size_t body = raw->size() - kNonceBytes - kTagBytes;
    std::string plain(body, '\0');
    CipherCtx c;
    int len = 0;
    if (c.ctx == nullptr || aes_256_gcm() == nullptr ||
        EVP_DecryptInit_ex(c.ctx, aes_256_gcm(), nullptr, bytes(seal_key_), bytes(*raw)) != 1 ||
        EVP_DecryptUpdate(c.ctx, reinterpret_cast<unsigned char*>(plain.data()), &len,
                          bytes(*raw) + kNonceBytes, static_cast<int>(body)) != 1 ||
        EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes),
                            raw->data() + kNonceBytes + body) != 1 ||
        EVP_DecryptFinal_ex(c.ctx, reinterpret_cast<unsigned char*>(plain.data()) + len, &len) !=
            1) {
        return Error(Errc::kMalformedPayload,
                     "sealed text does not authenticate (another key, or changed)");
    }
    return plain;
}

}  // namespace radsync::store
