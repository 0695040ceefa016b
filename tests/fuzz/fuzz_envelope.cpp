// libFuzzer target: the webhook envelope parser, which sees every verified body. Whatever it
// accepts must be an object with an event type and, for handled kinds, an object id; and the
// entity it hands on must parse as that kind or be reported malformed, never crash.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "radsync/snapshot/merge.hpp"
#include "radsync/webhook/envelope.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    auto envelope = radsync::webhook::parse_envelope(body);
    if (!envelope) {
        return 0;
    }
    if (envelope->event_type.empty() || envelope->event_id.empty()) {
        std::abort();
    }
    if (envelope->action != radsync::webhook::Action::kIgnore) {
        if (envelope->object_id.empty()) {
            std::abort();
        }
        radsync::snapshot::Snapshot snap;
        radsync::snapshot::Tombstones tombstones;
        (void)radsync::snapshot::merge_event(snap, tombstones, envelope->kind,
                                             envelope->object_json,
                                             envelope->action == radsync::webhook::Action::kRemove);
    }
    return 0;
}
