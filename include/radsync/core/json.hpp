#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

#include "radsync/core/error.hpp"

namespace radsync::core {

/// Deepest nesting of arrays and objects radsync accepts in any JSON it reads. OfficeRnD's
/// entities nest a handful of levels; a document far deeper than that is an attack on the
/// recursive parts of nlohmann_json (dump(), comparison, copies), which would exhaust the stack.
inline constexpr std::size_t kMaxJsonDepth = 64;

/// Parses `text` as exactly one JSON document, the only way radsync turns outside bytes into
/// JSON (webhook bodies, API pages, snapshot files, stored rows, the daemon's own answers).
///
/// The depth bound is enforced while parsing (a SAX pass building the DOM), before anything
/// recursive touches the document. A NUL byte anywhere is refused: nlohmann's lexer takes NUL
/// for the end of input, so "{...}\0garbage" would otherwise parse as the object alone.
/// Errc::kMalformedPayload with the byte offset of the problem on any failure.
[[nodiscard]] Result<nlohmann::json> parse_json(std::string_view text,
                                                std::size_t max_depth = kMaxJsonDepth);

/// True when `text` is one JSON object (parse_json's rules): what a single-item GET returns.
[[nodiscard]] bool is_json_object(std::string_view text);

/// `j` indented for people and scripts (the commands' --json), ending in a newline. Text that is
/// not valid UTF-8 (an SMTP server's error, an OfficeRnD body) gets U+FFFD instead of making
/// the whole output fail.
[[nodiscard]] std::string to_output(const nlohmann::json& j);

}  // namespace radsync::core
