#include "radsync/core/base64.hpp"

#include <openssl/evp.h>

namespace radsync::core {

std::string base64_encode(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()),
                                  static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::string base64_lines(std::string_view bytes, std::size_t width) {
    const std::string flat = base64_encode(bytes);
    std::string out;
    out.reserve(flat.size() + 2 * (flat.size() / width + 1));
    for (std::size_t i = 0; i < flat.size(); i += width) {
        out.append(flat, i, width);
        out += "\r\n";
    }
    return out;
}

Result<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) {
        return Error(Errc::kMalformedPayload, "not base64");
    }
    std::string out(3 * text.size() / 4 + 1, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(text.data()),
                                  static_cast<int>(text.size()));
    if (n < 0) {
        return Error(Errc::kMalformedPayload, "not base64");
    }
    // EVP_DecodeBlock counts the padding as zero bytes.
    std::size_t len = static_cast<std::size_t>(n);
    for (std::size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) {
        --len;
    }
    out.resize(len);
    return out;
}

}  // namespace radsync::core
