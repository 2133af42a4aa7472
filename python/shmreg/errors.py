"""shmreg's exceptions: one class per code a caller commonly handles, each
carrying the C ABI's code (shmreg/shmreg_codes.h) and the library's message,
which names the limit or rule that was broken.

Thread-safety: the C ABI keeps the last error per thread, and raise_last()
reads it on the thread that made the failing call, so threads never see each
other's errors.
"""

from __future__ import annotations

from ._capi import ffi, lib


class Error(Exception):
    """A failed shmreg call. code: the C code; name: its name ("key_too_long");
    message: what went wrong; maybe_applied: a write that failed talking to
    the broker may still have taken effect."""

    code: int = -1

    def __init__(self, code: int, message: str, maybe_applied: bool = False) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.maybe_applied = maybe_applied

    @property
    def name(self) -> str:
        name: str = ffi.string(lib.shmreg_strerror(self.code)).decode()
        return name

    def __str__(self) -> str:
        return f"{self.name} ({self.code}): {self.message}"


class SegmentNotFound(Error):
    code = 1


class PermissionDenied(Error):
    code = 2


class RegistryNotFound(Error):
    code = 5


class InvalidArgument(Error):
    code = 6


class BrokerUnavailable(Error):
    code = 9


class AlreadyRegistered(Error):
    """pid: the process that owns the key."""

    code = 10

    def __init__(self, code: int, message: str, maybe_applied: bool = False, pid: int = 0) -> None:
        super().__init__(code, message, maybe_applied)
        self.pid = pid


class RegistryExists(Error):
    code = 11


class KeyTooLong(Error):
    code = 12


class ValueTooLong(Error):
    code = 13


class RegistryFull(Error):
    code = 14


class NotFound(Error):
    code = 17


class VersionConflict(Error):
    code = 18


class NoMailbox(Error):
    code = 20


class MailboxExists(Error):
    code = 23


class Timeout(Error):
    code = 30


class QuotaExceeded(Error):
    code = 32


class SegmentReplaced(Error):
    """The namespace's segment file was replaced while the broker ran: open
    a new Client."""
    code = 35


class ClusterUnavailable(Error):
    """A write to a cluster registry: etcd did not take it within the
    broker's write deadline; nothing was written."""
    code = 36


_COMMON: tuple[type[Error], ...] = (
    SegmentNotFound, PermissionDenied, RegistryNotFound, InvalidArgument, BrokerUnavailable,
    AlreadyRegistered, RegistryExists, KeyTooLong, ValueTooLong, RegistryFull, NotFound,
    VersionConflict, NoMailbox, MailboxExists, Timeout, QuotaExceeded, SegmentReplaced,
    ClusterUnavailable,
)
_BY_CODE: dict[int, type[Error]] = {cls.code: cls for cls in _COMMON}


def error_for(code: int) -> Error:
    """The exception for the failure the calling thread just had (code is
    what the C call returned)."""
    message = ffi.string(lib.shmreg_last_error()).decode(errors="replace")
    maybe_applied = bool(lib.shmreg_last_error_maybe_applied())
    cls = _BY_CODE.get(code, Error)
    if cls is AlreadyRegistered:
        return AlreadyRegistered(code, message, maybe_applied, int(lib.shmreg_last_error_pid()))
    return cls(code, message, maybe_applied)


def check(code: int) -> None:
    """Raises the exception for a nonzero C result."""
    if code != 0:
        raise error_for(code)
