#include "support/crash_vfs.hpp"

#include <sqlite3.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>

namespace radsync::test {

namespace {

// The shim's state; one simulation at a time (the VFS is process-wide).
struct State {
    std::mutex mu;
    sqlite3_vfs* real = nullptr;
    bool crashed = false;
    std::size_t syncs = 0;
    std::map<std::string, std::string> durable;  // path -> bytes last made durable
};

State& state() {
    static State s;
    return s;
}

// Our file handle; the real VFS's handle follows it in the same allocation.
struct ShimFile {
    sqlite3_file base;
    std::string* path;  // owned; null for files without a name (temp files)
    sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};

ShimFile* shim(sqlite3_file* f) {
    return reinterpret_cast<ShimFile*>(f);
}

std::string read_whole(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

int shim_close(sqlite3_file* f) {
    auto* s = shim(f);
    const int rc =
        s->real()->pMethods != nullptr ? s->real()->pMethods->xClose(s->real()) : SQLITE_OK;
    delete s->path;
    s->path = nullptr;
    return rc;
}

int shim_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
    return shim(f)->real()->pMethods->xRead(shim(f)->real(), buf, n, off);
}

bool crashed() {
    std::lock_guard lock(state().mu);
    return state().crashed;
}

int shim_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
    if (crashed()) {
        return SQLITE_IOERR_WRITE;  // what a file system gone read-only answers
    }
    return shim(f)->real()->pMethods->xWrite(shim(f)->real(), buf, n, off);
}

int shim_truncate(sqlite3_file* f, sqlite3_int64 size) {
    if (crashed()) {
        return SQLITE_IOERR_TRUNCATE;
    }
    return shim(f)->real()->pMethods->xTruncate(shim(f)->real(), size);
}

int shim_sync(sqlite3_file* f, int flags) {
    auto* s = shim(f);
    if (crashed()) {
        return SQLITE_IOERR_FSYNC;
    }
    const int rc = s->real()->pMethods->xSync(s->real(), flags);
    if (rc == SQLITE_OK && s->path != nullptr) {
        const std::string bytes = read_whole(*s->path);
        std::lock_guard lock(state().mu);
        state().durable[*s->path] = bytes;
        ++state().syncs;
    }
    return rc;
}

int shim_file_size(sqlite3_file* f, sqlite3_int64* size) {
    return shim(f)->real()->pMethods->xFileSize(shim(f)->real(), size);
}
int shim_lock(sqlite3_file* f, int level) {
    return shim(f)->real()->pMethods->xLock(shim(f)->real(), level);
}
int shim_unlock(sqlite3_file* f, int level) {
    return shim(f)->real()->pMethods->xUnlock(shim(f)->real(), level);
}
int shim_check_reserved(sqlite3_file* f, int* out) {
    return shim(f)->real()->pMethods->xCheckReservedLock(shim(f)->real(), out);
}
int shim_file_control(sqlite3_file* f, int op, void* arg) {
    return shim(f)->real()->pMethods->xFileControl(shim(f)->real(), op, arg);
}
int shim_sector_size(sqlite3_file* f) {
    return shim(f)->real()->pMethods->xSectorSize(shim(f)->real());
}
int shim_device_characteristics(sqlite3_file* f) {
    // Claim nothing (no atomic or ordered writes), so SQLite relies on syncs alone.
    (void)f;
    return 0;
}
// Shared memory is not durable on a real machine either; pass it through (restart() removes
// the -shm files, and the first connection afterwards rebuilds the index from the log).
int shim_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
    return shim(f)->real()->pMethods->xShmMap(shim(f)->real(), region, size, extend, out);
}
int shim_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
    return shim(f)->real()->pMethods->xShmLock(shim(f)->real(), offset, n, flags);
}
void shim_shm_barrier(sqlite3_file* f) {
    shim(f)->real()->pMethods->xShmBarrier(shim(f)->real());
}
int shim_shm_unmap(sqlite3_file* f, int delete_flag) {
    return shim(f)->real()->pMethods->xShmUnmap(shim(f)->real(), delete_flag);
}

// Version 2: no xFetch/xUnfetch, so every read and write goes through the shim.
const sqlite3_io_methods kMethods = {
    2,
    shim_close,
    shim_read,
    shim_write,
    shim_truncate,
    shim_sync,
    shim_file_size,
    shim_lock,
    shim_unlock,
    shim_check_reserved,
    shim_file_control,
    shim_sector_size,
    shim_device_characteristics,
    shim_shm_map,
    shim_shm_lock,
    shim_shm_barrier,
    shim_shm_unmap,
    nullptr,
    nullptr,
};

int shim_open(sqlite3_vfs* /*vfs*/, const char* name, sqlite3_file* f, int flags, int* out_flags) {
    auto* s = shim(f);
    s->base.pMethods = nullptr;
    s->path = nullptr;
    sqlite3_vfs* real = state().real;
    const int rc = real->xOpen(real, name, s->real(), flags, out_flags);
    if (rc != SQLITE_OK) {
        return rc;
    }
    if (name != nullptr) {
        s->path = new std::string(name);
        // What is on the disk when a file is first opened came from before this "boot": it
        // is durable.
        std::lock_guard lock(state().mu);
        if (state().durable.count(*s->path) == 0) {
            state().durable[*s->path] = read_whole(*s->path);
        }
    }
    s->base.pMethods = &kMethods;
    return SQLITE_OK;
}

int shim_delete(sqlite3_vfs* /*vfs*/, const char* name, int sync_dir) {
    if (crashed()) {
        return SQLITE_IOERR_DELETE;
    }
    {
        std::lock_guard lock(state().mu);
        state().durable.erase(name);
    }
    return state().real->xDelete(state().real, name, sync_dir);
}

int shim_access(sqlite3_vfs*, const char* name, int flags, int* out) {
    return state().real->xAccess(state().real, name, flags, out);
}
int shim_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
    return state().real->xFullPathname(state().real, name, n, out);
}
void* shim_dl_open(sqlite3_vfs*, const char* name) {
    return state().real->xDlOpen(state().real, name);
}
void shim_dl_error(sqlite3_vfs*, int n, char* out) {
    state().real->xDlError(state().real, n, out);
}
void (*shim_dl_sym(sqlite3_vfs*, void* handle, const char* sym))(void) {
    return state().real->xDlSym(state().real, handle, sym);
}
void shim_dl_close(sqlite3_vfs*, void* handle) {
    state().real->xDlClose(state().real, handle);
}
int shim_randomness(sqlite3_vfs*, int n, char* out) {
    return state().real->xRandomness(state().real, n, out);
}
int shim_sleep(sqlite3_vfs*, int us) {
    return state().real->xSleep(state().real, us);
}
int shim_current_time(sqlite3_vfs*, double* out) {
    return state().real->xCurrentTime(state().real, out);
}
int shim_last_error(sqlite3_vfs*, int n, char* out) {
    return state().real->xGetLastError(state().real, n, out);
}
int shim_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
    return state().real->xCurrentTimeInt64(state().real, out);
}

sqlite3_vfs& shim_vfs() {
    static sqlite3_vfs vfs{};
    return vfs;
}

}  // namespace

CrashSimulation::CrashSimulation() {
    sqlite3_initialize();
    State& s = state();
    std::lock_guard lock(s.mu);
    if (s.real != nullptr) {
        throw std::logic_error("one CrashSimulation at a time");
    }
    s.real = sqlite3_vfs_find(nullptr);
    s.crashed = false;
    s.syncs = 0;
    s.durable.clear();
    sqlite3_vfs& vfs = shim_vfs();
    vfs.iVersion = 2;
    vfs.szOsFile = static_cast<int>(sizeof(ShimFile)) + s.real->szOsFile;
    vfs.mxPathname = s.real->mxPathname;
    vfs.zName = "radsync-crash-simulation";
    vfs.xOpen = shim_open;
    vfs.xDelete = shim_delete;
    vfs.xAccess = shim_access;
    vfs.xFullPathname = shim_full_pathname;
    vfs.xDlOpen = shim_dl_open;
    vfs.xDlError = shim_dl_error;
    vfs.xDlSym = shim_dl_sym;
    vfs.xDlClose = shim_dl_close;
    vfs.xRandomness = shim_randomness;
    vfs.xSleep = shim_sleep;
    vfs.xCurrentTime = shim_current_time;
    vfs.xGetLastError = shim_last_error;
    vfs.xCurrentTimeInt64 = shim_current_time_int64;
    sqlite3_vfs_register(&vfs, /*makeDflt=*/1);
}

CrashSimulation::~CrashSimulation() {
    State& s = state();
    sqlite3_vfs_unregister(&shim_vfs());
    sqlite3_vfs_register(s.real, /*makeDflt=*/1);
    std::lock_guard lock(s.mu);
    s.real = nullptr;
    s.durable.clear();
}

void CrashSimulation::power_loss() {
    std::lock_guard lock(state().mu);
    state().crashed = true;
}

void CrashSimulation::restart() {
    State& s = state();
    std::lock_guard lock(s.mu);
    for (const auto& [path, bytes] : s.durable) {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        std::error_code ec;
        std::filesystem::remove(path + "-shm", ec);
    }
    s.durable.clear();
    s.crashed = false;
}

std::size_t CrashSimulation::syncs() const {
    std::lock_guard lock(state().mu);
    return state().syncs;
}

}  // namespace radsync::test
