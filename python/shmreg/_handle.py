"""What every object that holds a C handle shares: close() (also by `with`
and, through ffi.gc, by the garbage collector), after which calls fail
with invalid_argument naming the handle.

Thread-safety: close() must not race with other calls on the same object.
"""

from __future__ import annotations

from typing import Any, TypeVar

from ._capi import ffi

_Self = TypeVar("_Self", bound="Handle")


class Handle:
    _handle: Any

    def close(self) -> None:
        if self._handle is not None:
            ffi.release(self._handle)
            self._handle = None

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
