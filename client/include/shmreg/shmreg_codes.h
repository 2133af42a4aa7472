/* libshmreg's C ABI, its numbers: the error codes every shmreg_* function
 * returns and the event types of a watch (shmreg/shmreg.h).
 *
 * Each error code equals the C++ API's shmreg::Errc of the same name
 * (shmreg/error.hpp); the library checks every pair at build time. Codes are
 * stable: new ones are appended, never renumbered. The codes from 1000 on
 * exist in C only: what a C caller can get wrong that C++ types rule out.
 *
 * Thread-safety: constants only. */
#ifndef SHMREG_SHMREG_CODES_H
#define SHMREG_SHMREG_CODES_H

enum shmreg_errc {
  SHMREG_OK = 0,
  SHMREG_SEGMENT_NOT_FOUND = 1,    /* no registry segment: the broker never ran for this namespace */
  SHMREG_PERMISSION_DENIED = 2,    /* the OS or the broker's policy refused */
  SHMREG_INCOMPATIBLE_SEGMENT = 3, /* written by another version or build of shmreg */
  SHMREG_CORRUPT_SEGMENT = 4,      /* a bounds check failed; run `shmreg fsck` */
  SHMREG_REGISTRY_NOT_FOUND = 5,
  SHMREG_INVALID_ARGUMENT = 6,     /* also a NULL handle, or NULL bytes with a length */
  SHMREG_BUSY = 7,                 /* reads kept racing with writes; try again */
  SHMREG_IO_ERROR = 8,
  SHMREG_BROKER_UNAVAILABLE = 9,
  SHMREG_ALREADY_REGISTERED = 10,  /* shmreg_last_error_pid() is the owner */
  SHMREG_REGISTRY_EXISTS = 11,     /* same name, different options */
  SHMREG_KEY_TOO_LONG = 12,
  SHMREG_VALUE_TOO_LONG = 13,
  SHMREG_REGISTRY_FULL = 14,
  SHMREG_OWNER_TABLE_FULL = 15,
  SHMREG_PROTOCOL_ERROR = 16,
  SHMREG_NOT_FOUND = 17,           /* no such entry (also a lookup or meta read that found none) */
  SHMREG_VERSION_CONFLICT = 18,
  SHMREG_REPLY_TOO_LARGE = 19,
  SHMREG_NO_MAILBOX = 20,
  SHMREG_MAILBOX_FULL = 21,
  SHMREG_MESSAGE_TOO_LARGE = 22,
  SHMREG_MAILBOX_EXISTS = 23,
  SHMREG_SEGMENT_FULL = 24,
  SHMREG_TOO_MANY_REGISTRIES = 25,
  SHMREG_META_TOO_LARGE = 26,
  SHMREG_STALE_OWNER = 27,
  SHMREG_OUT_OF_MEMORY = 28,
  SHMREG_INTERNAL_ERROR = 29,
  SHMREG_TIMEOUT = 30,             /* also: no event, message or registration before the timeout */
  SHMREG_UNTRUSTED = 31,
  SHMREG_QUOTA_EXCEEDED = 32,
  SHMREG_RELOAD_FAILED = 33,
  SHMREG_RELOAD_FORBIDDEN = 34,
  SHMREG_SEGMENT_REPLACED = 35,    /* the segment's file was replaced while the broker ran: open the namespace again */
  SHMREG_CLUSTER_UNAVAILABLE = 36, /* a cluster registry's write: etcd did not take it in time; nothing was written */
  /* C only. */
  SHMREG_BUFFER_TOO_SMALL = 1000   /* the needed size was stored; call again with a larger buffer */
};

/* shmreg_event.type; equal to the C++ shmreg::EventType. */
enum shmreg_event_type {
  SHMREG_EVENT_REGISTERED = 1,
  SHMREG_EVENT_UNREGISTERED = 2,
  SHMREG_EVENT_UPDATED = 3,
  SHMREG_EVENT_OWNER_DIED = 4,
  SHMREG_EVENT_OWNER_CHANGED = 5,  /* an owner queue handed the key over: pid new, old_pid previous */
  SHMREG_EVENT_RESYNC = 6,         /* the broker repaired the segment: re-read what you track */
  SHMREG_EVENT_LAGGED = 1000       /* the watcher fell behind the ring: seq is where it resumes */
};

#endif /* SHMREG_SHMREG_CODES_H */
