"""The C ABI of libshmreg (shmreg/shmreg.h) as cffi sees it, in ABI mode.

cffi parses the declarations below and calls the functions through libffi:
nothing is compiled when the package is built or installed. The library is
the first of: $SHMREG_LIBRARY (a path, for a build tree), the libshmreg that
`cmake --install` put beside this package (its path relative to this file is
written into _install_paths.py at install), and libshmreg.so.0 on the
dynamic linker's path.

Thread-safety: `ffi` and `lib` are immutable once loaded; cffi releases the
GIL around each call, and the C ABI keeps its last error per thread.
"""

from __future__ import annotations

import os
from typing import Any

from cffi import FFI

_DECLARATIONS = """
typedef struct shmreg_client shmreg_client;
typedef struct shmreg_registry shmreg_registry;
typedef struct shmreg_watcher shmreg_watcher;
typedef struct shmreg_mailbox shmreg_mailbox;

typedef struct shmreg_entry {
  const char *key; size_t key_len; const char *value; size_t value_len;
  uint32_t pid; uint64_t version;
} shmreg_entry;
typedef struct shmreg_entry_list { const shmreg_entry *entries; size_t count; } shmreg_entry_list;
typedef struct shmreg_bytes { const char *data; size_t len; } shmreg_bytes;
typedef struct shmreg_key_list { const shmreg_bytes *keys; size_t count; } shmreg_key_list;
typedef struct shmreg_registry_options {
  int duplicate; uint32_t partitions; uint32_t max_key; uint32_t max_value; uint32_t capacity;
} shmreg_registry_options;
typedef struct shmreg_event {
  uint64_t seq; int type; const char *key; size_t key_len; uint32_t pid; uint32_t old_pid;
  uint64_t version; uint64_t time_ns;
} shmreg_event;
typedef struct shmreg_message {
  const char *registry; const char *key; size_t key_len; const char *body; size_t body_len;
  uint32_t sender_pid; uint32_t sender_uid; uint32_t dropped;
} shmreg_message;

const char *shmreg_strerror(int code);
const char *shmreg_last_error(void);
int shmreg_last_error_code(void);
uint32_t shmreg_last_error_pid(void);
int shmreg_last_error_maybe_applied(void);

int shmreg_open(const char *ns, const char *socket_path, int64_t timeout_ms, shmreg_client **out);
void shmreg_close(shmreg_client *client);
int shmreg_ping(const shmreg_client *client, uint32_t *broker_pid);
int shmreg_registry_create(const shmreg_client *client, const char *name, const shmreg_registry_options *options);
int shmreg_registry_open(const shmreg_client *client, const char *name, shmreg_registry **out);
void shmreg_registry_close(shmreg_registry *registry);

typedef void (*shmreg_batch_fn)(void *ctx, size_t index, const shmreg_entry *entries, size_t count);
int shmreg_lookup_batch(const shmreg_registry *registry, const char *const *keys, const size_t *key_lens, size_t n,
                        shmreg_batch_fn fn, void *ctx, size_t *found);
int shmreg_lookup_value(const shmreg_registry *registry, const char *key, size_t key_len, char *buf,
                        size_t buf_size, size_t *value_len);
int shmreg_lookup(const shmreg_registry *registry, const char *key, size_t key_len, shmreg_entry_list **out);
int shmreg_values(const shmreg_registry *registry, const char *key, size_t key_len, uint32_t pid,
                  shmreg_entry_list **out);
int shmreg_keys(const shmreg_registry *registry, uint32_t pid, shmreg_key_list **out);
int shmreg_count(const shmreg_registry *registry, uint64_t *count);
int shmreg_list(const shmreg_registry *registry, shmreg_entry_list **out);
int shmreg_match(const shmreg_registry *registry, const char *key, size_t key_len, const char *pattern,
                 const char *guards, shmreg_entry_list **out);
void shmreg_entry_list_free(shmreg_entry_list *list);
void shmreg_key_list_free(shmreg_key_list *list);

int shmreg_register(const shmreg_client *client, const char *registry, const char *key, size_t key_len,
                    const char *value, size_t value_len, uint64_t *version);
int shmreg_unregister(const shmreg_client *client, const char *registry, const char *key, size_t key_len,
                      uint32_t *removed);
int shmreg_set_value(const shmreg_client *client, const char *registry, const char *key, size_t key_len,
                     const char *value, size_t value_len, const uint64_t *expected_version, uint64_t *version);

int shmreg_meta_get(const shmreg_registry *registry, const char *key, size_t key_len, char *buf, size_t buf_size,
                    size_t *value_len);
int shmreg_meta_put(const shmreg_client *client, const char *registry, const char *key, size_t key_len,
                    const char *value, size_t value_len);
int shmreg_meta_delete(const shmreg_client *client, const char *registry, const char *key, size_t key_len,
                       int *deleted);

int shmreg_watch(const shmreg_registry *registry, const char *key, size_t key_len, shmreg_watcher **out);
int shmreg_watch_next(shmreg_watcher *watcher, int64_t timeout_ms, shmreg_event *event);
void shmreg_watch_close(shmreg_watcher *watcher);
int shmreg_await(const shmreg_registry *registry, const char *key, size_t key_len, int64_t timeout_ms);

int shmreg_send(const shmreg_client *client, const char *registry, const char *key, size_t key_len,
                const char *body, size_t body_len, size_t *delivered);
int shmreg_mailbox_open(const shmreg_client *client, shmreg_mailbox **out);
int shmreg_mailbox_receive(shmreg_mailbox *mailbox, int64_t timeout_ms, shmreg_message *message);
int shmreg_mailbox_fd(const shmreg_mailbox *mailbox);
void shmreg_mailbox_close(shmreg_mailbox *mailbox);
"""

# shmreg_codes.h: the codes this package treats apart. The others reach the
# caller as their number, with the library's name for it.
OK = 0
NOT_FOUND = 17
BUFFER_TOO_SMALL = 1000

_SONAME = "libshmreg.so.0"

ffi = FFI()
ffi.cdef(_DECLARATIONS)


def _library_candidates() -> list[str]:
    found = []
    from_env = os.environ.get("SHMREG_LIBRARY")
    if from_env:
        found.append(from_env)
    try:
        from . import _install_paths

        found.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), _install_paths.LIBRARY))
    except ImportError:
        pass
    found.append(_SONAME)
    return found


def _load() -> Any:
    tried = []
    for path in _library_candidates():
        try:
            return ffi.dlopen(path)
        except OSError as e:
            tried.append(f"{path}: {e}")
    raise ImportError("shmreg: cannot load libshmreg; tried " + "; ".join(tried))


lib = _load()
