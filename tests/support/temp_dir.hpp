#pragma once

#include <filesystem>
#include <string>

namespace radsync::test {

/// A unique directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    [[nodiscard]] const std::filesystem::path& path() const { return path_; }
    /// Writes `text` to path()/relative_name (creating parent dirs); returns the full path.
    std::string write(const std::string& relative_name, const std::string& text) const;

private:
    std::filesystem::path path_;
};

}  // namespace radsync::test
