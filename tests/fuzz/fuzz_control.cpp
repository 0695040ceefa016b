// libFuzzer target: the control socket's request decoder, which reads whatever a local user
// with access to the socket sends, and the answer decoder the commands run on what comes back.
// A request it accepts must stay within its bounds and survive a round trip unchanged.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "radsync/control/protocol.hpp"
#include "radsync/snapshot/entities.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    (void)radsync::control::decode_answer(text);
    auto request = radsync::control::decode_request(text);
    if (!request) {
        return 0;
    }
    if (request->payload_bytes > radsync::snapshot::kMaxSnapshotBytes ||
        (request->payload_bytes > 0 && request->command != radsync::control::Command::kReconcile)) {
        std::abort();
    }
    auto again = radsync::control::decode_request(radsync::control::encode(*request));
    if (!again || again->command != request->command || again->member != request->member ||
        again->event_id != request->event_id || again->source != request->source ||
        again->payload_bytes != request->payload_bytes || again->dry_run != request->dry_run ||
        again->allow_mass_removal != request->allow_mass_removal || again->all != request->all) {
        std::abort();
    }
    return 0;
}
