// The C ABI's memory: lists handed to the caller in one malloc'ed block (so
// that one *_free releases them), and copies into the caller's buffers.
#include <cstdlib>
#include <cstring>
#include <new>

#include "c_api_state.hpp"

namespace shmreg::c_api {
namespace {

// One block: the list header, its items, then every byte they point to.
// Items are 8-aligned and the header's size is a multiple of 8, so the items
// may follow it directly.
template <class List, class Item>
struct Block {
  static_assert(sizeof(List) % alignof(Item) == 0);
  List* list;
  Item* items;
  char* bytes;

  static Block allocate(std::size_t count, std::size_t byte_count) {
    const std::size_t size = sizeof(List) + count * sizeof(Item) + byte_count;
    void* p = std::malloc(size == 0 ? 1 : size);
    if (p == nullptr) throw std::bad_alloc();
    auto* list = static_cast<List*>(p);
    auto* items = reinterpret_cast<Item*>(list + 1);
    return Block{list, items, reinterpret_cast<char*>(items + count)};
  }

  // Copies s into the bytes area; returns where it landed.
  const char* store(std::string_view s) {
    char* at = bytes;
    if (!s.empty()) std::memcpy(at, s.data(), s.size());
    bytes += s.size();
    return at;
  }
};

}  // namespace

shmreg_entry_list* make_entry_list(std::span<const Entry> entries) {
  std::size_t byte_count = 0;
  for (const auto& e : entries) byte_count += e.key.size() + e.value.size();
  auto block = Block<shmreg_entry_list, shmreg_entry>::allocate(entries.size(), byte_count);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    const char* key = block.store(e.key);
    const char* value = block.store(e.value);
    block.items[i] = shmreg_entry{key, e.key.size(), value, e.value.size(), e.pid, e.version};
  }
  *block.list = shmreg_entry_list{block.items, entries.size()};
  return block.list;
}

shmreg_key_list* make_key_list(std::span<const std::string> keys) {
  std::size_t byte_count = 0;
  for (const auto& k : keys) byte_count += k.size();
  auto block = Block<shmreg_key_list, shmreg_bytes>::allocate(keys.size(), byte_count);
  for (std::size_t i = 0; i < keys.size(); ++i) block.items[i] = shmreg_bytes{block.store(keys[i]), keys[i].size()};
  *block.list = shmreg_key_list{block.items, keys.size()};
  return block.list;
}

int check_out(const char* buf, std::size_t buf_size, const std::size_t* value_len) noexcept {
  if (value_len == nullptr) return null_argument("value_len");
  if (!is_bytes(buf, buf_size)) return null_bytes("buf");
  return SHMREG_OK;
}

int copy_out(std::string_view value, char* buf, std::size_t buf_size, std::size_t* value_len) noexcept {
  *value_len = value.size();
  if (value.size() > buf_size) return fail_buffer_too_small(value.size(), buf_size);
  if (!value.empty()) std::memcpy(buf, value.data(), value.size());
  return SHMREG_OK;
}

}  // namespace shmreg::c_api

extern "C" {

void shmreg_entry_list_free(shmreg_entry_list* list) { std::free(list); }
void shmreg_key_list_free(shmreg_key_list* list) { std::free(list); }

}  // extern "C"
