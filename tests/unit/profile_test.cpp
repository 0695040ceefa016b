#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "radsync/notify/profile.hpp"

namespace radsync::notify {
namespace {

template <class T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* p) const { Free(p); }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using CmsPtr = std::unique_ptr<CMS_ContentInfo, Deleter<CMS_ContentInfo, CMS_ContentInfo_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
void free_x509_stack(STACK_OF(X509) * s) {
    sk_X509_pop_free(s, X509_free);
}
using X509StackPtr = std::unique_ptr<STACK_OF(X509), Deleter<STACK_OF(X509), free_x509_stack>>;

std::string bio_string(BIO* bio) {
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<std::size_t>(len));
}

// A throwaway certificate made in-process, so the tests need no files and no clock beyond
// "valid from an hour ago for a day".
struct Cert {
    PkeyPtr key;
    X509Ptr cert;
    std::string cert_pem;
    std::string key_pem;
};

enum class KeyKind { kEc, kRsa };

PkeyPtr make_key(KeyKind kind) {
    return PkeyPtr(kind == KeyKind::kEc ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                                        : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA",
                                                            static_cast<std::size_t>(2048)));
}

std::string key_pem(EVP_PKEY* key) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
    return bio_string(bio.get());
}

std::string cert_pem(X509* cert) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_X509(bio.get(), cert);
    return bio_string(bio.get());
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    ASSERT_NE(ext, nullptr);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

// Self-signed when `issuer` is null; a CA unless `leaf`.
Cert make_cert(const char* cn, KeyKind kind = KeyKind::kEc, const Cert* issuer = nullptr,
               bool leaf = false) {
    Cert c;
    c.key = make_key(kind);
    c.cert.reset(X509_new());
    X509* x = c.cert.get();
    X509_set_version(x, 2);
    static long serial = 1;
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, c.key.get());
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                               -1, -1, 0);
    X509* issuer_cert = issuer != nullptr ? issuer->cert.get() : x;
    X509_set_issuer_name(x, X509_get_subject_name(issuer_cert));
    add_ext(x, issuer_cert, NID_basic_constraints, leaf ? "critical,CA:FALSE" : "critical,CA:TRUE");
    add_ext(x, issuer_cert, NID_key_usage,
            leaf ? "critical,digitalSignature" : "critical,digitalSignature,keyCertSign,cRLSign");
    add_ext(x, issuer_cert, NID_subject_key_identifier, "hash");
    X509_sign(x, issuer != nullptr ? issuer->key.get() : c.key.get(), EVP_sha256());
    c.cert_pem = cert_pem(x);
    c.key_pem = key_pem(c.key.get());
    return c;
}

const Cert& signer() {
    static const Cert c = make_cert("radsync test signer");
    return c;
}

WifiProfile sample() {
    WifiProfile p;
    p.identifier = "com.example.wifi";
    p.organisation = "Example Coworking";
    p.display_name = "Example Wi-Fi";
    p.ssids = {"Example", "Example-5G"};
    p.username = "alice@example.com";
    p.trusted_server_names = {"radius.example.com"};
    return p;
}

std::string plist_of(const WifiProfile& p) {
    auto r = mobileconfig_plist(p);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    return r ? *r : std::string();
}

std::string strip_indentation(std::string_view s) {
    std::string out;
    for (const char c : s) {
        if (c != '\t' && c != '\n') {
            out += c;
        }
    }
    return out;
}

// What follows each <key>K</key>, in order: one element, or a whole <array>…</array> with its
// indentation removed. Enough of a reader for the keys these tests look at, whose arrays never
// nest (the profile's PayloadContent does, and only its count is used).
std::vector<std::string> values_of(std::string_view plist, std::string_view key) {
    const std::string tag = "<key>" + std::string(key) + "</key>";
    std::vector<std::string> out;
    for (auto pos = plist.find(tag); pos != std::string_view::npos;
         pos = plist.find(tag, pos + 1)) {
        auto start = plist.find_first_not_of("\t\n", pos + tag.size());
        std::size_t end = 0;
        if (plist.substr(start).starts_with("<array>")) {
            end = plist.find("</array>", start) + std::string_view("</array>").size();
        } else {
            end = plist.find('\n', start);
        }
        out.push_back(strip_indentation(plist.substr(start, end - start)));
    }
    return out;
}

std::string unbase64(std::string_view text) {
    std::string out(3 * text.size() / 4 + 1, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(text.data()),
                                  static_cast<int>(text.size()));
    std::size_t len = n < 0 ? 0 : static_cast<std::size_t>(n);
    for (std::size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) {
        --len;
    }
    out.resize(len);
    return out;
}

std::string der_of(X509* cert) {
    unsigned char* der = nullptr;
    const int len = i2d_X509(cert, &der);
    std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
    OPENSSL_free(der);
    return out;
}

void expect_invalid(const WifiProfile& p, std::string_view needle) {
    auto r = mobileconfig_plist(p);
    ASSERT_FALSE(r.has_value()) << "accepted a profile that should fail with: " << needle;
    EXPECT_EQ(r.error().code, Errc::kConfigInvalid);
    EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
}

// The content of a DER SignedData after CMS_verify against `trusted` alone; nullopt if it does
// not verify.
std::optional<std::string> verified_content(std::string_view der, X509* trusted) {
    BioPtr in(BIO_new_mem_buf(der.data(), static_cast<int>(der.size())));
    CmsPtr cms(d2i_CMS_bio(in.get(), nullptr));
    if (!cms) {
        return std::nullopt;
    }
    StorePtr store(X509_STORE_new());
    X509_STORE_add_cert(store.get(), trusted);
    BioPtr out(BIO_new(BIO_s_mem()));
    if (CMS_verify(cms.get(), nullptr, store.get(), nullptr, out.get(), CMS_BINARY) != 1) {
        ERR_clear_error();
        return std::nullopt;
    }
    return bio_string(out.get());
}

TEST(Profile, PlistHoldsTheTopLevelAndWifiFields) {
    const std::string plist = plist_of(sample());
    EXPECT_TRUE(
        plist.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                          "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
                          "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
                          "<plist version=\"1.0\">\n<dict>\n"));
    EXPECT_TRUE(plist.ends_with("</dict>\n</plist>\n"));

    const std::vector<std::string> types = {"<string>com.apple.wifi.managed</string>",
                                            "<string>com.apple.wifi.managed</string>",
                                            "<string>Configuration</string>"};
    EXPECT_EQ(values_of(plist, "PayloadType"), types);
    EXPECT_EQ(values_of(plist, "PayloadIdentifier"),
              (std::vector<std::string>{"<string>com.example.wifi.wifi.0</string>",
                                        "<string>com.example.wifi.wifi.1</string>",
                                        "<string>com.example.wifi</string>"}));
    EXPECT_EQ(values_of(plist, "PayloadVersion"),
              std::vector<std::string>(3, "<integer>1</integer>"));
    EXPECT_EQ(values_of(plist, "PayloadDisplayName").back(), "<string>Example Wi-Fi</string>");
    EXPECT_EQ(values_of(plist, "PayloadOrganization"),
              std::vector<std::string>{"<string>Example Coworking</string>"});
    EXPECT_EQ(values_of(plist, "PayloadRemovalDisallowed"), std::vector<std::string>{"<false/>"});
    EXPECT_EQ(
        values_of(plist, "SSID_STR"),
        (std::vector<std::string>{"<string>Example</string>", "<string>Example-5G</string>"}));
    EXPECT_EQ(values_of(plist, "HIDDEN_NETWORK"), std::vector<std::string>(2, "<false/>"));
    EXPECT_EQ(values_of(plist, "AutoJoin"), std::vector<std::string>(2, "<true/>"));
    EXPECT_EQ(values_of(plist, "EncryptionType"),
              std::vector<std::string>(2, "<string>WPA2</string>"));
    EXPECT_EQ(values_of(plist, "IsHotspot"), std::vector<std::string>(2, "<false/>"));
    EXPECT_EQ(values_of(plist, "UserName"),
              std::vector<std::string>(2, "<string>alice@example.com</string>"));
    EXPECT_EQ(values_of(plist, "TLSTrustedServerNames"),
              std::vector<std::string>(2, "<array><string>radius.example.com</string></array>"));
    EXPECT_EQ(values_of(plist, "PayloadContent").size(), 1u);
    // No CA given: no root payload and no anchor.
    EXPECT_EQ(plist.find("com.apple.security.root"), std::string::npos);
    EXPECT_EQ(plist.find("PayloadCertificateAnchorUUID"), std::string::npos);
}

TEST(Profile, NoTrustedServerNamesMeansNoKey) {
    auto p = sample();
    p.trusted_server_names.clear();
    EXPECT_EQ(plist_of(p).find("TLSTrustedServerNames"), std::string::npos);
}

TEST(Profile, EmptyDisplayNameFallsBack) {
    auto p = sample();
    p.display_name.clear();
    EXPECT_EQ(values_of(plist_of(p), "PayloadDisplayName").back(), "<string>Wi-Fi</string>");
}

TEST(Profile, EveryStringIsEscaped) {
    auto p = sample();
    p.username = "a&b<c>\"d'";
    p.organisation = "Tom & Jerry's <Office>";
    p.ssids = {"R&D \"lab\""};
    p.password = "p<&>'\"";
    const std::string plist = plist_of(p);
    EXPECT_EQ(values_of(plist, "UserName"),
              std::vector<std::string>{"<string>a&amp;b&lt;c&gt;&quot;d&#39;</string>"});
    EXPECT_EQ(values_of(plist, "PayloadOrganization"),
              std::vector<std::string>{"<string>Tom &amp; Jerry&#39;s &lt;Office&gt;</string>"});
    EXPECT_EQ(values_of(plist, "SSID_STR"),
              std::vector<std::string>{"<string>R&amp;D &quot;lab&quot;</string>"});
    EXPECT_EQ(values_of(plist, "UserPassword"),
              std::vector<std::string>{"<string>p&lt;&amp;&gt;&#39;&quot;</string>"});
    EXPECT_EQ(plist.find("a&b"), std::string::npos);
    EXPECT_EQ(plist.find("<c>"), std::string::npos);
    EXPECT_EQ(plist.find("<Office>"), std::string::npos);
}

TEST(Profile, PasswordOnlyWhenSet) {
    auto p = sample();
    EXPECT_EQ(plist_of(p).find("UserPassword"), std::string::npos);
    p.password = "correct horse";
    EXPECT_EQ(values_of(plist_of(p), "UserPassword"),
              std::vector<std::string>(2, "<string>correct horse</string>"));
}

TEST(Profile, PeapAndTtls) {
    auto p = sample();
    p.eap = WifiProfile::Eap::kPeap;
    std::string plist = plist_of(p);
    EXPECT_EQ(values_of(plist, "AcceptEAPTypes"),
              std::vector<std::string>(2, "<array><integer>25</integer></array>"));
    EXPECT_EQ(plist.find("TTLSInnerAuthentication"), std::string::npos);

    p.eap = WifiProfile::Eap::kTtls;
    plist = plist_of(p);
    EXPECT_EQ(values_of(plist, "AcceptEAPTypes"),
              std::vector<std::string>(2, "<array><integer>21</integer></array>"));
    EXPECT_EQ(values_of(plist, "TTLSInnerAuthentication"),
              std::vector<std::string>(2, "<string>MSCHAPv2</string>"));
}

TEST(Profile, UuidsAreDeterministicAndPerAccount) {
    auto p = sample();
    p.ca_certificate_pem = signer().cert_pem;
    const std::string first = plist_of(p);
    EXPECT_EQ(first, plist_of(p));

    const auto uuids = values_of(first, "PayloadUUID");
    ASSERT_EQ(uuids.size(), 4u);  // two WiFi, the CA, the profile
    const std::regex v5(
        "<string>[0-9A-F]{8}-[0-9A-F]{4}-5[0-9A-F]{3}-[89AB][0-9A-F]{3}-"
        "[0-9A-F]{12}</string>");
    for (const auto& u : uuids) {
        EXPECT_TRUE(std::regex_match(u, v5)) << u;
    }
    EXPECT_EQ(std::set<std::string>(uuids.begin(), uuids.end()).size(), uuids.size());

    p.username = "bob@example.com";
    const auto others = values_of(plist_of(p), "PayloadUUID");
    ASSERT_EQ(others.size(), uuids.size());
    for (std::size_t i = 0; i < uuids.size(); ++i) {
        EXPECT_NE(uuids[i], others[i]) << i;
    }

    // The same SSID keeps its UUID whatever its position in the list.
    auto reordered = sample();
    reordered.ca_certificate_pem = signer().cert_pem;
    reordered.ssids = {"Example-5G", "Example"};
    const auto swapped = values_of(plist_of(reordered), "PayloadUUID");
    EXPECT_EQ(swapped[0], uuids[1]);
    EXPECT_EQ(swapped[1], uuids[0]);
}

TEST(Profile, RefusesInvalidInput) {
    auto p = sample();
    p.identifier.clear();
    expect_invalid(p, "profile identifier is empty");

    p = sample();
    p.identifier = "com.example wifi";
    expect_invalid(p, "reverse-DNS");

    p = sample();
    p.ssids.clear();
    expect_invalid(p, "no SSID");

    p = sample();
    p.username.clear();
    expect_invalid(p, "user name is empty");

    p = sample();
    p.ssids.clear();
    for (int i = 0; i < 32; ++i) {
        p.ssids.push_back("ssid-" + std::to_string(i));
    }
    EXPECT_TRUE(mobileconfig_plist(p).has_value());
    p.ssids.push_back("one too many");
    expect_invalid(p, "more than 32 SSIDs");

    p = sample();
    p.ssids = {std::string(32, 'x')};
    EXPECT_TRUE(mobileconfig_plist(p).has_value());
    p.ssids = {std::string(33, 'x')};
    expect_invalid(p, "SSID is longer than 32 bytes");
    p.ssids = {""};
    expect_invalid(p, "SSID is empty");
    p.ssids = {"Same", "Same"};
    expect_invalid(p, "listed twice");

    p = sample();
    p.username = std::string(254, 'u');
    expect_invalid(p, "user name is longer than 253 bytes");
    p.username = "tab\there";
    expect_invalid(p, "control character");
    p.username = "bad\xC3(utf8";
    expect_invalid(p, "not valid UTF-8");
    p.username = "caf\xC3\xA9 \xF0\x9F\x98\x80";  // café 😀 are fine
    EXPECT_TRUE(mobileconfig_plist(p).has_value());

    p = sample();
    p.password = "";
    expect_invalid(p, "password is empty");
    p.password = std::string(129, 'p');
    expect_invalid(p, "password is longer than 128 bytes");

    p = sample();
    p.trusted_server_names = {""};
    expect_invalid(p, "trusted server name is empty");
}

TEST(Profile, CaPayloadIsTheAnchor) {
    auto p = sample();
    p.ca_certificate_pem = signer().cert_pem;
    const std::string plist = plist_of(p);

    const auto types = values_of(plist, "PayloadType");
    ASSERT_EQ(types.size(), 4u);
    EXPECT_EQ(types[2], "<string>com.apple.security.root</string>");
    const auto ids = values_of(plist, "PayloadIdentifier");
    EXPECT_EQ(ids[2], "<string>com.example.wifi.ca</string>");

    const auto uuids = values_of(plist, "PayloadUUID");
    const std::string anchor = "<array>" + uuids[2] + "</array>";
    EXPECT_EQ(values_of(plist, "PayloadCertificateAnchorUUID"),
              std::vector<std::string>(2, anchor));

    // The root payload's PayloadContent is the certificate's DER; the profile's is the array.
    const auto contents = values_of(plist, "PayloadContent");
    ASSERT_EQ(contents.size(), 2u);
    const std::string& data = contents[0].starts_with("<data>") ? contents[0] : contents[1];
    ASSERT_TRUE(data.starts_with("<data>") && data.ends_with("</data>")) << data;
    const std::string b64 = data.substr(6, data.size() - 6 - 7);
    EXPECT_EQ(unbase64(b64), der_of(signer().cert.get()));
}

TEST(Profile, RefusesBadCaPem) {
    auto p = sample();
    p.ca_certificate_pem =
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
    auto r = mobileconfig_plist(p);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kConfigInvalid);
    EXPECT_NE(r.error().message.find("CA certificate"), std::string::npos) << r.error().message;

    p.ca_certificate_pem = "just text";
    expect_invalid(p, "CA certificate holds no PEM certificate");

    p.ca_certificate_pem = signer().cert_pem + signer().cert_pem;
    expect_invalid(p, "more than one certificate");
}

TEST(Profile, SignedProfileVerifiesAndEmbedsThePlist) {
    auto p = sample();
    p.password = "s3cret";
    const std::string plist = plist_of(p);
    auto der = sign_profile(plist, signer().cert_pem, signer().key_pem);
    ASSERT_TRUE(der) << der.error().message;
    ASSERT_FALSE(der->empty());
    EXPECT_EQ(static_cast<unsigned char>((*der)[0]), 0x30);  // DER SEQUENCE, not PEM text

    const auto content = verified_content(*der, signer().cert.get());
    ASSERT_TRUE(content.has_value());
    EXPECT_EQ(*content, plist);

    // Attached and carrying the signer's certificate, as a device needs to show "Verified".
    BioPtr in(BIO_new_mem_buf(der->data(), static_cast<int>(der->size())));
    CmsPtr cms(d2i_CMS_bio(in.get(), nullptr));
    ASSERT_TRUE(cms);
    EXPECT_EQ(OBJ_obj2nid(CMS_get0_type(cms.get())), NID_pkcs7_signed);
    EXPECT_EQ(CMS_is_detached(cms.get()), 0);
    X509StackPtr certs(CMS_get1_certs(cms.get()));
    ASSERT_TRUE(certs);
    ASSERT_EQ(sk_X509_num(certs.get()), 1);
    EXPECT_EQ(X509_cmp(sk_X509_value(certs.get(), 0), signer().cert.get()), 0);

    // Someone else's trust store does not verify it.
    const Cert stranger = make_cert("stranger");
    EXPECT_FALSE(verified_content(*der, stranger.cert.get()).has_value());
}

TEST(Profile, SignsWithRsaToo) {
    const Cert rsa = make_cert("radsync rsa signer", KeyKind::kRsa);
    const std::string plist = plist_of(sample());
    auto der = sign_profile(plist, rsa.cert_pem, rsa.key_pem);
    ASSERT_TRUE(der) << der.error().message;
    EXPECT_EQ(verified_content(*der, rsa.cert.get()), plist);
}

TEST(Profile, ChainCarriesIntermediates) {
    const Cert root = make_cert("radsync test root");
    const Cert intermediate = make_cert("radsync test intermediate", KeyKind::kEc, &root);
    const Cert leaf = make_cert("profiles.example.com", KeyKind::kEc, &intermediate, true);
    const std::string plist = plist_of(sample());

    auto der = sign_profile(plist, leaf.cert_pem, leaf.key_pem, intermediate.cert_pem);
    ASSERT_TRUE(der) << der.error().message;
    EXPECT_EQ(verified_content(*der, root.cert.get()), plist);

    // Without the intermediate the device (trusting only the root) could not build the path.
    auto bare = sign_profile(plist, leaf.cert_pem, leaf.key_pem);
    ASSERT_TRUE(bare) << bare.error().message;
    EXPECT_FALSE(verified_content(*bare, root.cert.get()).has_value());
}

TEST(Profile, RefusesMismatchedKey) {
    const Cert other = make_cert("other");
    auto r = sign_profile(plist_of(sample()), signer().cert_pem, other.key_pem);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kConfigInvalid);
    EXPECT_NE(r.error().message.find("does not belong"), std::string::npos) << r.error().message;
    // No line of either key's PEM body in the message.
    for (const std::string* pem : {&other.key_pem, &signer().key_pem}) {
        std::size_t start = pem->find('\n') + 1;
        const std::string first_line = pem->substr(start, pem->find('\n', start) - start);
        EXPECT_EQ(r.error().message.find(first_line), std::string::npos);
    }
}

TEST(Profile, RefusesBadSigningInputs) {
    const std::string plist = plist_of(sample());
    const auto expect_refused = [&](std::string_view cert, std::string_view key,
                                    std::string_view chain, std::string_view needle) {
        auto r = sign_profile(plist, cert, key, chain);
        ASSERT_FALSE(r) << needle;
        EXPECT_EQ(r.error().code, Errc::kConfigInvalid);
        EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
    };
    expect_refused("garbage", signer().key_pem, {}, "signing certificate holds no PEM");
    expect_refused(signer().cert_pem, "garbage", {}, "signing key is not");
    expect_refused(signer().key_pem, signer().cert_pem, {}, "signing certificate holds no PEM");
    expect_refused(signer().cert_pem, signer().key_pem, "garbage", "signing chain holds no PEM");
    expect_refused({}, signer().key_pem, {}, "empty");

    auto empty = sign_profile("", signer().cert_pem, signer().key_pem);
    ASSERT_FALSE(empty);
    EXPECT_EQ(empty.error().code, Errc::kConfigInvalid);

    // An encrypted key is an error, not a passphrase prompt on the daemon's terminal.
    BioPtr bio(BIO_new(BIO_s_mem()));
    const char pass[] = "passphrase";
    PEM_write_bio_PrivateKey(bio.get(), signer().key.get(), EVP_aes_256_cbc(),
                             reinterpret_cast<const unsigned char*>(pass), sizeof pass - 1, nullptr,
                             nullptr);
    expect_refused(signer().cert_pem, bio_string(bio.get()), {}, "signing key is not");
}

}  // namespace
}  // namespace radsync::notify
