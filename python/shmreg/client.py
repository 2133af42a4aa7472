"""A namespace: its segment, mapped read-only for lookups, and its broker,
which takes the writes.

Thread-safety: a Client may be used by any number of threads at once (the C
ABI's rule); the GIL is released during every call into libshmreg.
"""

from __future__ import annotations

from typing import Optional

from ._bytes import BytesLike
from ._handle import Handle
from ._capi import ffi, lib
from .errors import check
from .mailbox import Mailbox
from .registry import Registry


class Client(Handle):
    """Client(namespace=None, socket=None, timeout=10.0).

    namespace None: $SHMREG_NAMESPACE, else "default"; socket None:
    $SHMREG_SOCKET, else the namespace's usual socket. Every call to the
    broker ends within timeout seconds, else raises Timeout. Opening does not
    need a running broker, only the namespace's segment."""

    def __init__(self, namespace: Optional[str] = None, socket: Optional[str] = None, timeout: float = 10.0) -> None:
        if timeout <= 0:
            raise ValueError(f"shmreg: the timeout must be positive, got {timeout}")
        out = ffi.new("shmreg_client **")
        ns = namespace.encode() if namespace else ffi.NULL
        sock = socket.encode() if socket else ffi.NULL
        check(lib.shmreg_open(ns, sock, max(1, int(timeout * 1000)), out))
        self._handle = ffi.gc(out[0], lib.shmreg_close)

    def registry(self, name: str) -> Registry:
        """The registry called name; raises RegistryNotFound."""
        out = ffi.new("shmreg_registry **")
        check(lib.shmreg_registry_open(self._handle, name.encode(), out))
        return Registry(self, name, ffi.gc(out[0], lib.shmreg_registry_close))

    def create_registry(
        self,
        name: str,
        *,
        duplicate: bool = False,
        partitions: int = 0,
        max_key: int = 0,
        max_value: int = 0,
        capacity: int = 0,
    ) -> Registry:
        """Creates the registry (nothing happens if it exists with the same
        options; RegistryExists if with others) and opens it. 0 asks for the
        broker's default."""
        opts = ffi.new("shmreg_registry_options *", (int(duplicate), partitions, max_key, max_value, capacity))
        check(lib.shmreg_registry_create(self._handle, name.encode(), opts))
        return self.registry(name)

    def ping(self) -> int:
        """The broker's pid."""
        out = ffi.new("uint32_t *")
        check(lib.shmreg_ping(self._handle, out))
        return int(out[0])

    def send(self, registry: str, key: BytesLike, body: BytesLike) -> int:
        """Queues body on the mailbox of the owners of key in registry;
        returns how many mailboxes took it."""
        return self.registry(registry).send(key, body)

    def mailbox(self) -> Mailbox:
        """Opens this process's one mailbox (MailboxExists if one is open)."""
        out = ffi.new("shmreg_mailbox **")
        check(lib.shmreg_mailbox_open(self._handle, out))
        return Mailbox(ffi.gc(out[0], lib.shmreg_mailbox_close))
