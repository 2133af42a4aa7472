"""This process's mailbox: the messages other processes send by name to the
keys it owns (docs/send-by-name.md). Open it before registering the keys
senders will use.

Thread-safety: a Mailbox is used by one thread at a time (the C ABI's rule);
the GIL is released while it waits.
"""

from __future__ import annotations

from typing import NamedTuple

from ._bytes import timeout_ms
from ._handle import Handle
from ._capi import ffi, lib
from .errors import check


class Message(NamedTuple):
    registry: str
    key: bytes
    body: bytes
    sender_pid: int
    sender_uid: int
    dropped: int  # messages this mailbox lost (it was full) just before this one


class Mailbox(Handle):
    def __init__(self, handle: object) -> None:
        self._handle = handle
        self._message = ffi.new("shmreg_message *")

    def receive(self, timeout: float) -> Message:
        """The next message, waiting up to timeout seconds; raises Timeout."""
        m = self._message
        check(lib.shmreg_mailbox_receive(self._handle, timeout_ms(timeout), m))
        return Message(
            ffi.string(m.registry).decode(),
            bytes(ffi.buffer(m.key, m.key_len)) if m.key_len else b"",
            bytes(ffi.buffer(m.body, m.body_len)) if m.body_len else b"",
            m.sender_pid, m.sender_uid, m.dropped,
        )

    def fileno(self) -> int:
        """A descriptor that is readable when messages may be waiting (for
        select/poll); it changes when the mailbox reopens after a broker
        restart, so ask again after each receive."""
        return int(lib.shmreg_mailbox_fd(self._handle)) if self._handle is not None else -1
