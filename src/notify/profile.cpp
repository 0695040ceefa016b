#include "radsync/notify/profile.hpp"

#include "radsync/core/base64.hpp"
#include "radsync/notify/template.hpp"

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <boost/algorithm/hex.hpp>

#include <array>
#include <cstddef>
#include <iterator>
#include <memory>
#include <set>
#include <utility>

namespace radsync::notify {

namespace {

// 802.11 caps an SSID at 32 bytes; RFC 2865 §5.1-5.2 caps User-Name at 253 and User-Password
// at 128, so a profile never carries a credential the RADIUS server could not have received.
// The other limits only keep a profile (and what OpenSSL is asked to parse) small.
constexpr std::size_t kMaxSsids = 32;
constexpr std::size_t kMaxSsidBytes = 32;
constexpr std::size_t kMaxIdentifierBytes = 200;
constexpr std::size_t kMaxNameBytes = 256;  // organisation, display name
constexpr std::size_t kMaxUsernameBytes = 253;
constexpr std::size_t kMaxPasswordBytes = 128;
constexpr std::size_t kMaxTrustedNames = 16;
constexpr std::size_t kMaxTrustedNameBytes = 253;
constexpr std::size_t kMaxPemBytes = 64 * 1024;
constexpr std::size_t kMaxChainPemBytes = 256 * 1024;
constexpr std::size_t kMaxPlistBytes = 1024 * 1024;

template <class T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* p) const { Free(p); }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using CmsPtr = std::unique_ptr<CMS_ContentInfo, Deleter<CMS_ContentInfo, CMS_ContentInfo_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;

void free_x509_stack(STACK_OF(X509) * stack) {
    sk_X509_pop_free(stack, X509_free);
}
using X509StackPtr = std::unique_ptr<STACK_OF(X509), Deleter<STACK_OF(X509), free_x509_stack>>;

// OpenSSL's queue for this thread, drained into one line. The queue only ever holds library,
// function and reason codes, so the text is safe to log even when the input was a key.
std::string openssl_errors() {
    std::string out;
    for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
        std::array<char, 256> buf{};
        ERR_error_string_n(e, buf.data(), buf.size());
        if (!out.empty()) {
            out += "; ";
        }
        out += buf.data();
    }
    return out.empty() ? std::string("no OpenSSL error reported") : out;
}

Error openssl_error(std::string what) {
    what += ": ";
    what += openssl_errors();
    return Error(Errc::kConfigInvalid, std::move(what));
}

// A read-only BIO over caller memory; callers bound the size first so it fits an int.
BioPtr memory_bio(std::string_view bytes) {
    return BioPtr(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
}

std::string_view bio_bytes(BIO* bio) {
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    return len > 0 ? std::string_view(data, static_cast<std::size_t>(len)) : std::string_view();
}

// Without a callback OpenSSL asks for an encrypted key's passphrase on the terminal, which
// would hang a daemon; refusing makes an encrypted key an ordinary error instead.
int no_passphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) {
    return -1;
}

// After the last PEM block OpenSSL queues "no start line"; that is the normal end of a bundle,
// anything else is a broken block.
bool pem_ended_cleanly() {
    const unsigned long e = ERR_peek_last_error();
    if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
        ERR_clear_error();
        return true;
    }
    return e == 0;
}

// Every certificate in `pem`, in order; an error if a block is broken or there is none.
Result<X509StackPtr> read_certificates(std::string_view pem, const char* what) {
    ERR_clear_error();
    X509StackPtr stack(sk_X509_new_null());
    BioPtr bio = memory_bio(pem);
    if (!stack || !bio) {
        return openssl_error(std::string("cannot read ") + what);
    }
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr)) {
        if (sk_X509_push(stack.get(), cert) <= 0) {
            X509_free(cert);
            return openssl_error(std::string("cannot read ") + what);
        }
    }
    if (!pem_ended_cleanly()) {
        return openssl_error(std::string(what) + " is not a valid PEM certificate");
    }
    if (sk_X509_num(stack.get()) == 0) {
        return Error(Errc::kConfigInvalid, std::string(what) + " holds no PEM certificate");
    }
    return stack;
}

Result<X509Ptr> read_one_certificate(std::string_view pem, const char* what) {
    auto stack = read_certificates(pem, what);
    if (!stack) {
        return stack.error();
    }
    if (sk_X509_num(stack->get()) != 1) {
        return Error(Errc::kConfigInvalid,
                     std::string(what) + " holds more than one certificate; give exactly one");
    }
    return X509Ptr(sk_X509_shift(stack->get()));
}

// --- validation --------------------------------------------------------------------------

// Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF) without control
// characters: XML 1.0 cannot carry C0 controls even as character references, and a parser
// silently turns CR into LF, so such a value could not survive the round trip to the device.
bool is_clean_utf8(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        const unsigned c = *p;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7F) {
                return false;
            }
            ++p;
            continue;
        }
        std::size_t extra = 0;
        unsigned cp = 0;
        if (c >= 0xC2 && c <= 0xDF) {
            extra = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (static_cast<std::size_t>(end - p) <= extra) {
            return false;
        }
        for (std::size_t i = 1; i <= extra; ++i) {
            if ((p[i] & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        const bool overlong = (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000);
        const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
        // C1 controls and the two XML non-characters are as unusable as the C0 ones.
        const bool unusable = (cp >= 0x80 && cp <= 0x9F) || cp == 0xFFFE || cp == 0xFFFF;
        if (overlong || surrogate || unusable || cp > 0x10FFFF) {
            return false;
        }
        p += extra + 1;
    }
    return true;
}

std::optional<Error> check_text(std::string_view value, std::string_view what,
                                std::size_t max_bytes, bool required) {
    if (required && value.empty()) {
        return Error(Errc::kConfigInvalid, std::string(what) + " is empty");
    }
    if (value.size() > max_bytes) {
        return Error(Errc::kConfigInvalid,
                     std::string(what) + " is longer than " + std::to_string(max_bytes) + " bytes");
    }
    if (!is_clean_utf8(value)) {
        return Error(Errc::kConfigInvalid,
                     std::string(what) + " is not valid UTF-8 or holds a control character");
    }
    return std::nullopt;
}

// Reverse-DNS style, as Apple expects of a PayloadIdentifier; it is also what decides which
// installed profile a new one replaces, so nothing that could be mistaken for another.
bool is_identifier(std::string_view s) {
    if (s.front() == '.' || s.back() == '.') {
        return false;
    }
    for (const char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

std::optional<Error> validate(const WifiProfile& p) {
    if (auto e = check_text(p.identifier, "profile identifier", kMaxIdentifierBytes, true)) {
        return e;
    }
    if (!is_identifier(p.identifier)) {
        return Error(Errc::kConfigInvalid,
                     "profile identifier must be reverse-DNS style (letters, digits, '.', '-', "
                     "'_'), e.g. com.example.wifi");
    }
    if (auto e = check_text(p.organisation, "profile organisation", kMaxNameBytes, false)) {
        return e;
    }
    if (auto e = check_text(p.display_name, "profile display name", kMaxNameBytes, false)) {
        return e;
    }
    if (p.ssids.empty()) {
        return Error(Errc::kConfigInvalid, "profile has no SSID");
    }
    if (p.ssids.size() > kMaxSsids) {
        return Error(Errc::kConfigInvalid,
                     "profile has more than " + std::to_string(kMaxSsids) + " SSIDs");
    }
    std::set<std::string_view> seen;
    for (const auto& ssid : p.ssids) {
        if (auto e = check_text(ssid, "SSID", kMaxSsidBytes, true)) {
            return e;
        }
        // The SSID names its payload's UUID: two equal ones would collide.
        if (!seen.insert(ssid).second) {
            return Error(Errc::kConfigInvalid, "SSID \"" + ssid + "\" is listed twice");
        }
    }
    if (auto e = check_text(p.username, "user name", kMaxUsernameBytes, true)) {
        return e;
    }
    if (p.password) {
        // Opting in to a password that is empty would install a profile that silently fails.
        if (auto e = check_text(*p.password, "password", kMaxPasswordBytes, true)) {
            return e;
        }
    }
    if (p.trusted_server_names.size() > kMaxTrustedNames) {
        return Error(Errc::kConfigInvalid,
                     "more than " + std::to_string(kMaxTrustedNames) + " trusted server names");
    }
    for (const auto& name : p.trusted_server_names) {
        if (auto e = check_text(name, "trusted server name", kMaxTrustedNameBytes, true)) {
            return e;
        }
    }
    if (p.ca_certificate_pem.size() > kMaxPemBytes) {
        return Error(Errc::kConfigInvalid, "CA certificate PEM is longer than " +
                                               std::to_string(kMaxPemBytes) + " bytes");
    }
    return std::nullopt;
}

// --- UUIDs -------------------------------------------------------------------------------

// A name-based UUID in the manner of RFC 4122 §4.3 version 5, with SHA-256 in place of SHA-1.
// Each part is length-prefixed so that ("ab", "c") and ("a", "bc") cannot meet, and a fixed
// label keeps these apart from any other use of the same strings.
Result<std::string> derived_uuid(std::string_view identifier, std::string_view username,
                                 std::string_view role) {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    const auto feed = [&ctx](std::string_view part) {
        const std::string len = std::to_string(part.size()) + ":";
        return EVP_DigestUpdate(ctx.get(), len.data(), len.size()) == 1 &&
               EVP_DigestUpdate(ctx.get(), part.data(), part.size()) == 1;
    };
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int digest_len = 0;
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
        !feed("radsync mobileconfig uuid v1") || !feed(identifier) || !feed(username) ||
        !feed(role) || EVP_DigestFinal_ex(ctx.get(), digest.data(), &digest_len) != 1 ||
        digest_len < 16) {
        return openssl_error("cannot derive a payload UUID");
    }
    digest[6] = static_cast<unsigned char>((digest[6] & 0x0F) | 0x50);  // version 5
    digest[8] = static_cast<unsigned char>((digest[8] & 0x3F) | 0x80);  // RFC 4122 variant
    std::string out;  // upper-case hex, as Apple writes them
    boost::algorithm::hex(digest.begin(), digest.begin() + 16, std::back_inserter(out));
    for (const std::size_t dash : {8U, 13U, 18U, 23U}) {  // 8-4-4-4-12
        out.insert(dash, 1, '-');
    }
    return out;
}

// --- plist writing -----------------------------------------------------------------------

// Writes the XML with tab indentation, as Apple's own tools do.
class PlistWriter {
public:
    PlistWriter() {
        out_ =
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
            "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
            "<plist version=\"1.0\">\n";
    }

    void open(std::string_view tag) {
        line("<" + std::string(tag) + ">");
        ++depth_;
    }
    void close(std::string_view tag) {
        --depth_;
        line("</" + std::string(tag) + ">");
    }
    void key(std::string_view k) { line("<key>" + markup_escape(k) + "</key>"); }
    void string(std::string_view v) { line("<string>" + markup_escape(v) + "</string>"); }
    void integer(long v) { line("<integer>" + std::to_string(v) + "</integer>"); }
    void boolean(bool v) { line(v ? "<true/>" : "<false/>"); }
    void data(std::string_view bytes) { line("<data>" + core::base64_encode(bytes) + "</data>"); }

    void entry(std::string_view k, std::string_view v) {
        key(k);
        string(v);
    }
    void entry(std::string_view k, long v) {
        key(k);
        integer(v);
    }
    void entry(std::string_view k, bool v) {
        key(k);
        boolean(v);
    }
    // Without it a string literal would convert to bool before it converted to string_view.
    void entry(std::string_view k, const char* v) { entry(k, std::string_view(v)); }

    std::string finish() && {
        out_ += "</plist>\n";
        return std::move(out_);
    }

private:
    void line(const std::string& text) {
        out_.append(static_cast<std::size_t>(depth_), '\t');
        out_ += text;
        out_ += '\n';
    }

    std::string out_;
    int depth_ = 0;
};

}  // namespace

Result<std::string> mobileconfig_plist(const WifiProfile& profile) {
    if (auto e = validate(profile)) {
        return std::move(*e);
    }
    const std::string& id = profile.identifier;
    const std::string& user = profile.username;

    // The CA first: the WiFi payloads name its UUID as their trust anchor.
    std::string ca_der;
    std::string ca_uuid;
    if (!profile.ca_certificate_pem.empty()) {
        auto cert = read_one_certificate(profile.ca_certificate_pem, "CA certificate");
        if (!cert) {
            return cert.error();
        }
        unsigned char* der = nullptr;
        const int len = i2d_X509(cert->get(), &der);
        if (len <= 0) {
            return openssl_error("cannot encode the CA certificate");
        }
        ca_der.assign(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
        OPENSSL_free(der);
        auto uuid = derived_uuid(id, user, "ca");
        if (!uuid) {
            return uuid.error();
        }
        ca_uuid = std::move(*uuid);
    }
    auto profile_uuid = derived_uuid(id, user, "profile");
    if (!profile_uuid) {
        return profile_uuid.error();
    }

    PlistWriter w;
    w.open("dict");
    w.key("PayloadContent");
    w.open("array");
    for (std::size_t i = 0; i < profile.ssids.size(); ++i) {
        const std::string& ssid = profile.ssids[i];
        auto uuid = derived_uuid(id, user, "wifi:" + ssid);
        if (!uuid) {
            return uuid.error();
        }
        w.open("dict");
        w.entry("PayloadType", "com.apple.wifi.managed");
        w.entry("PayloadVersion", 1L);
        w.entry("PayloadIdentifier", id + ".wifi." + std::to_string(i));
        w.entry("PayloadUUID", *uuid);
        w.entry("PayloadDisplayName", "Wi-Fi (" + ssid + ")");
        w.entry("SSID_STR", ssid);
        w.entry("HIDDEN_NETWORK", false);
        w.entry("AutoJoin", true);
        // Since iOS 16 / macOS 13 "WPA2" joins WPA2 and WPA3 networks alike (Apple's
        // device-management schema, com.apple.wifi.managed EncryptionType); older releases
        // treat every WPA value as "any WPA", so it is the one value right on both.
        w.entry("EncryptionType", "WPA2");
        w.entry("IsHotspot", false);
        w.key("EAPClientConfiguration");
        w.open("dict");
        w.key("AcceptEAPTypes");
        w.open("array");
        w.integer(profile.eap == WifiProfile::Eap::kTtls ? 21 : 25);
        w.close("array");
        if (profile.eap == WifiProfile::Eap::kTtls) {
            w.entry("TTLSInnerAuthentication", "MSCHAPv2");
        }
        w.entry("UserName", user);
        if (profile.password) {
            w.entry("UserPassword", *profile.password);
        }
        if (!profile.trusted_server_names.empty()) {
            w.key("TLSTrustedServerNames");
            w.open("array");
            for (const auto& name : profile.trusted_server_names) {
                w.string(name);
            }
            w.close("array");
        }
        if (!ca_uuid.empty()) {
            w.key("PayloadCertificateAnchorUUID");
            w.open("array");
            w.string(ca_uuid);
            w.close("array");
        }
        w.close("dict");
        w.close("dict");
    }
    if (!ca_uuid.empty()) {
        w.open("dict");
        w.entry("PayloadType", "com.apple.security.root");
        w.entry("PayloadVersion", 1L);
        w.entry("PayloadIdentifier", id + ".ca");
        w.entry("PayloadUUID", ca_uuid);
        w.entry("PayloadDisplayName", "RADIUS server CA");
        w.key("PayloadContent");
        w.data(ca_der);
        w.close("dict");
    }
    w.close("array");
    w.entry("PayloadType", "Configuration");
    w.entry("PayloadVersion", 1L);
    w.entry("PayloadIdentifier", id);
    w.entry("PayloadUUID", *profile_uuid);
    w.entry("PayloadDisplayName",
            profile.display_name.empty() ? std::string("Wi-Fi") : profile.display_name);
    w.entry("PayloadOrganization", profile.organisation);
    w.entry("PayloadRemovalDisallowed", false);
    w.close("dict");
    return std::move(w).finish();
}

Result<std::string> sign_profile(std::string_view plist, std::string_view certificate_pem,
                                 std::string_view key_pem, std::string_view chain_pem) {
    if (plist.empty() || plist.size() > kMaxPlistBytes) {
        return Error(Errc::kConfigInvalid, "profile to sign is empty or larger than 1 MiB");
    }
    if (certificate_pem.empty() || certificate_pem.size() > kMaxPemBytes || key_pem.empty() ||
        key_pem.size() > kMaxPemBytes) {
        return Error(Errc::kConfigInvalid,
                     "signing certificate or key is empty or larger than 64 KiB");
    }
    if (chain_pem.size() > kMaxChainPemBytes) {
        return Error(Errc::kConfigInvalid, "signing chain is larger than 256 KiB");
    }

    auto cert = read_one_certificate(certificate_pem, "signing certificate");
    if (!cert) {
        return cert.error();
    }
    X509StackPtr chain(sk_X509_new_null());
    if (!chain) {
        return openssl_error("cannot read the signing chain");
    }
    if (!chain_pem.empty()) {
        auto read = read_certificates(chain_pem, "signing chain");
        if (!read) {
            return read.error();
        }
        chain = std::move(*read);
    }

    ERR_clear_error();
    PkeyPtr key;
    {
        BioPtr bio = memory_bio(key_pem);
        if (bio) {
            key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
        }
    }
    if (!key) {
        return openssl_error("signing key is not an unencrypted PEM private key");
    }
    if (X509_check_private_key(cert->get(), key.get()) != 1) {
        return openssl_error("signing key does not belong to the signing certificate");
    }

    // Not detached: Apple devices read the profile out of the SignedData itself. CMS_BINARY
    // keeps the XML byte for byte instead of canonicalising its line ends for S/MIME.
    BioPtr content = memory_bio(plist);
    if (!content) {
        return openssl_error("cannot sign the profile");
    }
    CmsPtr cms(CMS_sign(cert->get(), key.get(), chain.get(), content.get(), CMS_BINARY));
    if (!cms) {
        return openssl_error("cannot sign the profile");
    }
    BioPtr out(BIO_new(BIO_s_mem()));
    if (!out || i2d_CMS_bio(out.get(), cms.get()) != 1) {
        return openssl_error("cannot encode the signed profile");
    }
    return std::string(bio_bytes(out.get()));
}

}  // namespace radsync::notify
