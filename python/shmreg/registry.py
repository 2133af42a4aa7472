"""One registry: lookups read the shared segment without the broker; writes
go to the broker through the client and return once every reader sees them.

Thread-safety: a Registry may be used by any number of threads at once (the
C ABI's rule); the buffer of lookup_value is per thread.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, Iterable, NamedTuple, Optional

from ._bytes import BytesLike, as_bytes, timeout_ms
from ._handle import Handle
from ._capi import BUFFER_TOO_SMALL, NOT_FOUND, OK, ffi, lib
from .errors import check, error_for
from .events import Watcher

if TYPE_CHECKING:
    from .client import Client

# The first buffer of lookup_value: values this short are copied in one call.
_FIRST_BUFFER = 256


class Entry(NamedTuple):
    key: bytes
    value: bytes
    pid: int  # 0: a static entry, owned by the namespace
    version: int


def _entries(out: object) -> list[Entry]:
    lst = ffi.gc(out, lib.shmreg_entry_list_free)
    try:
        return [
            Entry(bytes(ffi.buffer(e.key, e.key_len)), bytes(ffi.buffer(e.value, e.value_len)), e.pid, e.version)
            for e in (lst.entries[i] for i in range(lst.count))
        ]
    finally:
        ffi.release(lst)


def _keep_value(ctx: object, index: int, entries: Any, count: int) -> None:
    """shmreg_lookup_batch's callback for lookup_values: keeps the value the
    key's last call showed (a torn read calls again for the same index)."""
    out = ffi.from_handle(ctx)
    out[index] = bytes(ffi.buffer(entries[0].value, entries[0].value_len)) if count else None


_batch_value = ffi.callback("void(void *, size_t, const shmreg_entry *, size_t)", _keep_value)


def _copy_buffer(size: int) -> tuple[object, memoryview, object]:
    """A buffer the C ABI copies into, a view that slices it without a copy,
    and the length the call writes."""
    buf = ffi.new("char[]", size)
    return buf, memoryview(ffi.buffer(buf)), ffi.new("size_t *")


class Registry(Handle):
    def __init__(self, client: "Client", name: str, handle: object) -> None:
        self._client = client
        self._name = name
        self._cname = name.encode()
        self._handle = handle
        self._copy = threading.local()  # .state: this thread's _copy_buffer

    @property
    def name(self) -> str:
        return self._name

    # -- Lookups ---------------------------------------------------------------

    def lookup_value(self, key: BytesLike) -> Optional[bytes]:
        """The value under a unique key, or None."""
        return self._copy_value(lib.shmreg_lookup_value, as_bytes(key))

    def lookup_values(self, keys: Iterable[BytesLike]) -> list[Optional[bytes]]:
        """The values under many unique keys in one call (None for a key with
        no entry), read in one pipelined pass over shared memory
        (shmreg_lookup_batch): far cheaper per key than lookup_value in a
        loop."""
        ks = [as_bytes(k) for k in keys]
        out: list[Optional[bytes]] = [None] * len(ks)
        if not ks:
            return out
        ptrs = ffi.new("const char *[]", [ffi.from_buffer(k) for k in ks])
        lens = ffi.new("size_t[]", [len(k) for k in ks])
        handle = ffi.new_handle(out)
        check(lib.shmreg_lookup_batch(self._handle, ptrs, lens, len(ks), _batch_value, handle, ffi.NULL))
        return out

    def lookup(self, key: BytesLike) -> list[Entry]:
        """Every entry under key (empty on a miss)."""
        k = as_bytes(key)
        out = ffi.new("shmreg_entry_list **")
        check(lib.shmreg_lookup(self._handle, k, len(k), out))
        return _entries(out[0])

    def values(self, key: BytesLike, pid: Optional[int] = None) -> list[Entry]:
        """The entries under key owned by pid (default: this process)."""
        k = as_bytes(key)
        out = ffi.new("shmreg_entry_list **")
        check(lib.shmreg_values(self._handle, k, len(k), os.getpid() if pid is None else pid, out))
        return _entries(out[0])

    def keys(self, pid: Optional[int] = None) -> list[bytes]:
        """The keys pid (default: this process) holds."""
        out = ffi.new("shmreg_key_list **")
        check(lib.shmreg_keys(self._handle, os.getpid() if pid is None else pid, out))
        lst = ffi.gc(out[0], lib.shmreg_key_list_free)
        try:
            return [bytes(ffi.buffer(lst.keys[i].data, lst.keys[i].len)) for i in range(lst.count)]
        finally:
            ffi.release(lst)

    def count(self) -> int:
        out = ffi.new("uint64_t *")
        check(lib.shmreg_count(self._handle, out))
        return int(out[0])

    def entries(self) -> list[Entry]:
        """Every entry of the registry."""
        out = ffi.new("shmreg_entry_list **")
        check(lib.shmreg_list(self._handle, out))
        return _entries(out[0])

    def match(self, key: BytesLike, pattern: str, guards: Optional[str] = None) -> list[Entry]:
        """The entries under key whose JSON value matches pattern and guards
        (docs/queries.md)."""
        k = as_bytes(key)
        out = ffi.new("shmreg_entry_list **")
        cguards = guards.encode() if guards is not None else ffi.NULL
        check(lib.shmreg_match(self._handle, k, len(k), pattern.encode(), cguards, out))
        return _entries(out[0])

    def meta(self, key: BytesLike) -> Optional[bytes]:
        """The registry's meta value under key, or None."""
        return self._copy_value(lib.shmreg_meta_get, as_bytes(key))

    # -- Writes (through the broker) --------------------------------------------

    def register(self, key: BytesLike, value: BytesLike = b"") -> int:
        """Registers key for this process; returns the entry's version once
        every reader sees it. Raises AlreadyRegistered (with .pid)."""
        k, v = as_bytes(key), as_bytes(value)
        version = ffi.new("uint64_t *")
        check(lib.shmreg_register(self._client._handle, self._cname, k, len(k), v, len(v), version))
        return int(version[0])

    def unregister(self, key: BytesLike) -> int:
        """Removes this process's entries under key; returns how many."""
        k = as_bytes(key)
        removed = ffi.new("uint32_t *")
        check(lib.shmreg_unregister(self._client._handle, self._cname, k, len(k), removed))
        return int(removed[0])

    def set_value(self, key: BytesLike, value: BytesLike, expected_version: Optional[int] = None) -> int:
        """Replaces this process's value under key, only if the entry is at
        expected_version when one is given (else VersionConflict); returns
        the new version."""
        k, v = as_bytes(key), as_bytes(value)
        expected = ffi.NULL if expected_version is None else ffi.new("uint64_t *", expected_version)
        version = ffi.new("uint64_t *")
        check(lib.shmreg_set_value(self._client._handle, self._cname, k, len(k), v, len(v), expected, version))
        return int(version[0])

    def put_meta(self, key: BytesLike, value: BytesLike) -> None:
        k, v = as_bytes(key), as_bytes(value)
        check(lib.shmreg_meta_put(self._client._handle, self._cname, k, len(k), v, len(v)))

    def delete_meta(self, key: BytesLike) -> bool:
        """True if the pair was there."""
        k = as_bytes(key)
        deleted = ffi.new("int *")
        check(lib.shmreg_meta_delete(self._client._handle, self._cname, k, len(k), deleted))
        return bool(deleted[0])

    def send(self, key: BytesLike, body: BytesLike) -> int:
        """Queues body on the mailbox of key's owners; returns how many took it."""
        k, b = as_bytes(key), as_bytes(body)
        delivered = ffi.new("size_t *")
        check(lib.shmreg_send(self._client._handle, self._cname, k, len(k), b, len(b), delivered))
        return int(delivered[0])

    # -- Events ----------------------------------------------------------------

    def watch(self, key: Optional[BytesLike] = None, timeout: Optional[float] = None) -> Watcher:
        """The events from now on, of key only or of every key. Iterating the
        watcher ends when no event comes within timeout seconds."""
        out = ffi.new("shmreg_watcher **")
        if key is None:
            check(lib.shmreg_watch(self._handle, ffi.NULL, 0, out))
        else:
            k = as_bytes(key)
            check(lib.shmreg_watch(self._handle, k, len(k), out))
        return Watcher(ffi.gc(out[0], lib.shmreg_watch_close), timeout)

    def await_key(self, key: BytesLike, timeout: float) -> None:
        """Returns as soon as key is registered (at once if it is); raises
        Timeout after timeout seconds. Never misses a registration."""
        k = as_bytes(key)
        check(lib.shmreg_await(self._handle, k, len(k), timeout_ms(timeout)))

    def _copy_value(self, fn: Any, k: bytes) -> Optional[bytes]:
        # The hot path of lookup_value: one C call into this thread's buffer,
        # sliced through a memoryview (cheaper than ffi.unpack).
        local = self._copy
        try:
            buf, view, length = local.state
        except AttributeError:
            buf, view, length = local.state = _copy_buffer(_FIRST_BUFFER)
        while True:
            rc = fn(self._handle, k, len(k), buf, len(view), length)
            if rc == OK:
                value: bytes = view[: length[0]].tobytes()
                return value
            if rc == NOT_FOUND:
                return None
            if rc != BUFFER_TOO_SMALL:
                raise error_for(rc)
            # The value may grow again before the next call: ask with room.
            buf, view, length = local.state = _copy_buffer(max(length[0], 2 * len(view)))
