"""Writes from Python: unregister, compare-and-set on a version, meta, the
errors' codes and messages, and a dead owner's keys."""

from __future__ import annotations

import signal

import pytest

import shmreg
from conftest import Broker, wait_until

_HOLD_KEY = """
import os, sys, time, shmreg
c = shmreg.Client()
c.registry(sys.argv[1]).register(sys.argv[2].encode(), b"held")
print("ready", flush=True)
time.sleep(600)
"""


def test_unregister_removes_the_entry_for_every_reader(broker: Broker, client: shmreg.Client) -> None:
    reg = client.create_registry("svc")
    reg.register(b"api", b"v")
    assert reg.unregister(b"api") == 1
    assert reg.lookup_value(b"api") is None
    assert broker.cli("lookup", "svc", "api").returncode == 1
    assert reg.unregister(b"api") == 0


def test_set_value_at_a_stale_version_is_a_version_conflict(client: shmreg.Client) -> None:
    reg = client.create_registry("cfg")
    v1 = reg.register(b"mode", b"a")
    v2 = reg.set_value(b"mode", b"b", expected_version=v1)
    assert v2 != v1
    assert reg.lookup_value(b"mode") == b"b"
    with pytest.raises(shmreg.VersionConflict) as info:
        reg.set_value(b"mode", b"c", expected_version=v1)
    assert info.value.code == 18
    assert reg.lookup_value(b"mode") == b"b"
    assert reg.set_value(b"mode", b"d") != v2


def test_a_key_another_process_holds_is_already_registered_with_its_pid(broker: Broker, client: shmreg.Client) -> None:
    reg = client.create_registry("locks")
    holder = broker.spawn_python(_HOLD_KEY, "locks", "leader")
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"ready\n"
        with pytest.raises(shmreg.AlreadyRegistered) as info:
            reg.register(b"leader", b"me")
        assert info.value.code == 10
        assert info.value.pid == holder.pid
        assert isinstance(info.value, shmreg.Error)
    finally:
        holder.kill()
        holder.wait()


def test_a_dead_owners_key_disappears_after_kill_9(broker: Broker, client: shmreg.Client) -> None:
    reg = client.create_registry("locks")
    holder = broker.spawn_python(_HOLD_KEY, "locks", "leader")
    assert holder.stdout is not None and holder.stdout.readline() == b"ready\n"
    assert reg.lookup(b"leader")[0].pid == holder.pid
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert wait_until(lambda: reg.lookup_value(b"leader") is None)
    reg.register(b"leader", b"me")


def test_errors_carry_the_c_code_its_name_and_the_librarys_message(client: shmreg.Client) -> None:
    reg = client.create_registry("small", max_key=8)
    with pytest.raises(shmreg.KeyTooLong) as info:
        reg.register(b"k" * 9, b"v")
    assert info.value.code == 12
    assert info.value.name == "key_too_long"
    assert "too long" in info.value.message
    assert str(info.value) == f"key_too_long (12): {info.value.message}"
    with pytest.raises(shmreg.RegistryExists) as exists:
        client.create_registry("small", max_key=16)
    assert exists.value.code == 11


def test_a_client_without_a_segment_is_segment_not_found(broker: Broker) -> None:
    with pytest.raises(shmreg.SegmentNotFound) as info:
        shmreg.Client(broker.namespace + "-none", broker.socket + "-none")
    assert info.value.code == 1


def test_meta_is_put_read_and_deleted(client: shmreg.Client) -> None:
    reg = client.create_registry("meta")
    assert reg.meta(b"owner") is None
    reg.put_meta(b"owner", b"\x00team\xff")
    assert reg.meta(b"owner") == b"\x00team\xff"
    assert reg.delete_meta(b"owner") is True
    assert reg.delete_meta(b"owner") is False
    assert reg.meta(b"owner") is None
