"""The example of docs/python.md runs against a real broker."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import Broker

_EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "install", "consumer", "register_lookup.py")


def test_the_documented_example_registers_looks_up_and_watches(broker: Broker) -> None:
    run = subprocess.run([sys.executable, _EXAMPLE, "primary"], env=broker.env(), capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr.decode()
    assert run.stdout.decode().splitlines()[-1] == "primary = b'10.0.0.6:5432'"
