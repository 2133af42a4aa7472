"""The declarations cffi reads (shmreg/_capi.py) say what shmreg.h says:
every function the package declares has the header's signature, and every
struct it declares has the header's fields, so the two cannot drift apart
unnoticed (cffi in ABI mode cannot read the header itself: it has
preprocessor lines)."""

from __future__ import annotations

import os
import re

from shmreg import _capi

_HEADER = os.path.join(os.path.dirname(__file__), "..", "..", "client", "include", "shmreg", "shmreg.h")


def _normalized(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return re.sub(r"\s*([(),;*{}])\s*", r"\1", re.sub(r"\s+", " ", text))


def _functions(text: str) -> dict[str, str]:
    found = re.findall(r"(?:^|(?<=[;}]))\s*((?:const )?[a-z_0-9]+ ?\**(shmreg_[a-z_]+)\([^;{]*\);)", _normalized(text))
    return {name: decl for decl, name in found}


def _structs(text: str) -> dict[str, str]:
    return {m.group(1): m.group(0) for m in re.finditer(r"typedef struct (shmreg_[a-z_]+)\{[^}]*\}\1;", _normalized(text))}


def test_every_declared_function_has_the_headers_signature() -> None:
    with open(_HEADER) as f:
        header = _functions(f.read())
    declared = _functions(_capi._DECLARATIONS)
    assert len(declared) > 30
    for name, decl in declared.items():
        assert header.get(name) == decl, f"{name}: _capi.py says {decl!r}, shmreg.h says {header.get(name)!r}"


def test_every_declared_struct_has_the_headers_fields() -> None:
    with open(_HEADER) as f:
        header = _structs(f.read())
    declared = _structs(_capi._DECLARATIONS)
    assert set(declared) == {"shmreg_entry", "shmreg_entry_list", "shmreg_bytes", "shmreg_key_list",
                             "shmreg_registry_options", "shmreg_event", "shmreg_message"}
    for name, decl in declared.items():
        assert header.get(name) == decl, f"{name}: _capi.py says {decl!r}, shmreg.h says {header.get(name)!r}"
