#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "radsync/core/error.hpp"

namespace radsync::notify {

/// What an Apple configuration profile (.mobileconfig) for one account holds: a WiFi payload
/// for WPA2/WPA3 Enterprise with the account's EAP credentials, and optionally the CA that
/// signs the RADIUS server's certificate.
struct WifiProfile {
    enum class Eap { kPeap, kTtls };
    /// Reverse-DNS prefix of every PayloadIdentifier, e.g. "com.example.wifi".
    std::string identifier;
    std::string organisation;        ///< PayloadOrganization
    std::string display_name;        ///< PayloadDisplayName of the profile
    std::vector<std::string> ssids;  ///< one WiFi payload each; at least one
    Eap eap = Eap::kPeap;
    std::string username;
    /// Included only when the operator opted in; otherwise the device asks for it.
    std::optional<std::string> password;
    /// TLSTrustedServerNames: the RADIUS server certificate names the device accepts.
    std::vector<std::string> trusted_server_names;
    /// PEM of the CA that issued the RADIUS server's certificate; empty for none. Becomes a
    /// com.apple.security.root payload that the WiFi payloads name as their anchor.
    std::string ca_certificate_pem;
};

/// The profile as an XML property list (UTF-8). Pure and deterministic: PayloadUUIDs are
/// derived from the identifier, the username and the SSID, so a profile written again for the
/// same account replaces the one installed instead of piling up beside it. Every string value
/// is XML-escaped. No I/O: the CA PEM is parsed in memory.
///
/// Errc::kConfigInvalid, with a message naming the field, for: an empty or non-reverse-DNS
/// identifier; no SSID, more than 32, an empty, repeated or longer-than-32-byte one; an empty
/// user name or one over 253 bytes; a password that is set but empty or over 128 bytes; any
/// text that is not UTF-8 or holds a control character (XML cannot carry it); a CA PEM that
/// does not hold exactly one certificate. An empty display_name becomes "Wi-Fi".
[[nodiscard]] Result<std::string> mobileconfig_plist(const WifiProfile& profile);

/// `plist` signed with the operator's certificate: DER CMS SignedData that embeds the content
/// (what Apple devices expect of a signed profile). The signer's certificate is included and
/// `chain_pem` may add intermediates. The key must be unencrypted PEM: an encrypted one is an
/// error, never a passphrase prompt. Errc::kConfigInvalid if the certificate or key cannot be
/// read or do not match; the message carries OpenSSL's error codes, never key material.
[[nodiscard]] Result<std::string> sign_profile(std::string_view plist,
                                               std::string_view certificate_pem,
                                               std::string_view key_pem,
                                               std::string_view chain_pem = {});

}  // namespace radsync::notify
