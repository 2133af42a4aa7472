/* libshmreg's C ABI (C11): the C++ API of shmreg/shmreg.hpp behind opaque
 * handles, for C and for other languages' foreign-function interfaces.
 * docs/c-api.md is its guide, with a complete example.
 *
 * Every function that can fail returns an int: SHMREG_OK (0) or a code of
 * shmreg/shmreg_codes.h, and writes its results through out-parameters, which
 * it leaves alone on failure (but for the size SHMREG_BUFFER_TOO_SMALL reports). A failure also sets the calling thread's last
 * error (shmreg_last_error*), whose message names the limit or rule that was
 * broken; a success leaves it as it was. No exception and no C++ type
 * crosses this boundary. Keys, values, meta and messages are bytes: a pointer
 * and a size_t length (NULL is allowed with length 0); registry names,
 * namespaces, patterns and paths are NUL-terminated strings.
 *
 * Memory: a handle made by a *_open function is freed by its *_close; a list
 * made by the library is freed by its *_free; both accept NULL. What a call
 * only lends (views, a watch event, a message) is described at the call.
 *
 * Thread-safety: shmreg_client and shmreg_registry handles may be used by any
 * number of threads at once; a shmreg_watcher or shmreg_mailbox by one thread
 * at a time. A registry, watcher or mailbox keeps what it needs of its client
 * alive, so the client may be closed first. */
#ifndef SHMREG_SHMREG_H
#define SHMREG_SHMREG_H

#include <stddef.h>
#include <stdint.h>

#include "shmreg/shmreg_codes.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shmreg_client shmreg_client;     /* one namespace: its segment and its broker */
typedef struct shmreg_registry shmreg_registry; /* the read side of one registry */
typedef struct shmreg_watcher shmreg_watcher;   /* a cursor over a registry's events */
typedef struct shmreg_mailbox shmreg_mailbox;   /* this process's messages sent by name */

/* An entry. pid 0 is a static entry, owned by the namespace. */
typedef struct shmreg_entry {
  const char *key;
  size_t key_len;
  const char *value;
  size_t value_len;
  uint32_t pid;
  uint64_t version;
} shmreg_entry;

typedef struct shmreg_entry_list {
  const shmreg_entry *entries;
  size_t count;
} shmreg_entry_list;

typedef struct shmreg_bytes {
  const char *data;
  size_t len;
} shmreg_bytes;

typedef struct shmreg_key_list {
  const shmreg_bytes *keys;
  size_t count;
} shmreg_key_list;

/* All zero (or a NULL pointer) asks for the defaults: unique keys, one
 * partition, the broker's limits. */
typedef struct shmreg_registry_options {
  int duplicate;       /* nonzero: many entries per key */
  uint32_t partitions; /* 0: 1 */
  uint32_t max_key;    /* bytes; 0: the broker's default */
  uint32_t max_value;  /* bytes; 0: the broker's default */
  uint32_t capacity;   /* entries; 0: the broker's default */
} shmreg_registry_options;

typedef struct shmreg_event {
  uint64_t seq;
  int type; /* enum shmreg_event_type */
  const char *key;
  size_t key_len;
  uint32_t pid;
  uint32_t old_pid; /* SHMREG_EVENT_OWNER_CHANGED: the previous owner */
  uint64_t version;
  uint64_t time_ns; /* wall clock of the write */
} shmreg_event;

typedef struct shmreg_message {
  const char *registry; /* NUL-terminated */
  const char *key;
  size_t key_len;
  const char *body;
  size_t body_len;
  uint32_t sender_pid;
  uint32_t sender_uid;
  uint32_t dropped; /* messages this mailbox lost (full) just before this one */
} shmreg_message;

/* -- Errors -- */
/* The code's name ("key_too_long"); "unknown" for a number that is none. */
const char *shmreg_strerror(int code);
/* The calling thread's last failure: its message (never NULL; "" before
 * any), code, the owner's pid of SHMREG_ALREADY_REGISTERED, and whether a
 * write that failed talking to the broker may still have applied. */
const char *shmreg_last_error(void);
int shmreg_last_error_code(void);
uint32_t shmreg_last_error_pid(void);
int shmreg_last_error_maybe_applied(void);

/* -- Namespaces and registries -- */
/* Opens namespace ns (NULL or "": $SHMREG_NAMESPACE, else "default") served on
 * socket_path (NULL or "": $SHMREG_SOCKET, else the usual socket). Every call
 * that goes to the broker must end within timeout_ms (0: 10 s; negative:
 * SHMREG_INVALID_ARGUMENT), else SHMREG_TIMEOUT. */
int shmreg_open(const char *ns, const char *socket_path, int64_t timeout_ms, shmreg_client **out);
void shmreg_close(shmreg_client *client);
int shmreg_ping(const shmreg_client *client, uint32_t *broker_pid);
/* Idempotent with the same options; SHMREG_REGISTRY_EXISTS with others. */
int shmreg_registry_create(const shmreg_client *client, const char *name, const shmreg_registry_options *options);
int shmreg_registry_open(const shmreg_client *client, const char *name, shmreg_registry **out);
void shmreg_registry_close(shmreg_registry *registry);

/* -- Lookups: read from shared memory, without the broker -- */
/* Zero-copy: fn sees the entries under key in place, and may only copy from
 * them: the pointers die when fn returns. If a concurrent write tore the
 * views, fn is called again with fresh ones, so it may be called more than
 * once (or not at all for a miss: count is then 0) and must keep only what
 * the last call copied. count (may be NULL): how many entries fn last saw. */
typedef void (*shmreg_lookup_fn)(void *ctx, const shmreg_entry *entries, size_t count);
int shmreg_lookup_views(const shmreg_registry *registry, const char *key, size_t key_len, shmreg_lookup_fn fn,
                        void *ctx, size_t *count);
/* Many keys in one call, pipelined in shared memory so that the memory
 * misses of many lookups overlap: keys[i] (key_lens[i] bytes) for i < n.
 * fn(ctx, i, entries, count) runs for every i in order with what
 * shmreg_lookup_views shows for that key (count 0: no entry), and may run
 * again for the same i if a concurrent write tore its views; the pointers die
 * when fn returns. found (may be NULL): how many keys had entries. An error
 * stops the batch at the key that failed. */
typedef void (*shmreg_batch_fn)(void *ctx, size_t index, const shmreg_entry *entries, size_t count);
int shmreg_lookup_batch(const shmreg_registry *registry, const char *const *keys, const size_t *key_lens, size_t n,
                        shmreg_batch_fn fn, void *ctx, size_t *found);
/* Copies the value under a unique key into buf. *value_len gets its length;
 * if that exceeds buf_size, nothing is copied and the call returns
 * SHMREG_BUFFER_TOO_SMALL (buf may be NULL with buf_size 0 to ask the size;
 * the value may change before the next call). SHMREG_NOT_FOUND on a miss. */
int shmreg_lookup_value(const shmreg_registry *registry, const char *key, size_t key_len, char *buf,
                        size_t buf_size, size_t *value_len);
/* Copies: every entry under key (none on a miss). */
int shmreg_lookup(const shmreg_registry *registry, const char *key, size_t key_len, shmreg_entry_list **out);
/* The entries under key owned by pid. */
int shmreg_values(const shmreg_registry *registry, const char *key, size_t key_len, uint32_t pid,
                  shmreg_entry_list **out);
/* The keys pid holds. */
int shmreg_keys(const shmreg_registry *registry, uint32_t pid, shmreg_key_list **out);
int shmreg_count(const shmreg_registry *registry, uint64_t *count);
int shmreg_list(const shmreg_registry *registry, shmreg_entry_list **out);
/* The entries under key whose value (JSON) matches pattern and guards
 * (docs/queries.md; guards may be NULL). A malformed pattern is
 * SHMREG_INVALID_ARGUMENT with the reason. */
int shmreg_match(const shmreg_registry *registry, const char *key, size_t key_len, const char *pattern,
                 const char *guards, shmreg_entry_list **out);
void shmreg_entry_list_free(shmreg_entry_list *list);
void shmreg_key_list_free(shmreg_key_list *list);

/* -- Writes: through the broker; each returns once every reader sees it -- */
/* Registers key for the calling process, which owns the entry until it
 * unregisters or exits. version (may be NULL): the entry's version. */
int shmreg_register(const shmreg_client *client, const char *registry, const char *key, size_t key_len,
                    const char *value, size_t value_len, uint64_t *version);
/* Removes the caller's entries under key; removed (may be NULL): how many. */
int shmreg_unregister(const shmreg_client *client, const char *registry, const char *key, size_t key_len,
                      uint32_t *removed);
/* Replaces the caller's value under key if the entry is at *expected_version
 * (at any version when expected_version is NULL), else
 * SHMREG_VERSION_CONFLICT. version (may be NULL): the new version. */
int shmreg_set_value(const shmreg_client *client, const char *registry, const char *key, size_t key_len,
                     const char *value, size_t value_len, const uint64_t *expected_version, uint64_t *version);
/* Computes a new value from the old one and sets it if nobody changed it
 * meanwhile, else reads again and retries, like the C++ update_value: fn may
 * be called more than once. fn points *new_value at memory of its own that
 * stays valid until fn is called again or this call returns, and returns 0;
 * nonzero cancels the update with SHMREG_INVALID_ARGUMENT. */
typedef int (*shmreg_update_fn)(void *ctx, const char *old_value, size_t old_len, const char **new_value,
                                size_t *new_len);
int shmreg_update_value(const shmreg_client *client, const char *registry, const char *key, size_t key_len,
                        shmreg_update_fn fn, void *ctx, uint64_t *version);

/* -- Meta -- */
/* Copies one meta value, as shmreg_lookup_value does. */
int shmreg_meta_get(const shmreg_registry *registry, const char *key, size_t key_len, char *buf, size_t buf_size,
                    size_t *value_len);
int shmreg_meta_put(const shmreg_client *client, const char *registry, const char *key, size_t key_len,
                    const char *value, size_t value_len);
/* deleted (may be NULL): 1 if the pair was there, else 0. */
int shmreg_meta_delete(const shmreg_client *client, const char *registry, const char *key, size_t key_len,
                       int *deleted);

/* -- Events: read from shared memory, waiting on a futex of the segment -- */
/* Watches the events from the next one on: of key only, or of every key when
 * key is NULL (lagged and resync events always pass). */
int shmreg_watch(const shmreg_registry *registry, const char *key, size_t key_len, shmreg_watcher **out);
/* The next event, waiting up to timeout_ms; SHMREG_TIMEOUT when none came.
 * event->key stays valid until the next call on the watcher or its close. */
int shmreg_watch_next(shmreg_watcher *watcher, int64_t timeout_ms, shmreg_event *event);
void shmreg_watch_close(shmreg_watcher *watcher);
/* Returns SHMREG_OK as soon as key is registered (at once if it is),
 * SHMREG_TIMEOUT after timeout_ms. Never misses a registration. */
int shmreg_await(const shmreg_registry *registry, const char *key, size_t key_len, int64_t timeout_ms);

/* -- Send by name -- */
/* Queues body (at most 64 KiB) on the mailbox of key's owners.
 * delivered (may be NULL): how many mailboxes took it. */
int shmreg_send(const shmreg_client *client, const char *registry, const char *key, size_t key_len,
                const char *body, size_t body_len, size_t *delivered);
/* Opens this process's one mailbox; open it before registering the keys
 * senders will use. SHMREG_MAILBOX_EXISTS if one is open. */
int shmreg_mailbox_open(const shmreg_client *client, shmreg_mailbox **out);
/* The next message, waiting up to timeout_ms; SHMREG_TIMEOUT when none came.
 * Its pointers stay valid until the next call on the mailbox or its close. */
int shmreg_mailbox_receive(shmreg_mailbox *mailbox, int64_t timeout_ms, shmreg_message *message);
/* Not an error code: a descriptor, readable when messages may be waiting
 * (for poll); it changes when the mailbox reopens after a broker restart, so
 * read it after each receive. -1 for NULL or a closed mailbox. */
int shmreg_mailbox_fd(const shmreg_mailbox *mailbox);
void shmreg_mailbox_close(shmreg_mailbox *mailbox);

#ifdef __cplusplus
}
#endif

#endif /* SHMREG_SHMREG_H */
