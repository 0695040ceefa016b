#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "radsync/config/config.hpp"
#include "radsync/core/error.hpp"

namespace radsync::config {

/// One thing wrong with the configuration, pointing at the spot.
struct Problem {
    Origin origin;
    std::string path;     ///< key path, e.g. "mapping.groups[2].bandwidth.down"
    std::string message;  ///< what is wrong and what was expected

    /// "file:line:col: path: message" (the form editors and CI annotations understand).
    [[nodiscard]] std::string to_string() const;
};

/// Result of loading: either a config (problems empty) or every problem found, never just the
/// first. Warnings do not stop loading.
struct LoadResult {
    std::optional<Config> config;
    std::vector<Problem> problems;
    std::vector<Problem> warnings;
};

struct LoadOptions {
    /// Check that secret and TLS files exist and are readable. Read-only commands turn this
    /// off: they need no secret, and systemd's credential files exist only while the service
    /// runs.
    bool check_secret_files = true;
};

/// Reads the main YAML file and the mapping files it names (paths relative to the main file's
/// directory), validates everything and returns all problems. Never throws for bad input.
/// Secret files are checked to exist and be readable, never read into the result or logged.
[[nodiscard]] LoadResult load(const std::string& main_file, const LoadOptions& options = {});

/// Same, from in-memory text (for tests). `mapping_texts` are (name, text) pairs standing in
/// for the files the main text names.
[[nodiscard]] LoadResult load_from_strings(
    const std::string& main_name, const std::string& main_text,
    const std::vector<std::pair<std::string, std::string>>& mapping_texts,
    const LoadOptions& options = {});

/// Reads a secret from its file (at most 4 KiB; trailing newlines and spaces, as `echo`
/// leaves them, are not part of it). Errc::kIoFailed if unreadable, Errc::kConfigInvalid if
/// empty or too large. The secret itself never appears in an error message.
[[nodiscard]] Result<std::string> read_secret_file(const std::string& path);

/// Reads a whole text file the configuration names (a template, a certificate), at most
/// `max_bytes`. Errc::kIoFailed if it cannot be read or is larger.
[[nodiscard]] Result<std::string> read_text_file_bounded(const std::string& path,
                                                         std::size_t max_bytes);

/// Attribute names known to a FreeRADIUS dictionary tree (following $INCLUDE).
class Dictionary {
public:
    /// Reads the dictionary file and everything it includes. Errc::kIoFailed if unreadable.
    [[nodiscard]] static Result<Dictionary> load(const std::string& path);
    /// Builds one from a fixed list (tests).
    static Dictionary from_names(const std::vector<std::string>& names);
    /// Case-insensitive, as FreeRADIUS looks names up.
    [[nodiscard]] bool has(const std::string& attribute) const;
    [[nodiscard]] std::size_t size() const { return names_.size(); }

private:
    std::vector<std::string> names_;  // lower-cased, sorted
};

/// Every attribute name the mapping will write, with where it came from (for dictionary checks).
[[nodiscard]] std::vector<std::pair<std::string, Origin>> attributes_written(const Config& config);

/// Checks attribute names against a dictionary; one Problem per unknown name.
[[nodiscard]] std::vector<Problem> check_attributes(const Config& config, const Dictionary& dict);

}  // namespace radsync::config
