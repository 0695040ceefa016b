// libFuzzer target: the officernd-signature header parser and the verifier. The input is the
// header value up to the first newline, then the body. Any input must give a verdict, never a
// crash, and the verdict must not depend on anything but the bytes (checked by asking twice).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "radsync/webhook/verifier.hpp"

namespace {

using radsync::webhook::Secret;
using radsync::webhook::Verifier;

const Verifier& verifier() {
    static const Verifier v(
        [] {
            std::vector<Secret> s;
            s.emplace_back("whsec-test-0123456789abcdef");
            s.emplace_back("whsec-old-fedcba9876543210");
            return s;
        }(),
        std::chrono::seconds{300}, std::chrono::seconds{60});
    return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto newline = input.find('\n');
    const std::string_view header = input.substr(0, newline);
    const std::string_view body =
        newline == std::string_view::npos ? std::string_view{} : input.substr(newline + 1);
    const radsync::core::Instant now{std::chrono::seconds{1772352000}};
    const auto first = verifier().verify(header, body, now);
    if (verifier().verify(header, body, now) != first) {
        std::abort();
    }
    (void)radsync::webhook::signed_timestamp(header);
    (void)radsync::webhook::to_string(first);
    return 0;
}
