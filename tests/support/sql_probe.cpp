#include "support/sql_probe.hpp"

#include <sqlite3.h>

#include <fstream>
#include <iterator>

namespace radsync::test {

std::string sql(const std::string& path, const std::string& query) {
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    sqlite3_busy_timeout(db, 10'000);  // radsync may be mid-transaction
    std::string out;
    char* err = nullptr;
    sqlite3_exec(
        db, query.c_str(),
        [](void* acc, int n, char** values, char**) {
            auto* s = static_cast<std::string*>(acc);
            for (int i = 0; i < n; ++i) {
                *s += (i ? "|" : "") + std::string(values[i] ? values[i] : "NULL");
            }
            *s += "\n";
            return 0;
        },
        &out, &err);
    if (err != nullptr) {
        out = std::string("ERROR: ") + err;
        sqlite3_free(err);
    }
    sqlite3_close(db);
    return out;
}

std::string file_bytes(const std::string& path) {
    std::string out;
    for (const char* suffix : {"", "-wal"}) {
        std::ifstream in(path + suffix, std::ios::binary);
        out.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    return out;
}

}  // namespace radsync::test
