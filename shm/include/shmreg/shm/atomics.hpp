// Atomic access to plain integer fields of the shared segment.
//
// Structs in the segment hold plain fixed-width integers so that they stay
// standard-layout and trivially copyable. Every access to a field that another
// process may touch at the same time goes through these helpers, which use the
// compiler's __atomic builtins. That makes concurrent access well defined (and
// visible to ThreadSanitizer), including loads through a read-only mapping:
// an atomic load of an aligned word never writes.
//
// Thread- and process-safety: every function here is safe to call on shared
// memory from any thread of any process.
//
// Under ThreadSanitizer (__SANITIZE_THREAD__) the seqlocks take another,
// stronger formulation, since TSan does not model stand-alone fences (GCC
// warns with -Wtsan, and a fence would order nothing in TSan's eyes, so that
// it could neither check the seqlocks nor trust them). There, every relaxed
// load is an acquire load, every relaxed store a release store, and the fences
// compile to nothing. That is at least as strong: a release fence followed by
// relaxed stores orders no more than release stores do, and relaxed loads
// followed by an acquire fence no more than acquire loads do, for atomic and
// plain accesses alike. The normal build keeps its relaxed accesses and one
// fence per read or write: on weakly ordered CPUs that is cheaper than an
// acquire or release on every word (on x86-64 both compile to plain moves).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace shmreg::shm {

template <class T>
concept SharedWord = std::is_integral_v<T> && (sizeof(T) == 4 || sizeof(T) == 8);

#if defined(__SANITIZE_THREAD__)
inline constexpr int kOrderRelaxedLoad = __ATOMIC_ACQUIRE;
inline constexpr int kOrderRelaxedStore = __ATOMIC_RELEASE;
#else
inline constexpr int kOrderRelaxedLoad = __ATOMIC_RELAXED;
inline constexpr int kOrderRelaxedStore = __ATOMIC_RELAXED;
#endif

template <SharedWord T>
inline T load_relaxed(const T& field) noexcept {
  return __atomic_load_n(&field, kOrderRelaxedLoad);
}

template <SharedWord T>
inline T load_acquire(const T& field) noexcept {
  return __atomic_load_n(&field, __ATOMIC_ACQUIRE);
}

template <SharedWord T>
inline void store_relaxed(T& field, T value) noexcept {
  __atomic_store_n(&field, value, kOrderRelaxedStore);
}

template <SharedWord T>
inline void store_release(T& field, T value) noexcept {
  __atomic_store_n(&field, value, __ATOMIC_RELEASE);
}

template <SharedWord T>
inline T fetch_add_release(T& field, T delta) noexcept {
  return __atomic_fetch_add(&field, delta, __ATOMIC_ACQ_REL);
}

#if defined(__SANITIZE_THREAD__)
inline void fence_acquire() noexcept {}
inline void fence_release() noexcept {}
#else
inline void fence_acquire() noexcept { __atomic_thread_fence(__ATOMIC_ACQUIRE); }
inline void fence_release() noexcept { __atomic_thread_fence(__ATOMIC_RELEASE); }
#endif

// Copies `words` 8-byte words out of shared memory with relaxed atomic loads.
// The result may be torn; the caller validates it with a sequence word
// afterwards (load seq, copy, fence_acquire, reload seq).
inline void racy_copy_words(std::uint64_t* dst, const std::uint64_t* src,
                            std::size_t words) noexcept {
  for (std::size_t i = 0; i < words; ++i) dst[i] = load_relaxed(src[i]);
}

// Writer side of racy_copy_words: stores bytes into shared memory as relaxed
// atomic words. `dst` is 8-byte aligned; the tail of the last word is zeroed so
// that padded key comparisons are well defined.
inline void racy_store_bytes(std::uint64_t* dst, const void* src, std::size_t bytes) noexcept {
  const auto* p = static_cast<const unsigned char*>(src);
  std::size_t full = bytes / 8;
  for (std::size_t i = 0; i < full; ++i) {
    std::uint64_t w;
    std::memcpy(&w, p + i * 8, 8);
    store_relaxed(dst[i], w);
  }
  if (std::size_t rest = bytes % 8; rest != 0) {
    std::uint64_t w = 0;
    std::memcpy(&w, p + full * 8, rest);
    store_relaxed(dst[full], w);
  }
}

}  // namespace shmreg::shm
