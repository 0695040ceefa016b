// libFuzzer target: the RFC 5176 reply decoder, which reads datagrams from the network (a NAS,
// or anyone who can send UDP to radsync's port). Any input must be decoded or refused, never
// crash or read past the datagram. The first byte picks the request it is checked against.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "radsync/radius/dynauth.hpp"

namespace {

using namespace radsync::radius;

constexpr std::string_view kSecret = "fuzz-secret";

const Request& request(bool coa) {
    static const Request disconnect = *encode_request(
        Code::kDisconnectRequest, 7, {Attribute::text(Type::kUserName, "ann")}, kSecret);
    static const Request change =
        *encode_request(Code::kCoaRequest, 7, {Attribute::text(Type::kUserName, "ann")}, kSecret);
    return coa ? change : disconnect;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::string_view datagram(reinterpret_cast<const char*>(data) + 1, size - 1);
    const auto reply = decode_reply(datagram, request((data[0] & 1) != 0), kSecret);
    if (reply && reply->attributes.size() > datagram.size()) {
        std::abort();  // more attributes than octets: a decoder that invents data
    }
    return 0;
}
