// The LMDB side of the comparison: the same keys and values in an LMDB
// environment on tmpfs, read through one warm read-only transaction.
//
// Thread-safety: load() and begin_read() from one thread; get() only from the
// thread that called begin_read() (LMDB read transactions are per thread).
#pragma once

#include <lmdb.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "keys.hpp"

namespace shmreg::bench {

class LmdbStore {
 public:
  // Creates a fresh directory under `parent` and an environment in it with
  // room for about `bytes` of data. Throws std::runtime_error on failure.
  LmdbStore(const std::string& parent, std::size_t bytes);
  // Aborts the read transaction, closes the environment and removes the files.
  ~LmdbStore();
  LmdbStore(const LmdbStore&) = delete;
  LmdbStore& operator=(const LmdbStore&) = delete;

  // Sorts rows by key and appends them in one write transaction (MDB_APPEND:
  // the fastest load, and it leaves leaf pages full).
  void load(std::vector<std::pair<Key, Value>>& rows);
  // Opens the long-lived read-only transaction and walks every entry once,
  // so that every page is mapped and warm before timing starts.
  void begin_read();

  // 1 found (value copied out), 0 not found, -1 error.
  int get(std::string_view key, std::string& value) const noexcept {
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v{0, nullptr};
    const int rc = ::mdb_get(txn_, dbi_, &k, &v);
    if (rc == 0) {
      value.assign(static_cast<const char*>(v.mv_data), v.mv_size);
      return 1;
    }
    return rc == MDB_NOTFOUND ? 0 : -1;
  }

  struct Shape {
    unsigned depth = 0;
    std::size_t branch_pages = 0, leaf_pages = 0, entries = 0, page_size = 0;
    std::size_t bytes() const noexcept { return (branch_pages + leaf_pages) * page_size; }
  };
  Shape shape() const;

 private:
  std::string dir_;
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
  MDB_txn* txn_ = nullptr;
};

}  // namespace shmreg::bench
