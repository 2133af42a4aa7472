"""Fixtures of the Python suite: a real shmreg-broker per test, on a namespace
and socket of its own in a temporary directory, stopped (SIGTERM, exit 0
expected) and removed afterwards; helpers that run the real shmreg CLI and
Python child processes against it.

CTest (tests/python/CMakeLists.txt) sets SHMREG_BROKER_BIN, SHMREG_CLI_BIN,
SHMREG_LIBRARY (the built libshmreg) and PYTHONPATH (the package's source).
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import pytest

import shmreg

_counter = itertools.count()


def wait_until(condition: Callable[[], bool], deadline_s: float = 10.0) -> bool:
    """Polls condition until it holds or the deadline passes."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@dataclass
class Broker:
    namespace: str
    socket: str
    process: subprocess.Popen[bytes]
    log_path: str

    def env(self) -> dict[str, str]:
        """The environment of a child process that uses this broker."""
        return dict(os.environ, SHMREG_NAMESPACE=self.namespace, SHMREG_SOCKET=self.socket)

    def log(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def cli(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        """Runs the real shmreg CLI on this namespace and waits for it."""
        return subprocess.run([os.environ["SHMREG_CLI_BIN"], *args], env=self.env(), capture_output=True, timeout=30)

    def spawn_cli(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([os.environ["SHMREG_CLI_BIN"], *args], env=self.env(), stdout=subprocess.PIPE)

    def spawn_python(self, code: str, *args: str) -> subprocess.Popen[bytes]:
        """A Python child process running code (with sys.argv[1:] = args)
        against this broker through the shmreg package."""
        return subprocess.Popen([sys.executable, "-c", code, *args], env=self.env(), stdout=subprocess.PIPE)


def _answers(b: Broker) -> bool:
    try:
        with shmreg.Client(b.namespace, b.socket, timeout=2.0) as c:
            return c.ping() == b.process.pid
    except shmreg.Error:
        return False


@pytest.fixture
def broker() -> Iterator[Broker]:
    # A short directory of its own: a socket's path must fit sun_path.
    run_dir = tempfile.mkdtemp(prefix="shmreg-py-")
    ns = f"py{os.getpid()}-{next(_counter)}"
    log_path = os.path.join(run_dir, "broker.log")
    sock = os.path.join(run_dir, "broker.sock")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [os.environ["SHMREG_BROKER_BIN"], "--namespace", ns, "--socket", sock, "--segment-size", "16M"],
            stdout=log, stderr=subprocess.STDOUT,
        )
    b = Broker(ns, sock, proc, log_path)
    try:
        if not wait_until(lambda: proc.poll() is not None or _answers(b)) or proc.poll() is not None:
            pytest.fail(f"the broker did not answer a ping on {sock}; its log:\n{b.log()}")
        yield b
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, f"the broker did not exit 0 on SIGTERM; its log:\n{b.log()}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture
def client(broker: Broker) -> Iterator[shmreg.Client]:
    with shmreg.Client(broker.namespace, broker.socket) as c:
        yield c
