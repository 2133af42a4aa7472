"""shmreg: a host-wide registry of names for Linux processes, from Python.

    import shmreg
    with shmreg.Client("demo") as client:
        db = client.create_registry("db")
        db.register(b"primary", b"10.0.0.5:5432")
        db.lookup_value(b"primary")   # b"10.0.0.5:5432", read from shared memory

A binding of libshmreg's C ABI through cffi (docs/python.md). Keys and values
are bytes (a str is taken as UTF-8). Failures raise shmreg.Error, or one of
its subclasses, with the C code and the library's message.
"""

from .client import Client
from .errors import (
    AlreadyRegistered,
    BrokerUnavailable,
    ClusterUnavailable,
    Error,
    InvalidArgument,
    KeyTooLong,
    MailboxExists,
    NoMailbox,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    SegmentReplaced,
    RegistryExists,
    RegistryFull,
    RegistryNotFound,
    SegmentNotFound,
    Timeout,
    ValueTooLong,
    VersionConflict,
)
from .events import Event, EventType, Watcher
from .mailbox import Mailbox, Message
from .registry import Entry, Registry

__all__ = [
    "AlreadyRegistered", "BrokerUnavailable", "Client", "ClusterUnavailable", "Entry", "Error", "Event", "EventType",
    "InvalidArgument", "KeyTooLong", "Mailbox", "MailboxExists", "Message", "NoMailbox", "NotFound",
    "PermissionDenied", "QuotaExceeded", "Registry", "RegistryExists", "RegistryFull", "RegistryNotFound", "SegmentReplaced",
    "SegmentNotFound", "Timeout", "ValueTooLong", "VersionConflict",
]
