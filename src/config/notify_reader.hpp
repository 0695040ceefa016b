#pragma once

// Private to the config module: the `notify` section (mail relay, outbox, templates, WiFi
// profiles). loader.cpp calls it; it describes the schema with node_reader.hpp.

#include <filesystem>
#include <optional>
#include <string_view>

#include "node_reader.hpp"
#include "radsync/config/config.hpp"

namespace radsync::config::detail {

/// `main_text` is the main file's text, so a template's bad placeholder is reported at its own
/// line and column, not at the start of the value.
[[nodiscard]] std::optional<Notify> read_notify(Reader& r, const Field& f,
                                                const std::filesystem::path& base_dir,
                                                std::string_view main_text);

/// The template radsync uses for `kind` when notify.templates does not set it.
[[nodiscard]] MessageTemplates default_templates(MessageKind kind);

}  // namespace radsync::config::detail
