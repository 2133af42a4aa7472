// LMDB environment for the comparison benchmarks (see lmdb_store.hpp).
#include "lmdb_store.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "cleanup.hpp"

namespace shmreg::bench {

namespace {

void check(int rc, const char* what) {
  if (rc != 0) throw std::runtime_error(std::string("LMDB ") + what + ": " + ::mdb_strerror(rc));
}

}  // namespace

LmdbStore::LmdbStore(const std::string& parent, std::size_t bytes) {
  std::string templ = parent + "/shmreg-bench-lmdb-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr)
    throw std::runtime_error("mkdtemp under " + parent + ": " + std::strerror(errno));
  dir_ = templ;
  cleanup_register(CleanupKind::dir, dir_);
  cleanup_register(CleanupKind::file, dir_ + "/data.mdb");
  cleanup_register(CleanupKind::file, dir_ + "/lock.mdb");
  try {
    check(::mdb_env_create(&env_), "env_create");
    // Leaves are full after an append load, but leave generous room anyway.
    check(::mdb_env_set_mapsize(env_, bytes * 2 + (std::size_t{64} << 20)), "set_mapsize");
    check(::mdb_env_open(env_, dir_.c_str(), MDB_NOSYNC, 0600), "env_open");
  } catch (...) {
    if (env_ != nullptr) ::mdb_env_close(env_);
    ::unlink((dir_ + "/data.mdb").c_str());
    ::unlink((dir_ + "/lock.mdb").c_str());
    ::rmdir(dir_.c_str());
    throw;
  }
}

LmdbStore::~LmdbStore() {
  if (txn_ != nullptr) ::mdb_txn_abort(txn_);
  if (env_ != nullptr) ::mdb_env_close(env_);
  ::unlink((dir_ + "/data.mdb").c_str());
  ::unlink((dir_ + "/lock.mdb").c_str());
  ::rmdir(dir_.c_str());
}

void LmdbStore::load(std::vector<std::pair<Key, Value>>& rows) {
  // LMDB's default order for equal-length keys is memcmp order.
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return std::memcmp(a.first.bytes, b.first.bytes, kKeyLen) < 0;
  });
  MDB_txn* txn = nullptr;
  check(::mdb_txn_begin(env_, nullptr, 0, &txn), "txn_begin");
  try {
    check(::mdb_dbi_open(txn, nullptr, 0, &dbi_), "dbi_open");
    for (auto& [k, v] : rows) {
      MDB_val mk{kKeyLen, k.bytes};
      MDB_val mv{kValueLen, v.bytes};
      check(::mdb_put(txn, dbi_, &mk, &mv, MDB_APPEND), "put");
    }
    check(::mdb_txn_commit(txn), "commit");
  } catch (...) {
    ::mdb_txn_abort(txn);
    throw;
  }
}

void LmdbStore::begin_read() {
  check(::mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn_), "read txn_begin");
  MDB_cursor* cur = nullptr;
  check(::mdb_cursor_open(txn_, dbi_, &cur), "cursor_open");
  MDB_val k, v;
  std::uint64_t sum = 0;
  for (int rc = ::mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = ::mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    sum += static_cast<const unsigned char*>(v.mv_data)[0];
  ::mdb_cursor_close(cur);
  [[maybe_unused]] volatile std::uint64_t sink = sum;  // keep the walk
}

LmdbStore::Shape LmdbStore::shape() const {
  MDB_stat st{};
  check(::mdb_stat(txn_, dbi_, &st), "stat");
  return {st.ms_depth, st.ms_branch_pages, st.ms_leaf_pages, st.ms_entries, st.ms_psize};
}

}  // namespace shmreg::bench
