"""Keys, values, meta and message bodies are bytes; a str is taken as UTF-8.

Thread-safety: pure functions.
"""

from __future__ import annotations

from typing import Union

BytesLike = Union[bytes, bytearray, memoryview, str]


def as_bytes(data: BytesLike) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"shmreg: expected bytes or str, got {type(data).__name__}")


def timeout_ms(seconds: float) -> int:
    """A timeout in seconds as the C ABI's milliseconds (negative is refused
    by the library with invalid_argument, which names the argument)."""
    return int(seconds * 1000) if seconds >= 0 else -1
