#pragma once

namespace radsync::cli {

/// Parses the command line and runs the chosen command; returns the process exit code
/// (0 success, 1 operational failure, 2 usage error). Never throws.
[[nodiscard]] int run(int argc, char** argv);

}  // namespace radsync::cli
