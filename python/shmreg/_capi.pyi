# Types of the cffi objects of _capi.py, which cffi builds at run time.
from typing import Any

OK: int
NOT_FOUND: int
BUFFER_TOO_SMALL: int
ffi: Any
lib: Any
