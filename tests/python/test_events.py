"""Events from Python: a watcher wakes on a change and ends on its timeout;
await_key returns on a registration by another process and raises Timeout."""

from __future__ import annotations

import os
import signal
import threading

import pytest

import shmreg
from conftest import Broker


def test_a_watcher_wakes_on_a_registration_and_yields_it(client: shmreg.Client) -> None:
    reg = client.create_registry("svc")
    with reg.watch(b"api", timeout=10.0) as watcher:
        threading.Timer(0.05, lambda: reg.register(b"api", b"v")).start()
        event = next(iter(watcher))
    assert event.type == shmreg.EventType.REGISTERED
    assert event.key == b"api"
    assert event.pid == os.getpid()


def test_iterating_a_watcher_ends_when_no_event_comes_within_its_timeout(client: shmreg.Client) -> None:
    reg = client.create_registry("svc")
    with reg.watch(timeout=0.05) as watcher:
        assert list(watcher) == []
        with pytest.raises(shmreg.Timeout) as info:
            watcher.next(0.01)
    assert info.value.code == 30


def test_a_watcher_of_every_key_sees_each_change_in_order(client: shmreg.Client) -> None:
    reg = client.create_registry("svc")
    with reg.watch(timeout=0.2) as watcher:
        reg.register(b"a", b"1")
        reg.set_value(b"a", b"2")
        reg.unregister(b"a")
        types = [e.type for e in watcher]
    assert types == [shmreg.EventType.REGISTERED, shmreg.EventType.UPDATED, shmreg.EventType.UNREGISTERED]


def test_await_key_returns_when_another_process_registers_it(broker: Broker, client: shmreg.Client) -> None:
    reg = client.create_registry("svc")
    holder = broker.spawn_cli("register", "svc", "late", "v", "--", "sleep", "600")
    try:
        reg.await_key(b"late", 10.0)
        assert reg.lookup_value(b"late") == b"v"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def test_await_key_raises_timeout_when_nobody_registers(client: shmreg.Client) -> None:
    reg = client.create_registry("svc")
    with pytest.raises(shmreg.Timeout):
        reg.await_key(b"never", 0.05)
