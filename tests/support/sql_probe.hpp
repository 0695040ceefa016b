#pragma once

#include <string>

namespace radsync::test {

/// Runs `query` on the SQLite file at `path` through the plain C API, as FreeRADIUS or an
/// operator would beside radsync: rows as lines, columns joined by '|', NULL as "NULL";
/// "ERROR: ..." when it fails.
std::string sql(const std::string& path, const std::string& query);

/// Every byte of a database file and of its -wal, as one string: for scans for text that must
/// not be on disk.
std::string file_bytes(const std::string& path);

}  // namespace radsync::test
