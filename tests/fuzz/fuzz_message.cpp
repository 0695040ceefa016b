// libFuzzer target: a message template (the operator's) and the values it is filled with (a
// member's name and e-mail from OfficeRnD). Whatever they hold, a template either fails its
// check or renders, and the e-mail built from it has only radsync's own headers, CRLF line
// ends and no line longer than RFC 5322 allows: no header injection, no smuggled SMTP.
// Input: template text, a NUL, then the name.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "radsync/notify/message.hpp"
#include "radsync/notify/template.hpp"

namespace {

void require(bool ok) {
    if (!ok) {
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace radsync;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto nul = input.find('\0');
    const std::string text(input.substr(0, nul));
    const std::string name =
        nul == std::string_view::npos ? "" : std::string(input.substr(nul + 1));
    if (notify::MessageTemplate::check(text)) {
        return 0;
    }
    config::Notify n;
    n.from = "WiFi <wifi@cowork.test>";
    n.from_address = "wifi@cowork.test";
    for (const auto kind : config::kMessageKinds) {
        n.templates[static_cast<std::size_t>(kind)] = {text, text, text};
    }
    notify::Payload p;
    p.name = name;
    p.email = name;
    p.username = name;
    p.password = "pw";
    const auto rendered = notify::render(n, p);
    const std::string mime = notify::mime_message(n, "ada@cowork.test", "<radsync.x@cowork.test>",
                                                  core::Instant{}, rendered, std::nullopt);
    const auto end = mime.find("\r\n\r\n");
    require(end != std::string::npos);
    static const std::set<std::string> kHeaders = {"From",           "To",
                                                   "Subject",        "Date",
                                                   "Message-ID",     "MIME-Version",
                                                   "Auto-Submitted", "X-Auto-Response-Suppress",
                                                   "Content-Type",   "Content-Transfer-Encoding"};
    std::size_t start = 0;
    while (start < mime.size()) {
        const auto eol = mime.find("\r\n", start);
        require(eol != std::string::npos);  // every line ends in CRLF
        const std::string_view line(mime.data() + start, eol - start);
        require(line.find('\r') == std::string_view::npos &&
                line.find('\n') == std::string_view::npos);
        require(line.size() <= 998);
        if (start < end) {
            if (!line.empty() && line.front() != ' ') {
                const auto colon = line.find(':');
                require(colon != std::string_view::npos &&
                        kHeaders.count(std::string(line.substr(0, colon))) == 1);
            }
        }
        start = eol + 2;
    }
    return 0;
}
