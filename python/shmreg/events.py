"""Watching a registry: its events, read from the segment's event ring while
waiting on a futex of the segment, without the broker.

Thread-safety: a Watcher is used by one thread at a time (the C ABI's rule);
the GIL is released while it waits.
"""

from __future__ import annotations

import enum
from typing import Iterator, NamedTuple, Optional

from ._bytes import timeout_ms
from ._handle import Handle
from ._capi import ffi, lib
from .errors import Timeout, check


class EventType(enum.IntEnum):
    REGISTERED = 1
    UNREGISTERED = 2
    UPDATED = 3
    OWNER_DIED = 4
    OWNER_CHANGED = 5  # an owner queue handed the key over: pid new, old_pid previous
    RESYNC = 6  # the broker repaired the segment: re-read what you track
    LAGGED = 1000  # the watcher fell behind the ring: seq is where it resumes


class Event(NamedTuple):
    seq: int
    type: EventType
    key: bytes
    pid: int
    old_pid: int
    version: int
    time_ns: int


class Watcher(Handle):
    """The events of one registry (or of one key) from its creation on.
    Iterating yields events until none comes within the timeout given to
    Registry.watch (None: wait for ever)."""

    def __init__(self, handle: object, timeout: Optional[float]) -> None:
        self._handle = handle
        self._timeout = timeout
        self._event = ffi.new("shmreg_event *")

    def next(self, timeout: float) -> Event:
        """The next event, waiting up to timeout seconds; raises Timeout."""
        ev = self._event
        check(lib.shmreg_watch_next(self._handle, timeout_ms(timeout), ev))
        return Event(
            ev.seq, EventType(ev.type), bytes(ffi.buffer(ev.key, ev.key_len)) if ev.key_len else b"",
            ev.pid, ev.old_pid, ev.version, ev.time_ns,
        )

    def __iter__(self) -> Iterator[Event]:
        # A century is the C ABI's "for ever" (docs/c-api.md, Timeouts).
        timeout = self._timeout if self._timeout is not None else 100 * 365 * 86400.0
        while True:
            try:
                yield self.next(timeout)
            except Timeout:
                return
